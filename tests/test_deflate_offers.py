"""A client that offers permessage-deflate more than once (RFC 7692 §5).

The server accepts at most one of the offers, and its response must be
consistent with that one; the client cannot be told which, so it checks the
response against each of its offers of that name, in order, and enables the
first one it is consistent with. A response consistent with none is refused.
"""

from __future__ import annotations

from typing import List

import pytest

from handshake_helpers import client, feed, key_of, open_request, parse_head, response, server, values
from wsproto6455 import ConnectionState
from wsproto6455.errors import RemoteProtocolError
from wsproto6455.events import AcceptConnection, Request, TextMessage
from wsproto6455.extensions import DeflateParameters, PerMessageDeflate


def handshake(offers: List[PerMessageDeflate], extensions_header: bytes) -> AcceptConnection:
    ws = client()
    key = key_of(open_request(ws, extensions=offers))
    (event,) = feed(ws, response(key, b"Sec-WebSocket-Extensions: " + extensions_header))
    assert isinstance(event, AcceptConnection)
    assert ws.state is ConnectionState.OPEN
    return event


def refused(offers: List[PerMessageDeflate], extensions_header: bytes) -> RemoteProtocolError:
    ws = client()
    key = key_of(open_request(ws, extensions=offers))
    with pytest.raises(RemoteProtocolError) as info:
        feed(ws, response(key, b"Sec-WebSocket-Extensions: " + extensions_header))
    return info.value


def test_offers_are_all_sent() -> None:
    ws = client()
    _, headers, _ = parse_head(open_request(
        ws, extensions=[PerMessageDeflate(), PerMessageDeflate(server_max_window_bits=10)]))
    assert values(headers, b"sec-websocket-extensions") == [
        b"permessage-deflate; client_max_window_bits, "
        b"permessage-deflate; server_max_window_bits=10; client_max_window_bits"]


class TestBareThenLimited:
    """The issue's case: [PerMessageDeflate(), PerMessageDeflate(server_max_window_bits=10)]."""

    def offers(self) -> List[PerMessageDeflate]:
        return [PerMessageDeflate(), PerMessageDeflate(server_max_window_bits=10)]

    def test_server_accepts_the_first_bare_offer(self) -> None:
        offers = self.offers()
        event = handshake(offers, b"permessage-deflate")
        assert event.extensions == [offers[0]]
        assert offers[0].agreed == DeflateParameters()
        assert not offers[1].enabled()

    def test_first_offer_with_client_bits(self) -> None:
        offers = self.offers()
        event = handshake(offers, b"permessage-deflate; client_max_window_bits=12")
        assert event.extensions == [offers[0]]
        assert offers[0].agreed == DeflateParameters(client_max_window_bits=12)

    def test_server_accepts_the_second_offer(self) -> None:
        offers = self.offers()
        event = handshake(offers, b"permessage-deflate; server_max_window_bits=10")
        # Consistent with both; the first consistent offer is enabled, with
        # the response's parameters.
        (enabled,) = event.extensions
        assert isinstance(enabled, PerMessageDeflate)
        assert enabled.agreed == DeflateParameters(server_max_window_bits=10)
        assert sum(ext.enabled() for ext in offers) == 1

    def test_unknown_parameter_matches_neither(self) -> None:
        error = refused(self.offers(), b"permessage-deflate; x=1")
        assert "permessage-deflate" in str(error)

    def test_accepted_twice(self) -> None:
        refused(self.offers(), b"permessage-deflate, permessage-deflate")


class TestOnlyTheSecondFits:
    def offers(self) -> List[PerMessageDeflate]:
        return [PerMessageDeflate(server_no_context_takeover=True),
                PerMessageDeflate(server_max_window_bits=10)]

    def test_response_for_the_second(self) -> None:
        offers = self.offers()
        event = handshake(offers, b"permessage-deflate; server_max_window_bits=9")
        assert event.extensions == [offers[1]]
        assert not offers[0].enabled()
        assert offers[1].agreed == DeflateParameters(server_max_window_bits=9)

    def test_response_for_the_first(self) -> None:
        offers = self.offers()
        event = handshake(offers, b"permessage-deflate; server_no_context_takeover")
        assert event.extensions == [offers[0]]
        assert not offers[1].enabled()

    @pytest.mark.parametrize("header", [
        b"permessage-deflate",  # lacks both what the first and the second asked for
        b"permessage-deflate; server_max_window_bits=12",  # over the second's 10, no takeover flag
        b"permessage-deflate; client_max_window_bits",  # no value in a response
    ])
    def test_response_matching_neither_is_refused(self, header: bytes) -> None:
        offers = self.offers()
        error = refused(offers, header)
        assert "offers" in str(error)
        assert not any(ext.enabled() for ext in offers)


def test_against_our_server_messages_round_trip() -> None:
    """Our server takes the first offer it can honour; the client follows it
    and compressed messages flow both ways."""
    offers = [PerMessageDeflate(), PerMessageDeflate(server_max_window_bits=10)]
    cl, sv = client(), server()
    request_bytes = cl.send(Request(host="example.com", target="/", extensions=offers))
    (request,) = feed(sv, request_bytes)
    assert isinstance(request, Request)
    server_ext = PerMessageDeflate()
    answer = sv.send(AcceptConnection(extensions=[server_ext]))
    (accepted,) = feed(cl, answer)
    assert isinstance(accepted, AcceptConnection)
    assert accepted.extensions == [offers[0]]
    text = "hello " * 50
    data = cl.send(TextMessage(text))
    assert data[0] & 0x40  # RSV1: compressed
    assert feed(sv, data) == [TextMessage(text)]
    assert feed(cl, sv.send(TextMessage(text))) == [TextMessage(text)]
