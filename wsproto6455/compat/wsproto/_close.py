"""wsproto's treatment of close codes that may not go on the wire.

RFC 6455 §7.4.1: 1005, 1006 and 1015 name local conditions and MUST NOT be
sent. wsproto accepts them in an outgoing ``CloseConnection`` anyway: the
enum member ``CloseReason.NO_STATUS_RCVD`` (what a received empty close
frame carries, so its ``response()``) and ``None`` send a close frame
without a code; the others, including a plain ``1005``, send 1000.
Frameworks rely on it: trio-websocket sends ``CloseConnection(1006)`` to
move a connection whose stream broke to a closing state. wsproto6455
refuses those codes with LocalProtocolError, so the facade maps them first.
"""

from __future__ import annotations

from wsproto6455.events import CloseConnection, Event
from wsproto6455.frames import CloseReason

_LOCAL_ONLY = (CloseReason.NO_STATUS_RCVD, CloseReason.ABNORMAL_CLOSURE,
               CloseReason.TLS_HANDSHAKE_FAILED)


def wire_close(event: Event) -> Event:
    """The event to hand to wsproto6455 for ``event``, as wsproto would send it."""
    if not isinstance(event, CloseConnection):
        return event
    code = event.code
    # identity, not equality: wsproto tells the member from a plain 1005
    if code is None or code is CloseReason.NO_STATUS_RCVD:
        return CloseConnection(CloseReason.NO_STATUS_RCVD)
    if code in _LOCAL_ONLY:
        return CloseConnection(CloseReason.NORMAL_CLOSURE, event.reason)
    return event
