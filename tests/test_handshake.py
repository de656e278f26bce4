"""RFC 6455 §4: the opening handshake through WSConnection, server and client.

Server and client cases are mirrored: each requirement of §4.1 (client) and
§4.2 (server) has its violation tests; heads are readable byte literals.
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handshake_helpers import (
    CLIENT_HELLO,
    RFC_ACCEPT,
    RFC_KEY,
    SERVER_HELLO,
    RecordingExtension,
    accept_for,
    client,
    feed,
    feed_bytewise,
    head,
    key_of,
    open_request,
    parse_head,
    refused,
    request,
    response,
    server,
    values,
)
from wsproto6455 import ConnectionState, ConnectionType, WSConnection
from wsproto6455.errors import LocalProtocolError, RemoteProtocolError
from wsproto6455.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto6455.handshake import accept_token

CONNECTING = ConnectionState.CONNECTING
OPEN = ConnectionState.OPEN
CLOSED = ConnectionState.CLOSED
REJECTING = ConnectionState.REJECTING

FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


def accepted_server(data: bytes = b"", **options: object) -> WSConnection:
    """A server that has read the base request (+ ``data``) and accepted it."""
    ws = server(**options)
    ws.receive_data(request() + data)
    assert [type(e) for e in ws.events()] == [Request]
    ws.send(AcceptConnection())
    return ws


def requested_client(**fields: object) -> tuple[WSConnection, bytes]:
    """A client that has sent its Request; returns it and the key it sent."""
    ws = client()
    return ws, key_of(open_request(ws, **fields))


def rejected_head(status: int, *lines: bytes) -> bytes:
    return head(b"HTTP/1.1 %d Nope" % status, lines)


# =============================================================================
# Server
# =============================================================================


class TestRFC6455Section1_3AcceptToken:
    def test_rfc_example(self) -> None:
        # RFC 6455 §1.3: key dGhlIHNhbXBsZSBub25jZQ== gives s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
        assert accept_token(RFC_KEY) == RFC_ACCEPT

    def test_rfc_example_over_the_wire(self) -> None:
        # RFC 6455 §1.2/§1.3: the example handshake, byte for byte.
        ws = server()
        ws.receive_data(request(b"Sec-WebSocket-Protocol: chat, superchat"))
        list(ws.events())
        assert ws.send(AcceptConnection(subprotocol="chat")) == (
            b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            b"Sec-WebSocket-Protocol: chat\r\n"
            b"\r\n"
        )

    @given(st.binary(min_size=16, max_size=16))
    def test_any_key(self, nonce: bytes) -> None:
        key = base64.b64encode(nonce)
        ws = server()
        ws.receive_data(request(b"Sec-WebSocket-Key: " + key, without=[b"sec-websocket-key"]))
        list(ws.events())
        _, headers, _ = parse_head(ws.send(AcceptConnection()))
        assert values(headers, b"sec-websocket-accept") == [accept_for(key)]


class TestRFC6455Section4_2_1ServerRequest:
    """§4.2.1: what a valid client handshake gives the application."""

    def test_valid_request_gives_request_event(self) -> None:
        ws = server()
        ws.receive_data(request(
            b"Origin: http://example.com",
            b"Sec-WebSocket-Protocol: chat, superchat",
            b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
            b"X-Custom: A  b",
        ))
        assert list(ws.events()) == [Request(
            host="server.example.com",
            target="/chat",
            extensions=["permessage-deflate; client_max_window_bits"],
            # As in wsproto: Host, subprotocols and extensions have their own
            # fields and are left out of extra_headers.
            extra_headers=[
                (b"upgrade", b"websocket"),
                (b"connection", b"Upgrade"),
                (b"sec-websocket-key", RFC_KEY),
                (b"sec-websocket-version", b"13"),
                (b"origin", b"http://example.com"),
                (b"x-custom", b"A  b"),
            ],
            subprotocols=["chat", "superchat"],
        )]
        assert ws.state is CONNECTING

    def test_no_subprotocols_or_extensions(self) -> None:
        ws = server()
        ws.receive_data(request())
        [event] = ws.events()
        assert isinstance(event, Request)
        assert (event.subprotocols, list(event.extensions)) == ([], [])

    def test_target_with_query(self) -> None:
        ws = server()
        ws.receive_data(request(start=b"GET /chat?room=1&x=%20 HTTP/1.1"))
        [event] = ws.events()
        assert isinstance(event, Request) and event.target == "/chat?room=1&x=%20"

    def test_later_http_version_is_accepted(self) -> None:
        # §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
        ws = server()
        ws.receive_data(request(start=b"GET /chat HTTP/1.2"))
        assert [type(e) for e in ws.events()] == [Request]

    def test_nothing_before_the_head_is_complete(self) -> None:
        ws = server()
        ws.receive_data(request()[:-1])
        assert list(ws.events()) == []
        ws.receive_data(b"\n")
        assert [type(e) for e in ws.events()] == [Request]


class TestRFC6455Section4_2_1ServerRequirements:
    """§4.2.1: each requirement violated gives RemoteProtocolError + the hint."""

    @staticmethod
    def hint(error: RemoteProtocolError) -> RejectConnection:
        assert isinstance(error.event_hint, RejectConnection)
        return error.event_hint

    @pytest.mark.parametrize("method", [b"POST", b"HEAD", b"get", b"OPTIONS"])
    def test_method_must_be_get(self, method: bytes) -> None:
        hint = self.hint(refused(request(start=method + b" /chat HTTP/1.1")))
        assert hint.status_code == 405
        assert values(hint.headers, b"allow") == [b"GET"]

    @pytest.mark.parametrize("version", [b"1.0", b"0.9"])
    def test_http_version_must_be_at_least_1_1(self, version: bytes) -> None:
        assert self.hint(refused(request(start=b"GET /chat HTTP/" + version))).status_code == 400

    def test_host_missing(self) -> None:
        assert self.hint(refused(request(without=[b"host"]))).status_code == 400

    def test_host_duplicated(self) -> None:
        assert self.hint(refused(request(b"Host: other.example.com"))).status_code == 400

    @pytest.mark.parametrize("data", [
        request(without=[b"upgrade"]),
        request(b"Upgrade: h2c", without=[b"upgrade"]),
        request(b"Upgrade: websocketx", without=[b"upgrade"]),
        request(without=[b"connection"]),
        request(b"Connection: keep-alive", without=[b"connection"]),
        request(b"Connection: Upgrade-Insecure", without=[b"connection"]),
        request(b"Connection: websocket", without=[b"connection"]),
    ], ids=["no-upgrade", "upgrade-h2c", "upgrade-websocketx",
            "no-connection", "connection-keep-alive", "connection-prefix", "connection-websocket"])
    def test_upgrade_and_connection_tokens(self, data: bytes) -> None:
        hint = self.hint(refused(data))
        assert hint.status_code == 426
        # RFC 7231 §6.5.15: a 426 "MUST send an Upgrade header field".
        assert [v.lower() for v in values(hint.headers, b"upgrade")] == [b"websocket"]
        assert [v.lower() for v in values(hint.headers, b"connection")] == [b"upgrade"]

    def test_upgrade_that_is_not_a_token_list(self) -> None:
        # Not a valid Upgrade value at all: malformed (400) or not websocket (426).
        hint = self.hint(refused(request(b"Upgrade: web socket", without=[b"upgrade"])))
        assert hint.status_code in (400, 426)

    @pytest.mark.parametrize("lines", [
        [],
        [b"Sec-WebSocket-Version: 8"],
        [b"Sec-WebSocket-Version: 14"],
        [b"Sec-WebSocket-Version: 13, 8"],
        [b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 13"],
        [b"Sec-WebSocket-Version: 013"],
        [b"Sec-WebSocket-Version: "],
    ], ids=["missing", "8", "14", "list", "duplicated", "leading-zero", "empty"])
    def test_version_must_be_13(self, lines: list[bytes]) -> None:
        # §4.2.2 / §4.4: an unsupported version gets 426 and the versions we speak.
        hint = self.hint(refused(request(*lines, without=[b"sec-websocket-version"])))
        assert hint.status_code == 426
        assert values(hint.headers, b"sec-websocket-version") == [b"13"]

    @pytest.mark.parametrize("lines", [
        [],
        [b"Sec-WebSocket-Key: " + RFC_KEY, b"Sec-WebSocket-Key: " + RFC_KEY],
        [b"Sec-WebSocket-Key: not base64 at all!"],
        [b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ"],       # padding missing
        [b"Sec-WebSocket-Key: " + base64.b64encode(b"x" * 15)],
        [b"Sec-WebSocket-Key: " + base64.b64encode(b"x" * 17)],
        [b"Sec-WebSocket-Key: " + base64.b64encode(b"x" * 32)],
        [b"Sec-WebSocket-Key: dGhlIHNhbXBs ZSBub25jZQ=="],
        [b"Sec-WebSocket-Key: "],
    ], ids=["missing", "duplicated", "not-base64", "unpadded", "15-bytes", "17-bytes",
            "32-bytes", "inner-space", "empty"])
    def test_key_must_be_one_base64_16_byte_value(self, lines: list[bytes]) -> None:
        # §4.2.1 item 5 / §11.3.1: base64 of a 16-byte value.
        assert self.hint(refused(request(*lines, without=[b"sec-websocket-key"]))).status_code == 400

    def test_state_stays_connecting_after_a_refusal(self) -> None:
        ws = server()
        with pytest.raises(RemoteProtocolError):
            ws.receive_data(request(without=[b"host"]))
        assert ws.state is CONNECTING

    @pytest.mark.parametrize("data", [
        request(start=b"POST /chat HTTP/1.1"),
        request(start=b"GET /chat HTTP/1.0"),
        request(without=[b"upgrade"]),
        request(without=[b"sec-websocket-version"]),
        request(without=[b"sec-websocket-key"]),
        request(b"Bad Line"),
        request(b"X" * 20_000),
    ], ids=["405", "http10", "426-upgrade", "426-version", "400-key", "400-line", "431"])
    def test_sending_the_hint_gives_a_well_formed_response(self, data: bytes) -> None:
        ws = server()
        with pytest.raises(RemoteProtocolError) as info:
            ws.receive_data(data)
        hint = info.value.event_hint
        assert isinstance(hint, RejectConnection)
        out = ws.send(hint)
        start, headers, rest = parse_head(out)
        assert start.startswith(b"HTTP/1.1 %d " % hint.status_code)
        assert values(headers, b"content-length") == [b"0"]
        assert rest == b""
        for name, value in hint.headers:
            assert value in values(headers, name)
        assert ws.state is CLOSED


class TestRFC7230HeaderGrammarServer:
    """RFC 7230 §3.2 and §7 as they apply to the client's handshake."""

    def accepted(self, data: bytes) -> Request:
        ws = server()
        ws.receive_data(data)
        [event] = ws.events()
        assert isinstance(event, Request)
        return event

    def test_header_names_are_case_insensitive(self) -> None:
        event = self.accepted(b"GET /chat HTTP/1.1\r\n"
                              b"HOST: server.example.com\r\n"
                              b"upgrade: websocket\r\n"
                              b"CoNnEcTiOn: Upgrade\r\n"
                              b"SEC-WEBSOCKET-KEY: " + RFC_KEY + b"\r\n"
                              b"sec-websocket-version: 13\r\n"
                              b"sec-WebSocket-Protocol: chat\r\n\r\n")
        assert event.host == "server.example.com"
        assert event.subprotocols == ["chat"]
        assert [name for name, _ in event.extra_headers] == [
            b"upgrade", b"connection", b"sec-websocket-key", b"sec-websocket-version"]

    @pytest.mark.parametrize("upgrade", [b"WebSocket", b"WEBSOCKET", b"h2c, websocket", b" , websocket ,"])
    def test_upgrade_token_case_and_lists(self, upgrade: bytes) -> None:
        self.accepted(request(b"Upgrade: " + upgrade, without=[b"upgrade"]))

    def test_upgrade_list_with_protocol_versions(self) -> None:
        # RFC 7230 §6.7: Upgrade = 1#protocol, protocol = name ["/" version].
        self.accepted(request(b"Upgrade: HTTP/2.0, websocket", without=[b"upgrade"]))

    @pytest.mark.parametrize("lines", [
        [b"Connection: keep-alive, Upgrade"],
        [b"Connection: upgrade"],
        [b"Connection: UPGRADE,keep-alive"],
        [b"Connection: keep-alive", b"Connection: Upgrade"],
        [b"Connection: ,, Upgrade ,"],
    ])
    def test_connection_token_lists(self, lines: list[bytes]) -> None:
        self.accepted(request(*lines, without=[b"connection"]))

    def test_optional_whitespace_around_values(self) -> None:
        event = self.accepted(b"GET /chat HTTP/1.1\r\n"
                              b"Host:server.example.com  \r\n"
                              b"Upgrade:\t websocket\t\r\n"
                              b"Connection:Upgrade\r\n"
                              b"Sec-WebSocket-Key:   " + RFC_KEY + b" \r\n"
                              b"Sec-WebSocket-Version:13\t\r\n\r\n")
        assert event.host == "server.example.com"

    def test_repeated_subprotocol_headers_are_merged(self) -> None:
        event = self.accepted(request(b"Sec-WebSocket-Protocol: chat",
                                      b"Sec-WebSocket-Protocol: superchat,  v2.json"))
        assert event.subprotocols == ["chat", "superchat", "v2.json"]

    def test_repeated_extension_headers_are_merged(self) -> None:
        event = self.accepted(request(b"Sec-WebSocket-Extensions: foo",
                                      b"Sec-WebSocket-Extensions: bar; x=1, baz"))
        assert list(event.extensions) == ["foo", "bar; x=1", "baz"]

    def test_extension_quoted_string_params(self) -> None:
        event = self.accepted(request(
            b'Sec-WebSocket-Extensions: foo; a="10"; b="x,y", bar ; c = 1'))
        assert list(event.extensions) == ["foo; a=10; b=\"x,y\"", "bar; c=1"]

    def test_values_are_bytes_including_obs_text(self) -> None:
        event = self.accepted(request(b"X-Name: caf\xe9"))
        assert (b"x-name", b"caf\xe9") in event.extra_headers

    @pytest.mark.parametrize("line", [
        b"Origin : http://example.com",       # whitespace before the colon
        b" continued",                         # obs-fold
        b"\tcontinued",
        b"No colon here",
        b": empty-name",
        b"X-Bad\x01: 1",
        b"X-Bad: a\x00b",
        b"X-Bad: a\x7fb",
        b"X-Bad: a\rb",
        b"X-Bad: a\nb",
    ], ids=["space-colon", "obs-fold-sp", "obs-fold-tab", "no-colon", "no-name",
            "ctl-name", "nul-value", "del-value", "cr-value", "lf-value"])
    def test_malformed_field_lines_give_400(self, line: bytes) -> None:
        error = refused(request(line))
        assert isinstance(error.event_hint, RejectConnection)
        assert error.event_hint.status_code == 400

    def test_whitespace_before_the_first_field_gives_400(self) -> None:
        # RFC 7230 §3: "A recipient that receives whitespace between the
        # start-line and the first header field MUST either reject the message".
        data = request().replace(b"HTTP/1.1\r\nHost", b"HTTP/1.1\r\n Host", 1)
        assert refused(data).event_hint == RejectConnection(status_code=400)

    @pytest.mark.parametrize("start", [
        b"GET /chat", b"GET  /chat HTTP/1.1", b"GET /chat HTTP/1.1 x", b"GET /a\x00b HTTP/1.1",
        b"GET /a\x01b HTTP/1.1", b"\x16\x03\x01 TLS",
    ])
    def test_malformed_request_lines_give_400(self, start: bytes) -> None:
        error = refused(request(start=start))
        assert isinstance(error.event_hint, RejectConnection)
        assert error.event_hint.status_code == 400

    @pytest.mark.parametrize("line", [
        b"Sec-WebSocket-Protocol: chat room",
        b"Sec-WebSocket-Protocol: chat;v=1",
        b'Sec-WebSocket-Protocol: "chat"',
        b"Sec-WebSocket-Extensions: foo;",
        b'Sec-WebSocket-Extensions: foo; a="open',
        b"Sec-WebSocket-Extensions: foo bar",
    ])
    def test_malformed_offers_give_400(self, line: bytes) -> None:
        error = refused(request(line))
        assert isinstance(error.event_hint, RejectConnection)
        assert error.event_hint.status_code == 400


