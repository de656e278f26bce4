"""Whole connections run on the pure kernels and on the compiled ones agree.

The other differential tests compare one kernel at a time; here every kernel
the reader and writer use (``apply_mask``, ``Utf8Validator``,
``scan_messages``, ``server_frame``) is swapped at once, and a connection is
driven with random traffic: received streams (masked with random keys,
compressed or not, fragmented, cut anywhere, sometimes corrupted) and random
events to send (including data of the wrong type). Events per read, the
exceptions raised, the bytes written and the final state must be identical.

``HYPOTHESIS_PROFILE=thorough`` runs it longer.
"""

from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import Any, Iterator, List, Optional, Tuple
from unittest import mock

import markupsafe
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frame_helpers import CLIENT, SERVER, split_at
from speedups_helpers import require_compiled
from wsproto6455 import Connection, ConnectionType, _frame_py, _mask_py, _scan_py, _utf8_py
from wsproto6455 import reader as reader_module
from wsproto6455 import writer as writer_module
from wsproto6455.events import (BytesMessage, CloseConnection, Event, Message, Ping, Pong,
                                TextMessage)
from wsproto6455.extensions import PerMessageDeflate

PURE = SimpleNamespace(apply_mask=_mask_py.apply_mask, Utf8Validator=_utf8_py.Utf8Validator,
                       Scanner=_scan_py.Scanner, drain=_scan_py.drain,
                       server_frame=_frame_py.server_frame)


@contextlib.contextmanager
def kernels(backend: Any) -> Iterator[None]:
    """Every kernel of the reader and writer from ``backend``, and a fixed
    masking key (clients mask with random keys otherwise)."""
    with contextlib.ExitStack() as stack:
        for name in ("apply_mask", "Utf8Validator", "Scanner", "drain"):
            stack.enter_context(mock.patch.object(reader_module, name, getattr(backend, name)))
        for name in ("apply_mask", "server_frame"):
            stack.enter_context(mock.patch.object(writer_module, name, getattr(backend, name)))
        stack.enter_context(mock.patch.object(writer_module.Writer, "_new_key",
                                              lambda self: b"\x9b\x01\xff\x5a"))
        yield


def other(role: ConnectionType) -> ConnectionType:
    return CLIENT if role is SERVER else SERVER


DEFLATE_CONFIGS = [
    None,
    {},
    {"client_no_context_takeover": True, "server_no_context_takeover": True},
    {"client_max_window_bits": 9, "server_max_window_bits": 10},
]


def negotiated(role: ConnectionType, config: dict[str, Any]) -> PerMessageDeflate:
    """A permessage-deflate for ``role``, negotiated with the same config on both ends."""
    client, server = PerMessageDeflate(**config), PerMessageDeflate(**config)
    offer = client.offer()
    assert isinstance(offer, str)
    answer = server.accept(offer)
    assert answer
    client.finalize("" if answer is True else answer)
    return client if role is CLIENT else server


def extensions(role: ConnectionType, config: Optional[dict[str, Any]]) -> list[PerMessageDeflate]:
    return [] if config is None else [negotiated(role, config)]


# --------------------------------------------------------------------------
# Events to send (also of the wrong type)
# --------------------------------------------------------------------------

class Tag(str):
    pass


texts = st.one_of(st.text(max_size=300), st.text(max_size=30).map(Tag),
                  st.text(max_size=30).map(markupsafe.Markup),
                  st.sampled_from(["a\ud800", "\udfff"]))
binaries = st.one_of(st.binary(max_size=300), st.binary(max_size=30).map(bytearray),
                     st.binary(max_size=30).map(memoryview))
wrong = st.one_of(st.integers(-2, 300), st.lists(st.integers(0, 255), max_size=3), st.none())
payloads = st.one_of(texts, binaries, binaries, wrong)
reasons = st.one_of(st.none(), st.text(max_size=140), st.sampled_from(["\ud800"]))


@st.composite
def outgoing(draw: st.DrawFn) -> Tuple[Event, Optional[bool]]:
    kind = draw(st.sampled_from(["text", "bytes", "text", "bytes", "ping", "pong", "close"]))
    compress = draw(st.sampled_from([None, None, True, False]))
    if kind in ("text", "bytes"):
        cls = TextMessage if kind == "text" else BytesMessage
        return cls(draw(payloads), message_finished=draw(st.booleans())), compress
    if kind in ("ping", "pong"):
        cls2 = Ping if kind == "ping" else Pong
        return cls2(draw(st.one_of(binaries, wrong, texts))), None
    code = draw(st.sampled_from([1000, 1001, 1005, 1006, 3000, 4999, 999, 5000]))
    return CloseConnection(code, draw(reasons)), None


def send_all(conn: Connection, events: List[Tuple[Event, Optional[bool]]]) -> List[object]:
    out: List[object] = []
    for event, compress in events:
        try:
            out.append(conn.send(event, compress=compress))
        except Exception as exc:
            out.append((type(exc), str(exc)))
    out.append(conn.state)
    return out


twin_settings = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                               HealthCheck.data_too_large])


@twin_settings
@given(role=st.sampled_from([SERVER, CLIENT]),
       deflate=st.sampled_from(DEFLATE_CONFIGS),
       fragment_size=st.sampled_from([None, None, 1, 7, 200]),
       events=st.lists(outgoing(), max_size=12))
