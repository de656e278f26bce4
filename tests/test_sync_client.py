"""wsproto6455.sync.connect against real servers on loopback: ours (asyncio) and websockets'."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from typing import Any, Iterator, Union

import pytest
from websockets.asyncio.server import serve as ws_serve
from websockets.http11 import Response

from tests.test_asyncio_support import HOST, tls  # noqa: F401 (tls is a fixture)
from tests.threaded_servers import port_of, serving
from wsproto6455 import ConnectionType, WSConnection
from wsproto6455.asyncio import serve
from wsproto6455.events import AcceptConnection, CloseConnection, Ping, Request
from wsproto6455.sync import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeRejected,
    InvalidURI,
    connect,
)

Contexts = tuple[ssl.SSLContext, ssl.SSLContext]
Message = Union[str, bytes]
MESSAGES: list[Message] = ["hello", "", "é" * 100_000, b"\x00\xff" * 100_000, b""]


async def echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


@pytest.fixture
def ours() -> Iterator[int]:
    """Our asyncio echo server (deflate on), with a generous message bound."""
    with serving(lambda: serve(echo, HOST, 0, max_message_size=4 << 20)) as server:
        yield port_of(server)


@pytest.fixture
def theirs() -> Iterator[int]:
    """websockets' echo server (deflate on by default)."""
    with serving(lambda: ws_serve(echo, HOST, 0, max_size=4 << 20)) as server:
        yield port_of(server)


@pytest.mark.parametrize("compression", ["deflate", None])
@pytest.mark.parametrize("server", ["ours", "theirs"])
def test_echo_round_trips(server: str, compression: Any, request: pytest.FixtureRequest) -> None:
    port = request.getfixturevalue(server)
    with connect(f"ws://{HOST}:{port}/", compression=compression) as ws:
        negotiated = [ext.name for ext in ws.extensions]
        assert negotiated == (["permessage-deflate"] if compression else [])
        for message in MESSAGES:
            ws.send(message)
            assert ws.recv(timeout=10) == message
    assert (ws.close_code, ws.closed) == (1000, True)


def test_iteration_ends_at_a_normal_closure(ours: int) -> None:
    with connect(f"ws://{HOST}:{ours}/") as ws:
        for n in range(5):
            ws.send(str(n))
        received = []
        for message in ws:
            received.append(message)
            if len(received) == 5:
                ws.close()
        assert received == ["0", "1", "2", "3", "4"]
    with pytest.raises(ConnectionClosedOK):
        ws.send("after close")


def test_recv_timeout_raises_timeouterror_and_the_connection_stays_usable(ours: int) -> None:
    with connect(f"ws://{HOST}:{ours}/") as ws:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.2)
        assert time.monotonic() - started >= 0.2
        ws.send("still open")
        assert ws.recv(timeout=10) == "still open"


def test_ping_waits_for_its_pong(theirs: int) -> None:
    with connect(f"ws://{HOST}:{theirs}/") as ws:
        assert ws.ping().wait(10) is True
        assert ws.ping(b"mine").wait(10) is True
        assert ws.latency > 0


def test_pings_from_the_server_are_answered_without_recv() -> None:
    # websockets' server pings every 0.1 s and closes with 1011 if no pong comes in 1 s.
    with serving(lambda: ws_serve(echo, HOST, 0, ping_interval=0.1, ping_timeout=1)) as server:
        with connect(f"ws://{HOST}:{port_of(server)}/") as ws:
            time.sleep(1.5)                      # not reading: the reader thread answers
            ws.send("alive")
            assert ws.recv(timeout=10) == "alive"
        assert ws.close_code == 1000


def test_server_close_code_and_reason() -> None:
    async def bye(ws: Any) -> None:
        await ws.send("last words")
        await ws.close(4000, "go away")

    with serving(lambda: ws_serve(bye, HOST, 0)) as server:
        ws = connect(f"ws://{HOST}:{port_of(server)}/")
        assert ws.recv(timeout=10) == "last words"   # queued messages come first
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=10)
        assert (info.value.code, info.value.reason) == (4000, "go away")
        assert (ws.close_code, ws.close_reason) == (4000, "go away")
        ws.close()                                   # only waits: already closed


