"""The wsproto compatibility layer: names, identity, and the three switches.

Everything that touches ``sys.modules["wsproto"]`` runs in a subprocess, so
this test session keeps the real wsproto (tests/test_compat_parity.py
needs it) and nothing leaks between tests.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import wsproto6455
import wsproto6455.events as core_events
from wsproto6455.compat import FACADE_MODULES, wsproto as facade
from wsproto6455.compat.wsproto import (
    connection,
    events,
    extensions,
    frame_protocol,
    handshake,
    typing,
    utilities,
)

REPO = Path(__file__).resolve().parent.parent

# Every name the five frameworks use (compat/INVENTORY.md), by module.
INVENTORY: dict[str, list[str]] = {
    "wsproto": ["WSConnection", "ConnectionType", "__version__", "events", "connection",
                "utilities", "frame_protocol", "extensions", "handshake"],
    "wsproto.connection": ["Connection", "ConnectionState", "ConnectionType", "CLIENT", "SERVER"],
    "wsproto.events": ["Event", "Request", "AcceptConnection", "RejectConnection", "RejectData",
                       "Message", "TextMessage", "BytesMessage", "Ping", "Pong",
                       "CloseConnection"],
    "wsproto.extensions": ["Extension", "PerMessageDeflate", "SUPPORTED_EXTENSIONS"],
    "wsproto.frame_protocol": ["CloseReason", "Opcode", "LOCAL_ONLY_CLOSE_REASONS",
                               "MIN_CLOSE_REASON", "MAX_CLOSE_REASON", "RsvBits", "ParseFailed"],
    "wsproto.utilities": ["LocalProtocolError", "RemoteProtocolError", "ProtocolError",
                          "generate_accept_token", "generate_nonce", "split_comma_header",
                          "normed_header_dict", "ACCEPT_GUID"],
    "wsproto.handshake": ["H11Handshake", "server_extensions_handshake",
                          "client_extensions_handshake", "WEBSOCKET_VERSION",
                          "WEBSOCKET_UPGRADE"],
    "wsproto.typing": ["Headers"],
}

SUBMODULES = {"wsproto": facade, "wsproto.connection": connection, "wsproto.events": events,
              "wsproto.extensions": extensions, "wsproto.frame_protocol": frame_protocol,
              "wsproto.handshake": handshake, "wsproto.typing": typing,
              "wsproto.utilities": utilities}


def run_python(code: str, env: dict[str, str] | None = None) -> str:
    """Run ``code`` in a fresh interpreter with this checkout importable."""
    full_env = {k: v for k, v in os.environ.items() if k != "WSPROTO6455_AS_WSPROTO"}
    full_env["PYTHONPATH"] = str(REPO)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full_env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# -- names ----------------------------------------------------------------

def test_inventory_covers_every_facade_module() -> None:
    assert set(INVENTORY) == set(FACADE_MODULES) == set(SUBMODULES)


@pytest.mark.parametrize("module", sorted(INVENTORY))
def test_facade_exposes_inventory_names(module: str) -> None:
    missing = [name for name in INVENTORY[module] if not hasattr(SUBMODULES[module], name)]
    assert missing == []


@pytest.mark.parametrize("module", sorted(INVENTORY))
def test_facade_has_every_public_name_of_real_wsproto(module: str) -> None:
    """Beyond what frameworks use: every public name of wsproto 1.3.2's
    modules, except its frame-parser internals (documented as absent)."""
    real = pytest.importorskip(module)
    internals = {"FrameProtocol", "FrameDecoder", "MessageDecoder", "Buffer", "Frame",
                 "Header", "XorMaskerSimple", "XorMaskerNull", "h11", "deque", "cast",
                 "TYPE_CHECKING", "annotations", "Generic", "TypeVar", "IntEnum", "Enum",
                 "ABC", "dataclass", "field", "NamedTuple", "IncrementalDecoder",
                 "getincrementaldecoder", "contextlib", "os", "struct", "base64", "hashlib",
                 "zlib", "Optional", "T"}
    public = {n for n in dir(real) if not n.startswith("_")} - internals
    public -= {n for n in public if isinstance(getattr(real, n), type(os))}  # submodules
    # names a module merely imports from elsewhere are not its API
    public = {n for n in public if getattr(getattr(real, n), "__module__", module) == module}
    missing = sorted(n for n in public if not hasattr(SUBMODULES[module], n))
    assert missing == []


def test_version_is_wsproto_api_version() -> None:
    # trio-websocket's tests parse it: tuple(map(int, wsproto.__version__.split('.')))
    assert tuple(map(int, facade.__version__.split("."))) == (1, 3, 2)


# -- identity: the facade re-exports wsproto6455's objects ---------------

@pytest.mark.parametrize("name", INVENTORY["wsproto.events"])
def test_events_are_the_core_classes(name: str) -> None:
    assert getattr(events, name) is getattr(core_events, name)


def test_enums_and_errors_are_the_core_objects() -> None:
    assert connection.ConnectionState is wsproto6455.ConnectionState
    assert connection.ConnectionType is facade.ConnectionType is wsproto6455.ConnectionType
    assert connection.CLIENT is wsproto6455.ConnectionType.CLIENT
    assert utilities.LocalProtocolError is wsproto6455.LocalProtocolError
    assert utilities.RemoteProtocolError is wsproto6455.RemoteProtocolError
    assert issubclass(utilities.LocalProtocolError, utilities.ProtocolError)
    from wsproto6455.frames import CloseReason, Opcode
    assert frame_protocol.CloseReason is CloseReason and frame_protocol.Opcode is Opcode
    assert extensions.PerMessageDeflate is wsproto6455.extensions.PerMessageDeflate


def test_connections_are_core_instances() -> None:
    ws = facade.WSConnection(facade.ConnectionType.SERVER)
    conn = connection.Connection(connection.SERVER)
    assert isinstance(ws, wsproto6455.WSConnection)
    assert isinstance(conn, wsproto6455.Connection)
    assert ws.client is False and conn.client is False
    assert ws.state is connection.ConnectionState.CONNECTING
    assert conn.state is connection.ConnectionState.OPEN


def test_event_equality_repr_and_field_order_like_wsproto() -> None:
    real_events = pytest.importorskip("wsproto.events")
    for name in INVENTORY["wsproto.events"]:
        ours, theirs = getattr(events, name), getattr(real_events, name)
        if name == "Event":
            continue
        assert [f.name for f in dataclasses.fields(ours)] == \
            [f.name for f in dataclasses.fields(theirs)]
        assert [f.default for f in dataclasses.fields(ours)] == \
            [f.default for f in dataclasses.fields(theirs)]
    assert repr(events.TextMessage("hi")) == repr(real_events.TextMessage("hi"))
    assert repr(events.Request(host="h", target="/")) == repr(real_events.Request(host="h", target="/"))
    assert events.BytesMessage(b"x") == events.BytesMessage(bytearray(b"x"))
    assert events.CloseConnection(1000, "") == core_events.CloseConnection(1000, "")
    assert events.Ping(b"p").response() == events.Pong(b"p")
    assert isinstance(events.TextMessage("x"), events.Message)


def test_close_reason_names_match_wsproto() -> None:
    real_fp = pytest.importorskip("wsproto.frame_protocol")
    theirs = {m.name: m.value for m in real_fp.CloseReason}
    ours = {m.name: m.value for m in frame_protocol.CloseReason}
    assert ours.items() >= theirs.items()
    # the one addition: IANA registered 1014 after wsproto's list was written
    assert set(ours) - set(theirs) == {"BAD_GATEWAY"}
    assert {m.name: m.value for m in frame_protocol.Opcode} == \
        {m.name: m.value for m in real_fp.Opcode}


def test_helpers_match_wsproto() -> None:
    real_utils = pytest.importorskip("wsproto.utilities")
    key = b"dGhlIHNhbXBsZSBub25jZQ=="
    assert utilities.generate_accept_token(key) == real_utils.generate_accept_token(key) \
        == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    value = b"permessage-deflate; client_max_window_bits, x-foo"
    assert utilities.split_comma_header(value) == real_utils.split_comma_header(value)
    headers = [(b"a", b"1"), (b"b", b"2"), (b"a", b"3")]
    assert utilities.normed_header_dict(headers) == real_utils.normed_header_dict(headers)
    assert len(utilities.generate_nonce()) == 24
    assert handshake.WEBSOCKET_VERSION == b"13"


def test_str_headers_accepted_like_wsproto() -> None:
    """httpx-ws's tests pass an ASGI scope built from str pairs."""
    ws = facade.WSConnection(facade.ConnectionType.SERVER)
    ws.initiate_upgrade_connection(
        [("host", "localhost"), ("connection", "upgrade"), ("upgrade", "websocket"),
         ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="), ("sec-websocket-version", "13")],
        "/ws")
    (request,) = ws.events()
    assert request.host == "localhost" and request.target == "/ws"
    reply = ws.send(events.AcceptConnection(extra_headers=[("x-str", "yes")]))  # type: ignore[list-item]
    assert b"\r\nx-str: yes\r\n" in reply.lower()


def test_facade_connections_default_to_unbounded_messages() -> None:
    """Frameworks enforce their own (larger) limits; the core's 1 MiB default
    would lower them silently."""
    big = b"x" * (2 << 20)
    client = connection.Connection(connection.CLIENT)
    server = connection.Connection(connection.SERVER)
    server.receive_data(client.send(events.BytesMessage(big)))
    received = b"".join(e.data for e in server.events())
    assert received == big
    bounded = connection.Connection(connection.SERVER, max_message_size=1024)
    bounded.receive_data(client.send(events.BytesMessage(b"y" * 2048)))
    assert [type(e).__name__ for e in bounded.events()][-1] == "CloseConnection"


# -- switching on -----------------------------------------------------------

def test_install_with_real_wsproto_installed() -> None:
    out = run_python("""
        import importlib.util, sys
        assert importlib.util.find_spec("wsproto6455") is not None
        real_spec = importlib.util.find_spec("wsproto")
        assert real_spec is not None and "site-packages" in real_spec.origin, real_spec
        import wsproto6455.compat
        wsproto6455.compat.install()
        import wsproto, wsproto.events, wsproto.utilities
        from wsproto.connection import ConnectionState
        from wsproto.frame_protocol import CloseReason
        import wsproto6455.events
        assert wsproto.events.Ping is wsproto6455.events.Ping
        assert wsproto.utilities.LocalProtocolError is wsproto6455.LocalProtocolError
        assert wsproto6455.compat.installed()
        # uvicorn's auto-detection uses find_spec; it must not raise
        assert importlib.util.find_spec("wsproto") is not None
        assert not any(m.__name__ == "wsproto" for m in sys.modules.values() if m)
        print(wsproto.__name__, wsproto.__version__)
    """)
    assert out.split() == ["wsproto6455.compat.wsproto", "1.3.2"]


def test_install_after_real_import_replaces_and_uninstall_restores() -> None:
    out = run_python("""
        import wsproto, wsproto.frame_protocol
        real = wsproto
        import wsproto6455.compat as compat
        compat.install()
        import wsproto as now
        import wsproto.frame_protocol as fp
        assert now is not real and fp.__name__.startswith("wsproto6455")
        compat.install()  # idempotent
        compat.uninstall()
        assert not compat.installed()
        import wsproto as again
        print(again.__name__, again.WSConnection.__module__)
    """)
    assert out.split() == ["wsproto", "wsproto"]


def test_framework_style_imports_resolve_to_the_core() -> None:
    """The import statements of the five frameworks, verbatim in shape."""
    out = run_python("""
        import wsproto6455.compat
        wsproto6455.compat.install()
        import wsproto
        import wsproto.frame_protocol as wsframeproto
        import wsproto.utilities
        from wsproto import ConnectionType, WSConnection, events
        from wsproto.connection import Connection, ConnectionState, ConnectionType as CT
        from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection,
            Event, Message, Ping, Pong, RejectConnection, RejectData, Request, TextMessage)
        from wsproto.extensions import Extension, PerMessageDeflate
        from wsproto.frame_protocol import CloseReason
        from wsproto.handshake import server_extensions_handshake, WEBSOCKET_VERSION
        from wsproto.utilities import (generate_accept_token, LocalProtocolError,
            RemoteProtocolError, split_comma_header)
        conn = wsproto.connection.Connection(wsproto.ConnectionType.CLIENT)
        ws = wsproto.WSConnection(connection_type=ConnectionType.SERVER)
        assert wsframeproto.CloseReason(1000).name == "NORMAL_CLOSURE"
        print(type(ws).__mro__[1].__module__, type(conn).__mro__[1].__module__)
    """)
    assert out.split() == ["wsproto6455.wsconnection", "wsproto6455.connection"]


def test_env_switch_through_sitecustomize() -> None:
    site_dir = run_python("import runpy, sys; sys.argv = ['x', 'site-dir']\n"
                          "from wsproto6455.compat.__main__ import main; main(['site-dir'])").strip()
    assert Path(site_dir, "sitecustomize.py").is_file()
    env = {"PYTHONPATH": os.pathsep.join([site_dir, str(REPO)])}
    code = "import wsproto; print(wsproto.__name__)"
    on = run_python(code, dict(env, WSPROTO6455_AS_WSPROTO="1"))
    off = run_python(code, env)
    assert (on.strip(), off.strip()) == ("wsproto6455.compat.wsproto", "wsproto")


def test_env_switch_reaches_subprocesses() -> None:
    site_dir = str(REPO / "wsproto6455" / "compat" / "_site")
    env = {"PYTHONPATH": os.pathsep.join([site_dir, str(REPO)]), "WSPROTO6455_AS_WSPROTO": "1"}
    out = run_python("""
        import subprocess, sys
        print(subprocess.run([sys.executable, "-c", "import wsproto; print(wsproto.__name__)"],
                             capture_output=True, text=True, check=True).stdout.strip())
    """, env)
    assert out.strip() == "wsproto6455.compat.wsproto"


def test_pytest_plugin_switches_a_whole_run(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent("""
        import wsproto
        from wsproto.events import Ping

        def test_is_facade():
            import wsproto6455.events
            assert wsproto.__name__ == "wsproto6455.compat.wsproto"
            assert Ping is wsproto6455.events.Ping
    """))
    stamp = tmp_path / "stamp.json"
    env = {k: v for k, v in os.environ.items() if k != "WSPROTO6455_AS_WSPROTO"}
    env.update(PYTHONPATH=str(REPO), WSPROTO6455_COMPAT_STAMP=str(stamp))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "wsproto6455.compat.pytest_plugin",
         "-p", "no:cacheprovider", str(tmp_path / "test_inner.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "wsproto6455.compat: wsproto 1.3.2 API -> wsproto6455" in proc.stdout
    assert '"active": true' in stamp.read_text()


def test_install_options_become_connection_defaults() -> None:
    out = run_python("""
        import wsproto6455.compat
        wsproto6455.compat.install(max_message_size=1000)
        import wsproto
        from wsproto.connection import Connection, CLIENT, SERVER
        from wsproto.events import BytesMessage
        server = Connection(SERVER)
        server.receive_data(Connection(CLIENT).send(BytesMessage(b"x" * 2000)))
        print(*(type(e).__name__ for e in server.events()))
    """)
    assert out.split()[-1] == "CloseConnection"
