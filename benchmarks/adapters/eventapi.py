"""wsproto's event API, shared by wsproto and wsproto6455 (same calls)."""

from __future__ import annotations

import importlib
from typing import Any, Sequence

from .. import wire
from .base import Conn, Deflate, Peer


class EventApiPeer(Peer):
    """A library with ``WSConnection``, ``events`` and ``extensions`` modules
    shaped like wsproto's; ``options`` go to every ``WSConnection``."""

    def __init__(self, column: str, package: str, options: dict[str, Any], lean: dict[str, Any]):
        self.column = column
        self.distribution = package
        self.lib = importlib.import_module(package)
        self.events = importlib.import_module(package + ".events")
        self.extensions = importlib.import_module(package + ".extensions")
        self.options = options
        self.lean = lean
        self.lib.WSConnection  # fail early (ImportError-like) if the core is missing

    def _extensions(self, deflate: Deflate) -> list[Any]:
        if not deflate:
            return []
        kwargs = self.lean if deflate == "lean" else {}
        return [self.extensions.PerMessageDeflate(**kwargs)]

    def _new(self, role: str) -> Any:
        return self.lib.WSConnection(getattr(self.lib.ConnectionType, role), **self.options)

    def _accepted(self, request: bytes, deflate: Deflate) -> tuple[Any, bytes]:
        ws = self._new("SERVER")
        ws.receive_data(request)
        for event in ws.events():
            if isinstance(event, self.events.Request):
                return ws, ws.send(self.events.AcceptConnection(extensions=self._extensions(deflate)))
        raise AssertionError(f"{self.column}: no Request event")

    def _connected(self, deflate: Deflate) -> Any:
        ws = self._new("CLIENT")
        request = ws.send(
            self.events.Request(host="127.0.0.1:8000", target="/chat", extensions=self._extensions(deflate))
        )
        ws.receive_data(wire.response_to(request, "permessage-deflate" if deflate else None))
        if not any(isinstance(e, self.events.AcceptConnection) for e in ws.events()):
            raise AssertionError(f"{self.column}: client did not accept the 101")
        return ws

    def _sender(self, ws: Any) -> Any:
        send, text_message = ws.send, self.events.TextMessage
        return lambda text: send(text_message(data=text))

    def open_server(self, deflate: Deflate) -> Conn:
        ws, response = self._accepted(wire.request(wire.BROWSER_OFFER if deflate else None), deflate)
        receive_data, events = ws.receive_data, ws.events

        def feed(chunks: Sequence[bytes]) -> int:
            finished = 0
            for chunk in chunks:
                receive_data(chunk)
                for event in events():
                    finished += event.message_finished
            return finished

        return Conn(ws, self._sender(ws), feed, wire.client_window(response))

    def open_client(self, deflate: Deflate) -> Conn:
        ws = self._connected(deflate)
        return Conn(ws, self._sender(ws))

    def accept(self, request: bytes) -> bytes:
        return self._accepted(request, None)[1]

    def connect(self) -> None:
        self._connected(None)