class TestRFC6455Section4_2_2ServerAccept:
    """§4.2.2: the server's opening handshake."""

    def test_accept_switches_to_open(self) -> None:
        ws = server()
        ws.receive_data(request())
        list(ws.events())
        out = ws.send(AcceptConnection())
        start, headers, rest = parse_head(out)
        assert start == b"HTTP/1.1 101 Switching Protocols"
        assert [v.lower() for v in values(headers, b"upgrade")] == [b"websocket"]
        assert [v.lower() for v in values(headers, b"connection")] == [b"upgrade"]
        assert values(headers, b"sec-websocket-accept") == [RFC_ACCEPT]
        assert values(headers, b"sec-websocket-protocol") == []
        assert values(headers, b"sec-websocket-extensions") == []
        assert rest == b""
        assert ws.state is OPEN

    def test_selected_subprotocol(self) -> None:
        ws = server()
        ws.receive_data(request(b"Sec-WebSocket-Protocol: chat, superchat"))
        list(ws.events())
        _, headers, _ = parse_head(ws.send(AcceptConnection(subprotocol="superchat")))
        assert values(headers, b"sec-websocket-protocol") == [b"superchat"]

    @pytest.mark.parametrize("offer", [b"", b"Sec-WebSocket-Protocol: chat"])
    def test_subprotocol_not_offered_is_refused(self, offer: bytes) -> None:
        # §4.2.2 step 5.4 /subprotocol/: one of the values the client sent.
        ws = server()
        ws.receive_data(request(*([offer] if offer else [])))
        list(ws.events())
        with pytest.raises(LocalProtocolError):
            ws.send(AcceptConnection(subprotocol="superchat"))
        assert ws.state is CONNECTING

    def test_extra_headers_are_sent(self) -> None:
        ws = server()
        ws.receive_data(request())
        list(ws.events())
        out = ws.send(AcceptConnection(extra_headers=[(b"Set-Cookie", b"a=1"), (b"X-Two", b"")]))
        _, headers, _ = parse_head(out)
        assert values(headers, b"set-cookie") == [b"a=1"]
        assert values(headers, b"x-two") == [b""]

    @pytest.mark.parametrize("name, value", [
        (b"X-Evil\r\nInjected", b"1"),
        (b"X-Evil", b"1\r\nInjected: 2"),
        (b"X-Evil", b"1\nInjected: 2"),
        (b"X-Evil", b"1\r"),
        (b"X-Evil: 1\r\n", b""),
        (b"X Evil", b"1"),
        (b"", b"1"),
    ], ids=["crlf-name", "crlf-value", "lf-value", "cr-value", "colon-name", "space-name", "empty-name"])
    def test_header_injection_is_refused(self, name: bytes, value: bytes) -> None:
        ws = server()
        ws.receive_data(request())
        list(ws.events())
        with pytest.raises(LocalProtocolError):
            ws.send(AcceptConnection(extra_headers=[(name, value)]))
        assert ws.state is CONNECTING

    def test_accepting_an_offered_extension(self) -> None:
        ws = server()
        ws.receive_data(request(b"Sec-WebSocket-Extensions: x-test; a=1, x-other"))
        list(ws.events())
        ext = RecordingExtension(answer="a=1")
        _, headers, _ = parse_head(ws.send(AcceptConnection(extensions=[ext])))
        assert values(headers, b"sec-websocket-extensions") == [b"x-test; a=1"]
        assert ext.accepted_offers == ["a=1"]

    def test_extension_not_offered_is_not_sent(self) -> None:
        ws = server()
        ws.receive_data(request(b"Sec-WebSocket-Extensions: x-other"))
        list(ws.events())
        ext = RecordingExtension()
        _, headers, _ = parse_head(ws.send(AcceptConnection(extensions=[ext])))
        assert values(headers, b"sec-websocket-extensions") == []
        assert ext.accepted_offers == []

    def test_first_acceptable_offer_of_an_extension_wins(self) -> None:
        # §9.1: the client lists offers in preference order; one response per name.
        ws = server()
        ws.receive_data(request(b"Sec-WebSocket-Extensions: x-test; a=1, x-test; a=2"))
        list(ws.events())
        ext = RecordingExtension()
        _, headers, _ = parse_head(ws.send(AcceptConnection(extensions=[ext])))
        assert values(headers, b"sec-websocket-extensions") == [b"x-test"]
        assert ext.accepted_offers == ["a=1"]

    def test_accept_before_a_request_is_refused(self) -> None:
        with pytest.raises(LocalProtocolError):
            server().send(AcceptConnection())

    def test_accept_twice_is_refused(self) -> None:
        ws = accepted_server()
        with pytest.raises(LocalProtocolError):
            ws.send(AcceptConnection())

    def test_server_cannot_send_a_request(self) -> None:
        with pytest.raises(LocalProtocolError):
            server().send(Request(host="a", target="/"))


