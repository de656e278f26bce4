"""RFC 6455 §4: the opening handshake, both roles, written on :mod:`.http`.

The handshake owns the connection until it opens; then it builds the
:class:`~wsproto6455.connection.Connection` that takes over, and hands it
the bytes that followed the HTTP head in the same read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections import deque
from typing import Iterator, Optional, Sequence, Union

from . import http
from ._keywords import keyword_options
from .connection import DEFAULT_MAX_MESSAGE_SIZE, Connection
from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    AcceptConnection,
    Event,
    RejectConnection,
    RejectData,
    Request,
)
from .extensions.base import Extension
from .options import flag_option, size_option
from .state import ConnectionState, ConnectionType, Trigger, advance
from .typing import Headers

#: RFC 6455 §1.3: the GUID appended to the key to form the accept token.
ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: RFC 6455 §4.1: the only version this protocol defines.
WEBSOCKET_VERSION = b"13"
DEFAULT_MAX_HEADER_SIZE = 16 * 1024

_REASON_PHRASES = {
    101: b"Switching Protocols", 200: b"OK", 400: b"Bad Request", 401: b"Unauthorized",
    403: b"Forbidden", 404: b"Not Found", 405: b"Method Not Allowed",
    426: b"Upgrade Required", 429: b"Too Many Requests",
    431: b"Request Header Fields Too Large", 500: b"Internal Server Error",
    503: b"Service Unavailable",
}


def generate_nonce() -> bytes:
    """RFC 6455 §4.1: a random 16-byte value, base64-encoded."""
    return base64.b64encode(os.urandom(16))


def accept_token(key: bytes) -> bytes:
    """RFC 6455 §4.2.2: base64(SHA-1(key + GUID))."""
    return base64.b64encode(hashlib.sha1(key + ACCEPT_GUID).digest())


def _has_token(headers: Headers, name: bytes, token: str) -> bool:
    """Does the comma-separated header ``name`` list ``token`` (case-insensitive)?"""
    values = http.header_values(headers, name)
    listed = http.parse_token_list(values, allow_slash=name == b"upgrade")
    return token in (t.lower() for t in listed)


#: Headers that the events carry in their own fields, left out of extra_headers
#: as wsproto does.
_REQUEST_FIELDS = frozenset({b"host", b"sec-websocket-extensions", b"sec-websocket-protocol"})
_RESPONSE_FIELDS = frozenset({b"connection", b"upgrade", b"sec-websocket-accept",
                              b"sec-websocket-extensions", b"sec-websocket-protocol"})


def _reject(message: str, status: int = 400, headers: Optional[Headers] = None) -> RemoteProtocolError:
    return RemoteProtocolError(
        message, event_hint=RejectConnection(status_code=status, headers=list(headers or []))
    )


class Handshake:
    """The opening handshake of one connection, client or server."""

    @keyword_options("Handshake()")
    def __init__(
        self,
        connection_type: ConnectionType,
        *,
        max_header_size: Optional[int] = DEFAULT_MAX_HEADER_SIZE,
        max_message_size: Optional[int] = DEFAULT_MAX_MESSAGE_SIZE,
        max_frame_size: Optional[int] = None,
        fragment_size: Optional[int] = None,
        whole_messages: bool = False,
    ) -> None:
        self.role = connection_type
        self.client = connection_type is ConnectionType.CLIENT
        self._state = ConnectionState.CONNECTING
        self._events: deque[Event] = deque()
        # For the Connection that the handshake creates; checked now, not
        # when the handshake ends (see options.py).
        self._max_message_size = size_option("max_message_size", max_message_size, 0)
        self._max_frame_size = size_option("max_frame_size", max_frame_size, 0)
        self._fragment_size = size_option("fragment_size", fragment_size, 1)
        self._whole_messages = flag_option("whole_messages", whole_messages)
        self._head_limit = size_option("max_header_size", max_header_size, 1)
        self._head: Optional[http.HeadReader] = http.HeadReader(self._head_limit)
        self._request: Optional[Request] = None
        self._key: Optional[bytes] = None
        self._offered: list[Extension] = []
        self._offers: list[http.ExtensionItem] = []
        self._trailing = b""
        self._body: Optional[http.BodyReader] = None
        self._chunked_reply = False
        self.connection: Optional[Connection] = None

    @property
    def state(self) -> ConnectionState:
        return self._state

    def _new_connection(self, extensions: Sequence[Extension], trailing_data: bytes) -> Connection:
        return Connection(
            self.role, extensions, trailing_data,
            max_message_size=self._max_message_size, max_frame_size=self._max_frame_size,
            fragment_size=self._fragment_size, whole_messages=self._whole_messages,
        )

    def _advance(self, trigger: Trigger) -> None:
        self._state = advance(self.role, self._state, trigger)

    # -- input ------------------------------------------------------------

    def receive_data(self, data: Optional[bytes]) -> None:
        if data is None:
            self._receive_eof()
            return
        if self._state is ConnectionState.CLOSED:
            raise LocalProtocolError("connection already closed")
        if self.client and self._request is None:
            raise LocalProtocolError("a client receives nothing before it sends its Request")
        if self._body is not None:
            self._receive_body(data)
        elif self._head is None:
            self._hold(data)
        else:
            self._receive_head(data)

    def _receive_head(self, data: bytes) -> None:
        assert self._head is not None
        try:
            parsed = self._head.feed(data)
        except http.HTTPError as exc:
            if self.client:
                raise RemoteProtocolError(str(exc)) from None
            raise _reject(str(exc), exc.status) from None
        if parsed is None:
            return
        self._head = None
        head, rest = parsed
        if self.client:
            self._receive_response(head, rest)
        else:
            self._events.append(self._receive_request(head))
            self._hold(rest)

    def _hold(self, data: bytes) -> None:
        """Server: keep what follows the request until the application answers.

        RFC 6455 §4.1 has the client wait for the response before sending
        frames, so this is at most what arrived with the request; bound it
        like the head."""
        if self.client or self._state is not ConnectionState.CONNECTING:
            return  # a rejected connection's input means nothing
        self._trailing += data
        limit = self._head_limit
        if limit is not None and len(self._trailing) > limit:
            raise _reject(f"over {limit} bytes sent before the handshake completed")

    def _receive_eof(self) -> None:
        if self._body is not None:
            try:
                self._body.feed_eof()
            except http.HTTPError as exc:
                raise RemoteProtocolError(str(exc)) from None
            self._body = None
            self._events.append(RejectData(data=b"", body_finished=True))
            self._advance(Trigger.RECV_BODY_END)
            return
        if self._state is ConnectionState.CONNECTING and self.client and self._key is not None:
            raise RemoteProtocolError("connection closed before the handshake response")
        self._state = advance(self.role, self._state, Trigger.RECV_EOF)

    @property
    def has_events(self) -> bool:
        """True while events are waiting to be taken by :meth:`events`."""
        return bool(self._events)

    def events(self) -> Iterator[Event]:
        while self._events:
            yield self._events.popleft()

    # -- server -----------------------------------------------------------

    def initiate_upgrade_connection(self, headers: Headers, path: Union[bytes, str]) -> None:
        """Process a request that the embedder's HTTP server already parsed."""
        if self.client or self._head is None:
            raise LocalProtocolError("only a server that has read no request can take one")
        self._head = None
        target = path.encode("latin-1") if isinstance(path, str) else path
        lowered = [(name.lower(), value) for name, value in headers]
        self._events.append(self._process_request(b"GET", target, (1, 1), lowered))

    def _receive_request(self, head: bytes) -> Request:
        try:
            start, headers = http.split_head(head)
            method, target, version = http.parse_request_line(start)
        except http.HTTPError as exc:
            raise _reject(str(exc), exc.status) from None
        try:
            return self._process_request(method, target, version, headers)
        except RemoteProtocolError as exc:
            exc.request_line = (method, target)
            raise

    def _process_request(self, method: bytes, target: bytes, version: tuple[int, int],
                         headers: list[tuple[bytes, bytes]]) -> Request:
        """RFC 6455 §4.2.1: validate the client's opening handshake."""
        try:
            return self._validate_request(method, target, version, headers)
        except http.HTTPError as exc:
            raise _reject(str(exc), exc.status) from None

    def _validate_request(self, method: bytes, target: bytes, version: tuple[int, int],
                          headers: list[tuple[bytes, bytes]]) -> Request:
        if method != b"GET":
            raise _reject("the method of an opening handshake must be GET", 405,
                          [(b"allow", b"GET")])
        if version < (1, 1):
            raise _reject("the opening handshake needs HTTP/1.1 or later")
        hosts = http.header_values(headers, b"host")
        if len(hosts) != 1:
            raise _reject("the request must have exactly one Host header")
        upgrade_headers = [(b"upgrade", b"websocket"), (b"connection", b"Upgrade")]
        if not _has_token(headers, b"upgrade", "websocket"):
            raise _reject("missing 'Upgrade: websocket'", 426, upgrade_headers)
        if not _has_token(headers, b"connection", "upgrade"):
            raise _reject("missing 'Connection: Upgrade'", 426, upgrade_headers)
        versions = http.header_values(headers, b"sec-websocket-version")
        if versions != [WEBSOCKET_VERSION]:
            raise _reject("unsupported Sec-WebSocket-Version", 426,
                          [(b"sec-websocket-version", WEBSOCKET_VERSION)])
        keys = http.header_values(headers, b"sec-websocket-key")
        if len(keys) != 1 or not _is_valid_key(keys[0]):
            raise _reject("Sec-WebSocket-Key must be one base64-encoded 16-byte value")
        self._key = keys[0]
        subprotocols = http.parse_token_list(http.header_values(headers, b"sec-websocket-protocol"))
        offers = http.parse_extension_list(http.header_values(headers, b"sec-websocket-extensions"))
        extensions = [_offer_text(name, params) for name, params in offers]
        self._offers = offers
        self._advance(Trigger.RECV_REQUEST)
        self._request = Request(
            host=hosts[0].decode("latin-1"),
            target=target.decode("latin-1"),
            extensions=extensions,
            extra_headers=[(n, v) for n, v in headers if n not in _REQUEST_FIELDS],
            subprotocols=subprotocols,
        )
        return self._request

    def _accept(self, event: AcceptConnection) -> bytes:
        if self._request is None or self._key is None:
            raise LocalProtocolError("cannot accept before a request was received")
        headers: list[tuple[bytes, bytes]] = [
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Accept", accept_token(self._key)),
        ]
        if event.subprotocol is not None:
            if event.subprotocol not in self._request.subprotocols:
                raise LocalProtocolError(f"the client did not offer subprotocol {event.subprotocol!r}")
            headers.append((b"Sec-WebSocket-Protocol", event.subprotocol.encode("ascii")))
        accepted = negotiate_server_extensions(self._offers, event.extensions)
        if accepted:
            headers.append((b"Sec-WebSocket-Extensions", ", ".join(accepted.values()).encode("ascii")))
        headers.extend(_checked(event.extra_headers))
        self._advance(Trigger.SEND_ACCEPT)
        self.connection = self._new_connection(
            [ext for ext in event.extensions if ext.name in accepted], self._trailing)
        self._trailing = b""
        return http.write_head(b"HTTP/1.1 101 Switching Protocols", headers)

    def _reject_request(self, event: RejectConnection) -> bytes:
        if not 200 <= event.status_code <= 599:
            raise LocalProtocolError(f"a rejection needs a final status (200-599), not {event.status_code}")
        headers = list(_checked(event.headers))
        names = {name.lower() for name, _ in headers}
        if not event.has_body:
            if b"content-length" not in names:
                headers.append((b"content-length", b"0"))
            self._advance(Trigger.SEND_REJECT)
        else:
            self._chunked_reply = not names & {b"content-length", b"transfer-encoding"}
            if self._chunked_reply:
                headers.append((b"transfer-encoding", b"chunked"))
            self._advance(Trigger.SEND_REJECT_WITH_BODY)
        self._trailing = b""
        status = event.status_code
        phrase = _REASON_PHRASES.get(status, b"")
        return http.write_head(b"HTTP/1.1 %d %s" % (status, phrase), headers)

    def _reject_data(self, event: RejectData) -> bytes:
        self._advance(Trigger.SEND_BODY_END if event.body_finished else Trigger.SEND_BODY)
        if not self._chunked_reply:
            return bytes(event.data)
        out = http.chunk(event.data) if event.data else b""
        return out + http.chunk(b"") if event.body_finished else out

    # -- client -----------------------------------------------------------

    def _initiate(self, request: Request) -> bytes:
        if self._request is not None:
            raise LocalProtocolError("a client sends one Request")
        try:
            for subprotocol in request.subprotocols:
                http.check_token(subprotocol)
            target = request.target.encode("ascii")
            http.check_target(target)
            host = _encode_host(request.host)
        except (ValueError, UnicodeError) as exc:
            raise LocalProtocolError(f"invalid Request: {exc}") from None
        key = generate_nonce()
        headers: list[tuple[bytes, bytes]] = [
            (b"Host", host),
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Key", key),
            (b"Sec-WebSocket-Version", WEBSOCKET_VERSION),
        ]
        if request.subprotocols:
            headers.append((b"Sec-WebSocket-Protocol", ", ".join(request.subprotocols).encode("ascii")))
        offers = []
        offered = []
        for ext in request.extensions:
            if not isinstance(ext, Extension):
                raise LocalProtocolError("a client's Request.extensions must be Extension objects")
            offer = ext.offer()
            if offer is True:
                offers.append(ext.name)
            elif offer:
                offers.append(f"{ext.name}; {offer}")
            else:
                continue
            offered.append(ext)
        if offers:
            headers.append((b"Sec-WebSocket-Extensions", ", ".join(offers).encode("ascii")))
        headers.extend(_checked(request.extra_headers))
        self._advance(Trigger.SEND_REQUEST)
        self._request, self._key, self._offered = request, key, offered
        return http.write_head(b"GET " + target + b" HTTP/1.1", headers)

    def _receive_response(self, head: bytes, rest: bytes) -> None:
        try:
            start, headers = http.split_head(head)
            _, status = http.parse_status_line(start)
        except http.HTTPError as exc:
            raise RemoteProtocolError(str(exc)) from None
        if status == 101:
            self._events.append(self._establish(headers, rest))
        elif status < 200:
            self._advance(Trigger.RECV_REJECT)
            self._events.append(RejectConnection(status_code=status, headers=headers, has_body=False))
        else:
            try:
                self._body = http.BodyReader(headers)
            except http.HTTPError as exc:
                raise RemoteProtocolError(str(exc)) from None
            self._advance(Trigger.RECV_REJECT_WITH_BODY)
            self._events.append(RejectConnection(status_code=status, headers=headers, has_body=True))
            self._receive_body(rest)

    def _receive_body(self, data: bytes) -> None:
        assert self._body is not None
        try:
            pieces = list(self._body.feed(data))
        except http.HTTPError as exc:
            raise RemoteProtocolError(str(exc)) from None
        for piece in pieces:
            self._advance(Trigger.RECV_BODY)
            self._events.append(RejectData(data=piece, body_finished=False))
        if self._body.finished:
            self._body = None
            self._advance(Trigger.RECV_BODY_END)
            self._events.append(RejectData(data=b"", body_finished=True))

    def _establish(self, headers: list[tuple[bytes, bytes]], rest: bytes) -> AcceptConnection:
        """RFC 6455 §4.1: the checks a client makes of the server's 101."""
        assert self._request is not None and self._key is not None
        try:
            if not _has_token(headers, b"upgrade", "websocket"):
                raise RemoteProtocolError("missing 'Upgrade: websocket' in the response")
            if not _has_token(headers, b"connection", "upgrade"):
                raise RemoteProtocolError("missing 'Connection: Upgrade' in the response")
            if http.header_values(headers, b"sec-websocket-accept") != [accept_token(self._key)]:
                raise RemoteProtocolError("wrong Sec-WebSocket-Accept")
            protocols = http.parse_token_list(http.header_values(headers, b"sec-websocket-protocol"))
            if len(protocols) > 1 or protocols and protocols[0] not in self._request.subprotocols:
                raise RemoteProtocolError(f"unexpected subprotocol {', '.join(protocols)!r}")
            accepted = http.parse_extension_list(http.header_values(headers, b"sec-websocket-extensions"))
        except http.HTTPError as exc:
            raise RemoteProtocolError(str(exc)) from None
        extensions = finalize_client_extensions(accepted, self._offered)
        self._advance(Trigger.RECV_ACCEPT)
        self.connection = self._new_connection(extensions, rest)
        return AcceptConnection(
            subprotocol=protocols[0] if protocols else None,
            extensions=extensions,
            extra_headers=[(n, v) for n, v in headers if n not in _RESPONSE_FIELDS],
        )

    # -- output -----------------------------------------------------------

    def send(self, event: Event) -> bytes:
        if isinstance(event, Request):
            return self._initiate(event)
        if isinstance(event, AcceptConnection):
            return self._accept(event)
        if isinstance(event, RejectConnection):
            return self._reject_request(event)
        if isinstance(event, RejectData):
            return self._reject_data(event)
        raise LocalProtocolError(f"cannot send {type(event).__name__} in state {self._state.name}")


