"""The opening handshake against wsproto's and websockets' sans-IO objects, in memory.

Both directions: our client against their servers, their clients against our
server; with and without subprotocols, with permessage-deflate, rejections;
a message each way proves the connection that follows the handshake works.
"""

from __future__ import annotations

from typing import Optional

import pytest
import wsproto
import wsproto.events as wsproto_events
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Opcode as WebsocketsOpcode
from websockets.http11 import Request as WebsocketsRequest
from websockets.http11 import Response as WebsocketsResponse
from websockets.protocol import State as WebsocketsState
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol
from websockets.uri import parse_uri
from wsproto.extensions import PerMessageDeflate as WsprotoPerMessageDeflate

from handshake_helpers import client, server
from wsproto6455 import ConnectionState, WSConnection
from wsproto6455.events import (
    AcceptConnection,
    BytesMessage,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto6455.extensions import PerMessageDeflate

OPEN = ConnectionState.OPEN
SUBPROTOCOL_CASES = [([], None), (["chat", "superchat"], "superchat")]
SUBPROTOCOL_IDS = ["no-subprotocol", "subprotocol"]


def our_events(ws: WSConnection, data: bytes) -> list[object]:
    ws.receive_data(data)
    return list(ws.events())


def our_request(ws: WSConnection, subprotocols: list[str], extensions: Optional[list[object]] = None) -> bytes:
    return ws.send(Request(host="server.example.com", target="/chat",
                           subprotocols=subprotocols, extensions=extensions or []))


# -- wsproto ------------------------------------------------------------------


class TestOurClientAgainstWsprotoServer:
    @pytest.mark.parametrize("offered, chosen", SUBPROTOCOL_CASES, ids=SUBPROTOCOL_IDS)
    def test_handshake(self, offered: list[str], chosen: Optional[str]) -> None:
        ours = client()
        theirs = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        theirs.receive_data(our_request(ours, offered))
        [request] = theirs.events()
        assert isinstance(request, wsproto_events.Request)
        assert (request.host, request.target, request.subprotocols) == ("server.example.com", "/chat", offered)
        events = our_events(ours, theirs.send(wsproto_events.AcceptConnection(subprotocol=chosen)))
        assert [type(e) for e in events] == [AcceptConnection]
        assert events[0].subprotocol == chosen  # type: ignore[attr-defined]
        assert ours.state is OPEN

        theirs.receive_data(ours.send(TextMessage("hello")))
        [message] = theirs.events()
        assert isinstance(message, wsproto_events.TextMessage) and message.data == "hello"
        assert our_events(ours, theirs.send(wsproto_events.BytesMessage(data=b"\x00\xff"))) == [
            BytesMessage(b"\x00\xff")]

    def test_permessage_deflate(self) -> None:
        ours = client()
        theirs = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        ext = PerMessageDeflate()
        theirs.receive_data(our_request(ours, [], [ext]))
        [request] = theirs.events()
        assert [e.split(";")[0] for e in request.extensions] == ["permessage-deflate"]  # type: ignore[union-attr]
        events = our_events(ours, theirs.send(wsproto_events.AcceptConnection(
            extensions=[WsprotoPerMessageDeflate()])))
        assert isinstance(events[0], AcceptConnection) and events[0].extensions == [ext]
        assert ext.enabled()
        payload = "compress me " * 50
        theirs.receive_data(ours.send(TextMessage(payload)))
        [message] = theirs.events()
        assert isinstance(message, wsproto_events.TextMessage) and message.data == payload
        assert our_events(ours, theirs.send(wsproto_events.TextMessage(data=payload))) == [TextMessage(payload)]

    def test_rejection_with_body(self) -> None:
        ours = client()
        theirs = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        theirs.receive_data(our_request(ours, []))
        list(theirs.events())
        wire = theirs.send(wsproto_events.RejectConnection(
            status_code=403, headers=[(b"content-length", b"5")], has_body=True))
        wire += theirs.send(wsproto_events.RejectData(data=b"nope!", body_finished=True))
        events = our_events(ours, wire)
        assert isinstance(events[0], RejectConnection) and events[0].status_code == 403
        assert events[1:] == [RejectData(b"nope!", body_finished=False), RejectData(b"", body_finished=True)]
        assert ours.state is ConnectionState.CLOSED


class TestWsprotoClientAgainstOurServer:
    @pytest.mark.parametrize("offered, chosen", SUBPROTOCOL_CASES, ids=SUBPROTOCOL_IDS)
    def test_handshake(self, offered: list[str], chosen: Optional[str]) -> None:
        ours = server()
        theirs = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        request_bytes = theirs.send(wsproto_events.Request(
            host="server.example.com", target="/chat", subprotocols=offered))
        [request] = our_events(ours, request_bytes)
        assert isinstance(request, Request)
        assert (request.host, request.target, request.subprotocols) == ("server.example.com", "/chat", offered)
        theirs.receive_data(ours.send(AcceptConnection(subprotocol=chosen)))
        [accept] = theirs.events()
        assert isinstance(accept, wsproto_events.AcceptConnection) and accept.subprotocol == chosen
        assert theirs.state is wsproto.ConnectionState.OPEN
        assert ours.state is OPEN

        assert our_events(ours, theirs.send(wsproto_events.TextMessage(data="hello"))) == [TextMessage("hello")]
        theirs.receive_data(ours.send(BytesMessage(b"\x00\xff")))
        [message] = theirs.events()
        assert isinstance(message, wsproto_events.BytesMessage) and message.data == b"\x00\xff"

    def test_permessage_deflate(self) -> None:
        ours = server()
        theirs = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        [request] = our_events(ours, theirs.send(wsproto_events.Request(
            host="server.example.com", target="/chat", extensions=[WsprotoPerMessageDeflate()])))
        assert isinstance(request, Request)
        assert [e.split(";")[0] for e in request.extensions] == ["permessage-deflate"]  # type: ignore[union-attr]
        ext = PerMessageDeflate()
        theirs.receive_data(ours.send(AcceptConnection(extensions=[ext])))
        [accept] = theirs.events()
        assert isinstance(accept, wsproto_events.AcceptConnection)
        assert [e.name for e in accept.extensions] == ["permessage-deflate"]
        assert ext.enabled()
        payload = "compress me " * 50
        assert our_events(ours, theirs.send(wsproto_events.TextMessage(data=payload))) == [TextMessage(payload)]
        theirs.receive_data(ours.send(TextMessage(payload)))
        [message] = theirs.events()
        assert isinstance(message, wsproto_events.TextMessage) and message.data == payload

    @pytest.mark.parametrize("headers", [[], [(b"Content-Length", b"7")]], ids=["chunked", "length"])
    def test_rejection_with_body(self, headers: list[tuple[bytes, bytes]]) -> None:
        ours = server()
        theirs = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        our_events(ours, theirs.send(wsproto_events.Request(host="server.example.com", target="/chat")))
        wire = ours.send(RejectConnection(status_code=403, headers=headers, has_body=True))
        wire += ours.send(RejectData(b"Go ", body_finished=False))
        wire += ours.send(RejectData(b"away", body_finished=True))
        theirs.receive_data(wire)
        events = list(theirs.events())
        assert isinstance(events[0], wsproto_events.RejectConnection) and events[0].status_code == 403
        body = b"".join(e.data for e in events[1:] if isinstance(e, wsproto_events.RejectData))
        assert body == b"Go away"
        assert isinstance(events[-1], wsproto_events.RejectData) and events[-1].body_finished

    def test_rejection_without_body(self) -> None:
        ours = server()
        theirs = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        our_events(ours, theirs.send(wsproto_events.Request(host="server.example.com", target="/chat")))
        theirs.receive_data(ours.send(RejectConnection(status_code=401, headers=[(b"WWW-Authenticate", b"Basic")])))
        event, end = theirs.events()
        assert isinstance(event, wsproto_events.RejectConnection) and event.status_code == 401
        assert (b"www-authenticate", b"Basic") in event.headers
        # wsproto reads a (here empty, Content-Length: 0) body after any non-101.
        assert isinstance(end, wsproto_events.RejectData) and (end.data, end.body_finished) == (b"", True)
        assert theirs.state is wsproto.ConnectionState.CLOSED


# -- websockets -----------------------------------------------------------------


def websockets_server(subprotocols: list[str], **kwargs: object) -> ServerProtocol:
    return ServerProtocol(subprotocols=[Subprotocol(s) for s in subprotocols] or None, **kwargs)  # type: ignore[arg-type]


def websockets_client(subprotocols: list[str], **kwargs: object) -> ClientProtocol:
    return ClientProtocol(parse_uri("ws://server.example.com/chat"),
                          subprotocols=[Subprotocol(s) for s in subprotocols] or None, **kwargs)  # type: ignore[arg-type]


def sent(protocol: ServerProtocol | ClientProtocol) -> bytes:
    return b"".join(protocol.data_to_send())


class TestOurClientAgainstWebsocketsServer:
    @pytest.mark.parametrize("offered, chosen", SUBPROTOCOL_CASES, ids=SUBPROTOCOL_IDS)
    def test_handshake(self, offered: list[str], chosen: Optional[str]) -> None:
        ours = client()
        # websockets picks the first of its own list that the client offered.
        theirs = websockets_server([chosen] if chosen else [])
        theirs.receive_data(our_request(ours, offered))
        [request] = theirs.events_received()
        assert isinstance(request, WebsocketsRequest)
        response = theirs.accept(request)
        assert response.status_code == 101, response.body
        theirs.send_response(response)
        events = our_events(ours, sent(theirs))
        assert [type(e) for e in events] == [AcceptConnection]
        assert events[0].subprotocol == chosen  # type: ignore[attr-defined]
        assert ours.state is OPEN and theirs.state is WebsocketsState.OPEN

        theirs.receive_data(ours.send(TextMessage("hello")))
        [frame] = theirs.events_received()
        assert (frame.opcode, frame.data) == (WebsocketsOpcode.TEXT, b"hello")
        theirs.send_binary(b"\x00\xff")
        assert our_events(ours, sent(theirs)) == [BytesMessage(b"\x00\xff")]

    def test_permessage_deflate(self) -> None:
        ours = client()
        ext = PerMessageDeflate()
        theirs = websockets_server([], extensions=[ServerPerMessageDeflateFactory()])
        theirs.receive_data(our_request(ours, [], [ext]))
        [request] = theirs.events_received()
        response = theirs.accept(request)
        assert "permessage-deflate" in response.headers.get("Sec-WebSocket-Extensions", "")
        theirs.send_response(response)
        events = our_events(ours, sent(theirs))
        assert isinstance(events[0], AcceptConnection) and events[0].extensions == [ext]
        payload = "compress me " * 50
        theirs.receive_data(ours.send(TextMessage(payload)))
        [frame] = theirs.events_received()
        assert frame.data == payload.encode()
        theirs.send_text(payload.encode())
        assert our_events(ours, sent(theirs)) == [TextMessage(payload)]

    def test_rejection(self) -> None:
        ours = client()
        theirs = websockets_server([])
        theirs.receive_data(our_request(ours, []))
        theirs.events_received()
        theirs.send_response(theirs.reject(403, "Forbidden, sorry\n"))
        events = our_events(ours, sent(theirs))
        assert isinstance(events[0], RejectConnection) and events[0].status_code == 403
        assert b"".join(e.data for e in events[1:] if isinstance(e, RejectData)) == b"Forbidden, sorry\n"
        assert events[-1] == RejectData(b"", body_finished=True)
        assert ours.state is ConnectionState.CLOSED

    def test_websockets_refuses_a_request_we_did_not_send_correctly(self) -> None:
        # Control: the websockets server does check what we send (a mangled
        # key is refused), so the successes above are meaningful.
        ours = client()
        data = our_request(ours, [])
        mangled = data.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 12")
        theirs = websockets_server([])
        theirs.receive_data(mangled)
        [request] = theirs.events_received()
        assert theirs.accept(request).status_code != 101


class TestWebsocketsClientAgainstOurServer:
    @pytest.mark.parametrize("offered, chosen", SUBPROTOCOL_CASES, ids=SUBPROTOCOL_IDS)
    def test_handshake(self, offered: list[str], chosen: Optional[str]) -> None:
        ours = server()
        theirs = websockets_client(offered)
        theirs.send_request(theirs.connect())
        [request] = our_events(ours, sent(theirs))
        assert isinstance(request, Request)
        assert (request.host, request.target, request.subprotocols) == ("server.example.com", "/chat", offered)
        theirs.receive_data(ours.send(AcceptConnection(subprotocol=chosen)))
        [response] = theirs.events_received()
        assert isinstance(response, WebsocketsResponse) and response.status_code == 101
        assert theirs.handshake_exc is None
        assert theirs.state is WebsocketsState.OPEN
        assert theirs.subprotocol == chosen

        theirs.send_text(b"hello")
        assert our_events(ours, sent(theirs)) == [TextMessage("hello")]
        theirs.receive_data(ours.send(BytesMessage(b"\x00\xff")))
        [frame] = theirs.events_received()
        assert (frame.opcode, frame.data) == (WebsocketsOpcode.BINARY, b"\x00\xff")

    def test_permessage_deflate(self) -> None:
        ours = server()
        theirs = websockets_client([], extensions=[ClientPerMessageDeflateFactory()])
        theirs.send_request(theirs.connect())
        [request] = our_events(ours, sent(theirs))
        assert isinstance(request, Request)
        assert [e.split(";")[0] for e in request.extensions] == ["permessage-deflate"]  # type: ignore[union-attr]
        ext = PerMessageDeflate()
        theirs.receive_data(ours.send(AcceptConnection(extensions=[ext])))
        theirs.events_received()
        assert theirs.handshake_exc is None and theirs.state is WebsocketsState.OPEN
        payload = "compress me " * 50
        theirs.send_text(payload.encode())
        assert our_events(ours, sent(theirs)) == [TextMessage(payload)]
        theirs.receive_data(ours.send(TextMessage(payload)))
        [frame] = theirs.events_received()
        assert frame.data == payload.encode()

    def test_rejection_with_body(self) -> None:
        ours = server()
        theirs = websockets_client([])
        theirs.send_request(theirs.connect())
        our_events(ours, sent(theirs))
        wire = ours.send(RejectConnection(status_code=403, headers=[(b"Content-Length", b"7")], has_body=True))
        wire += ours.send(RejectData(b"Go away", body_finished=True))
        theirs.receive_data(wire)
        [response] = theirs.events_received()
        assert isinstance(response, WebsocketsResponse)
        assert (response.status_code, response.body) == (403, b"Go away")
        assert theirs.handshake_exc is not None

    def test_websockets_refuses_a_bad_accept_from_us(self) -> None:
        # Control: a corrupted accept token from our server is refused by
        # the websockets client, so the successes above are meaningful.
        ours = server()
        theirs = websockets_client([])
        theirs.send_request(theirs.connect())
        our_events(ours, sent(theirs))
        data = ours.send(AcceptConnection())
        corrupted = data.replace(b"Sec-WebSocket-Accept: ", b"Sec-WebSocket-Accept: A")
        theirs.receive_data(corrupted)
        theirs.events_received()
        assert theirs.handshake_exc is not None
        assert theirs.state is not WebsocketsState.OPEN