def test_sending_agrees(role: ConnectionType, deflate: Optional[dict[str, Any]],
                        fragment_size: Optional[int],
                        events: List[Tuple[Event, Optional[bool]]]) -> None:
    compiled = require_compiled()
    results = []
    for backend in (PURE, compiled):
        with kernels(backend):
            conn = Connection(role, extensions(role, deflate), fragment_size=fragment_size)
            results.append(send_all(conn, events))
    assert results[0] == results[1]


# --------------------------------------------------------------------------
# Streams to receive
# --------------------------------------------------------------------------

@st.composite
def incoming(draw: st.DrawFn) -> Tuple[ConnectionType, Optional[dict[str, Any]], dict[str, Any],
                                       List[bytes], bool]:
    """A stream the peer of ``role`` sends (written by a real peer connection,
    so compressed messages are valid), maybe corrupted, cut into reads."""
    role = draw(st.sampled_from([SERVER, CLIENT]))
    deflate = draw(st.sampled_from(DEFLATE_CONFIGS))
    peer = Connection(other(role), extensions(other(role), deflate),
                      fragment_size=draw(st.sampled_from([None, None, 3, 50])))
    # The peer's masking keys are drawn too, so that a failure replays.
    keys = st.binary(min_size=4, max_size=4)
    peer._writer._new_key = lambda: draw(keys)  # type: ignore[method-assign]
    data = b""
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["text", "bytes", "text", "ping", "piece"]))
        try:
            if kind == "text":
                data += peer.send(TextMessage(draw(st.text(max_size=200))),
                                  compress=draw(st.sampled_from([None, False])))
            elif kind == "bytes":
                data += peer.send(BytesMessage(draw(st.binary(max_size=300))))
            elif kind == "ping":
                data += peer.send(Ping(draw(st.binary(max_size=20))))
            else:
                data += peer.send(BytesMessage(draw(st.binary(max_size=40)),
                                               message_finished=draw(st.booleans())))
        except Exception:
            pass  # e.g. a text piece inside a binary message: not sent
    if draw(st.integers(0, 3)) == 0:
        with contextlib.suppress(Exception):
            data += peer.send(CloseConnection(draw(st.sampled_from([1000, 3000])),
                                              draw(st.text(max_size=10))))
    if data and draw(st.integers(0, 2)) == 0:
        # Corrupt a few bytes anywhere (headers, masks, compressed payloads, UTF-8).
        buf = bytearray(data)
        for _ in range(draw(st.integers(1, 3))):
            buf[draw(st.integers(0, len(buf) - 1))] = draw(st.integers(0, 255))
        data = bytes(buf)
    options = {
        "whole_messages": draw(st.booleans()),
        "max_message_size": draw(st.sampled_from([1 << 20, None, 100, 0])),
        "max_frame_size": draw(st.sampled_from([None, None, 64])),
    }
    cuts = [] if draw(st.booleans()) else draw(st.lists(st.integers(0, len(data)), max_size=8))
    return role, deflate, options, split_at(data, cuts), draw(st.booleans())


def describe(events: List[Event]) -> List[object]:
    return [(type(e), type(e.data), e.data, e.frame_finished, e.message_finished)
            if isinstance(e, Message) else (type(e), e) for e in events]


def receive_all(role: ConnectionType, deflate: Optional[dict[str, Any]], options: dict[str, Any],
                chunks: List[bytes], eof: bool) -> List[object]:
    conn = Connection(role, extensions(role, deflate), **options)
    out: List[object] = []
    for chunk in [*chunks, *([None] if eof else [])]:
        try:
            conn.receive_data(chunk)
            out.append(describe(list(conn.events())))
        except Exception as exc:
            out.append((type(exc), str(exc)))
    out.append(conn.state)
    return out


@twin_settings
@given(case=incoming())
def test_receiving_agrees(case: Tuple[ConnectionType, Optional[dict[str, Any]], dict[str, Any],
                                      List[bytes], bool]) -> None:
    compiled = require_compiled()
    results = []
    for backend in (PURE, compiled):
        with kernels(backend):
            results.append(receive_all(*case))
    assert results[0] == results[1]


def test_kernels_are_really_swapped() -> None:
    """Guard for the harness: inside ``kernels`` the reader and writer use
    the backend given."""
    compiled = require_compiled()
    for backend in (PURE, compiled):
        with kernels(backend):
            assert reader_module.Scanner is backend.Scanner
            assert writer_module.server_frame is backend.server_frame
            assert reader_module.Utf8Validator is backend.Utf8Validator


@pytest.mark.parametrize("role", [SERVER, CLIENT], ids=["server", "client"])
def test_wrong_type_agrees(role: ConnectionType) -> None:
    """The issue's examples, through whole connections on both kernel sets."""
    compiled = require_compiled()
    events: List[Tuple[Event, Optional[bool]]] = [
        (TextMessage(markupsafe.Markup("hi")), None), (BytesMessage(5), None),  # type: ignore[arg-type]
        (BytesMessage([104, 105]), None), (TextMessage(Tag("x")), None),  # type: ignore[arg-type]
    ]
    results = []
    for backend in (PURE, compiled):
        with kernels(backend):
            results.append(send_all(Connection(role), events))
    assert results[0] == results[1]
    assert [r if isinstance(r, tuple) else "bytes" for r in results[0][:4]] == [
        "bytes", results[0][1], results[0][2], "bytes"]
    assert results[0][1][0] is TypeError and results[0][2][0] is TypeError  # type: ignore[index]