def _encode_host(host: str) -> bytes:
    """The Host header for ``host`` (with its port, if any); IDNA for non-ASCII names."""
    try:
        encoded = host.encode("ascii")
    except UnicodeEncodeError:
        encoded = host.encode("idna")
    http.check_header(b"host", encoded)
    if not encoded or b" " in encoded:
        raise ValueError(f"invalid host {host!r}")
    return encoded


def _is_valid_key(key: bytes) -> bool:
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except binascii.Error:
        return False


def _checked(headers: Headers) -> Iterator[tuple[bytes, bytes]]:
    """Refuse extra headers that would corrupt the HTTP message (header injection)."""
    for name, value in headers:
        try:
            http.check_header(name, value)
        except ValueError as exc:
            raise LocalProtocolError(str(exc)) from None
        yield name, value


def _offer_text(name: str, params: list[tuple[str, Optional[str]]]) -> str:
    text = http.format_extension_params(params)
    return f"{name}; {text}" if text else name


def negotiate_server_extensions(
    offers: Sequence[http.ExtensionItem], supported: Sequence[Extension]
) -> dict[str, str]:
    """RFC 6455 §9.1: for each supported extension, accept the first offer of
    its name that it can honour. Returns name -> response text, in the order
    of the client's offers (the order the client wants them applied)."""
    accepted: dict[str, str] = {}
    for name, params in offers:
        if name in accepted:
            continue
        for ext in supported:
            if ext.name != name:
                continue
            answer = ext.accept(http.format_extension_params(params))
            if answer is True:
                accepted[name] = name
            elif answer:
                accepted[name] = f"{name}; {answer}"
            break
    return accepted


