"""Helpers for the asyncio integration tests (plain asyncio, no plugin),
plus tests of the helpers' own assumptions and of URI parsing.

``async_test`` runs a coroutine test under ``asyncio.run`` with a deadline
and then checks what the integration promises: no task left running, and no
error reported to the loop's exception handler (a lost task exception, a
protocol callback that raised, a future whose exception nobody read).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import gc
import hashlib
import shutil
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Optional

import pytest
import wsproto
import wsproto.events as wev
from wsproto.connection import Connection

from wsproto6455.asyncio import InvalidURI
from wsproto6455.asyncio.uri import parse_uri

HOST = "127.0.0.1"


def async_test(
    timeout: float = 10.0, expected_errors: tuple[str, ...] = ()
) -> Callable[[Callable[..., Awaitable[None]]], Callable[..., None]]:
    """Run an ``async def`` test with a deadline and leak checks.

    ``expected_errors``: messages the loop may report that the test provokes
    on purpose (asyncio reports a failed incoming TLS handshake in debug mode).
    """

    def decorate(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> None:
            errors: list[dict[str, Any]] = []

            async def main() -> None:
                loop = asyncio.get_running_loop()
                loop.set_exception_handler(lambda _loop, context: errors.append(context))
                await asyncio.wait_for(fn(*args, **kwargs), timeout)
                # Let callbacks scheduled by the last close run, then look for leaks.
                for _ in range(3):
                    await asyncio.sleep(0)
                leftover = asyncio.all_tasks() - {asyncio.current_task()}
                assert not leftover, f"tasks left running: {leftover}"

            asyncio.run(main())
            gc.collect()  # a future whose exception nobody read reports it when collected
            errors[:] = [e for e in errors if e.get("message") not in expected_errors]
            assert not errors, f"errors reported to the event loop: {errors}"

        return run

    return decorate


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` every few milliseconds until it holds."""
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.005)
    await asyncio.wait_for(poll(), timeout)


# -- a raw peer: wsproto (an independent implementation) over asyncio streams.
# It does only what a test tells it: no automatic pong, no automatic close.

class RawClient:
    """A WebSocket client that answers nothing by itself."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        self.pending: list[wev.Event] = []

    @classmethod
    async def connect(cls, port: int, path: str = "/", **request: Any) -> "RawClient":
        reader, writer = await asyncio.open_connection(HOST, port)
        client = cls(reader, writer)
        client.send(wev.Request(host=f"{HOST}:{port}", target=path, **request))
        event = await client.next_event()
        assert isinstance(event, wev.AcceptConnection), event
        return client

    def send(self, event: wev.Event) -> None:
        self.writer.write(self.ws.send(event))

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def next_event(self) -> wev.Event:
        while not self.pending:
            data = await self.reader.read(65536)
            self.ws.receive_data(data or None)
            self.pending.extend(self.ws.events())
        return self.pending.pop(0)

    async def read_eof(self) -> bytes:
        """Read until the peer closes TCP; return what came."""
        return await self.reader.read()

    def abort(self) -> None:
        transport = self.writer.transport
        transport.abort()

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


@contextlib.asynccontextmanager
async def aiohttp_app(handler: Callable[[Any], Awaitable[Any]]) -> AsyncIterator[int]:
    """An aiohttp application serving ``handler`` at / on HOST; yields its port."""
    from aiohttp import web

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, HOST, 0).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def silent_connection_lifetime(port: int, limit: float) -> float:
    """Connect, send nothing, and return how long the server took to drop us
    (it must not send a byte first)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    start = time.monotonic()
    try:
        data = await asyncio.wait_for(reader.read(), limit)
    except ConnectionResetError:
        data = b""
    assert data == b""
    elapsed = time.monotonic() - start
    writer.close()
    return elapsed


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())


class RawServer:
    """A one-connection WebSocket server that answers nothing by itself.

    ``handshake`` is called with the request bytes and returns the response
    bytes (default: a correct 101); None leaves the client waiting.
    """

    def __init__(self, handshake: Optional[Callable[[bytes], Optional[bytes]]] = None) -> None:
        self.handshake = handshake or self.accept
        self.connected: asyncio.Queue[RawClient] = asyncio.Queue()
        self.server: Optional[asyncio.base_events.Server] = None
        self.writers: list[asyncio.StreamWriter] = []

    @staticmethod
    def accept(request: bytes) -> bytes:
        for line in request.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_key(key) + b"\r\n\r\n")

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            request = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            # The client (or a stray connection to a reused port) left
            # before sending a request, or a test closed it first: nothing
            # to answer. Raising here would only log an error.
            return
        response = self.handshake(request)
        if response is None:
            return
        writer.write(response)
        peer = RawClient(reader, writer)
        # The server end: build a wsproto server connection already past the handshake.
        peer.ws = Connection(wsproto.ConnectionType.SERVER)  # type: ignore[assignment]
        await self.connected.put(peer)

    async def __aenter__(self) -> "RawServer":
        self.server = await asyncio.start_server(self._on_client, HOST, 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        await self.server.wait_closed()
        await asyncio.sleep(0)

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    @property
    def uri(self) -> str:
        return f"ws://{HOST}:{self.port}/"


# -- TLS: a self-signed certificate for 127.0.0.1, made with the openssl CLI.

def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key valid for 127.0.0.1 and localhost."""
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl command is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting the server's certificate)."""
    cert, key = make_certificate(tmp_path_factory.mktemp("tls"))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


# -- tests of URI parsing (uri.py) and of the helpers

class TestParseURI:
    def test_ws_defaults(self) -> None:
        uri = parse_uri("ws://example.com")
        assert (uri.secure, uri.host, uri.port, uri.resource_name) == (False, "example.com", 80, "/")
        assert uri.host_header == "example.com"

    def test_wss_port_path_query(self) -> None:
        uri = parse_uri("wss://example.com:8443/chat/room?x=1&y=2")
        assert (uri.secure, uri.port, uri.resource_name) == (True, 8443, "/chat/room?x=1&y=2")
        assert uri.host_header == "example.com:8443"

    def test_default_port_left_out_of_host(self) -> None:
        assert parse_uri("wss://example.com:443/").host_header == "example.com"

    def test_ipv6(self) -> None:
        uri = parse_uri("ws://[::1]:9000/")
        assert (uri.host, uri.port, uri.host_header) == ("::1", 9000, "[::1]:9000")

    @pytest.mark.parametrize("bad", [
        "http://example.com/", "example.com", "ws:///path", "ws://example.com/#frag",
        "ws://user:pw@example.com/", "ws://example.com:99999/",
    ])
    def test_invalid(self, bad: str) -> None:
        with pytest.raises(InvalidURI):
            parse_uri(bad)


def test_accept_key_matches_rfc_example() -> None:
    # RFC 6455 §1.3's worked example.
    assert accept_key(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_leak_check_catches_a_leftover_task() -> None:
    @async_test(timeout=2)
    async def leaky() -> None:
        asyncio.get_running_loop().create_task(asyncio.sleep(10))

    with pytest.raises(AssertionError, match="tasks left running"):
        leaky()
