"""Small edges of the core found by review (issue 11, item 8, and the import circle).

* A close reason that cannot be UTF-8 (a lone surrogate) is the caller's
  mistake: ``LocalProtocolError``, and the state does not move.
* ``_speedups.pyi`` declares exactly the compiled module's kernels and
  signatures (names, kinds, defaults), so type checkers see what runs.
* The core modules import each other without a runtime cycle (type-only
  imports sit under ``TYPE_CHECKING``).
"""

from __future__ import annotations

import ast
import inspect
import pathlib
from typing import Any, Dict, List, Set, Tuple

import pytest

from frame_helpers import ROLE_IDS, ROLES, parse_frames
from speedups_helpers import require_compiled
from wsproto6455 import Connection, ConnectionState, ConnectionType, LocalProtocolError
from wsproto6455 import _frame_py, _mask_py, _scan_py, _utf8_py
from wsproto6455.events import CloseConnection

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "wsproto6455"


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
class TestCloseReason:
    @pytest.mark.parametrize("reason", ["\ud800", "bye \udfff", "x" * 200 + "\ud83d"])
    def test_lone_surrogate_is_local_protocol_error(self, role: ConnectionType, reason: str) -> None:
        conn = Connection(role)
        with pytest.raises(LocalProtocolError, match="UTF-8"):
            conn.send(CloseConnection(1000, reason))
        assert conn.state is ConnectionState.OPEN
        # The connection can still close properly.
        (frame,) = parse_frames(conn.send(CloseConnection(1000, "ok")))
        assert frame.payload == b"\x03\xe8ok"

    def test_non_str_reason_is_a_type_error(self, role: ConnectionType) -> None:
        conn = Connection(role)
        with pytest.raises(TypeError, match="close reason"):
            conn.send(CloseConnection(1000, b"bytes"))  # type: ignore[arg-type]
        assert conn.state is ConnectionState.OPEN

    def test_answering_a_close(self, role: ConnectionType) -> None:
        """In REMOTE_CLOSING too, the state stays until a valid close is sent."""
        conn = Connection(role)
        peer = Connection(ConnectionType.CLIENT if role is ConnectionType.SERVER else ConnectionType.SERVER)
        conn.receive_data(peer.send(CloseConnection(1000)))
        list(conn.events())
        assert conn.state is ConnectionState.REMOTE_CLOSING
        with pytest.raises(LocalProtocolError):
            conn.send(CloseConnection(1000, "\ud800"))
        assert conn.state is ConnectionState.REMOTE_CLOSING
        conn.send(CloseConnection(1000))
        assert conn.state is ConnectionState.CLOSED


# --------------------------------------------------------------------------
# The stub of the compiled module
# --------------------------------------------------------------------------

Params = List[Tuple[str, str, Any]]  # (name, kind, default or the "none" marker)
NO_DEFAULT = "<none>"


def stub_signatures() -> Dict[str, Params]:
    """Top-level functions and class methods declared in _speedups.pyi."""
    tree = ast.parse((PACKAGE / "_speedups.pyi").read_text())
    found: Dict[str, Params] = {}

    def params(fn: ast.FunctionDef) -> Params:
        args = fn.args
        positional = args.posonlyargs + args.args
        defaults = [NO_DEFAULT] * (len(positional) - len(args.defaults)) + [
            ast.literal_eval(d) for d in args.defaults]
        out: Params = [(a.arg, "positional", d) for a, d in zip(positional, defaults)]
        out += [(a.arg, "keyword", NO_DEFAULT if d is None else ast.literal_eval(d))
                for a, d in zip(args.kwonlyargs, args.kw_defaults)]
        return out

    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = params(node)
        elif isinstance(node, ast.ClassDef):
            found[node.name] = []
            for item in node.body:
                # (Private methods are not compared, as in compiled_signatures.)
                if isinstance(item, ast.FunctionDef) and not item.name.startswith("_"):
                    found[f"{node.name}.{item.name}"] = params(item)
    return found


def runtime_params(obj: Any) -> Params:
    out: Params = []
    for p in inspect.signature(obj).parameters.values():
        kind = "keyword" if p.kind is p.KEYWORD_ONLY else "positional"
        out.append((p.name, kind, NO_DEFAULT if p.default is p.empty else p.default))
    return out


def compiled_signatures(module: Any) -> Dict[str, Params]:
    found: Dict[str, Params] = {}
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if isinstance(obj, type):
            found[name] = []
            for attr, member in vars(obj).items():
                if not attr.startswith("_") and callable(member):
                    found[f"{name}.{attr}"] = runtime_params(member)
        elif callable(obj):
            found[name] = runtime_params(obj)
    return found


def test_stub_matches_the_compiled_module() -> None:
    module = require_compiled()
    assert stub_signatures() == compiled_signatures(module)