class TestRFC6455Section4_2_2ServerRejection:
    """§4.2.2: "If the server chooses not to accept the connection, it MUST
    return an appropriate HTTP error code"; bodies framed per RFC 7230."""

    def rejecting_server(self) -> WSConnection:
        ws = server()
        ws.receive_data(request())
        list(ws.events())
        return ws

    def test_reject_without_body(self) -> None:
        ws = self.rejecting_server()
        out = ws.send(RejectConnection(status_code=403, headers=[(b"X-Why", b"policy")]))
        start, headers, rest = parse_head(out)
        assert start == b"HTTP/1.1 403 Forbidden"
        assert values(headers, b"x-why") == [b"policy"]
        assert values(headers, b"content-length") == [b"0"]
        assert rest == b""
        assert ws.state is CLOSED

    def test_reject_default_is_400(self) -> None:
        ws = self.rejecting_server()
        start, _, _ = parse_head(ws.send(RejectConnection()))
        assert start == b"HTTP/1.1 400 Bad Request"

    def test_unknown_status_has_a_valid_status_line(self) -> None:
        ws = self.rejecting_server()
        start, _, _ = parse_head(ws.send(RejectConnection(status_code=418)))
        assert start.startswith(b"HTTP/1.1 418 ")

    def test_reject_with_chunked_body(self) -> None:
        ws = self.rejecting_server()
        _, headers, rest = parse_head(ws.send(RejectConnection(status_code=403, has_body=True)))
        assert [v.lower() for v in values(headers, b"transfer-encoding")] == [b"chunked"]
        assert values(headers, b"content-length") == []
        assert ws.state is REJECTING
        assert ws.send(RejectData(b"Go away", body_finished=False)) == b"7\r\nGo away\r\n"
        assert ws.state is REJECTING
        assert ws.send(RejectData(b"!" * 26, body_finished=True)) == b"1a\r\n" + b"!" * 26 + b"\r\n0\r\n\r\n"
        assert ws.state is CLOSED

    def test_chunked_body_empty_final_piece(self) -> None:
        ws = self.rejecting_server()
        ws.send(RejectConnection(has_body=True))
        assert ws.send(RejectData(b"", body_finished=False)) == b""
        assert ws.send(RejectData(b"", body_finished=True)) == b"0\r\n\r\n"

    def test_reject_with_content_length_body(self) -> None:
        ws = self.rejecting_server()
        out = ws.send(RejectConnection(status_code=404, headers=[(b"Content-Length", b"9")], has_body=True))
        _, headers, _ = parse_head(out)
        assert values(headers, b"content-length") == [b"9"]
        assert values(headers, b"transfer-encoding") == []
        assert ws.send(RejectData(b"not ", body_finished=False)) == b"not "
        assert ws.send(RejectData(b"found", body_finished=True)) == b"found"
        assert ws.state is CLOSED

    def test_header_injection_in_rejection_is_refused(self) -> None:
        ws = self.rejecting_server()
        with pytest.raises(LocalProtocolError):
            ws.send(RejectConnection(headers=[(b"X", b"a\r\nSet-Cookie: evil")]))
        assert ws.state is CONNECTING

    @pytest.mark.parametrize("status", [101, 99, 1000])
    def test_rejection_status_must_be_a_final_non_101_code(self, status: int) -> None:
        # A "rejection" with 101 would tell the client the upgrade happened;
        # codes outside 100..599 make an invalid status line (RFC 7230 §3.1.2).
        ws = self.rejecting_server()
        with pytest.raises(LocalProtocolError):
            ws.send(RejectConnection(status_code=status))

    def test_declined_extension_is_not_sent(self) -> None:
        ws = server()
        ws.receive_data(request(b"Sec-WebSocket-Extensions: x-test"))
        list(ws.events())
        ext = RecordingExtension(answer=None)
        _, headers, _ = parse_head(ws.send(AcceptConnection(extensions=[ext])))
        assert values(headers, b"sec-websocket-extensions") == []
        assert ext.accepted_offers == [""]

    def test_reject_data_without_rejection_is_refused(self) -> None:
        with pytest.raises(LocalProtocolError):
            self.rejecting_server().send(RejectData(b"x"))

    def test_nothing_after_the_body(self) -> None:
        ws = self.rejecting_server()
        ws.send(RejectConnection(has_body=True))
        ws.send(RejectData(b"x", body_finished=True))
        for event in (RejectData(b"y"), AcceptConnection(), RejectConnection(), TextMessage("x")):
            with pytest.raises(LocalProtocolError):
                ws.send(event)

    def test_accept_after_reject_is_refused(self) -> None:
        ws = self.rejecting_server()
        ws.send(RejectConnection())
        with pytest.raises(LocalProtocolError):
            ws.send(AcceptConnection())

    @pytest.mark.parametrize("has_length", [False, True])
    def test_our_client_reads_our_rejection(self, has_length: bool) -> None:
        ws = self.rejecting_server()
        headers = [(b"Content-Length", b"12")] if has_length else []
        wire = ws.send(RejectConnection(status_code=403, headers=headers, has_body=True))
        wire += ws.send(RejectData(b"Go ", body_finished=False))
        wire += ws.send(RejectData(b"away, bye", body_finished=True))
        peer, _ = requested_client()
        events = feed(peer, wire)
        assert isinstance(events[0], RejectConnection) and events[0].status_code == 403
        assert b"".join(e.data for e in events[1:] if isinstance(e, RejectData)) == b"Go away, bye"
        assert events[-1] == RejectData(b"", body_finished=True)
        assert peer.state is CLOSED


