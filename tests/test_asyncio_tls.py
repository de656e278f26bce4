"""wss:// with a self-signed certificate made for the test by the openssl CLI."""

from __future__ import annotations

import ssl
from typing import Union

import aiohttp
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve

from tests.test_asyncio_support import (  # noqa: F401 (tls is a fixture)
    HOST, async_test, silent_connection_lifetime, tls, wait_until,
)
from wsproto6455.asyncio import ServerConnection, connect, serve

Contexts = tuple[ssl.SSLContext, ssl.SSLContext]
#: What asyncio (in debug mode only) reports when an incoming TLS handshake fails.
TLS_FAILURE = "Error on transport creation for incoming connection"


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


@pytest.mark.parametrize("compression", ["deflate", None])
def test_wss_between_us(tls: Contexts, compression: str) -> None:
    server_ctx, client_ctx = tls

    @async_test()
    async def run() -> None:
        async with serve(echo, HOST, 0, ssl=server_ctx, compression=compression) as server:
            async with connect(f"wss://{HOST}:{server.port}/", ssl=client_ctx,
                               compression=compression) as ws:
                assert ws._transport.get_extra_info("ssl_object") is not None  # type: ignore[union-attr]
                messages: list[Union[str, bytes]] = ["secret", b"\x00" * 100_000, ""]
                for message in messages:
                    await ws.send(message)
                    assert await ws.recv() == message
            assert ws.close_code == 1000
            await wait_until(lambda: not server.connections)

    run()


def test_wss_websockets_client_to_our_server(tls: Contexts) -> None:
    server_ctx, client_ctx = tls

    @async_test()
    async def run() -> None:
        async with serve(echo, HOST, 0, ssl=server_ctx) as server:
            async with ws_connect(f"wss://{HOST}:{server.port}/", ssl=client_ctx) as peer:
                await peer.send("over tls")
                assert await peer.recv() == "over tls"
            assert peer.close_code == 1000
            await wait_until(lambda: not server.connections)

    run()


def test_wss_aiohttp_client_to_our_server(tls: Contexts) -> None:
    server_ctx, client_ctx = tls

    @async_test()
    async def run() -> None:
        async with serve(echo, HOST, 0, ssl=server_ctx) as server:
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(f"wss://{HOST}:{server.port}/", ssl=client_ctx) as ws:
                    await ws.send_bytes(b"over tls")
                    assert (await ws.receive()).data == b"over tls"
            await wait_until(lambda: not server.connections)

    run()


def test_wss_our_client_to_websockets_server(tls: Contexts) -> None:
    server_ctx, client_ctx = tls

    @async_test()
    async def run() -> None:
        async def handler(ws: object) -> None:
            async for message in ws:  # type: ignore[attr-defined]
                await ws.send(message)  # type: ignore[attr-defined]

        async with ws_serve(handler, HOST, 0, ssl=server_ctx) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"wss://{HOST}:{port}/", ssl=client_ctx) as ws:
                await ws.send("over tls")
                assert await ws.recv() == "over tls"
            assert ws.close_code == 1000

    run()


def test_untrusted_certificate_is_refused(tls: Contexts) -> None:
    server_ctx, _ = tls

    @async_test(expected_errors=(TLS_FAILURE,))
    async def run() -> None:
        async with serve(echo, HOST, 0, ssl=server_ctx) as server:
            # The default context trusts the system's CAs, not our self-signed one.
            with pytest.raises(ssl.SSLCertVerificationError):
                await connect(f"wss://{HOST}:{server.port}/")
            await wait_until(lambda: not server.connections)

    run()


def test_open_timeout_bounds_the_tls_handshake(tls: Contexts) -> None:
    server_ctx, _ = tls

    @async_test(expected_errors=(TLS_FAILURE,))
    async def run() -> None:
        async with serve(echo, HOST, 0, ssl=server_ctx, open_timeout=0.2) as server:
            # No TLS hello: the server must give up within its open_timeout.
            assert await silent_connection_lifetime(server.port, 5) < 2

    run()