def test_subprotocols_extra_headers_origin_user_agent() -> None:
    seen: dict[str, Any] = {}

    async def record(ws: Any) -> None:
        seen["headers"] = ws.request.headers
        await ws.send(ws.subprotocol)

    with serving(lambda: ws_serve(record, HOST, 0, subprotocols=["superchat"])) as server:
        with connect(f"ws://{HOST}:{port_of(server)}/", subprotocols=["chat", "superchat"],
                     extra_headers={"Authorization": "Bearer x"}, origin="http://example.com") as ws:
            assert ws.subprotocol == "superchat"
            assert ws.recv(timeout=10) == "superchat"
    headers = seen["headers"]
    assert headers["Authorization"] == "Bearer x"
    assert headers["Origin"] == "http://example.com"
    assert headers["User-Agent"].startswith("wsproto6455/")


@pytest.mark.parametrize("server", ["ours", "theirs"])
def test_wss_with_a_self_signed_certificate(tls: Contexts, server: str) -> None:  # noqa: F811
    server_ctx, client_ctx = tls
    if server == "ours":
        def make() -> Any:
            return serve(echo, HOST, 0, ssl=server_ctx)
    else:
        def make() -> Any:
            return ws_serve(echo, HOST, 0, ssl=server_ctx)
    with serving(make) as running:
        uri = f"wss://{HOST}:{port_of(running)}/"
        with connect(uri, ssl=client_ctx) as ws:
            assert ws._sock.version() is not None  # type: ignore[attr-defined]
            for message in MESSAGES:
                ws.send(message)
                assert ws.recv(timeout=10) == message
        assert ws.close_code == 1000
        # The system trust store does not know the certificate: TLS fails.
        with pytest.raises(ssl.SSLCertVerificationError):
            connect(uri)


def test_max_message_size_closes_with_1009() -> None:
    async def big(ws: Any) -> None:
        await ws.send("x" * 2000)
        await ws.wait_closed()

    with serving(lambda: ws_serve(big, HOST, 0)) as server:
        ws = connect(f"ws://{HOST}:{port_of(server)}/", max_message_size=1000)
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=10)
        assert info.value.code == 1009
        ws.close()


def test_rejection_raises_handshakerejected_with_status_and_body() -> None:
    def refuse(connection: Any, request: Any) -> Response:
        return connection.respond(403, "not you\n")

    with serving(lambda: ws_serve(echo, HOST, 0, process_request=refuse)) as server:
        with pytest.raises(HandshakeRejected) as info:
            connect(f"ws://{HOST}:{port_of(server)}/")
    assert info.value.status == 403
    assert info.value.body == b"not you\n"


def test_bad_uri_and_misspelt_option() -> None:
    with pytest.raises(InvalidURI):
        connect("http://example.com/")
    with pytest.raises(TypeError, match=r"wsproto6455\.sync\.connect\(\).*max_message_size="):
        connect("ws://127.0.0.1:1/", max_size=10)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        connect("ws://127.0.0.1:1/", ssl=ssl.create_default_context())