class TestServerDataAfterHead:
    """Frames sent with the request (in the same read) are delivered after the accept."""

    def test_frame_in_the_same_read_as_the_request(self) -> None:
        ws = server()
        ws.receive_data(request() + CLIENT_HELLO)
        assert [type(e) for e in ws.events()] == [Request]
        ws.send(AcceptConnection())
        assert list(ws.events()) == [TextMessage("hello")]

    def test_frames_split_around_the_head(self) -> None:
        ws = server()
        data = request() + CLIENT_HELLO + b"\x82\x82\x00\x00\x00\x00\x01\x02"
        ws.receive_data(data[:-12])
        ws.receive_data(data[-12:-3])
        assert [type(e) for e in ws.events()] == [Request]
        ws.send(AcceptConnection())
        ws.receive_data(data[-3:])
        assert list(ws.events()) == [TextMessage("hello"), BytesMessage(b"\x01\x02")]

    def test_data_held_before_the_answer_is_bounded(self) -> None:
        ws = server(max_header_size=1024)
        ws.receive_data(request())
        list(ws.events())
        with pytest.raises(RemoteProtocolError):
            for _ in range(200):
                ws.receive_data(CLIENT_HELLO)

    def test_data_after_a_rejection_is_not_interpreted(self) -> None:
        ws = server()
        ws.receive_data(request() + CLIENT_HELLO)
        list(ws.events())
        ws.send(RejectConnection(has_body=True))
        ws.receive_data(CLIENT_HELLO)
        assert list(ws.events()) == []


class TestServerStateTransitions:
    def test_connecting_to_open(self) -> None:
        ws = server()
        assert ws.state is CONNECTING
        ws.receive_data(request())
        list(ws.events())
        assert ws.state is CONNECTING
        ws.send(AcceptConnection())
        assert ws.state is OPEN

    def test_connecting_to_closed_by_rejection(self) -> None:
        ws = server()
        ws.receive_data(request())
        list(ws.events())
        ws.send(RejectConnection())
        assert ws.state is CLOSED

    def test_connecting_to_rejecting_to_closed(self) -> None:
        ws = server()
        ws.receive_data(request())
        list(ws.events())
        ws.send(RejectConnection(has_body=True))
        assert ws.state is REJECTING
        ws.send(RejectData(b"x", body_finished=False))
        assert ws.state is REJECTING
        ws.send(RejectData(b"", body_finished=True))
        assert ws.state is CLOSED

    def test_eof_before_the_request(self) -> None:
        ws = server()
        ws.receive_data(request()[:10])
        ws.receive_data(None)
        assert ws.state is CLOSED
        assert list(ws.events()) == []

    def test_eof_after_the_request_then_accept_is_refused(self) -> None:
        ws = server()
        ws.receive_data(request())
        list(ws.events())
        ws.receive_data(None)
        assert ws.state is CLOSED
        with pytest.raises(LocalProtocolError):
            ws.send(AcceptConnection())

    def test_open_connection_speaks_frames(self) -> None:
        ws = accepted_server()
        assert ws.send(TextMessage("hello")) == SERVER_HELLO
        assert ws.send(CloseConnection(1000)) == b"\x88\x02\x03\xe8"


