"""Connection states, roles, and the one table of legal transitions.

Every transition of a connection goes through :func:`advance`, the same for
both roles except where a trigger belongs to one role only. A trigger that the
table does not list for the current state is a :class:`LocalProtocolError`
(for triggers caused by ``send``) and never happens for received input,
because the reader stops interpreting bytes once the connection closes.
"""

from __future__ import annotations

from enum import Enum

from .errors import LocalProtocolError


class ConnectionState(Enum):
    """RFC 6455 §4 and §7: where a connection stands."""

    #: The opening handshake is in progress.
    CONNECTING = 0
    #: The opening handshake is complete.
    OPEN = 1
    #: The peer sent a close frame (or broke the protocol); ours is due.
    REMOTE_CLOSING = 2
    #: We sent a close frame and wait for the peer's.
    LOCAL_CLOSING = 3
    #: The closing handshake is complete, or the connection was lost.
    CLOSED = 4
    #: The server rejected the opening handshake; the rejection is in flight.
    REJECTING = 5


class ConnectionType(Enum):
    """The role of the local end."""

    #: We open connections to a server.
    CLIENT = 1
    #: We accept connections from clients.
    SERVER = 2


class Trigger(Enum):
    """What moves a connection: something sent, received, or the end of input."""

    SEND_REQUEST = "send Request"
    RECV_REQUEST = "receive Request"
    SEND_ACCEPT = "send AcceptConnection"
    RECV_ACCEPT = "receive AcceptConnection"
    SEND_REJECT = "send RejectConnection"
    SEND_REJECT_WITH_BODY = "send RejectConnection with a body"
    RECV_REJECT = "receive RejectConnection"
    RECV_REJECT_WITH_BODY = "receive RejectConnection with a body"
    SEND_BODY = "send RejectData"
    SEND_BODY_END = "send the last RejectData"
    RECV_BODY = "receive RejectData"
    RECV_BODY_END = "receive the last RejectData"
    SEND_DATA = "send a message, ping or pong"
    RECV_DATA = "receive a message, ping or pong"
    SEND_CLOSE = "send CloseConnection"
    RECV_CLOSE = "receive a close frame"
    RECV_FAULT = "receive a protocol violation"
    RECV_EOF = "receive the end of the stream"


S = ConnectionState
T = Trigger

#: (state, trigger) -> next state, for both roles.
TRANSITIONS: dict[tuple[ConnectionState, Trigger], ConnectionState] = {
    # Opening handshake (RFC 6455 §4).
    (S.CONNECTING, T.SEND_REQUEST): S.CONNECTING,
    (S.CONNECTING, T.RECV_REQUEST): S.CONNECTING,
    (S.CONNECTING, T.SEND_ACCEPT): S.OPEN,
    (S.CONNECTING, T.RECV_ACCEPT): S.OPEN,
    (S.CONNECTING, T.SEND_REJECT): S.CLOSED,
    (S.CONNECTING, T.SEND_REJECT_WITH_BODY): S.REJECTING,
    (S.CONNECTING, T.RECV_REJECT): S.CLOSED,
    (S.CONNECTING, T.RECV_REJECT_WITH_BODY): S.REJECTING,
    (S.REJECTING, T.SEND_BODY): S.REJECTING,
    (S.REJECTING, T.SEND_BODY_END): S.CLOSED,
    (S.REJECTING, T.RECV_BODY): S.REJECTING,
    (S.REJECTING, T.RECV_BODY_END): S.CLOSED,
    # Data transfer (RFC 6455 §6). After our close we may still receive data.
    (S.OPEN, T.SEND_DATA): S.OPEN,
    (S.OPEN, T.RECV_DATA): S.OPEN,
    (S.LOCAL_CLOSING, T.RECV_DATA): S.LOCAL_CLOSING,
    # Closing handshake (RFC 6455 §7), either side first.
    (S.OPEN, T.SEND_CLOSE): S.LOCAL_CLOSING,
    (S.REMOTE_CLOSING, T.SEND_CLOSE): S.CLOSED,
    (S.OPEN, T.RECV_CLOSE): S.REMOTE_CLOSING,
    (S.LOCAL_CLOSING, T.RECV_CLOSE): S.CLOSED,
    # A violation is answered like a close: our close frame carries the code.
    (S.OPEN, T.RECV_FAULT): S.REMOTE_CLOSING,
    (S.LOCAL_CLOSING, T.RECV_FAULT): S.CLOSED,
    # The stream ended: whatever was under way is over.
    (S.CONNECTING, T.RECV_EOF): S.CLOSED,
    (S.OPEN, T.RECV_EOF): S.CLOSED,
    (S.REMOTE_CLOSING, T.RECV_EOF): S.CLOSED,
    (S.LOCAL_CLOSING, T.RECV_EOF): S.CLOSED,
    (S.REJECTING, T.RECV_EOF): S.CLOSED,
    (S.CLOSED, T.RECV_EOF): S.CLOSED,
}

#: Triggers that only one role can cause.
CLIENT_ONLY = frozenset({T.SEND_REQUEST, T.RECV_ACCEPT, T.RECV_REJECT,
                         T.RECV_REJECT_WITH_BODY, T.RECV_BODY, T.RECV_BODY_END})
SERVER_ONLY = frozenset({T.RECV_REQUEST, T.SEND_ACCEPT, T.SEND_REJECT,
                         T.SEND_REJECT_WITH_BODY, T.SEND_BODY, T.SEND_BODY_END})


def advance(role: ConnectionType, state: ConnectionState, trigger: Trigger) -> ConnectionState:
    """The state after ``trigger``; LocalProtocolError if the table forbids it."""
    forbidden = SERVER_ONLY if role is ConnectionType.CLIENT else CLIENT_ONLY
    try:
        if trigger in forbidden:
            raise KeyError(trigger)
        return TRANSITIONS[state, trigger]
    except KeyError:
        raise LocalProtocolError(
            f"cannot {trigger.value} in state {state.name} as a {role.name.lower()}"
        ) from None