def finalize_client_extensions(
    accepted: Sequence[http.ExtensionItem], offered: Sequence[Extension]
) -> list[Extension]:
    """RFC 6455 §9.1: the server may only accept extensions the client offered, once each.

    A client may offer one extension several times (RFC 7692 §5: a list of
    parameter sets, most wanted first); the server accepts at most one, and
    its response must be consistent with that one. The response is checked
    against each offer of its name in order, and the first one that takes it
    is enabled.
    """
    enabled: list[Extension] = []
    seen: set[str] = set()
    for name, params in accepted:
        candidates = [ext for ext in offered if ext.name == name]
        if not candidates or name in seen:
            raise RemoteProtocolError(f"the server accepted extension {name!r} that was not offered, or twice")
        seen.add(name)
        enabled.append(_finalize_one(candidates, http.format_extension_params(params)))
    return enabled


def _finalize_one(candidates: Sequence[Extension], response: str) -> Extension:
    """The first of our offers of one name that accepts the server's response."""
    errors: list[RemoteProtocolError] = []
    for ext in candidates:
        try:
            ext.finalize(response)
        except RemoteProtocolError as exc:
            errors.append(exc)
            continue
        return ext
    if len(errors) == 1:
        raise errors[0]
    raise RemoteProtocolError(
        f"the {candidates[0].name} response matches none of our {len(candidates)} offers: "
        + "; ".join(str(exc) for exc in errors)
    )