class TestInitiateUpgradeConnection:
    """A request already parsed by the embedder's HTTP server."""

    HEADERS = [
        (b"Host", b"server.example.com"),
        (b"Upgrade", b"websocket"),
        (b"Connection", b"keep-alive, Upgrade"),
        (b"Sec-WebSocket-Key", RFC_KEY),
        (b"Sec-WebSocket-Version", b"13"),
        (b"Sec-WebSocket-Protocol", b"chat"),
    ]

    @pytest.mark.parametrize("path", ["/chat?x=1", b"/chat?x=1"])
    def test_gives_a_request_event(self, path: object) -> None:
        ws = server()
        ws.initiate_upgrade_connection(self.HEADERS, path)  # type: ignore[arg-type]
        [event] = ws.events()
        assert isinstance(event, Request)
        assert (event.host, event.target, event.subprotocols) == ("server.example.com", "/chat?x=1", ["chat"])
        assert (b"sec-websocket-version", b"13") in event.extra_headers

    def test_then_accept(self) -> None:
        ws = server()
        ws.initiate_upgrade_connection(self.HEADERS, "/chat")
        list(ws.events())
        _, headers, _ = parse_head(ws.send(AcceptConnection(subprotocol="chat")))
        assert values(headers, b"sec-websocket-accept") == [RFC_ACCEPT]
        assert ws.state is OPEN
        ws.receive_data(CLIENT_HELLO)
        assert list(ws.events()) == [TextMessage("hello")]

    def test_invalid_request_is_refused(self) -> None:
        ws = server()
        with pytest.raises(RemoteProtocolError) as info:
            ws.initiate_upgrade_connection(self.HEADERS[:3] + self.HEADERS[4:], "/chat")
        assert info.value.event_hint == RejectConnection(status_code=400)

    def test_wrong_version_gives_426(self) -> None:
        headers = self.HEADERS[:4] + [(b"Sec-WebSocket-Version", b"8")]
        with pytest.raises(RemoteProtocolError) as info:
            server().initiate_upgrade_connection(headers, "/chat")
        assert isinstance(info.value.event_hint, RejectConnection)
        assert info.value.event_hint.status_code == 426

    def test_not_after_a_request_was_read(self) -> None:
        ws = server()
        ws.receive_data(request())
        with pytest.raises(LocalProtocolError):
            ws.initiate_upgrade_connection(self.HEADERS, "/chat")

    def test_not_twice(self) -> None:
        ws = server()
        ws.initiate_upgrade_connection(self.HEADERS, "/chat")
        with pytest.raises(LocalProtocolError):
            ws.initiate_upgrade_connection(self.HEADERS, "/chat")

    def test_not_for_a_client(self) -> None:
        with pytest.raises(LocalProtocolError):
            client().initiate_upgrade_connection(self.HEADERS, "/chat")


class TestHeaderSizeLimitServer:
    """A head over max_header_size is refused with 431 while it arrives."""

    def test_default_limit_is_16_kib(self) -> None:
        data = request(b"X-Pad: " + b"a" * (16 * 1024))
        hint = refused(data).event_hint
        assert isinstance(hint, RejectConnection) and hint.status_code == 431

    def test_exactly_the_limit_is_accepted(self) -> None:
        data = request()
        ws = server(max_header_size=len(data))
        ws.receive_data(data)
        assert [type(e) for e in ws.events()] == [Request]

    def test_one_byte_over_is_refused(self) -> None:
        data = request()
        hint = refused(data, max_header_size=len(data) - 1).event_hint
        assert isinstance(hint, RejectConnection) and hint.status_code == 431

    def test_refused_byte_by_byte_as_soon_as_the_limit_passes(self) -> None:
        limit = 200
        data = request(b"X-Pad: " + b"a" * 1000)
        ws = server(max_header_size=limit)
        for index in range(limit):
            ws.receive_data(data[index:index + 1])
        with pytest.raises(RemoteProtocolError) as info:
            ws.receive_data(data[limit:limit + 1])
        assert isinstance(info.value.event_hint, RejectConnection)
        assert info.value.event_hint.status_code == 431

    def test_many_small_headers_count_too(self) -> None:
        data = request(*[b"X-%d: 1" % i for i in range(3000)])
        hint = refused(data).event_hint
        assert isinstance(hint, RejectConnection) and hint.status_code == 431

    def test_no_limit(self) -> None:
        ws = server(max_header_size=None)
        ws.receive_data(request(b"X-Pad: " + b"a" * 100_000))
        assert [type(e) for e in ws.events()] == [Request]

    def test_frames_after_the_head_do_not_count(self) -> None:
        data = request()
        ws = server(max_header_size=len(data))
        ws.receive_data(data + CLIENT_HELLO)
        list(ws.events())
        ws.send(AcceptConnection())
        assert list(ws.events()) == [TextMessage("hello")]


# =============================================================================
# Client
# =============================================================================


class TestRFC6455Section4_1ClientRequest:
    """§4.1: the client's opening handshake."""

    def test_request_serialization(self) -> None:
        ws = client()
        ext = RecordingExtension(offer_text="a=1; b")
        out = open_request(ws, host="server.example.com", target="/chat?x=1",
                           subprotocols=["chat", "superchat"], extensions=[ext],
                           extra_headers=[(b"Origin", b"http://example.com")])
        start, headers, rest = parse_head(out)
        assert start == b"GET /chat?x=1 HTTP/1.1"
        assert values(headers, b"host") == [b"server.example.com"]
        assert [v.lower() for v in values(headers, b"upgrade")] == [b"websocket"]
        assert [v.lower() for v in values(headers, b"connection")] == [b"upgrade"]
        [key] = values(headers, b"sec-websocket-key")
        assert len(base64.b64decode(key, validate=True)) == 16
        assert values(headers, b"sec-websocket-version") == [b"13"]
        assert values(headers, b"sec-websocket-protocol") == [b"chat, superchat"]
        assert values(headers, b"sec-websocket-extensions") == [b"x-test; a=1; b"]
        assert values(headers, b"origin") == [b"http://example.com"]
        assert rest == b""
        assert ws.state is CONNECTING

    def test_minimal_request_has_no_optional_fields(self) -> None:
        _, headers, _ = parse_head(open_request(client()))
        names = sorted(name for name, _ in headers)
        assert names == [b"connection", b"host", b"sec-websocket-key",
                         b"sec-websocket-version", b"upgrade"]

    def test_bare_extension_offer_and_declined_offer(self) -> None:
        out = open_request(client(), extensions=[
            RecordingExtension("x-bare", offer_text=True),
            RecordingExtension("x-none", offer_text=False),
        ])
        _, headers, _ = parse_head(out)
        assert values(headers, b"sec-websocket-extensions") == [b"x-bare"]

    def test_host_with_port(self) -> None:
        _, headers, _ = parse_head(open_request(client(), host="example.com:8080"))
        assert values(headers, b"host") == [b"example.com:8080"]

    def test_internationalized_host_is_sent_as_a_labels(self) -> None:
        # RFC 6455 §4.1 / RFC 3986 §3.2.2: the Host is an ASCII reg-name (IDNA).
        _, headers, _ = parse_head(open_request(client(), host="b\u00fccher.example"))
        assert values(headers, b"host") == [b"xn--bcher-kva.example"]

    def test_nonce_is_fresh_per_connection(self) -> None:
        # §4.1 item 7: "a nonce ... randomly selected ... for each connection".
        keys = {key_of(open_request(client())) for _ in range(20)}
        assert len(keys) == 20

    @pytest.mark.parametrize("fields", [
        {"extra_headers": [(b"X-Evil", b"1\r\nInjected: 2")]},
        {"extra_headers": [(b"X-Evil\r\n", b"1")]},
        {"target": "/chat HTTP/1.1\r\nInjected: 1\r\nX:"},
        {"target": "/a b"},
        {"host": "example.com\r\nInjected: 1"},
        {"subprotocols": ["chat\r\nInjected: 1"]},
        {"subprotocols": ["chat, superchat"]},
        {"target": "/caf\u00e9"},
        {"subprotocols": ["caf\u00e9"]},
    ], ids=["value-crlf", "name-crlf", "target-crlf", "target-space", "host-crlf",
            "subprotocol-crlf", "subprotocol-not-token", "target-non-ascii", "subprotocol-non-ascii"])
    def test_injection_is_refused(self, fields: dict[str, object]) -> None:
        ws = client()
        with pytest.raises(LocalProtocolError):
            open_request(ws, **fields)

    def test_request_twice_is_refused(self) -> None:
        ws = client()
        open_request(ws)
        with pytest.raises(LocalProtocolError):
            open_request(ws)

    @pytest.mark.parametrize("event", [AcceptConnection(), RejectConnection(), RejectData(b""),
                                       TextMessage("x")])
    def test_client_cannot_send_server_events(self, event: object) -> None:
        ws = client()
        open_request(ws)
        with pytest.raises(LocalProtocolError):
            ws.send(event)  # type: ignore[arg-type]


