"""``python -m wsproto6455 URL``: an interactive WebSocket client, like wscat.

Lines read from standard input go out as text messages; received messages
are printed one per line (binary ones as ``<binary N bytes: hex>``). At the
end of input the client closes with 1000. Built on :mod:`wsproto6455.sync`:
the main thread reads input and sends, a second thread prints what arrives.

Exit status: 0 after a normal closure (1000, 1001, or a close frame without
a code), 1 after any other close code or a dropped connection (1006), 2 for
a bad command line, 3 when the connection could not be opened (refused,
TLS failure, timeout, handshake rejected), 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import ssl
import sys
import threading
import time
from types import FrameType
from typing import Optional, Sequence, TextIO, Union

from .frames import CloseReason
from .io_common.exceptions import OK_CODES, ConnectionClosed, WebSocketError
from .sync import ClientConnection, connect

EXIT_OK, EXIT_ABNORMAL, EXIT_USAGE, EXIT_CONNECT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

#: Bytes of a binary message shown in hex; the rest is summarised.
BINARY_SHOWN = 32

#: Control characters (C0 except tab, DEL, C1) are escaped in printed text:
#: a message stays on one line and cannot move the terminal's cursor.
_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)]}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r"})
del _ESCAPES[ord("\t")]


def render(message: Union[str, bytes]) -> str:
    """One line for a received message."""
    if isinstance(message, str):
        return message.translate(_ESCAPES)
    shown = message[:BINARY_SHOWN].hex(" ")
    more = " ..." if len(message) > BINARY_SHOWN else ""
    return f"<binary {len(message)} bytes{': ' if message else ''}{shown}{more}>"


def describe_close(code: Optional[int], reason: Optional[str]) -> str:
    if code is None:
        return "connection closed"
    try:
        name = CloseReason(code).name.replace("_", " ").lower()
    except ValueError:
        name = "application" if 3000 <= code < 5000 else "unknown"
    return f"{code} ({name})" + (f" {reason}" if reason else "")


def header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME:VALUE")
    return name.strip(), value.strip()


def positive_or_zero(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be zero or more")
    return value


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m wsproto6455",
        description="Interactive WebSocket client: lines from standard input are sent as text "
                    "messages, received messages are printed one per line (binary ones in hex). "
                    "End of input (Ctrl-D) closes the connection with 1000.",
        epilog="Exit status: 0 normal closure (1000, 1001, 1005); 1 any other close code or a "
               "dropped connection; 2 bad arguments; 3 could not connect (refused, TLS, timeout, "
               "handshake rejected); 130 interrupted (Ctrl-C).")
    cli.add_argument("url", metavar="URL", help="ws:// or wss:// URL")
    cli.add_argument("-H", "--header", action="append", type=header, default=[],
                     metavar="NAME:VALUE", help="extra request header (repeatable)")
    cli.add_argument("--subprotocol", action="append", default=[], metavar="NAME",
                     help="offer this subprotocol (repeatable, in order of preference)")
    cli.add_argument("--origin", help="Origin header")
    cli.add_argument("--no-compression", action="store_true",
                     help="do not offer permessage-deflate")
    cli.add_argument("--insecure", action="store_true",
                     help="wss://: do not verify the server's certificate nor its name")
    cli.add_argument("--ping-interval", type=positive_or_zero, default=20.0, metavar="SECONDS",
                     help="keepalive ping interval; no pong within 20 s closes with 1011 "
                          "(default: 20; 0: no keepalive)")
    cli.add_argument("--wait", type=positive_or_zero, default=0.0, metavar="SECONDS",
                     help="after the end of input, keep printing what arrives for this long "
                          "(or until the server closes) before closing (default: 0); "
                          "replies still in flight at the close are lost otherwise")
    cli.add_argument("--max-size", type=int, default=1 << 20, metavar="BYTES",
                     help="largest message accepted (default: 1 MiB; 0: unlimited)")
    return cli


class Console:
    """Where messages and notices go; keeps the input line intact in a terminal."""

    PROMPT = "> "

    def __init__(self, out: TextIO, err: TextIO, interactive: bool) -> None:
        self.out = out
        self.err = err
        self.interactive = interactive
        self.lock = threading.Lock()
        self.readline = None
        if interactive:
            try:
                import readline  # noqa: F401 (line editing and history for input())
                self.readline = readline
            except ImportError:  # not on every platform
                pass

    def message(self, text: str) -> None:
        with self.lock:
            if self.interactive:
                self._above_input("< " + text, self.out)
            else:
                self.out.write(text + "\n")
                self.out.flush()

    def notice(self, text: str) -> None:
        with self.lock:
            if self.interactive:
                self._above_input(text, self.err)
            else:
                self.err.write(text + "\n")
                self.err.flush()

    def _above_input(self, text: str, stream: TextIO) -> None:
        # Erase the prompt line, print, then draw the prompt and what was
        # typed so far again, so the user's line is never garbled.
        typed = self.readline.get_line_buffer() if self.readline is not None else ""
        self.out.flush()
        stream.write("\r\x1b[K" + text + "\n")
        stream.flush()
        self.out.write(self.PROMPT + typed)
        self.out.flush()

    def read_line(self) -> Optional[str]:
        """The next input line without its newline; None at end of input."""
        if self.interactive:
            try:
                return input(self.PROMPT)
            except EOFError:
                with self.lock:
                    self.out.write("\n")
                return None
        line = sys.stdin.readline()
        if not line:
            return None
        return line[:-1] if line.endswith("\n") else line


class _PeerClosed(Exception):
    """Raised in the main thread (by a signal) when the connection closed."""


def run(args: argparse.Namespace, console: Console) -> int:
    context: Optional[ssl.SSLContext] = None
    if args.insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE

    # Ctrl-C and the receiver's wake-up call are both SIGINT, handled from the
    # start (a Ctrl-C while connecting is an interruption too) until run()
    # returns; while closing (not reading any more) it is ignored.
    state = {"reading": True, "peer_closed": False}
    lock = threading.Lock()

    def on_sigint(signum: int, frame: Optional[FrameType]) -> None:
        if not state["reading"]:
            return
        state["reading"] = False    # one interruption: the rest of the session is closing
        if state["peer_closed"]:
            raise _PeerClosed()
        raise KeyboardInterrupt()

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    try:
        return _session(args, console, context, state, lock, in_main)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _session(args: argparse.Namespace, console: Console, context: Optional[ssl.SSLContext],
             state: dict[str, bool], lock: threading.Lock, can_signal: bool) -> int:
    ws: Optional[ClientConnection] = None
    receiver: Optional[threading.Thread] = None
    status: Optional[int] = None
    try:
        ws = connect(
            args.url,
            extra_headers=args.header,
            subprotocols=args.subprotocol,
            origin=args.origin,
            compression=None if args.no_compression else "deflate",
            ssl=context if args.url.startswith("wss:") else None,
            ping_interval=args.ping_interval or None,
            max_message_size=args.max_size or None,
        )
        if console.interactive:
            details = [f"subprotocol {ws.subprotocol}"] if ws.subprotocol else []
            details += [ext.name for ext in ws.extensions]
            console.err.write(f"Connected to {args.url}"
                              + (f" ({', '.join(details)})" if details else "")
                              + ". Ctrl-D closes.\n")
            console.err.flush()
        receiver = threading.Thread(target=receive, args=(ws, console, state, lock, can_signal),
                                    name="wsproto6455-cli-receiver", daemon=True)
        receiver.start()
        while True:
            line = console.read_line()
            if line is None:
                break
            try:
                ws.send(line)
            except ConnectionClosed:
                break
    except _PeerClosed:
        pass
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    except (OSError, WebSocketError, ValueError) as exc:
        if ws is not None:
            raise
        # ssl.SSLError, TimeoutError and refused connections are OSErrors.
        console.notice(f"Failed to connect to {args.url}: {exc}")
        return EXIT_CONNECT
    finally:
        with lock:
            state["reading"] = False
    if ws is None:
        return EXIT_INTERRUPTED
    if status is None and args.wait:
        ws.wait_closed(args.wait)
    ws.close(1000)
    if receiver is not None and receiver.ident is not None:
        receiver.join()
    if status is None:
        status = EXIT_OK if ws.close_code in OK_CODES else EXIT_ABNORMAL
    return status


def receive(ws: ClientConnection, console: Console, state: dict[str, bool],
            lock: threading.Lock, can_signal: bool) -> None:
    """Print messages until the connection closes, then say how it closed."""
    try:
        while True:
            console.message(render(ws.recv()))
    except ConnectionClosed:
        pass
    with lock:
        reading = state["reading"]
        state["peer_closed"] = True
    how = describe_close(ws.close_code, ws.close_reason)
    if ws.close_code == 1006:
        console.notice(f"Connection lost: {how}")
    elif reading:
        console.notice(f"Connection closed by the server: {how}")
    else:
        console.notice(f"Connection closed: {how}")
    # Wake the main thread out of its read. A signal that lands just before
    # the read blocks is not seen until the next key press (readline only
    # checks signals when select() is interrupted), so repeat until it is.
    while can_signal:
        with lock:
            if not state["reading"]:
                break
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    if args.insecure and not args.url.startswith("wss:"):
        parser().error("--insecure needs a wss:// URL")
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    console = Console(sys.stdout, sys.stderr, interactive)
    status = run(args, console)
    sys.stdout.flush()
    sys.stderr.flush()
    return status
