"""``python -m wsproto6455 URL`` run for real: through pipes, and in a pseudo-terminal."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from tests.test_asyncio_support import HOST, tls  # noqa: F401 (tls is a fixture)
from tests.threaded_servers import SansIOServer, port_of, serving
from wsproto6455.asyncio import serve
from wsproto6455.cli import main, render
from wsproto6455.events import CloseConnection, Ping, TextMessage

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "wsproto6455"]
#: Generous: the machine is shared, and starting Python can take seconds under load.
TIMEOUT = 60


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["TERM"] = "xterm"
    return env


class Chat:
    """What the test server saw, and the handler that makes it talk."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.requests: list[Any] = []
        self.close_codes: list[Optional[int]] = []
        #: Set by a test once a line is half typed: "push" is answered then
        #: (a fixed delay raced with the typing on a loaded machine).
        self.typed = threading.Event()

    async def handler(self, ws: Any) -> None:
        self.requests.append((ws.request, ws.subprotocol, [e.name for e in ws.extensions]))
        try:
            async for message in ws:
                self.received.append(message)
                if message == "bye":
                    await ws.close(4000, "see you")
                elif message == "bin":
                    await ws.send(bytes(range(40)))
                elif message == "esc":
                    await ws.send("red \x1b[31mtext\nsecond line")
                elif message == "push":
                    # Arrives while the user types (or after 10 s).
                    await asyncio.get_running_loop().run_in_executor(None, self.typed.wait, 10.0)
                    await ws.send("pushed")
                elif message == "whoami":
                    request, subprotocol, extensions = self.requests[-1]
                    token = dict((k.decode().lower(), v.decode()) for k, v in request.extra_headers)
                    await ws.send(f"{subprotocol}|{','.join(extensions)}|{token.get('x-token')}")
                else:
                    await ws.send(message)
        finally:
            self.close_codes.append(ws.close_code)


@pytest.fixture
def chat() -> Iterator[tuple[Chat, int]]:
    state = Chat()
    with serving(lambda: serve(state.handler, HOST, 0, subprotocols=["chat"])) as server:
        yield state, port_of(server)


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=environment())