class TestRFC6455Section4_1ClientResponseValidation:
    """§4.1: the client's checks of the server's 101."""

    def test_valid_response(self) -> None:
        ws, key = requested_client()
        events = feed(ws, response(key, b"X-Server: Test"))
        # As in wsproto: the handshake's own headers are left out of extra_headers.
        assert events == [AcceptConnection(subprotocol=None, extensions=[], extra_headers=[
            (b"x-server", b"Test"),
        ])]
        assert ws.state is OPEN

    def test_header_case_and_token_lists(self) -> None:
        ws, key = requested_client()
        data = head(b"HTTP/1.1 101 Switching Protocols", [
            b"UPGRADE: WebSocket",
            b"connection: keep-alive,  upgrade",
            b"SEC-WEBSOCKET-ACCEPT:\t" + accept_for(key) + b" ",
        ])
        assert [type(e) for e in feed(ws, data)] == [AcceptConnection]

    def test_reason_phrase_is_ignored(self) -> None:
        ws, key = requested_client()
        data = response(key, start=b"HTTP/1.1 101 Whatever You Like")
        assert [type(e) for e in feed(ws, data)] == [AcceptConnection]

    @pytest.mark.parametrize("make", [
        lambda key: response(key, without=[b"upgrade"]),
        lambda key: response(key, b"Upgrade: h2c", without=[b"upgrade"]),
        lambda key: response(key, without=[b"connection"]),
        lambda key: response(key, b"Connection: close", without=[b"connection"]),
        lambda key: response(key, without=[b"sec-websocket-accept"]),
        lambda key: response(key, b"Sec-WebSocket-Accept: " + RFC_ACCEPT, without=[b"sec-websocket-accept"]),
        lambda key: response(key, b"Sec-WebSocket-Accept: " + accept_for(key)),
        lambda key: response(key, b"Sec-WebSocket-Accept: " + accept_for(key).lower(),
                             without=[b"sec-websocket-accept"]),
        lambda key: response(key, b"Sec-WebSocket-Protocol: chat"),
        lambda key: response(key, b"Sec-WebSocket-Extensions: x-test"),
        lambda key: response(key, b"Bad Line"),
        lambda key: response(key, b"X: a\x00b"),
        lambda key: response(key, start=b"HTTP/1.1 101"[:-1]),
        lambda key: response(key, start=b"HTTP/1.1 abc Switching"),
    ], ids=["no-upgrade", "upgrade-h2c", "no-connection", "connection-close", "no-accept",
            "accept-other-key", "accept-twice", "accept-wrong-case", "subprotocol-not-offered",
            "extension-not-offered", "bad-line", "ctl-value", "bad-status", "non-numeric-status"])
    def test_invalid_101_is_refused(self, make: object) -> None:
        ws, key = requested_client()
        with pytest.raises(RemoteProtocolError) as info:
            feed(ws, make(key))  # type: ignore[operator]
        # Nothing to send back: a client answers a bad response by closing.
        assert info.value.event_hint is None
        assert ws.state is not OPEN

    def test_selected_subprotocol(self) -> None:
        ws, key = requested_client(subprotocols=["chat", "superchat"])
        [event] = feed(ws, response(key, b"Sec-WebSocket-Protocol: superchat"))
        assert isinstance(event, AcceptConnection) and event.subprotocol == "superchat"

    @pytest.mark.parametrize("line", [
        b"Sec-WebSocket-Protocol: other",
        b"Sec-WebSocket-Protocol: chat, superchat",
        b"Sec-WebSocket-Protocol: CHAT",
    ])
    def test_subprotocol_must_be_one_we_offered(self, line: bytes) -> None:
        # §4.1: a value "that was not present in the client's handshake" fails.
        ws, key = requested_client(subprotocols=["chat", "superchat"])
        with pytest.raises(RemoteProtocolError):
            feed(ws, response(key, line))

    def test_accepted_extension(self) -> None:
        ext = RecordingExtension(offer_text="a=1")
        ws, key = requested_client(extensions=[ext])
        [event] = feed(ws, response(key, b"Sec-WebSocket-Extensions: x-test; a=1"))
        assert isinstance(event, AcceptConnection) and event.extensions == [ext]
        assert ext.finalized == ["a=1"]

    def test_offered_extension_the_server_ignored(self) -> None:
        ext = RecordingExtension()
        ws, key = requested_client(extensions=[ext])
        [event] = feed(ws, response(key))
        assert isinstance(event, AcceptConnection) and event.extensions == []
        assert ext.finalized == []

    @pytest.mark.parametrize("lines", [
        [b"Sec-WebSocket-Extensions: x-other"],
        [b"Sec-WebSocket-Extensions: x-test, x-test"],
        [b"Sec-WebSocket-Extensions: x-test", b"Sec-WebSocket-Extensions: x-test"],
        [b"Sec-WebSocket-Extensions: x-test; a=\"unterminated"],
    ], ids=["not-offered", "twice", "twice-two-headers", "malformed"])
    def test_extension_response_must_match_the_offer(self, lines: list[bytes]) -> None:
        # §4.1 / §9.1: no extension that was not offered, each at most once.
        ws, key = requested_client(extensions=[RecordingExtension()])
        with pytest.raises(RemoteProtocolError):
            feed(ws, response(key, *lines))

    def test_eof_before_the_response(self) -> None:
        ws, key = requested_client()
        ws.receive_data(response(key)[:20])
        with pytest.raises(RemoteProtocolError):
            ws.receive_data(None)

    def test_response_before_the_request_is_an_error(self) -> None:
        ws = client()
        with pytest.raises((LocalProtocolError, RemoteProtocolError)):
            feed(ws, response(RFC_KEY))


