"""The broker's wire pieces without Redis: the RESP2 parser, the envelope and
the MOVED reply."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from wsproto6455.realtime.redis_codec import (MalformedEnvelope, decode, encode, room_keys,
                                              room_of_channel)
from wsproto6455.realtime.redis_connection import Endpoint, moved_to
from wsproto6455.realtime.resp import (MAX_LINE, ProtocolViolation, RedisReplyError, RespParser,
                                       encode_command)

PUSH = b"*3\r\n$7\r\nmessage\r\n$6\r\nws:{r}\r\n$3\r\nt\xc3\xa9\r\n"


def replies(parser: RespParser) -> list:
    out = []
    while True:
        complete, reply = parser.pop()
        if not complete:
            return out
        out.append(reply)


def test_encode_command() -> None:
    assert encode_command("PUBLISH", b"ch", 12) == b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$2\r\n12\r\n"


def test_every_reply_type() -> None:
    parser = RespParser()
    parser.feed(b"+OK\r\n-ERR wrong\r\n:42\r\n$-1\r\n*-1\r\n*0\r\n$0\r\n\r\n" + PUSH)
    ok, err, num, null_bulk, null_array, empty, empty_bulk, push = replies(parser)
    assert (ok, num, null_bulk, null_array, empty, empty_bulk) == (b"OK", 42, None, None, [], b"")
    assert isinstance(err, RedisReplyError) and str(err) == "ERR wrong"
    assert push == [b"message", b"ws:{r}", b"t\xc3\xa9"]


@given(st.lists(st.integers(min_value=1, max_value=len(PUSH) * 3), max_size=20))
def test_any_chunking_gives_the_same_replies(cuts: list) -> None:
    stream = PUSH * 3 + b":7\r\n"
    parser = RespParser()
    out: list = []
    at = 0
    for cut in sorted(set(c for c in cuts if c < len(stream))) + [len(stream)]:
        parser.feed(stream[at:cut])
        at = cut
        out += replies(parser)
    assert out == [[b"message", b"ws:{r}", b"t\xc3\xa9"]] * 3 + [7]


@pytest.mark.parametrize("garbage", [b"?what\r\n", b":notanumber\r\n", b"$3\r\nabcXY", b"\r\n",
                                     b"$999999999999\r\n"])
def test_a_stream_that_is_not_resp_is_refused(garbage: bytes) -> None:
    parser = RespParser()
    parser.feed(garbage)
    with pytest.raises(ProtocolViolation):
        replies(parser)


def test_an_endless_line_is_refused_not_buffered() -> None:
    parser = RespParser()
    parser.feed(b"+" + b"x" * (MAX_LINE + 10))
    with pytest.raises(ProtocolViolation):
        parser.pop()


@given(st.one_of(st.text(), st.binary()))
def test_envelope_round_trip_keeps_text_and_binary(data: object) -> None:
    assert decode(encode(data)) == (data, None, None)  # type: ignore[arg-type]


def test_history_envelope_and_bad_envelopes() -> None:
    assert decode(b"h17:1700000000123456:tabc") == ("abc", "1700000000123456", 17)
    assert decode(b"h1:e:b\x00") == (b"\x00", "e", 1)
    for bad in (b"", b"x", b"h12", b"hx:e:t", b"t\xff", b"h1:e:z"):
        with pytest.raises(MalformedEnvelope):
            decode(bad)
    with pytest.raises(TypeError):
        encode(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("room", ["lobby", "a}b", "{x}", "é", "{", "a{b}c"])
def test_room_keys_share_one_hash_tag(room: str) -> None:
    from redis.crc import key_slot
    keys = room_keys("ws:", room)
    assert room_of_channel(b"ws:", keys.channel) == room
    slots = {key_slot(k) for k in (keys.channel, keys.stream, keys.meta, keys.presence,
                                   keys.presence_info)}
    assert len(slots) == 1


@pytest.mark.parametrize("room", ["", "}", "}x"])
def test_rooms_without_a_usable_hash_tag_are_refused(room: str) -> None:
    with pytest.raises(ValueError):
        room_keys("ws:", room)


def test_the_realtime_layer_imports_redis_only_for_the_redis_broker() -> None:
    import subprocess
    import sys
    code = ("import sys, wsproto6455.realtime as r; assert 'redis' not in sys.modules; "
            "r.RedisBroker; assert 'redis' in sys.modules")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("message, expected", [
    ("MOVED 14604 127.0.0.1:40417", ("127.0.0.1", 40417)),
    ("MOVED 3999 :6381", ("10.0.0.5", 6381)),  # no announced host: the one asked
    ("MOVED 3999 ::1:6381", ("::1", 6381)),
    ("MOVED 3999", ("10.0.0.5", 7000)),  # unreadable: the node asked
    ("MOVED 3999 host:port", ("10.0.0.5", 7000)),
])
def test_a_moved_reply_names_the_slots_new_owner(message: str, expected: tuple) -> None:
    asked = Endpoint("10.0.0.5", 7000, "user", "secret")
    node = moved_to(message, asked)
    assert (node.host, node.port) == expected
    assert (node.username, node.password) == ("user", "secret")
