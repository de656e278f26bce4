"""permessage-deflate (RFC 7692), both roles.

Negotiation follows RFC 7692 §5 and §7.1; the four parameters are all
supported, window size 8 included. The data path compresses whole messages
(RSV1 on the first frame only; the connection checks continuation frames)
with one zlib stream per direction, kept between messages unless the
direction's ``*_no_context_takeover`` applies.

Decisions (see docs/DEFLATE.md for the reasoning and measurements):

* Parameter values: RFC 7692 §7.1.2: a decimal integer 8..15 without leading
  zeros. The quoted-string form (``server_max_window_bits="10"``) is accepted
  because RFC 6455 §9.1 allows it for any extension-param and defines the
  value as the unescaped token; ``"08"`` or ``"x"`` remain invalid.
* Window size 8: zlib refuses to compress raw deflate with an 8-bit window.
  A zlib compressor with a 9-bit window never emits a distance greater than
  ``512 - MIN_LOOKAHEAD (262) = 250`` bytes, which fits an 8-bit (256-byte)
  window, so when 8 is agreed for our compressor we compress with 9 and the
  stream is valid for the peer (verified by a strict byte-at-a-time 8-bit
  inflater in the tests). We inflate with ``max(bits, 9)``, which reads every
  stream a peer may legally send and tolerates peers that do the same trick
  with a compressor that uses the full 512 bytes.
* Corrupt compressed data fails the connection with 1007 (invalid payload
  data: the frames were well formed, the message content is not), as wsproto
  does.
* An empty message is encoded as the single octet 0x00 (RFC 7692 §7.2.3.6).
"""

from __future__ import annotations

import sys
import zlib
from dataclasses import dataclass
from typing import Dict, Optional, Union

from ..errors import ProtocolFault, RemoteProtocolError
from ..http import parse_extension_params
from .base import RSV1, Extension

# The empty stored block that a sync flush ends with (RFC 7692 §7.2.1).
_TAIL = b"\x00\x00\xff\xff"
# Below this size, appending the tail to the input (a copy) is cheaper than a
# second decompress() call; above it the copy dominates.
_CONCAT_LIMIT = 4096
_BITS = {str(bits): bits for bits in range(8, 16)}
_FLAGS = ("server_no_context_takeover", "client_no_context_takeover")
_SERVER_BITS = "server_max_window_bits"
_CLIENT_BITS = "client_max_window_bits"
_KNOWN = frozenset(_FLAGS + (_SERVER_BITS, _CLIENT_BITS))
# zlib's max_length is a Py_ssize_t; a bound this large is no bound.
_NO_LIMIT = sys.maxsize
_CLOSE_PROTOCOL_ERROR = 1002
_CLOSE_INVALID_DATA = 1007
_CLOSE_TOO_BIG = 1009


