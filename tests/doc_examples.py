"""Finding and running the Python examples of README.md and docs/ (see test_doc_examples.py).

The convention
==============
Every fenced ```python block in README.md and docs/**/*.md is executed by the
test suite, so examples cannot rot. The nearest non-blank line before the
fence must be a marker, an HTML comment (invisible once rendered)::

    <!-- doc-example: run [options] -->          a complete program: runs as written
    <!-- doc-example: run harness=NAME [options] -->
                                                 a fragment: runs inside the named harness
                                                 (HARNESSES below: which names it provides)
    <!-- doc-example: compile-only reason="..." -->
                                                 only compiled (syntax); for blocks that
                                                 cannot run in a test, with the reason why

Options of ``run`` (values with spaces in double quotes):

- ``port=8765`` (or ``port=8765,8766``): every occurrence of that number in the
  block is replaced by a free loopback port, so examples keep readable ports and
  parallel test runs do not collide.
- ``server=echo``: a WebSocket echo server (wsproto6455.asyncio) listens on the
  (first) port before the block runs: for client examples.
- ``client=echo``: the block is a server; once it listens on the (first) port, a
  websockets client checks it echoes text (small and 300 KB), binary and pings as
  whole messages and completes the closing handshake. A server still running after
  the check is then stopped: serving forever is allowed.
- ``stdout="text"``: the program's standard output must contain this text.
- ``timeout=60``: seconds before the run counts as hung (default 60).

A run passes when the program exits with status 0 (and the checks above hold).
A python block without a marker, or with an unknown mode/option, fails the test
with this explanation. New harnesses and servers go into HARNESSES and SERVERS.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager, Iterator, Optional

from tests.port_helpers import free_port

REPO = Path(__file__).resolve().parent.parent

#: Where the examples live: README.md and every Markdown file under docs/.
def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


CONVENTION = """\
Every ```python block in README.md and docs/ is executed by tests/test_doc_examples.py.
Put a marker on the line just before the fence (blank lines may separate them):
  <!-- doc-example: run -->                           a complete program, run as written
  <!-- doc-example: run harness=NAME -->              a fragment run inside a harness
                                                      (tests/doc_examples.py HARNESSES: {harnesses})
  <!-- doc-example: compile-only reason="why" -->     syntax-checked only (cannot run in a test)
Options of run: port=8765 (replaced by a free port), server=echo (an echo server on that
port first), client=echo (the block is a server; a client checks it), stdout="expected text",
timeout=60. Full description: the docstring of tests/doc_examples.py."""

MARKER = re.compile(r"^\s*<!--\s*doc-example:(?P<body>.*?)-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
PYTHON_INFO = {"python", "py", "python3"}
RUN_OPTIONS = {"port", "server", "client", "stdout", "timeout", "harness"}

#: Fragment harnesses: a program with a ``# BLOCK`` line where the block goes
#: (indented like that line). Keep each one small and say what it provides.
HARNESSES: dict[str, str] = {
    # Top-level ``await`` / ``async with``, as typed into ``python -m asyncio``.
    "asyncio": """\
import asyncio

async def main():
    # BLOCK

asyncio.run(main())
""",
    # Provides ``data``: a client's opening handshake, as received by a server.
    "sansio-request": """\
from wsproto6455 import ConnectionType as _CT, WSConnection as _WS
from wsproto6455.events import Request as _Request
data = _WS(_CT.CLIENT).send(_Request(host="example.com", target="/"))
# BLOCK
""",
    # Provides ``ws``: a server connection whose handshake with a client that
    # offered permessage-deflate is done; and the event classes.
    "sansio-open-server": """\
from wsproto6455 import ConnectionType, WSConnection
from wsproto6455.events import (AcceptConnection, BytesMessage, CloseConnection, Ping,
                                Request, TextMessage)
from wsproto6455.extensions import PerMessageDeflate as _PMD
_client = WSConnection(ConnectionType.CLIENT)
ws = WSConnection(ConnectionType.SERVER)
ws.receive_data(_client.send(Request(host="example.com", target="/", extensions=[_PMD()])))
assert [type(e) for e in ws.events()] == [Request]
_client.receive_data(ws.send(AcceptConnection(extensions=[_PMD()])))
assert [type(e) for e in _client.events()] == [AcceptConnection]
# BLOCK
""",
}


@dataclass
class Block:
    """One fenced python block and what its marker says to do with it."""

    path: Path
    line: int                       # 1-based line of the opening fence
    code: str
    marker: Optional[str]           # the marker's text, None if there is none
    mode: str = ""
    options: dict[str, str] = field(default_factory=dict)
    error: Optional[str] = None     # set when the block cannot be run as marked

    @property
    def where(self) -> str:
        try:
            name = str(self.path.relative_to(REPO))
        except ValueError:          # a file outside the repository (the harness's own tests)
            name = self.path.name
        return f"{name}:{self.line}"


def find_blocks(path: Path) -> list[Block]:
    """The python blocks of a Markdown file, with their markers parsed."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    pending: Optional[tuple[int, str]] = None     # (line, body) of the last marker
    i = 0
    while i < len(lines):
        text = lines[i]
        marker = MARKER.match(text)
        if marker:
            if pending is not None:
                blocks.append(_orphan(path, pending))
            pending = (i + 1, marker.group("body").strip())
            i += 1
            continue
        fence = FENCE.match(text)
        if fence is None:
            if text.strip() and pending is not None:
                blocks.append(_orphan(path, pending))
                pending = None
            i += 1
            continue
        # A fenced block: find its end (same fence character, at least as long).
        opening = fence.group("fence")
        indent = len(fence.group("indent"))
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.startswith(opening[0] * len(opening)) and set(stripped) == {opening[0]}:
                break
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        info = fence.group("info").lower()
        if info in PYTHON_INFO:
            block = Block(path, i + 1, "\n".join(body) + "\n", pending[1] if pending else None)
            _parse_marker(block)
            blocks.append(block)
        elif pending is not None:
            blocks.append(_orphan(path, pending, f"it is followed by a {info or 'plain'} block"))
        pending = None
        i = j + 1
    if pending is not None:
        blocks.append(_orphan(path, pending))
    return blocks


def _orphan(path: Path, marker: tuple[int, str], why: str = "no python block follows it") -> Block:
    line, body = marker
    return Block(path, line, "", body, error=f"a doc-example marker ({body!r}) but {why}")


def _parse_marker(block: Block) -> None:
    if block.marker is None:
        block.error = "this python block has no doc-example marker"
        return
    try:
        words = shlex.split(block.marker)
    except ValueError as exc:
        block.error = f"marker {block.marker!r} does not parse: {exc}"
        return
    if not words:
        block.error = "empty doc-example marker"
        return
    block.mode = words[0]
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or not value:
            block.error = f"marker option {word!r} is not key=value"
            return
        block.options[key] = value
    options = set(block.options)
    if block.mode == "compile-only":
        if options != {"reason"}:
            block.error = "compile-only takes exactly one option, reason=\"why it cannot run\""
    elif block.mode == "run":
        unknown = options - RUN_OPTIONS
        harness = block.options.get("harness")
        if unknown:
            block.error = f"unknown option(s) {', '.join(sorted(unknown))} for run"
        elif harness is not None and harness not in HARNESSES:
            block.error = f"unknown harness {harness!r}"
        elif ("server" in options or "client" in options) and "port" not in options:
            block.error = "server= and client= need port= (the port the example uses)"
        elif block.options.get("server", "echo") not in SERVERS:
            block.error = f"unknown server {block.options['server']!r}"
        elif block.options.get("client", "echo") not in CLIENTS:
            block.error = f"unknown client {block.options['client']!r}"
    else:
        block.error = f"unknown mode {block.mode!r} (run or compile-only)"


def program_for(block: Block) -> tuple[str, int]:
    """The program to run and the program line where the block's first line lands."""
    harness = block.options.get("harness")
    if harness is None:
        return block.code, 1
    template = HARNESSES[harness].splitlines()
    at = next(n for n, text in enumerate(template) if text.strip() == "# BLOCK")
    indent = template[at][: len(template[at]) - len(template[at].lstrip())]
    body = [indent + text if text.strip() else "" for text in block.code.splitlines()]
    return "\n".join(template[:at] + body + template[at + 1:]) + "\n", at + 1


# -- servers started before a client example -------------------------------

@contextmanager
def echo_server(port: int) -> Iterator[None]:
    """wsproto6455.asyncio's echo server on 127.0.0.1:port, in a thread."""
    from wsproto6455.asyncio import serve

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: list[asyncio.Future[None]] = []
    failure: list[BaseException] = []

    async def echo(ws):  # type: ignore[no-untyped-def]
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        async with serve(echo, "127.0.0.1", port, max_message_size=None):
            stop.append(loop.create_future())
            ready.set()
            await stop[0]

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # reported to the test below
            failure.append(exc)
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(30)
    if failure:
        raise RuntimeError(f"the echo server did not start: {failure[0]!r}")
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop[0].set_result, None)
        thread.join(30)


SERVERS: dict[str, Callable[[int], ContextManager[None]]] = {"echo": echo_server}


# -- clients run against a server example -----------------------------------

def echo_client(port: int, process: subprocess.Popen[bytes], deadline: float) -> None:
    """Check that the server example on ``port`` echoes whole messages."""
    from websockets.exceptions import InvalidMessage
    from websockets.sync.client import connect

    uri = f"ws://127.0.0.1:{port}/"
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the server example exited ({process.returncode}) before serving")
        try:
            ws = connect(uri, max_size=None, open_timeout=10, close_timeout=2)
            break
        except (ConnectionRefusedError, InvalidMessage, EOFError, OSError):
            if time.monotonic() > deadline:
                raise AssertionError(f"the server example never accepted a connection on {uri}")
            time.sleep(0.1)
    with ws:
        big = "é" * 150_000                 # 300 KB of UTF-8: several reads, one message
        for message in ["hello", big, b"\x00\xffbinary", ""]:
            ws.send(message)
            answer = ws.recv(timeout=20)
            assert answer == message, (
                f"sent a {len(message)}-long {type(message).__name__}, got back "
                f"{type(answer).__name__} of length {len(answer)}")
        assert ws.ping(b"are you there").wait(20), "the ping was never answered"
        ws.close(1000, "bye")
    assert ws.protocol.close_rcvd is not None, "the server never answered the close frame"
    assert ws.protocol.close_rcvd.code == 1000


CLIENTS: dict[str, Callable[[int, "subprocess.Popen[bytes]", float], None]] = {"echo": echo_client}


# -- running one block -------------------------------------------------------

def run_block(block: Block, workdir: Path) -> None:
    """Run ``block`` as its marker says; AssertionError with a report if it fails."""
    if block.mode == "compile-only":
        compile(block.code, block.where, "exec")
        return
    code = block.code
    ports = [p for p in block.options.get("port", "").split(",") if p]
    mapping = {port: free_port() for port in ports}
    for old, new in mapping.items():
        pattern = rf"(?<!\d){re.escape(old)}(?!\d)"
        if not re.search(pattern, code):
            raise AssertionError(f"{block.where}: port={old}, but the block never mentions {old}")
        code = re.sub(pattern, str(new), code)
    program, first_line = program_for(Block(block.path, block.line, code, block.marker,
                                            block.mode, block.options))
    script = workdir / (block.path.name.replace(".", "_") + f"_line{block.line}.py")
    script.write_text(program, encoding="utf-8")
    timeout = float(block.options.get("timeout", "60"))
    first_port = mapping[ports[0]] if ports else 0
    server = SERVERS[block.options["server"]](first_port) if "server" in block.options else None
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with server if server is not None else _nothing():
        process = subprocess.Popen([sys.executable, str(script)], cwd=workdir, env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        client_error: Optional[BaseException] = None
        stopped = False
        try:
            if "client" in block.options:
                try:
                    CLIENTS[block.options["client"]](first_port, process, deadline)
                except BaseException as exc:
                    client_error = exc
                if process.poll() is None:
                    # A server that serves forever: stopped once checked.
                    try:
                        process.wait(0.5)
                    except subprocess.TimeoutExpired:
                        process.terminate()
                        stopped = True
            out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            raise AssertionError(_report(block, script, first_line, f"still running after {timeout:g} s",
                                         out, err)) from None
    if client_error is not None:
        raise AssertionError(_report(block, script, first_line,
                                     f"the {block.options['client']} client's check failed: {client_error!r}",
                                     out, err)) from client_error
    if process.returncode != 0 and not stopped:
        raise AssertionError(_report(block, script, first_line, f"exit status {process.returncode}", out, err))
    expected = block.options.get("stdout")
    if expected is not None and expected not in out.decode(errors="replace"):
        raise AssertionError(_report(block, script, first_line, f"stdout lacks {expected!r}", out, err))


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _report(block: Block, script: Path, first_line: int, what: str, out: bytes, err: bytes) -> str:
    return (
        f"{block.where}: the python block at line {block.line} (marker: {block.marker}) failed: {what}.\n"
        f"It ran as {script}: program line N is {block.path.name} line N + {block.line - first_line + 1}.\n"
        f"--- stdout ---\n{out.decode(errors='replace')[-4000:]}\n"
        f"--- stderr ---\n{err.decode(errors='replace')[-4000:]}"
    )