def wait_for(predicate: Any, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# -- through pipes -------------------------------------------------------------

def test_pipe_lines_out_messages_in_and_close_1000_at_eof(chat: tuple[Chat, int]) -> None:
    state, port = chat
    cli = start(f"ws://{HOST}:{port}/")
    assert cli.stdin is not None and cli.stdout is not None
    for line, expected in [("hello", "hello"), ("", ""), ("héllo wörld", "héllo wörld"),
                           ("bin", render(bytes(range(40)))),
                           ("esc", "red \\x1b[31mtext\\nsecond line")]:
        cli.stdin.write(line + "\n")
        cli.stdin.flush()
        assert cli.stdout.readline() == expected + "\n"    # one message, one line
    cli.stdin.close()                                      # EOF: close with 1000
    assert cli.wait(TIMEOUT) == 0
    assert cli.stderr is not None and "Connection closed: 1000 (normal closure)" in cli.stderr.read()
    wait_for(lambda: state.close_codes == [1000])
    assert state.received == ["hello", "", "héllo wörld", "bin", "esc"]
    assert render(bytes(range(40))).startswith("<binary 40 bytes: 00 01 02")


def test_pipe_peer_close_shows_code_and_reason_and_exits_1(chat: tuple[Chat, int]) -> None:
    _, port = chat
    cli = start(f"ws://{HOST}:{port}/")
    assert cli.stdin is not None
    cli.stdin.write("bye\n")
    cli.stdin.flush()                                      # stdin stays open: the close wakes us
    assert cli.wait(TIMEOUT) == 1
    assert cli.stdout is not None and cli.stderr is not None
    out, err = cli.stdout.read(), cli.stderr.read()
    cli.stdin.close()
    assert "Connection closed by the server: 4000 (application) see you" in err
    assert out == ""


def test_pipe_wait_keeps_replies_in_flight_at_eof(chat: tuple[Chat, int]) -> None:
    _, port = chat
    cli = start("--wait", "2", f"ws://{HOST}:{port}/")
    out, err = cli.communicate("one\ntwo\nthree\n", timeout=TIMEOUT)
    assert cli.returncode == 0, err
    assert out.splitlines() == ["one", "two", "three"]


def test_pipe_headers_subprotocol_and_no_compression(chat: tuple[Chat, int]) -> None:
    _, port = chat
    url = f"ws://{HOST}:{port}/"
    cli = start("-H", "X-Token: secret", "--subprotocol", "chat", url)
    out = _ask(cli, "whoami")
    assert out == "chat|permessage-deflate|secret"
    cli = start("--header", "X-Token:2", "--no-compression", url)
    assert _ask(cli, "whoami") == "None||2"


def _ask(cli: subprocess.Popen[str], line: str) -> str:
    assert cli.stdin is not None and cli.stdout is not None
    cli.stdin.write(line + "\n")
    cli.stdin.flush()
    answer = cli.stdout.readline().rstrip("\n")
    cli.stdin.close()
    assert cli.wait(TIMEOUT) == 0
    return answer


def test_pipe_ping_interval_sends_keepalive_pings() -> None:
    server = SansIOServer()
    cli = start("--ping-interval", "0.2", f"ws://{HOST}:{server.port}/")
    wait_for(lambda: sum(isinstance(e, Ping) for e in server.events) >= 2)
    assert cli.stdin is not None
    cli.stdin.close()
    assert cli.wait(TIMEOUT) == 0
    server.close()
    closes = [e for e in server.events if isinstance(e, CloseConnection)]
    assert [c.code for c in closes] == [1000]


def test_pipe_default_sends_no_ping_within_a_short_session() -> None:
    server = SansIOServer()
    cli = start("--ping-interval", "0", f"ws://{HOST}:{server.port}/")
    out, _ = cli.communicate("x\n", timeout=TIMEOUT)
    server.close()
    assert cli.returncode == 0
    assert not any(isinstance(e, Ping) for e in server.events)
    assert [e.data for e in server.events if isinstance(e, TextMessage)] == ["x"]


def test_insecure_accepts_a_self_signed_certificate(tls: Any) -> None:  # noqa: F811
    server_ctx, _ = tls

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    with serving(lambda: serve(echo, HOST, 0, ssl=server_ctx)) as server:
        url = f"wss://{HOST}:{port_of(server)}/"
        verified = start(url)
        _, err = verified.communicate("x\n", timeout=TIMEOUT)
        assert verified.returncode == 3
        assert "Failed to connect" in err and "CERTIFICATE_VERIFY_FAILED" in err
        assert _ask(start("--insecure", url), "over tls") == "over tls"


def test_connection_failures_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    # In-process: nothing here needs a terminal or a pipe.
    with _closed_port() as port:
        assert main([f"ws://{HOST}:{port}/"]) == 3
    assert "Failed to connect" in capsys.readouterr().err
    for args, message in [(["--insecure", "ws://example.com/"], "--insecure needs a wss:// URL"),
                          (["-H", "no colon", "ws://example.com/"], "NAME:VALUE"),
                          (["--ping-interval", "-1", "ws://example.com/"], "zero or more"),
                          ([], "URL")]:
        with pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    helped = capsys.readouterr().out
    for option in ["--header", "--subprotocol", "--no-compression", "--insecure",
                   "--ping-interval", "--wait", "Exit status"]:
        assert option in helped


# -- in a pseudo-terminal -----------------------------------------------------

class Terminal:
    """The CLI on a pseudo-terminal: what a user types and sees."""

    def __init__(self, *args: str) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.process = subprocess.Popen([*CLI, *args], stdin=slave, stdout=slave, stderr=slave,
                                        env=environment(), start_new_session=True)
        os.close(slave)
        self.screen = b""

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def expect(self, text: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.screen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{text!r} never appeared; the terminal shows {self.screen!r}"
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    self.screen += os.read(self.master, 65536)
                except OSError:             # EIO: the program exited
                    time.sleep(0.05)

    def settle(self, quiet: float = 0.3) -> None:
        """Read until the program has printed nothing for ``quiet`` seconds:
        keys typed while it redraws its prompt would race readline."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], quiet)
            if not ready:
                return
            try:
                self.screen += os.read(self.master, 65536)
            except OSError:             # EIO: the program exited
                return

    def ctrl_c(self) -> None:
        """What Ctrl-C delivers; pressed again if nothing happens (as a user would):
        readline misses a signal that lands between printing the prompt and waiting."""
        deadline = time.monotonic() + TIMEOUT
        while self.process.poll() is None and time.monotonic() < deadline:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(2)
            except subprocess.TimeoutExpired:
                pass

    def finish(self) -> int:
        status = self.process.wait(TIMEOUT)
        while True:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                break
            try:
                data = os.read(self.master, 65536)
            except OSError:
                break
            if not data:
                break
            self.screen += data
        os.close(self.master)
        return status


def test_terminal_session_keeps_the_input_line_when_a_message_arrives(chat: tuple[Chat, int]) -> None:
    state, port = chat
    term = Terminal(f"ws://{HOST}:{port}/")
    term.expect("Connected to")
    term.expect("> ")
    term.type("hello\r")
    term.expect("< hello")
    term.settle()                             # the prompt is back
    term.type("push\r")                       # the server answers ...
    term.expect("push\r\n> ")                # (the line is sent: a new prompt)
    wait_for(lambda: state.received[-1:] == ["push"])
    term.type("par")                          # ... while a line is half typed
    term.expect("push\r\n> par")
    assert b"< pushed" not in term.screen
    state.typed.set()
    term.expect("< pushed")
    term.expect("< pushed\r\n> par")          # the prompt and the typed text are redrawn
    assert b"\r\x1b[K< pushed" in term.screen  # the half-typed line was erased first
    term.type("tial\r")
    term.expect("< partial")
    term.settle()
    term.type("\x04")                         # Ctrl-D: end of input
    assert term.finish() == 0
    assert b"Connection closed: 1000 (normal closure)" in term.screen
    assert state.received == ["hello", "push", "partial"]   # the half-typed line arrived whole


def test_terminal_peer_close_interrupts_the_prompt(chat: tuple[Chat, int]) -> None:
    _, port = chat
    term = Terminal(f"ws://{HOST}:{port}/")
    term.expect("> ")
    term.type("bye\r")
    term.expect("Connection closed by the server: 4000 (application) see you")
    assert term.finish() == 1


def test_terminal_ctrl_c_closes_and_exits_130(chat: tuple[Chat, int]) -> None:
    state, port = chat
    term = Terminal(f"ws://{HOST}:{port}/")
    term.expect("> ")
    term.ctrl_c()
    assert term.finish() == 130
    wait_for(lambda: state.close_codes == [1000])


# -- helpers ------------------------------------------------------------------

class _closed_port:
    """A port nobody listens on (bound, then closed)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind((HOST, 0))
            return int(sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        pass

