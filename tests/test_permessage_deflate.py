"""permessage-deflate (RFC 7692): negotiation and data path, at the extension level.

The extension is driven directly through the Extension interface, as the
reader and writer drive it; tests/test_permessage_deflate_interop.py drives
it through whole connections against websockets and wsproto.
"""

from __future__ import annotations

import itertools
import os
import random
import tracemalloc
import zlib
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsproto6455.errors import ProtocolFault, RemoteProtocolError
from wsproto6455.extensions import RSV1, Extension, PerMessageDeflate
from wsproto6455.http import parse_extension_params as parse_params

TAIL = b"\x00\x00\xff\xff"

# Every client configuration of the RFC's parameters, window 8 included.
CLIENT_CONFIGS: List[Dict[str, Any]] = [
    dict(client_no_context_takeover=cnct, server_no_context_takeover=snct,
         client_max_window_bits=cb, server_max_window_bits=sb)
    for cnct, snct, cb, sb in itertools.product(
        (False, True), (False, True), (None, 8, 12, 15), (None, 8, 12, 15))
]
SERVER_CONFIGS: List[Dict[str, Any]] = [
    {},
    dict(server_no_context_takeover=True, client_no_context_takeover=True),
    dict(server_max_window_bits=9, client_max_window_bits=10, memory_level=5),
    dict(server_max_window_bits=8, client_max_window_bits=8),
]


def negotiate(client: Dict[str, Any], server: Dict[str, Any]) -> Tuple[PerMessageDeflate, PerMessageDeflate]:
    c, s = PerMessageDeflate(**client), PerMessageDeflate(**server)
    offer = c.offer()
    assert isinstance(offer, str)
    response = s.accept(offer)
    assert response, (client, server, offer)
    c.finalize("" if response is True else response)
    assert c.enabled() and s.enabled()
    return c, s


def send(ext: Extension, message: bytes, cuts: Sequence[int] = ()) -> List[bytes]:
    """Encode one message as frame payloads split at ``cuts``."""
    assert ext.begin_outbound(len(message) if not cuts else None, None) == RSV1
    bounds = [0, *sorted(cuts), len(message)]
    pieces = [message[a:b] for a, b in zip(bounds, bounds[1:])]
    return [ext.encode(p, i == len(pieces) - 1) for i, p in enumerate(pieces)]


def receive(ext: Extension, payloads: Sequence[bytes], max_size: Optional[int] = None) -> bytes:
    assert ext.begin_inbound(RSV1)
    out = []
    budget = max_size
    for i, payload in enumerate(payloads):
        piece = ext.decode(payload, i == len(payloads) - 1, budget)
        if budget is not None:
            assert len(piece) <= budget
            budget -= len(piece)
        out.append(piece)
    return b"".join(out)


def strict_inflate(stream: bytes, bits: int) -> bytes:
    """Inflate one output byte per call, so zlib resolves every back-reference
    from its 2**bits window alone and rejects any longer distance."""
    inflater = zlib.decompressobj(-bits)
    out, data = [], stream
    while True:
        piece = inflater.decompress(data, 1)
        data = inflater.unconsumed_tail
        if not piece and not data:
            return b"".join(out)
        out.append(piece)