class TestRFC6455Section4_1ClientRejection:
    """§4.1: "If the status code received from the server is not 101, the
    client handles the response per HTTP procedures": the body is read."""

    def test_content_length_body(self) -> None:
        ws, _ = requested_client()
        data = rejected_head(403, b"Content-Length: 5", b"X-Why: policy") + b"nope!"
        assert feed(ws, data) == [
            RejectConnection(status_code=403, headers=[(b"content-length", b"5"), (b"x-why", b"policy")],
                             has_body=True),
            RejectData(b"nope!", body_finished=False),
            RejectData(b"", body_finished=True),
        ]
        assert ws.state is CLOSED

    def test_content_length_zero(self) -> None:
        ws, _ = requested_client()
        events = feed(ws, rejected_head(404, b"Content-Length: 0"))
        assert events[1:] == [RejectData(b"", body_finished=True)]
        assert ws.state is CLOSED

    def test_state_is_rejecting_while_the_body_arrives(self) -> None:
        ws, _ = requested_client()
        feed(ws, rejected_head(403, b"Content-Length: 5") + b"no")
        assert ws.state is REJECTING
        assert feed(ws, b"pe!") == [RejectData(b"pe!", body_finished=False),
                                     RejectData(b"", body_finished=True)]
        assert ws.state is CLOSED

    CHUNKED = (rejected_head(403, b"Transfer-Encoding: chunked")
               + b"5;name=value\r\nhello\r\n"
               + b"6;a=\"q v\";b\r\n world\r\n"
               + b"0\r\nX-Trailer: 1\r\nExpires: never\r\n\r\n")

    @staticmethod
    def body_of(events: list[object]) -> bytes:
        assert isinstance(events[0], RejectConnection) and events[0].has_body
        assert events[-1] == RejectData(b"", body_finished=True)
        middle = events[1:-1]
        assert all(isinstance(e, RejectData) and not e.body_finished for e in middle)
        return b"".join(e.data for e in middle)  # type: ignore[attr-defined]

    def test_chunked_body_with_extensions_and_trailers(self) -> None:
        ws, _ = requested_client()
        assert self.body_of(feed(ws, self.CHUNKED)) == b"hello world"
        assert ws.state is CLOSED

    def test_chunked_body_split_at_every_byte(self) -> None:
        for cut in range(len(self.CHUNKED) + 1):
            ws, _ = requested_client()
            assert self.body_of(feed(ws, self.CHUNKED, [cut])) == b"hello world", cut
            assert ws.state is CLOSED

    def test_chunked_body_byte_by_byte(self) -> None:
        ws, _ = requested_client()
        assert self.body_of(feed_bytewise(ws, self.CHUNKED)) == b"hello world"

    def test_body_until_eof(self) -> None:
        ws, _ = requested_client()
        events = feed(ws, rejected_head(500, b"Content-Type: text/plain") + b"part one, ")
        events += feed(ws, b"part two")
        assert ws.state is REJECTING
        ws.receive_data(None)
        events += ws.events()
        assert self.body_of(events) == b"part one, part two"
        assert ws.state is CLOSED

    def test_eof_inside_a_content_length_body(self) -> None:
        ws, _ = requested_client()
        feed(ws, rejected_head(403, b"Content-Length: 10") + b"short")
        with pytest.raises(RemoteProtocolError):
            ws.receive_data(None)

    def test_eof_inside_a_chunked_body(self) -> None:
        ws, _ = requested_client()
        feed(ws, self.CHUNKED[:-10])
        with pytest.raises(RemoteProtocolError):
            ws.receive_data(None)

    @pytest.mark.parametrize("lines, body", [
        ([b"Content-Length: x"], b""),
        ([b"Content-Length: 1", b"Content-Length: 2"], b"ab"),
        ([b"Transfer-Encoding: chunked"], b"zz\r\n"),
        ([b"Transfer-Encoding: chunked"], b"2\r\nabX\r\n"),
    ], ids=["bad-length", "two-lengths", "bad-chunk-size", "no-crlf-after-chunk"])
    def test_malformed_bodies(self, lines: list[bytes], body: bytes) -> None:
        ws, _ = requested_client()
        with pytest.raises(RemoteProtocolError):
            feed(ws, rejected_head(400, *lines) + body)

    def test_chunked_as_final_coding(self) -> None:
        # RFC 7230 §3.3.3 rule 3 (see test_http.py).
        ws, _ = requested_client()
        data = rejected_head(403, b"Transfer-Encoding: gzip, chunked") + b"2\r\n\x1f\x8b\r\n0\r\n\r\n"
        assert self.body_of(feed(ws, data)) == b"\x1f\x8b"
        assert ws.state is CLOSED

    def test_bytes_after_the_body_are_not_body(self) -> None:
        ws, _ = requested_client()
        assert self.body_of(feed(ws, rejected_head(403, b"Content-Length: 2") + b"abGARBAGE")) == b"ab"


class TestClientDataAfterHead:
    def test_frames_in_the_same_read_as_the_101(self) -> None:
        ws, key = requested_client()
        events = feed(ws, response(key) + SERVER_HELLO + b"\x89\x02hi")
        assert isinstance(events[0], AcceptConnection)
        assert events[1:] == [TextMessage("hello"), Ping(b"hi")]

    def test_frame_split_across_the_101_read(self) -> None:
        ws, key = requested_client()
        data = response(key) + SERVER_HELLO
        events = feed(ws, data, [len(data) - 3])
        assert isinstance(events[0], AcceptConnection)
        text = "".join(e.data for e in events[1:] if isinstance(e, TextMessage))
        assert text == "hello"

    def test_close_frame_right_after_the_101(self) -> None:
        ws, key = requested_client()
        events = feed(ws, response(key) + b"\x88\x02\x03\xe8")
        assert events[1:] == [CloseConnection(1000, "")]
        assert ws.state is ConnectionState.REMOTE_CLOSING


class TestHeaderSizeLimitClient:
    def test_oversized_response_is_refused(self) -> None:
        ws, key = requested_client()
        with pytest.raises(RemoteProtocolError) as info:
            feed(ws, response(key, b"X-Pad: " + b"a" * (16 * 1024)))
        assert info.value.event_hint is None

    def test_refused_byte_by_byte_as_soon_as_the_limit_passes(self) -> None:
        ws = client(max_header_size=100)
        key = key_of(open_request(ws))
        data = response(key, b"X-Pad: " + b"a" * 1000)
        for index in range(100):
            ws.receive_data(data[index:index + 1])
        with pytest.raises(RemoteProtocolError):
            ws.receive_data(data[100:101])

    def test_exactly_the_limit_is_accepted(self) -> None:
        ws = client(max_header_size=1000)
        key = key_of(open_request(ws))
        data = response(key)
        data = response(key, b"X-Pad: " + b"a" * (1000 - len(data) - 9))
        assert len(data) == 1000
        assert [type(e) for e in feed(ws, data)] == [AcceptConnection]


class TestClientStateTransitions:
    def test_connecting_to_open(self) -> None:
        ws, key = requested_client()
        assert ws.state is CONNECTING
        feed(ws, response(key)[:-1])
        assert ws.state is CONNECTING
        feed(ws, b"\n")
        assert ws.state is OPEN

    def test_rejection_without_body_semantics_ends_closed(self) -> None:
        ws, _ = requested_client()
        feed(ws, rejected_head(401, b"Content-Length: 0", b"WWW-Authenticate: Basic"))
        assert ws.state is CLOSED
        with pytest.raises(LocalProtocolError):
            ws.send(TextMessage("x"))

    def test_data_after_closed_is_a_local_error(self) -> None:
        ws, _ = requested_client()
        feed(ws, rejected_head(401, b"Content-Length: 0"))
        with pytest.raises(LocalProtocolError):
            ws.receive_data(b"more")


class TestOurClientAgainstOurServer:
    @pytest.mark.parametrize("subprotocols, chosen", [([], None), (["a", "b"], "b")])
    def test_handshake_and_messages(self, subprotocols: list[str], chosen: object) -> None:
        cli, srv = client(), server()
        srv.receive_data(open_request(cli, subprotocols=subprotocols))
        [request_event] = srv.events()
        assert isinstance(request_event, Request) and request_event.subprotocols == subprotocols
        cli.receive_data(srv.send(AcceptConnection(subprotocol=chosen)))  # type: ignore[arg-type]
        [accept] = cli.events()
        assert isinstance(accept, AcceptConnection)
        assert (accept.subprotocol, accept.extensions) == (chosen, [])
        assert cli.state is OPEN and srv.state is OPEN
        srv.receive_data(cli.send(TextMessage("ping?")))
        assert list(srv.events()) == [TextMessage("ping?")]
        cli.receive_data(srv.send(BytesMessage(b"pong!")))
        assert list(cli.events()) == [BytesMessage(b"pong!")]

    def test_extension_negotiated_both_ways(self) -> None:
        offered, supported = RecordingExtension(offer_text="a=1"), RecordingExtension(answer="a=2")
        cli, srv = client(), server()
        srv.receive_data(open_request(cli, extensions=[offered]))
        [request_event] = srv.events()
        assert isinstance(request_event, Request) and list(request_event.extensions) == ["x-test; a=1"]
        cli.receive_data(srv.send(AcceptConnection(extensions=[supported])))
        [accept] = cli.events()
        assert isinstance(accept, AcceptConnection) and accept.extensions == [offered]
        assert (supported.accepted_offers, offered.finalized) == (["a=1"], ["a=2"])


# =============================================================================
# Any chunking gives the same events (both roles)
# =============================================================================


def cuts(data: bytes) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, len(data)), max_size=12).map(sorted)