def test_stub_matches_the_pure_twins() -> None:
    """The pure twins take the same parameters (their names may be what
    callers pass by keyword)."""
    stub = stub_signatures()
    twins = {"apply_mask": _mask_py.apply_mask, "scan_messages": _scan_py.scan_messages,
             "server_frame": _frame_py.server_frame,
             "Utf8Validator.validate": _utf8_py.Utf8Validator.validate,
             "Utf8Validator.reset": _utf8_py.Utf8Validator.reset,
             "Scanner.scan": _scan_py.Scanner.scan, "Scanner.reset": _scan_py.Scanner.reset,
             "drain": _scan_py.drain}
    # Compiled only: the event constructor, the masking kernels' choice and
    # the read shortcut (the pure backend builds events with their __init__,
    # has one mask, and reads by the general route).
    compiled_only = {"new_message", "mask_kernels", "mask_kernel", "use_mask_kernel",
                     "ReadShortcut", "ReadShortcut.receive_data", "ReadShortcut.events"}
    assert {name: stub[name] for name in twins} == {
        name: runtime_params(fn) for name, fn in twins.items()}
    assert set(stub) == {*twins, *compiled_only, "Utf8Validator", "Scanner"}


def test_module_docstring_names_every_kernel() -> None:
    module = require_compiled()
    doc = module.__doc__ or ""
    for name in stub_signatures():
        assert name.split(".")[0] in doc, name


# --------------------------------------------------------------------------
# Import cycles
# --------------------------------------------------------------------------


def runtime_imports(path: pathlib.Path, package: str) -> Set[str]:
    """Modules of ours that ``path`` imports when it runs (not under TYPE_CHECKING)."""
    found: Set[str] = set()

    def visit(body: List[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.ImportFrom) and node.level:
                parts = package.split(".")
                base = parts[:len(parts) - (node.level - 1)]
                if node.module:
                    found.add(".".join(base + [node.module]))
                else:  # from . import http: submodules
                    found.update(".".join(base + [alias.name]) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("wsproto6455"):
                found.add(node.module or "")
            for field in ("body", "orelse", "finalbody"):
                if isinstance(node, (ast.If, ast.Try)) and hasattr(node, field):
                    visit(getattr(node, field))
            if isinstance(node, ast.Try):
                for handler in node.handlers:
                    visit(handler.body)

    visit(ast.parse(path.read_text()).body)
    return found


def test_no_runtime_import_cycle_in_the_core() -> None:
    graph: Dict[str, Set[str]] = {}
    for path in [*PACKAGE.glob("*.py"), *PACKAGE.glob("extensions/*.py")]:
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(relative.parts)
        package = module.rsplit(".", 1)[0]
        if path.name == "__init__.py":
            module = package
        graph[module] = runtime_imports(path, package)

    cycles: List[List[str]] = []

    def walk(node: str, path: List[str]) -> None:
        for dep in sorted(graph.get(node, ())):
            # A package's __init__ importing its own submodules is no cycle.
            if dep in path and not node.startswith(dep + "."):
                cycles.append(path[path.index(dep):] + [dep])
            elif dep in graph and dep not in path:
                walk(dep, path + [dep])

    for start in sorted(graph):
        walk(start, [start])
    assert graph["wsproto6455.errors"] == set()  # the leaf everything raises from
    assert cycles == []


# --------------------------------------------------------------------------
# Received data
# --------------------------------------------------------------------------


@pytest.mark.parametrize("make", [bytearray, lambda b: memoryview(bytearray(b))],
                         ids=["bytearray", "memoryview"])
def test_received_buffer_may_be_reused_at_once(make: Any) -> None:
    """receive_data copies what is not bytes: a caller reusing its read
    buffer before events() does not change what was received (wsproto copies too)."""
    conn = Connection(ConnectionType.CLIENT)
    buf = make(b"\x82\x02hi")
    conn.receive_data(buf)
    buf[2:4] = b"XX"
    assert [e.data for e in conn.events()] == [b"hi"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", [5, [130, 0], "text"])
def test_received_data_must_be_bytes_like(bad: Any) -> None:
    conn = Connection(ConnectionType.CLIENT)
    with pytest.raises(TypeError, match="receive_data"):
        conn.receive_data(bad)
    assert conn.state is ConnectionState.OPEN
    conn.receive_data(b"\x82\x00")
    assert [e.data for e in conn.events()] == [b""]  # type: ignore[attr-defined]


def test_trailing_data_is_received_like_any_data() -> None:
    buf = bytearray(b"\x82\x02hi")
    conn = Connection(ConnectionType.CLIENT, trailing_data=buf)  # type: ignore[arg-type]
    buf[2:4] = b"XX"
    assert [e.data for e in conn.events()] == [b"hi"]  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="receive_data"):
        Connection(ConnectionType.CLIENT, trailing_data=7)  # type: ignore[arg-type]