def text_like(rnd: random.Random, size: int) -> bytes:
    words = [bytes(rnd.choice(b"abcdefghij") for _ in range(rnd.randint(1, 9))) for _ in range(80)]
    return b" ".join(rnd.choice(words) for _ in range(size // 5 + 1))[:size]


# -- parameter grammar (RFC 6455 §9.1) -------------------------------------

class TestParameterGrammar:
    @pytest.mark.parametrize("text, expected", [
        ("", []),
        ("  ", []),
        ("a", [("a", None)]),
        ("a; b=1", [("a", None), ("b", "1")]),
        ("a ;b = 12\t; c", [("a", None), ("b", "12"), ("c", None)]),
        ('b="10"', [("b", "10")]),
        ('b="1\\0"', [("b", "10")]),
        ('b = "x" ; c', [("b", "x"), ("c", None)]),
    ])
    def test_valid(self, text: str, expected: list) -> None:
        assert parse_params(text) == expected

    @pytest.mark.parametrize("text", [
        ";", "a;", "a;;b", "; a", "a=", "a=;b", "=1", "a b", "a=1 2", 'a="10',
        'a=""', 'a="1 0"', 'a="1;0"', "a=1,b", 'a="\x01"', "a\x00", "a=é",
    ])
    def test_invalid(self, text: str) -> None:
        with pytest.raises(ValueError):
            parse_params(text)


# -- negotiation -----------------------------------------------------------

class TestConstructor:
    @pytest.mark.parametrize("kwargs", [
        dict(client_max_window_bits=7), dict(server_max_window_bits=16),
        dict(server_max_window_bits=True), dict(client_max_window_bits="10"),
        dict(compression_level=10), dict(memory_level=0), dict(threshold=-1),
    ])
    def test_rejects_bad_settings(self, kwargs: Dict[str, Any]) -> None:
        with pytest.raises(ValueError):
            PerMessageDeflate(**kwargs)

    def test_wsproto_positional_order(self) -> None:
        ext = PerMessageDeflate(True, 10, True, 11)
        assert (ext.client_no_context_takeover, ext.client_max_window_bits,
                ext.server_no_context_takeover, ext.server_max_window_bits) == (True, 10, True, 11)

    def test_interface(self) -> None:
        ext = PerMessageDeflate()
        assert isinstance(ext, Extension)
        assert ext.name == "permessage-deflate" and ext.rsv_bits == RSV1
        assert not ext.enabled()


class TestClientOffer:
    @pytest.mark.parametrize("kwargs, offer", [
        ({}, "client_max_window_bits"),
        (dict(client_max_window_bits=10), "client_max_window_bits=10"),
        (dict(server_max_window_bits=8), "server_max_window_bits=8; client_max_window_bits"),
        (dict(client_no_context_takeover=True, server_no_context_takeover=True),
         "server_no_context_takeover; client_no_context_takeover; client_max_window_bits"),
    ])
    def test_offer(self, kwargs: Dict[str, Any], offer: str) -> None:
        assert PerMessageDeflate(**kwargs).offer() == offer

    def test_offer_is_accepted_by_a_default_server(self) -> None:
        for config in CLIENT_CONFIGS:
            assert PerMessageDeflate().accept(str(PerMessageDeflate(**config).offer()))


class TestServerAccept:
    """RFC 7692 §5.1 and §7.1: each offer gets the documented answer."""

    @pytest.mark.parametrize("config, offer, response", [
        ({}, "", True),
        ({}, "client_max_window_bits", True),
        ({}, "client_max_window_bits=10", "client_max_window_bits=10"),
        ({}, "server_max_window_bits=10", "server_max_window_bits=10"),
        ({}, "server_max_window_bits=8", "server_max_window_bits=8"),
        ({}, 'server_max_window_bits="10"', "server_max_window_bits=10"),
        ({}, "server_no_context_takeover", "server_no_context_takeover"),
        ({}, "client_no_context_takeover", "client_no_context_takeover"),
        ({}, "server_no_context_takeover; client_no_context_takeover; "
             "server_max_window_bits=9; client_max_window_bits=11",
         "server_no_context_takeover; client_no_context_takeover; "
         "server_max_window_bits=9; client_max_window_bits=11"),
        # Server limits: the smaller of the offer and the configuration.
        (dict(server_max_window_bits=12), "", "server_max_window_bits=12"),
        (dict(server_max_window_bits=12), "server_max_window_bits=10", "server_max_window_bits=10"),
        (dict(server_max_window_bits=12), "server_max_window_bits=14", "server_max_window_bits=12"),
        (dict(client_max_window_bits=12), "client_max_window_bits", "client_max_window_bits=12"),
        (dict(client_max_window_bits=12), "client_max_window_bits=9", "client_max_window_bits=9"),
        (dict(client_max_window_bits=12), "client_max_window_bits=15", "client_max_window_bits=12"),
        # §7.1.2.2: not offered -> MUST NOT be answered; the client uses 15.
        (dict(client_max_window_bits=12), "", True),
        (dict(client_max_window_bits=12, require_client_max_window_bits=True), "", None),
        (dict(server_no_context_takeover=True), "", "server_no_context_takeover"),
        (dict(client_no_context_takeover=True), "", "client_no_context_takeover"),
        # wsproto passes the whole extension text, name included.
        ({}, "permessage-deflate", True),
        ({}, "permessage-deflate; server_max_window_bits=10", "server_max_window_bits=10"),
    ])
    def test_answer(self, config: Dict[str, Any], offer: str, response: Any) -> None:
        ext = PerMessageDeflate(**config)
        assert ext.accept(offer) == response
        assert ext.enabled() is (response is not None)

    @pytest.mark.parametrize("offer", [
        "server_max_window_bits",  # §7.1.2.1: needs a value
        "server_max_window_bits=08", "server_max_window_bits=7", "server_max_window_bits=16",
        "server_max_window_bits=+9", "server_max_window_bits=0x9", "server_max_window_bits=9.0",
        'server_max_window_bits="08"', 'server_max_window_bits=""', 'server_max_window_bits="1 0"',
        "client_max_window_bits=08", "client_max_window_bits=16", "client_max_window_bits=7",
        'client_max_window_bits=""', "client_max_window_bits=",
        "server_no_context_takeover=1", 'client_no_context_takeover="x"',
        "server_no_context_takeover; server_no_context_takeover",
        "client_max_window_bits; client_max_window_bits=10",
        "server_max_window_bits=10; server_max_window_bits=10",
        "unknown", "Server_No_Context_Takeover", "x=1; client_max_window_bits",
        "client_max_window_bits;", ";", "a;;b", "permessage-deflate;",
        "client_max_window_bits, server_no_context_takeover",
    ])
    def test_declines_invalid_offers(self, offer: str) -> None:
        """§5.1: "A server MUST decline" offers with unknown, invalid or repeated parameters."""
        ext = PerMessageDeflate()
        assert ext.accept(offer) is None
        assert not ext.enabled()

    def test_next_offer_after_a_declined_one(self) -> None:
        """The handshake tries offers in order; a declined one leaves no trace."""
        ext = PerMessageDeflate(client_max_window_bits=10, require_client_max_window_bits=True)
        assert ext.accept("server_max_window_bits=9; server_no_context_takeover") is None
        assert ext.accept("client_max_window_bits") == "client_max_window_bits=10"
        assert ext.agreed is not None
        assert ext.agreed.server_max_window_bits == 15
        assert not ext.agreed.server_no_context_takeover


class TestClientFinalize:
    """RFC 7692 §5.2: a client MUST fail on an unacceptable response."""

    @pytest.mark.parametrize("config, response, agreed", [
        ({}, "", (False, False, 15, 15)),
        ({}, "server_no_context_takeover", (True, False, 15, 15)),
        ({}, "client_no_context_takeover", (False, True, 15, 15)),
        ({}, "server_max_window_bits=8", (False, False, 8, 15)),
        ({}, "client_max_window_bits=8", (False, False, 15, 8)),
        ({}, 'client_max_window_bits="9"', (False, False, 15, 9)),
        (dict(server_max_window_bits=10), "server_max_window_bits=10", (False, False, 10, 15)),
        (dict(server_max_window_bits=10), "server_max_window_bits=9", (False, False, 9, 15)),
        (dict(client_max_window_bits=10), "client_max_window_bits=9", (False, False, 15, 9)),
        # Our offer promised 10; a silent response doesn't lift the promise.
        (dict(client_max_window_bits=10), "", (False, False, 15, 10)),
        (dict(client_no_context_takeover=True), "", (False, True, 15, 15)),
        (dict(server_no_context_takeover=True), "server_no_context_takeover", (True, False, 15, 15)),
        ({}, "permessage-deflate; server_max_window_bits=12", (False, False, 12, 15)),
    ])
    def test_accepts(self, config: Dict[str, Any], response: str, agreed: tuple) -> None:
        ext = PerMessageDeflate(**config)
        ext.finalize(response)
        assert ext.agreed is not None and ext.enabled()
        assert (ext.agreed.server_no_context_takeover, ext.agreed.client_no_context_takeover,
                ext.agreed.server_max_window_bits, ext.agreed.client_max_window_bits) == agreed

    @pytest.mark.parametrize("config, response", [
        ({}, "unknown"),
        ({}, "server_no_context_takeover; server_no_context_takeover"),
        ({}, "server_no_context_takeover=1"),
        ({}, "server_max_window_bits"),
        ({}, "server_max_window_bits=08"),
        ({}, "server_max_window_bits=16"),
        ({}, "server_max_window_bits=7"),
        ({}, 'server_max_window_bits="08"'),
        ({}, "client_max_window_bits"),  # §7.1.2.2: a response must give a value
        ({}, "client_max_window_bits=16"),
        ({}, "client_max_window_bits=8; client_max_window_bits=8"),
        ({}, "server_max_window_bits=10;"),
        (dict(server_max_window_bits=10), ""),
        (dict(server_max_window_bits=10), "server_max_window_bits=11"),
        (dict(client_max_window_bits=10), "client_max_window_bits=11"),
        (dict(server_no_context_takeover=True), ""),
    ])
    def test_fails(self, config: Dict[str, Any], response: str) -> None:
        ext = PerMessageDeflate(**config)
        with pytest.raises(RemoteProtocolError):
            ext.finalize(response)
        assert not ext.enabled()


# -- data path -------------------------------------------------------------

PAIRS = [(c, s) for c in CLIENT_CONFIGS[::3] for s in SERVER_CONFIGS]


class TestRoundTrip:
    @pytest.mark.parametrize("client, server", PAIRS)
    def test_many_messages_both_ways(self, client: Dict[str, Any], server: Dict[str, Any]) -> None:
        c, s = negotiate(client, server)
        rnd = random.Random(repr((client, server)))
        messages = [b"", b"a", text_like(rnd, 3000), os.urandom(2000), b"", text_like(rnd, 70000)]
        messages += [text_like(rnd, rnd.randint(0, 500)) for _ in range(30)]
        for message in messages:
            cuts = sorted(rnd.sample(range(len(message) + 1), min(3, len(message) + 1)))
            for sender, receiver in ((c, s), (s, c)):
                assert receive(receiver, send(sender, message)) == message
                assert receive(receiver, send(sender, message, cuts)) == message

    def test_empty_message_is_one_zero_octet(self) -> None:
        """RFC 7692 §7.2.3.6: an empty message compresses to 0x00."""
        c, s = negotiate({}, {})
        assert send(c, b"") == [b"\x00"]
        assert send(c, b"abc")[0] != b"\x00"
        assert send(c, b"") == [b"\x00"]  # context taken over: nothing pending
        assert send(c, b"abc", [3])[1] == b"\x00"  # empty last piece after a flush
        for payload in (b"\x00", b""):
            assert receive(s, [payload]) == b""

    def test_trailing_octets_removed(self) -> None:
        """§7.2.1: the sender removes 00 00 ff ff; §7.2.2: the receiver appends it."""
        for message in (b"hello", os.urandom(5000)):
            c, _ = negotiate({}, {})
            payload = b"".join(send(c, message))
            assert not payload.endswith(TAIL)
            assert zlib.decompressobj(-15).decompress(payload + TAIL) == message

    def test_context_takeover_shrinks_repeated_messages(self) -> None:
        c, s = negotiate({}, {})
        message = text_like(random.Random(1), 1000)
        first, second = send(c, message), send(c, message)
        assert len(second[0]) < len(first[0]) // 10
        assert receive(s, first) == receive(s, second) == message

    @pytest.mark.parametrize("client", [dict(client_no_context_takeover=True), {}])
    def test_no_context_takeover_makes_messages_independent(self, client: Dict[str, Any]) -> None:
        c, s = negotiate(client, dict(server_no_context_takeover=True))
        message = text_like(random.Random(2), 1000)
        for sender, bits in ((s, 15),) + (((c, 15),) if client else ()):
            for _ in range(3):
                payload = b"".join(send(sender, message))
                # A fresh inflater reads each message: no reference to earlier ones.
                assert zlib.decompressobj(-bits).decompress(payload + TAIL) == message
            # And the compressor is released between messages.
            assert sender._deflater is None
        assert receive(c, send(s, message)) == message
        assert c._inflater is None

    def test_uncompressed_messages_between_compressed_ones(self) -> None:
        """RSV1 clear: the message bypasses the extension and leaves its state alone."""
        c, s = negotiate({}, {})
        message = text_like(random.Random(3), 500)
        assert receive(s, send(c, message)) == message
        assert s.begin_inbound(0) is False
        assert c.begin_outbound(10, False) == 0
        assert receive(s, send(c, message)) == message

    def test_inert_until_negotiated(self) -> None:
        """An extension given to a Connection without a handshake (hypercorn
        does that) never compresses, and refuses RSV1 (RFC 6455 §5.2)."""
        ext = PerMessageDeflate()
        assert ext.begin_outbound(1000, None) == 0
        assert ext.begin_outbound(1000, True) == 0
        assert ext.begin_inbound(0) is False
        with pytest.raises(ProtocolFault) as info:
            ext.begin_inbound(RSV1)
        assert info.value.code == 1002
        assert ext.accept("") is True
        assert ext.begin_outbound(1000, None) == RSV1

    def test_threshold_and_opt_out(self) -> None:
        c, _ = negotiate(dict(threshold=100), {})
        assert c.begin_outbound(99, None) == 0
        assert c.begin_outbound(99, True) == RSV1
        c.encode(b"x" * 99, True)
        assert c.begin_outbound(100, None) == RSV1
        c.encode(b"x" * 100, True)
        assert c.begin_outbound(None, None) == RSV1  # streamed: size unknown
        c.encode(b"", True)
        assert c.begin_outbound(10**6, False) == 0

    def test_decode_piece_by_piece(self) -> None:
        """Frames may split the compressed stream anywhere, one byte at a time too."""
        c, s = negotiate({}, {})
        message = text_like(random.Random(4), 5000)
        payload = b"".join(send(c, message))
        pieces = [payload[i:i + 1] for i in range(len(payload))] + [b""]
        assert receive(s, pieces) == message
        assert receive(s, send(c, message)) == message

    def test_compression_level_zero_and_memory_level(self) -> None:
        c, s = negotiate(dict(compression_level=0, memory_level=1), {})
        message = b"a" * 1000
        payload = b"".join(send(c, message))
        assert len(payload) > 1000  # stored blocks
        assert receive(s, [payload]) == message


class TestWindowBits8:
    """zlib can't deflate raw with 8 bits; a 9-bit zlib window stays within 250."""

    @pytest.mark.parametrize("side", ["client", "server"])
    def test_8_bit_streams_fit_an_8_bit_window(self, side: str) -> None:
        if side == "client":
            ours, theirs = negotiate(dict(client_max_window_bits=8), {})
            assert ours.agreed is not None and ours.agreed.client_max_window_bits == 8
        else:
            theirs, ours = negotiate(dict(server_max_window_bits=8), {})
            assert ours.agreed is not None and ours.agreed.server_max_window_bits == 8
        rnd = random.Random(side)
        stream = []
        messages = []
        for i in range(40):
            size = rnd.choice([0, 1, 100, 300, 700, 3000])
            message = text_like(rnd, size) if i % 3 else bytes(rnd.choice(b"ab") for _ in range(size))
            messages.append(message)
            payload = b"".join(send(ours, message, [size // 2] if i % 2 else []))
            stream.append(payload + TAIL)
            assert receive(theirs, [payload]) == message
        # Context takeover: the whole connection is one stream; read it strictly.
        assert strict_inflate(b"".join(stream), 8) == b"".join(messages)

    def test_strict_inflater_catches_long_distances(self) -> None:
        data = text_like(random.Random(5), 5000)
        deflater = zlib.compressobj(wbits=-15)
        stream = deflater.compress(data) + deflater.flush(zlib.Z_SYNC_FLUSH)
        with pytest.raises(zlib.error):
            strict_inflate(stream, 8)
        assert strict_inflate(stream, 15) == data


class TestBounds:
    def test_bomb_is_refused_with_bounded_memory(self) -> None:
        """64 MiB of zeros in ~64 KiB of deflate, limit 1 MiB: 1009, tiny peak."""
        deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
        bomb = deflater.compress(bytes(64 << 20)) + deflater.flush(zlib.Z_SYNC_FLUSH)
        bomb = bomb[:-4]
        assert len(bomb) < 100_000
        _, s = negotiate({}, {})
        for pieces in ([bomb], [bomb[i:i + 4096] for i in range(0, len(bomb), 4096)]):
            assert s.begin_inbound(RSV1)
            tracemalloc.start()
            try:
                produced = 0
                with pytest.raises(ProtocolFault) as info:
                    budget = 1 << 20
                    for i, piece in enumerate(pieces):
                        out = s.decode(piece, i == len(pieces) - 1, budget)
                        produced += len(out)
                        budget -= len(out)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert info.value.code == 1009
            assert produced <= 1 << 20
            assert peak < 4 << 20, peak
            s = negotiate({}, {})[1]  # a failed connection is not reused

    @pytest.mark.parametrize("size", [0, 1, 4000, 5000, 100_000])
    @pytest.mark.parametrize("frames", [1, 3])
    def test_limit_is_exact(self, size: int, frames: int) -> None:
        c, s = negotiate({}, {})
        message = os.urandom(size // 2) + bytes(size - size // 2)
        cuts = [size // 3, 2 * size // 3][: frames - 1]
        assert receive(s, send(c, message, cuts), max_size=size) == message
        if size:
            with pytest.raises(ProtocolFault) as info:
                receive(s, send(c, message, cuts), max_size=size - 1)
            assert info.value.code == 1009

    def test_unbounded(self) -> None:
        c, s = negotiate({}, {})
        message = bytes(3 << 20)
        assert receive(s, send(c, message), max_size=None) == message


class TestCorruptData:
    @pytest.mark.parametrize("payload", [
        b"\xff\xff\xff", b"\x07", b"\x06",  # block type 11 (reserved)
        b"\x00\x05\x00\x00\x00hello",  # stored length not matching its complement
    ])
    def test_1007(self, payload: bytes) -> None:
        _, s = negotiate({}, {})
        with pytest.raises(ProtocolFault) as info:
            receive(s, [payload])
        assert info.value.code == 1007

    def test_distance_too_far_back(self) -> None:
        """A message that refers to a window the receiver dropped."""
        c, _ = negotiate({}, {})
        message = text_like(random.Random(8), 2000)
        send(c, message)
        _, s = negotiate({}, {})
        with pytest.raises(ProtocolFault) as info:
            receive(s, send(c, message))
        assert info.value.code == 1007

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.binary(max_size=64), min_size=1, max_size=4))
    def test_garbage_raises_only_protocol_fault(self, pieces: List[bytes]) -> None:
        _, s = negotiate({}, {})
        try:
            out = receive(s, pieces, max_size=1000)
        except ProtocolFault as fault:
            assert fault.code in (1007, 1009)
        else:
            assert len(out) <= 1000


class TestPeerStreams:
    """Streams our encoder did not produce: raw zlib and websockets' extension."""

    @pytest.mark.parametrize("level, strategy", [
        (1, zlib.Z_DEFAULT_STRATEGY), (9, zlib.Z_DEFAULT_STRATEGY), (6, zlib.Z_HUFFMAN_ONLY),
        (6, zlib.Z_RLE), (6, zlib.Z_FIXED), (0, zlib.Z_DEFAULT_STRATEGY)])
    def test_raw_zlib_sync_flush(self, level: int, strategy: int) -> None:
        _, s = negotiate({}, {})
        deflater = zlib.compressobj(level, zlib.DEFLATED, -15, 9, strategy)
        for message in (text_like(random.Random(level), 10000), b"", os.urandom(300)):
            payload = deflater.compress(message) + deflater.flush(zlib.Z_SYNC_FLUSH)
            assert payload.endswith(TAIL)
            assert receive(s, [payload[:-4]]) == message

    def test_full_flush_between_frames(self) -> None:
        _, s = negotiate({}, {})
        deflater = zlib.compressobj(wbits=-15)
        message = text_like(random.Random(6), 4000)
        frames = [deflater.compress(message[:2000]) + deflater.flush(zlib.Z_FULL_FLUSH),
                  deflater.compress(message[2000:]) + deflater.flush(zlib.Z_SYNC_FLUSH)]
        frames[-1] = frames[-1][:-4]
        assert receive(s, frames) == message

    def test_bfinal_block(self) -> None:
        """§7.2.3.4: a message may end its stream with a BFINAL block; the next
        message then starts a new stream."""
        _, s = negotiate({}, {})
        for message in (b"first message", text_like(random.Random(7), 9000), b""):
            deflater = zlib.compressobj(wbits=-15)
            stream = deflater.compress(message) + deflater.flush(zlib.Z_FINISH)
            # The sender appends an empty stored block and removes 00 00 ff ff.
            for payload in ([stream + b"\x00"], [stream], [stream[:3], stream[3:], b"\x00"]):
                assert receive(s, payload) == message

    @pytest.mark.parametrize("client, server", PAIRS)
    def test_websockets_extension(self, client: Dict[str, Any], server: Dict[str, Any]) -> None:
        """Frame payloads exchanged with websockets' PerMessageDeflate, both roles."""
        from websockets.extensions.permessage_deflate import PerMessageDeflate as WsDeflate
        from websockets.frames import Frame, Opcode

        c, s = negotiate(client, server)
        assert c.agreed is not None
        a = c.agreed
        for ours, local_nct, remote_nct, local_bits, remote_bits in (
            (c, a.client_no_context_takeover, a.server_no_context_takeover,
             a.client_max_window_bits, a.server_max_window_bits),
            (s, a.server_no_context_takeover, a.client_no_context_takeover,
             a.server_max_window_bits, a.client_max_window_bits),
        ):
            # websockets can't compress with 8 (it uses zlib directly); give it 9,
            # which our inflater accepts whatever was agreed.
            peer = WsDeflate(local_nct, remote_nct, local_bits, max(remote_bits, 9))
            rnd = random.Random(repr((client, server)))
            for _ in range(12):
                message = text_like(rnd, rnd.choice([0, 10, 1000, 20000]))
                payloads = send(ours, message, [len(message) // 2])
                frames = [Frame(Opcode.BINARY, payloads[0], fin=False, rsv1=True),
                          Frame(Opcode.CONT, payloads[1], fin=True)]
                assert b"".join(peer.decode(f).data for f in frames) == message
                encoded = [peer.encode(Frame(Opcode.BINARY, message[:7], fin=False)),
                           peer.encode(Frame(Opcode.CONT, message[7:], fin=True))]
                assert encoded[0].rsv1
                assert receive(ours, [bytes(f.data) for f in encoded]) == message


# -- property: every parameter set, random messages and fragmentations -----

@settings(max_examples=150, deadline=None)
@given(
    client=st.sampled_from(CLIENT_CONFIGS),
    server=st.sampled_from(SERVER_CONFIGS),
    messages=st.lists(
        st.tuples(st.binary(max_size=3000) | st.text(max_size=500).map(str.encode),
                  st.lists(st.integers(0, 3000), max_size=4)),
        max_size=8),
)
def test_random_messages_round_trip(client: Dict[str, Any], server: Dict[str, Any],
                                    messages: List[Tuple[bytes, List[int]]]) -> None:
    c, s = negotiate(client, server)
    for message, cuts in messages:
        cuts = sorted(cut % (len(message) + 1) for cut in cuts)
        assert receive(s, send(c, message, cuts), max_size=len(message)) == message
        assert receive(c, send(s, message, cuts), max_size=len(message)) == message