class TestChunkingInvariance:
    SERVER_INPUT = (request(b"Sec-WebSocket-Protocol: chat",
                            b"Sec-WebSocket-Extensions: x-test; q=\"a b\"")
                    + CLIENT_HELLO + b"\x89\x80\x00\x00\x00\x00")

    @staticmethod
    def server_events(pieces: list[int] | None) -> list[object]:
        ws = server()
        events: list[object] = feed(ws, TestChunkingInvariance.SERVER_INPUT, pieces)
        ws.send(AcceptConnection(subprotocol="chat"))
        return events + list(ws.events())

    def test_server_whole_and_bytewise(self) -> None:
        whole = self.server_events(None)
        assert [type(e).__name__ for e in whole] == ["Request", "TextMessage", "Ping"]
        assert self.server_events(list(range(1, len(self.SERVER_INPUT)))) == whole

    @given(st.data())
    @settings(max_examples=100, deadline=None)
    def test_server_random_splits(self, data: st.DataObject) -> None:
        pieces = data.draw(cuts(self.SERVER_INPUT))
        assert self.server_events(pieces) == self.server_events(None)

    @staticmethod
    def client_events(pieces: list[int] | None, tail: bytes) -> list[object]:
        ws = WSConnection(ConnectionType.CLIENT, whole_messages=True)
        key = key_of(open_request(ws, subprotocols=["chat"]))
        data = response(key, b"Sec-WebSocket-Protocol: chat") + tail
        events: list[object] = feed(ws, data, pieces)
        # Each connection has its own nonce; the accept token is checked, not reported.
        accept = events[0]
        assert isinstance(accept, AcceptConnection)
        assert all(name != b"sec-websocket-accept" for name, _ in accept.extra_headers)
        return events

    CLIENT_TAIL = SERVER_HELLO + b"\x89\x00" + b"\x82\x03abc"

    def test_client_whole_and_bytewise(self) -> None:
        whole = self.client_events(None, self.CLIENT_TAIL)
        assert [type(e).__name__ for e in whole] == ["AcceptConnection", "TextMessage", "Ping", "BytesMessage"]
        length = len(response(RFC_KEY, b"Sec-WebSocket-Protocol: chat") + self.CLIENT_TAIL)
        assert self.client_events(list(range(1, length)), self.CLIENT_TAIL) == whole

    @given(st.data())
    @settings(max_examples=100, deadline=None)
    def test_client_random_splits(self, data: st.DataObject) -> None:
        length = len(response(RFC_KEY, b"Sec-WebSocket-Protocol: chat") + self.CLIENT_TAIL)
        pieces = data.draw(st.lists(st.integers(0, length), max_size=12).map(sorted))
        assert self.client_events(pieces, self.CLIENT_TAIL) == self.client_events(None, self.CLIENT_TAIL)

    @given(st.data())
    @settings(max_examples=100, deadline=None)
    def test_client_rejection_random_splits(self, data: st.DataObject) -> None:
        wire = TestRFC6455Section4_1ClientRejection.CHUNKED
        pieces = data.draw(cuts(wire))
        ws, _ = requested_client()
        events = feed(ws, wire, pieces)
        assert TestRFC6455Section4_1ClientRejection.body_of(events) == b"hello world"  # type: ignore[arg-type]
        assert events[0] == feed(requested_client()[0], wire)[0]


# =============================================================================
# Hostile input
# =============================================================================


def mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """Apply (kind, position, byte) edits: 0 replace, 1 insert, 2 delete."""
    buffer = bytearray(data)
    for kind, position, value in edits:
        if not buffer:
            buffer.append(value)
            continue
        position %= len(buffer)
        if kind == 0:
            buffer[position] = value
        elif kind == 1:
            buffer.insert(position, value)
        else:
            del buffer[position]
    return bytes(buffer)


edits = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000),
                           st.sampled_from(b"\x00\r\n :;,=\"\\\t\x7f\xffaZ0/")), min_size=1, max_size=8)
LIMIT = 300


class TestHostileInput:
    """Hostile bytes raise only RemoteProtocolError, never hang, never buffer past the limit."""

    @staticmethod
    def drive_server(data: bytes, pieces: list[int]) -> None:
        ws = server(max_header_size=LIMIT)
        fed = 0
        start = 0
        try:
            for cut in [*pieces, len(data)]:
                ws.receive_data(data[start:cut])
                fed += cut - start
                start = cut
                events = list(ws.events())
                if events:
                    assert [type(e) for e in events] == [Request]
                    ws.send(AcceptConnection())
                    list(ws.events())
                    return
                # No head yet: everything fed so far is buffered.
                assert fed <= LIMIT
        except RemoteProtocolError as exc:
            hint = exc.event_hint
            assert isinstance(hint, RejectConnection)
            assert ws.send(hint).startswith(b"HTTP/1.1 %d " % hint.status_code)
            assert ws.state is CLOSED

    @given(st.binary(max_size=600), st.data())
    @FUZZ
    def test_server_random_bytes(self, data: bytes, draw: st.DataObject) -> None:
        self.drive_server(data, draw.draw(cuts(data)))

    @given(edits, st.data())
    @FUZZ
    def test_server_mutated_requests(self, changes: list[tuple[int, int, int]], draw: st.DataObject) -> None:
        data = mutate(request(b"Sec-WebSocket-Protocol: a, b",
                              b"Sec-WebSocket-Extensions: x; y=\"z\""), changes)
        self.drive_server(data, draw.draw(cuts(data)))

    @staticmethod
    def drive_client(make: object, pieces_of: object) -> None:
        ws = client(max_header_size=LIMIT)
        key = key_of(open_request(ws, subprotocols=["a"], extensions=[RecordingExtension()]))
        data: bytes = make(key)  # type: ignore[operator]
        pieces: list[int] = pieces_of(data)  # type: ignore[operator]
        fed = 0
        start = 0
        seen = False
        try:
            for cut in [*pieces, len(data)]:
                ws.receive_data(data[start:cut])
                fed += cut - start
                start = cut
                seen = seen or bool(list(ws.events()))
                assert seen or fed <= LIMIT
            ws.receive_data(None)
            list(ws.events())
        except RemoteProtocolError as exc:
            assert exc.event_hint is None
        except LocalProtocolError:
            # Only for bytes fed after the rejection body ended.
            assert ws.state is CLOSED

    @given(st.binary(max_size=600), st.data())
    @FUZZ
    def test_client_random_bytes(self, data: bytes, draw: st.DataObject) -> None:
        self.drive_client(lambda key: data, lambda d: draw.draw(cuts(d)))

    @given(edits, st.booleans(), st.data())
    @FUZZ
    def test_client_mutated_responses(self, changes: list[tuple[int, int, int]], reject: bool,
                                      draw: st.DataObject) -> None:
        def make(key: bytes) -> bytes:
            if reject:
                base = rejected_head(403, b"Transfer-Encoding: chunked") + b"3;x=1\r\nabc\r\n0\r\nT: 1\r\n\r\n"
            else:
                base = response(key, b"Sec-WebSocket-Protocol: a", b"Sec-WebSocket-Extensions: x-test") + SERVER_HELLO
            return mutate(base, changes)
        self.drive_client(make, lambda d: draw.draw(cuts(d)))

    def test_endless_header_line_is_refused_at_the_limit(self) -> None:
        ws = server(max_header_size=LIMIT)
        ws.receive_data(b"GET / HTTP/1.1\r\nX: ")
        with pytest.raises(RemoteProtocolError):
            for _ in range(LIMIT):
                ws.receive_data(b"a")

    def test_bare_lf_request_never_completes_and_is_bounded(self) -> None:
        ws = server(max_header_size=LIMIT)
        data = request().replace(b"\r\n", b"\n")
        ws.receive_data(data)
        assert list(ws.events()) == []
        with pytest.raises(RemoteProtocolError):
            ws.receive_data(b"\n" * LIMIT)