class SilentServer:
    """Accepts the opening handshake with the sans-IO core, then reads and answers nothing."""

    def __init__(self, handshake: bool = True) -> None:
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.handshake = handshake
        self.received: list[Any] = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        sock, _ = self.listener.accept()
        self.sock = sock
        with sock:
            ws = WSConnection(ConnectionType.SERVER)
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                if not self.handshake:
                    continue
                ws.receive_data(data)
                for event in ws.events():
                    self.received.append(event)
                    if isinstance(event, Request):
                        sock.sendall(ws.send(AcceptConnection()))

    def drop(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()
        self.thread.join(10)


def test_open_timeout_when_the_server_never_answers() -> None:
    server = SilentServer(handshake=False)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        connect(f"ws://{HOST}:{server.port}/", open_timeout=0.5)
    assert time.monotonic() - started < 10
    server.close()


def test_close_timeout_when_the_server_never_answers_the_close() -> None:
    server = SilentServer()
    ws = connect(f"ws://{HOST}:{server.port}/", close_timeout=0.5)
    ws.close(1000, "done")
    assert ws.closed and ws.close_code == 1006     # no closing handshake
    server.close()
    assert any(isinstance(e, CloseConnection) and e.code == 1000 and e.reason == "done"
               for e in server.received)


def test_keepalive_without_pong_fails_with_1011() -> None:
    server = SilentServer()
    ws = connect(f"ws://{HOST}:{server.port}/", ping_interval=0.1, ping_timeout=0.3,
                 close_timeout=0.5)
    with pytest.raises(ConnectionClosedError) as info:
        ws.recv(timeout=20)
    assert info.value.code == 1011
    ws.close()
    server.close()
    assert any(isinstance(e, Ping) for e in server.received)


def test_unread_messages_are_bounded_by_max_queue_then_all_arrive_in_order() -> None:
    async def flood(ws: Any) -> None:
        for n in range(200):
            await ws.send(f"{n:04d}" + "." * 1000)
        await ws.wait_closed()

    with serving(lambda: ws_serve(flood, HOST, 0, compression=None)) as server:
        with connect(f"ws://{HOST}:{port_of(server)}/", max_queue=4) as ws:
            deadline = time.monotonic() + 10     # the reader fills the queue, then waits
            while len(ws._messages) < 4 and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3)
            assert len(ws._messages) == 4
            received = [ws.recv(timeout=10) for _ in range(200)]
    assert [str(m)[:4] for m in received] == [f"{n:04d}" for n in range(200)]


def test_concurrent_senders_with_compression_keep_frames_intact() -> None:
    got: list[Message] = []

    async def collect(ws: Any) -> None:
        async for message in ws:
            got.append(message)

    with serving(lambda: serve(collect, HOST, 0)) as server:
        with connect(f"ws://{HOST}:{port_of(server)}/") as ws:
            def sender(name: str) -> None:
                for n in range(100):
                    ws.send(f"{name}-{n}-" + name * 500)

            threads = [threading.Thread(target=sender, args=(c,)) for c in "abcd"]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
    for name in "abcd":
        mine = [str(m) for m in got if str(m).startswith(name + "-")]
        assert [m.split("-")[1] for m in mine] == [str(n) for n in range(100)]
        assert all(m.endswith(name * 500) for m in mine)


def test_a_server_that_vanishes_gives_1006() -> None:
    server = SilentServer()
    ws = connect(f"ws://{HOST}:{server.port}/")
    server.drop()                                 # TCP closed without a close frame
    with pytest.raises(ConnectionClosedError) as info:
        ws.recv(timeout=10)
    assert info.value.code == 1006 and ws.closed
    server.close()


def test_a_busy_writer_never_stops_the_reader_and_the_pong_follows() -> None:
    async def pinger(ws: Any) -> None:
        assert await ws.recv() == "go"
        await asyncio.sleep(0.5)                 # the client's writer is "stuck" by then
        pong = await ws.ping(b"p1")
        await ws.send("after ping")
        await asyncio.wait_for(pong, 20)
        await ws.send("pong received")
        await ws.wait_closed()

    with serving(lambda: serve(pinger, HOST, 0, ping_interval=None)) as server:
        with connect(f"ws://{HOST}:{port_of(server)}/") as ws:
            ws.send("go")
            with ws._write_lock:                 # as if a send() were blocked in sendall
                assert ws.recv(timeout=20) == "after ping"   # the reader kept reading
            ws.send("x")                         # the writer sends the pong it left behind
            assert ws.recv(timeout=20) == "pong received"
