"""The interface between the connection and a WebSocket extension.

Negotiation uses wsproto's four methods (``enabled``, ``offer``, ``accept``,
``finalize``) so extensions and frameworks written for wsproto keep their
shape. The data path is message oriented, because the only extension
registered with IANA that matters, permessage-deflate (RFC 7692), transforms
whole messages: the reader calls :meth:`Extension.begin_inbound` on the first
frame of each data message and :meth:`Extension.decode` for each piece of its
payload; the writer does the same with :meth:`Extension.begin_outbound` and
:meth:`Extension.encode`. Control frames never reach an extension.
"""

from __future__ import annotations

from typing import Optional, Union

#: RSV bits as they sit in the first byte of a frame header.
RSV1 = 0x40
RSV2 = 0x20
RSV3 = 0x10


class Extension:
    """Base class of extensions. Subclasses override what they need."""

    #: The extension token, as it appears in ``Sec-WebSocket-Extensions``.
    name: str = ""
    #: The RSV bits (``RSV1 | RSV2 | RSV3`` subset) the extension owns once enabled.
    rsv_bits: int = 0

    # -- negotiation (wsproto-compatible) -------------------------------

    def enabled(self) -> bool:
        """True once negotiation has made the extension active."""
        return False

    def offer(self) -> Union[bool, str]:
        """Client: the parameters to offer (a string), True to offer the bare
        name, False to offer nothing."""
        return False

    def accept(self, offer: str) -> Optional[Union[bool, str]]:
        """Server: answer one offer (its parameters, without the name).

        Return the response parameters (a string), True to accept with none,
        or None/False to decline this offer (the next offer is then tried)."""
        return None

    def finalize(self, offer: str) -> None:
        """Client: the server accepted with these parameters; enable the
        extension or raise :class:`~wsproto6455.errors.RemoteProtocolError`
        if the response is not acceptable."""

    # -- data path (called only when enabled) ----------------------------

    def begin_inbound(self, rsv: int) -> bool:
        """First frame of a received data message, with its RSV bits (only
        the bits in :attr:`rsv_bits`). Return True if the message's payload
        must go through :meth:`decode`.

        Raise :class:`~wsproto6455.errors.ProtocolFault` to refuse it."""
        return False

    def decode(self, data: bytes, final: bool, max_size: Optional[int]) -> bytes:
        """Decode the next piece of a message that :meth:`begin_inbound`
        claimed. ``final`` is True with the last piece of the message (it may
        be empty). Produce at most ``max_size`` bytes (None: unbounded) and
        raise ``ProtocolFault(1009, ...)`` rather than produce more; raise a
        ``ProtocolFault`` for corrupt input."""
        return data

    def decode_message(self, data: bytes, rsv: int, max_size: Optional[int]) -> bytes:
        """A whole message that came in one frame, with its RSV bits (only
        the bits in :attr:`rsv_bits`): :meth:`begin_inbound`, then
        :meth:`decode` with ``final`` if it claimed the message. The reader
        calls this when the extension is the only one on the data path;
        override it only with an equivalent that is faster."""
        if not self.begin_inbound(rsv):
            return data
        return self.decode(data, True, max_size)

    def begin_outbound(self, size: Optional[int], compress: Optional[bool]) -> int:
        """First frame of a message to send. ``size`` is the length of the
        whole message when it is sent in one piece (None when the sender
        streams it). ``compress`` is the sender's per-message choice (None:
        the extension decides, e.g. by a size threshold). Return the RSV bits
        to set on the first frame, 0 to send the message untransformed."""
        return 0

    def encode(self, data: bytes, final: bool) -> bytes:
        """Encode the next piece of a message that :meth:`begin_outbound`
        claimed (returned non-zero bits for)."""
        return data
