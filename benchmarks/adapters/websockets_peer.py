"""websockets: its sans-IO ``ServerProtocol`` / ``ClientProtocol``."""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, cast

from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from websockets.http11 import Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from .. import wire
from .base import LEAN_MEM_LEVEL, LEAN_WINDOW, LIMIT, Conn, Deflate, Peer


def _server_extensions(deflate: Deflate) -> Optional[Sequence[Any]]:
    if deflate == "lean":
        return [
            ServerPerMessageDeflateFactory(
                server_max_window_bits=LEAN_WINDOW,
                client_max_window_bits=LEAN_WINDOW,
                compress_settings={"memLevel": LEAN_MEM_LEVEL},
            )
        ]
    # "default": what websockets' own serve() installs for compression="deflate".
    return enable_server_permessage_deflate(None) if deflate else None


class WebsocketsPeer(Peer):
    column = "websockets"
    distribution = "websockets"

    def _accepted(self, request: bytes, deflate: Deflate) -> tuple[ServerProtocol, bytes]:
        protocol = ServerProtocol(extensions=_server_extensions(deflate), max_size=LIMIT)
        protocol.receive_data(request)
        [parsed] = protocol.events_received()
        protocol.send_response(protocol.accept(cast(Any, parsed)))
        return protocol, b"".join(protocol.data_to_send())

    def _connected(self, deflate: Deflate) -> ClientProtocol:
        extensions = enable_client_permessage_deflate(None) if deflate else None
        protocol = ClientProtocol(parse_uri("ws://127.0.0.1:8000/chat"), extensions=extensions, max_size=LIMIT)
        protocol.send_request(protocol.connect())
        [request] = protocol.data_to_send()
        protocol.receive_data(wire.response_to(request, "permessage-deflate" if deflate else None))
        [response] = protocol.events_received()
        if not isinstance(response, Response) or protocol.state is not State.OPEN:
            raise AssertionError(f"websockets client refused the 101: {protocol.handshake_exc}")
        return protocol

    @staticmethod
    def _sender(protocol: Any) -> Any:
        send_text, data_to_send = protocol.send_text, protocol.data_to_send

        def send(text: str) -> list[bytes]:
            send_text(text.encode())  # websockets' send(str) encodes, as here
            return cast("list[bytes]", data_to_send())

        return send

    def open_server(self, deflate: Deflate) -> Conn:
        protocol, response = self._accepted(wire.request(wire.BROWSER_OFFER if deflate else None), deflate)
        receive_data = protocol.receive_data
        events_received = cast(Callable[[], "list[Any]"], protocol.events_received)  # data frames here

        def feed(chunks: Sequence[bytes]) -> int:
            finished = 0
            for chunk in chunks:
                receive_data(chunk)
                for frame in events_received():
                    # The sans-IO core leaves UTF-8 to websockets' I/O layer;
                    # a server needs the str, so decoding is part of the work.
                    frame.data.decode()
                    finished += frame.fin
            return finished

        return Conn(protocol, self._sender(protocol), feed, wire.client_window(response))

    def open_client(self, deflate: Deflate) -> Conn:
        protocol = self._connected(deflate)
        return Conn(protocol, self._sender(protocol))

    def accept(self, request: bytes) -> bytes:
        return self._accepted(request, None)[1]

    def connect(self) -> None:
        self._connected(None)


def peer() -> WebsocketsPeer:
    return WebsocketsPeer()