@dataclass(frozen=True)
class DeflateParameters:
    """The agreed configuration (window bits are 15 when not negotiated)."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15


def _check_bits(name: str, value: Optional[int]) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 8 <= value <= 15:
        raise ValueError(f"{name} must be None or an integer from 8 to 15, not {value!r}")


def _check_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")


def _smallest(*values: Optional[int]) -> Optional[int]:
    present = [v for v in values if v is not None]
    return min(present) if present else None


class PerMessageDeflate(Extension):
    """The permessage-deflate extension, for one connection, either role.

    The four positional parameters are wsproto's. As a client they are what
    to offer: ``*_no_context_takeover=True`` asks for it, a window size asks
    for at most that many bits, None asks for nothing (``client_max_window_bits``
    is always offered, so a server may lower our window). As a server they are
    what to require: ``server_*`` limit our compressor, ``client_*`` ask the
    client to limit its own. The response then also honours whatever the
    accepted offer asked for.

    Keyword-only options beyond the RFC:

    * ``compression_level``: zlib level, -1 (zlib default, 6) or 0..9.
    * ``memory_level``: zlib memLevel 1..9; the compressor allocates
      ``2**(memory_level + 9)`` bytes besides its window.
    * ``threshold``: messages sent in one piece shorter than this many bytes
      go uncompressed (``send`` with ``compress=True`` overrides it).
    * ``require_client_max_window_bits``: a server configured with
      ``client_max_window_bits`` declines offers that don't allow it (so the
      bound on inflate memory holds); by default it accepts them and the
      client uses a 15-bit window.
    """

    name = "permessage-deflate"
    rsv_bits = RSV1

    def __init__(
        self,
        client_no_context_takeover: bool = False,
        client_max_window_bits: Optional[int] = None,
        server_no_context_takeover: bool = False,
        server_max_window_bits: Optional[int] = None,
        *,
        compression_level: int = zlib.Z_DEFAULT_COMPRESSION,
        memory_level: int = zlib.DEF_MEM_LEVEL,
        threshold: int = 0,
        require_client_max_window_bits: bool = False,
    ) -> None:
        _check_bits("client_max_window_bits", client_max_window_bits)
        _check_bits("server_max_window_bits", server_max_window_bits)
        # Checked now: zlib would refuse a float only at the first message.
        _check_int("compression_level", compression_level)
        _check_int("memory_level", memory_level)
        _check_int("threshold", threshold)
        if not -1 <= compression_level <= 9:
            raise ValueError("compression_level must be -1 or 0..9")
        if not 1 <= memory_level <= 9:
            raise ValueError("memory_level must be 1..9")
        if threshold < 0:
            raise ValueError("threshold must be >= 0")
        if not isinstance(require_client_max_window_bits, bool):
            raise TypeError("require_client_max_window_bits must be True or False")
        self.client_no_context_takeover = bool(client_no_context_takeover)
        self.client_max_window_bits = client_max_window_bits
        self.server_no_context_takeover = bool(server_no_context_takeover)
        self.server_max_window_bits = server_max_window_bits
        self.compression_level = compression_level
        self.memory_level = memory_level
        self.threshold = threshold
        self.require_client_max_window_bits = require_client_max_window_bits
        #: The negotiated parameters, None until negotiation succeeds.
        self.agreed: Optional[DeflateParameters] = None
        # Data path state, set by _enable().
        self._inflate_bits = 15
        self._inflate_reset = False
        self._deflate_bits = 15
        self._deflate_reset = False
        self._inflater: Optional["zlib._Decompress"] = None
        self._deflater: Optional["zlib._Compress"] = None
        self._inflate_ended = False

    def __repr__(self) -> str:
        state = f"agreed={self.agreed!r}" if self.agreed else "not negotiated"
        return (
            f"PerMessageDeflate(client_no_context_takeover={self.client_no_context_takeover}, "
            f"client_max_window_bits={self.client_max_window_bits}, "
            f"server_no_context_takeover={self.server_no_context_takeover}, "
            f"server_max_window_bits={self.server_max_window_bits}; {state})"
        )

    # -- negotiation -------------------------------------------------------

    def enabled(self) -> bool:
        return self.agreed is not None

    def offer(self) -> Union[bool, str]:
        """Client: RFC 7692 §7.1 parameters from the configuration."""
        parts = []
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_max_window_bits is not None:
            parts.append(f"{_SERVER_BITS}={self.server_max_window_bits}")
        # Always offered: it only lets the server choose a smaller window for
        # our compressor, which we can always honour.
        if self.client_max_window_bits is None:
            parts.append(_CLIENT_BITS)
        else:
            parts.append(f"{_CLIENT_BITS}={self.client_max_window_bits}")
        return "; ".join(parts)

    def accept(self, offer: str) -> Optional[Union[bool, str]]:
        """Server: answer one offer, or None to decline it.

        RFC 7692 §5.1: "A server MUST decline an extension negotiation offer
        for this extension if any of the following conditions are met": an
        unknown parameter, an invalid value, a repeated parameter, or a
        configuration the server does not support. Only parameters that
        §7.1 allows in a response are sent back.
        """
        try:
            params = self._parse(offer, response=False)
        except ValueError:
            return None
        server_nct = self.server_no_context_takeover or "server_no_context_takeover" in params
        client_nct = self.client_no_context_takeover or "client_no_context_takeover" in params
        # §7.1.2.1: answer server_max_window_bits with "the same or smaller
        # value as the offer"; a server may also limit itself unasked.
        server_bits = _smallest(_bits_of(params, _SERVER_BITS), self.server_max_window_bits)
        if _CLIENT_BITS in params:
            # §7.1.2.2: with a value the client promises that bound; we may
            # answer it (or smaller) to size our inflater.
            client_bits = _smallest(_bits_of(params, _CLIENT_BITS), self.client_max_window_bits)
        elif self.client_max_window_bits is not None and self.require_client_max_window_bits:
            return None
        else:
            # §7.1.2.2: without it in the offer, the response "MUST NOT
            # include the client_max_window_bits extension parameter".
            client_bits = None
        parts = []
        if server_nct:
            parts.append("server_no_context_takeover")
        if client_nct:
            parts.append("client_no_context_takeover")
        if server_bits is not None:
            parts.append(f"{_SERVER_BITS}={server_bits}")
        if client_bits is not None:
            parts.append(f"{_CLIENT_BITS}={client_bits}")
        agreed = DeflateParameters(server_nct, client_nct, server_bits or 15, client_bits or 15)
        self._enable(agreed, server=True)
        return "; ".join(parts) or True

    def finalize(self, offer: str) -> None:
        """Client: check the server's response and enable the extension.

        RFC 7692 §5.2: "A client MUST _Fail the WebSocket Connection_ if the
        peer server accepted an extension negotiation offer for this extension
        with an extension negotiation response meeting any of the following
        conditions": an unknown parameter, an invalid value, a repeated
        parameter, or a configuration the client does not support.
        """
        try:
            params = self._parse(offer, response=True)
        except ValueError as exc:
            raise RemoteProtocolError(f"permessage-deflate response: {exc}") from None
        server_nct = "server_no_context_takeover" in params
        if self.server_no_context_takeover and not server_nct:
            # §7.1.1.1: the server accepts this parameter by including it.
            raise RemoteProtocolError(
                "permessage-deflate response lacks the server_no_context_takeover we asked for"
            )
        server_bits = _bits_of(params, _SERVER_BITS)
        if self.server_max_window_bits is not None:
            # §7.1.2.1: accepted "by including the server_max_window_bits
            # extension parameter ... with the same or smaller value".
            if server_bits is None or server_bits > self.server_max_window_bits:
                raise RemoteProtocolError(
                    f"permessage-deflate response server_max_window_bits={server_bits}, "
                    f"we asked for at most {self.server_max_window_bits}"
                )
        client_bits = _bits_of(params, _CLIENT_BITS)
        if client_bits is not None and self.client_max_window_bits is not None:
            if client_bits > self.client_max_window_bits:
                raise RemoteProtocolError(
                    f"permessage-deflate response client_max_window_bits={client_bits}, "
                    f"we offered at most {self.client_max_window_bits}"
                )
        # We keep any promise of our offer even if the response is silent.
        client_bits = _smallest(client_bits, self.client_max_window_bits)
        client_nct = "client_no_context_takeover" in params or self.client_no_context_takeover
        agreed = DeflateParameters(server_nct, client_nct, server_bits or 15, client_bits or 15)
        self._enable(agreed, server=False)

    def _parse(self, text: str, *, response: bool) -> Dict[str, Optional[str]]:
        """Parse and validate offer or response parameters (ValueError if bad)."""
        text = _strip_own_name(text, self.name)
        params: Dict[str, Optional[str]] = {}
        for name, value in parse_extension_params(text):
            if name not in _KNOWN:
                raise ValueError(f"unknown parameter {name}")
            if name in params:
                raise ValueError(f"repeated parameter {name}")
            if name in _FLAGS:
                if value is not None:
                    raise ValueError(f"{name} takes no value")
            elif value is None:
                # §7.1.2.1: server_max_window_bits always has a value;
                # §7.1.2.2: client_max_window_bits may lack one only in an offer.
                if name == _SERVER_BITS or response:
                    raise ValueError(f"{name} needs a value")
            elif value not in _BITS:
                # §7.1.2: a decimal integer 8..15 "without leading zeros".
                raise ValueError(f"invalid {name} value {value!r}")
            params[name] = value
        return params

    def _enable(self, agreed: DeflateParameters, *, server: bool) -> None:
        self.agreed = agreed
        if server:
            local_bits, local_nct = agreed.server_max_window_bits, agreed.server_no_context_takeover
            peer_bits, peer_nct = agreed.client_max_window_bits, agreed.client_no_context_takeover
        else:
            local_bits, local_nct = agreed.client_max_window_bits, agreed.client_no_context_takeover
            peer_bits, peer_nct = agreed.server_max_window_bits, agreed.server_no_context_takeover
        # zlib cannot deflate raw with 8 bits; 9 stays within 250 bytes (see top).
        self._deflate_bits = max(local_bits, 9)
        self._deflate_reset = local_nct
        self._inflate_bits = max(peer_bits, 9)
        self._inflate_reset = peer_nct
        self._inflater = None
        self._deflater = None
        self._inflate_ended = False

    # -- receive -------------------------------------------------------------

    def begin_inbound(self, rsv: int) -> bool:
        """RFC 7692 §6: RSV1 on the first frame marks a compressed message;
        a message without it is passed through unchanged."""
        if not rsv & RSV1:
            return False
        if self.agreed is None:
            # Handed to a Connection without negotiation (as hypercorn does):
            # RFC 6455 §5.2, a non-zero RSV bit with no extension for it MUST
            # fail the connection.
            raise ProtocolFault(_CLOSE_PROTOCOL_ERROR, "RSV1 set but permessage-deflate was not negotiated")
        if self._inflater is None:
            self._inflater = zlib.decompressobj(-self._inflate_bits)
        return True

    def decode_message(self, data: bytes, rsv: int, max_size: Optional[int]) -> bytes:
        """begin_inbound + decode(final=True) in one call: the reader's fast
        path for a small message in one frame (the common case), with the
        same checks and results."""
        if not rsv & RSV1 or self.agreed is None or len(data) > _CONCAT_LIMIT or self._inflate_ended:
            return super().decode_message(data, rsv, max_size)
        inflater = self._inflater
        if inflater is None:
            inflater = self._inflater = zlib.decompressobj(-self._inflate_bits)
        limit = 0 if max_size is None or max_size >= _NO_LIMIT else max_size + 1
        return self._inflate_whole(inflater, data, limit, max_size)

    def _inflate_whole(self, inflater: "zlib._Decompress", data: bytes, limit: int,
                       max_size: Optional[int]) -> bytes:
        """A small message's last (or only) piece, inflated in one call."""
        try:
            out = inflater.decompress(data + _TAIL, limit)
        except zlib.error as exc:
            raise ProtocolFault(_CLOSE_INVALID_DATA, f"invalid compressed data ({exc})") from None
        if limit and len(out) >= limit:
            raise ProtocolFault(_CLOSE_TOO_BIG, f"message exceeds {max_size} bytes")
        if self._inflate_reset or inflater.eof:
            self._inflater = None
        return out

    def decode(self, data: bytes, final: bool, max_size: Optional[int]) -> bytes:
        """Inflate the next piece; never produce more than ``max_size``.

        RFC 7692 §7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail
        end of the payload of the message" and decompress. The output bound
        is handed to zlib (``max_length``), so a bomb costs at most
        ``max_size + 1`` bytes before it is refused with 1009.
        """
        inflater = self._inflater
        assert inflater is not None, "decode() without begin_inbound()"
        # max_size + 1: output longer than max_size proves the message too big
        # without guessing whether unconsumed input would still produce bytes.
        limit = 0 if max_size is None or max_size >= _NO_LIMIT else max_size + 1
        if final and len(data) <= _CONCAT_LIMIT and not self._inflate_ended:
            return self._inflate_whole(inflater, data, limit, max_size)  # the hot path
        try:
            if self._inflate_ended:
                # After a BFINAL block (§7.2.3.4) the rest of the message
                # carries no data (at most the empty block's header).
                out = b""
            else:
                out = inflater.decompress(data, limit)
                if final and not inflater.eof and (not limit or len(out) < limit):
                    rest = limit - len(out) if limit else 0
                    out += inflater.decompress(_TAIL, rest)
        except zlib.error as exc:
            raise ProtocolFault(_CLOSE_INVALID_DATA, f"invalid compressed data ({exc})") from None
        if limit and len(out) >= limit:
            raise ProtocolFault(_CLOSE_TOO_BIG, f"message exceeds {max_size} bytes")
        if inflater.eof:
            self._inflate_ended = True
        if final:
            if self._inflate_reset or self._inflate_ended:
                # A new stream for the next message; also frees the window
                # while the connection is idle.
                self._inflater = None
                self._inflate_ended = False
        return out

    # -- send ----------------------------------------------------------------

    def begin_outbound(self, size: Optional[int], compress: Optional[bool]) -> int:
        """Compress unless the sender opted out or the message is under the
        threshold (RFC 7692 §6: an endpoint may send any message uncompressed)."""
        if compress is False or self.agreed is None:
            # Never compress for a peer that did not agree to it.
            return 0
        if compress is None and size is not None and size < self.threshold:
            return 0
        if self._deflater is None:
            self._deflater = zlib.compressobj(
                self.compression_level, zlib.DEFLATED, -self._deflate_bits, self.memory_level
            )
        return RSV1

    def encode(self, data: bytes, final: bool) -> bytes:
        """Deflate the next piece of the message.

        Every piece ends with a sync flush, so each frame can be inflated as
        soon as it arrives and the concatenation is one valid stream. RFC 7692
        §7.2.1: on the last piece, "Remove 4 octets (that are 0x00 0x00 0xff
        0xff) from the tail end".
        """
        deflater = self._deflater
        assert deflater is not None, "encode() without begin_outbound()"
        out = deflater.compress(data)
        flushed = deflater.flush(zlib.Z_SYNC_FLUSH)
        if not final:
            return out + flushed
        if self._deflate_reset:
            self._deflater = None
        if flushed:
            return out + flushed[:-4]
        # Nothing new since the previous piece's flush (an empty last piece):
        # §7.2.3.6, a lone 0x00 is an empty stored block once the receiver
        # appends 00 00 ff ff.
        return b"\x00"


    # -- one compression for many connections (broadcast) -------------------

    def shared_encoding_key(self) -> Optional[tuple[int, int, int, int]]:
        """None unless our compressor starts afresh for every message (we
        agreed to no context takeover for our direction): then messages we
        compress depend only on this key (window bits, level, memLevel,
        threshold), so one compressed message serves every connection with
        an equal key. A server may answer ``server_no_context_takeover``
        unasked (RFC 7692 §7.1.1.1): ``PerMessageDeflate(server_no_context_takeover=True)``."""
        if self.agreed is None or not self._deflate_reset:
            return None
        return (self._deflate_bits, self.compression_level, self.memory_level, self.threshold)

    def compress_message(self, data: bytes) -> bytes:
        """A whole message compressed with a fresh compressor, as
        :meth:`encode` would produce it for a connection whose
        :meth:`shared_encoding_key` is not None (the caller sets RSV1)."""
        deflater = zlib.compressobj(
            self.compression_level, zlib.DEFLATED, -self._deflate_bits, self.memory_level
        )
        flushed = deflater.compress(data) + deflater.flush(zlib.Z_SYNC_FLUSH)
        return flushed[:-4] if len(flushed) > 4 else b"\x00"


def _bits_of(params: Dict[str, Optional[str]], name: str) -> Optional[int]:
    value = params.get(name)
    return None if value is None else _BITS[value]


def _strip_own_name(text: str, name: str) -> str:
    """Accept wsproto's convention too, where the text starts with the name."""
    stripped = text.strip(" \t")
    if stripped == name:
        return ""
    if stripped.startswith(name):
        rest = stripped[len(name):].lstrip(" \t")
        if rest.startswith(";"):
            rest = rest[1:]
            if not rest.strip(" \t"):
                raise ValueError("empty parameter after ';'")
            return rest
    return text
