"""The construction contract of the message events (see events.py).

``TextMessage`` and ``BytesMessage`` are built three ways: by their own
``__init__`` (users, the pure backend, the reader's general path), and by
the compiled kernels (``_speedups.new_message``: ``tp_new`` then
``PyObject_GenericSetAttr``, i.e. ``object.__setattr__``). Whatever built
it, an event must be indistinguishable from one made by the dataclass
machinery itself, in everything frameworks observe (compat/INVENTORY.md):
fields, equality, hashing, ``repr``, ``dataclasses`` helpers, frozenness,
pickling, copying, pattern matching, exact type; and it must not leak or
corrupt its fields (CPython 3.13 stores attribute values inline, and a
kernel that wrote the instance dict by hand once crashed it).
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import pickle
import sys
from typing import Any, Callable, List, Type

import pytest

from wsproto6455.events import BytesMessage, Message, TextMessage

from speedups_helpers import available_compiled, compiled

MessageClass = Type[Message[Any]]

# (class, data) pairs: empty, short, long, non-ASCII; a bytes subclass is
# kept as given (the constructor does not convert).
CASES: List[tuple[MessageClass, Any]] = [
    (TextMessage, ""), (TextMessage, "hello"), (TextMessage, "é😀" * 100),
    (BytesMessage, b""), (BytesMessage, b"\x00\xff"), (BytesMessage, bytes(5000)),
]
FLAGS = [(True, True), (False, False), (True, False), (False, True)]


def _reference(cls: MessageClass) -> type:
    """The same fields as a dataclass with the generated __init__."""
    return dataclasses.make_dataclass(
        "Reference", [(f.name, f.type, dataclasses.field(default=f.default))
                      if f.default is not dataclasses.MISSING else (f.name, f.type)
                      for f in dataclasses.fields(cls)], frozen=True)


def builders() -> List[tuple[str, Callable[..., Any]]]:
    """Every way the library builds a message event."""
    ways: List[tuple[str, Callable[..., Any]]] = [
        ("init-positional", lambda cls, d, f, m: cls(d, f, m)),
        ("init-keywords", lambda cls, d, f, m: cls(data=d, frame_finished=f, message_finished=m)),
    ]
    for module in available_compiled():
        ways.append(("compiled", module.new_message))
    return ways


@pytest.fixture(params=[name for name, _ in builders()] or ["init-positional"])
def build(request: pytest.FixtureRequest) -> Callable[..., Any]:
    return dict(builders())[request.param]


@pytest.mark.parametrize("cls, data", CASES)
@pytest.mark.parametrize("flags", FLAGS)
def test_indistinguishable_from_the_dataclass_machinery(build: Callable[..., Any], cls: MessageClass,
                                                        data: Any, flags: tuple[bool, bool]) -> None:
    event = build(cls, data, *flags)
    assert type(event) is cls
    assert event.data is data  # stored as given, not copied
    assert (event.frame_finished, event.message_finished) == flags
    same = cls(data, *flags)
    assert event == same and hash(event) == hash(same) and not event != same
    assert repr(event) == repr(same)
    assert repr(event) == repr(_reference(cls)(data, *flags)).replace("Reference", cls.__name__)
    assert dataclasses.is_dataclass(event)
    assert [f.name for f in dataclasses.fields(event)] == ["data", "frame_finished", "message_finished"]
    assert dataclasses.astuple(event) == (data, *flags)
    assert dataclasses.asdict(event) == {"data": data, "frame_finished": flags[0],
                                         "message_finished": flags[1]}
    assert vars(event) == {"data": data, "frame_finished": flags[0], "message_finished": flags[1]}
    other = dataclasses.replace(event, data=data[:1])
    assert type(other) is cls and other.data == data[:1] and other.frame_finished == flags[0]
    assert pickle.loads(pickle.dumps(event)) == event
    assert copy.copy(event) == event and copy.deepcopy(event) == event
    assert type(event)(event.data + event.data) == cls(data + data)  # how frameworks reassemble
    match event:
        case Message(data=d, frame_finished=f, message_finished=m):
            assert (d, f, m) == (data, *flags)
        case _:
            pytest.fail("not matched as a Message")
    assert {event: 1}[same] == 1


@pytest.mark.parametrize("cls, data", CASES[:1] + CASES[3:4])
def test_frozen(build: Callable[..., Any], cls: MessageClass, data: Any) -> None:
    event = build(cls, data, True, True)
    for name in ("data", "frame_finished", "message_finished", "new"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(event, name, data)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(event, name)
    assert event.data == data


def test_fields_survive_the_instance_dict_being_materialized(build: Callable[..., Any]) -> None:
    """On 3.13 attribute values live inline until __dict__ is asked for;
    both states must hold the same fields."""
    event = build(TextMessage, "abc", False, True)
    first = event.data
    assert event.__dict__["data"] == "abc"
    assert event.data is first and event.message_finished is True
    gc.collect()
    assert event == TextMessage("abc", False, True)


def test_no_reference_leaks(build: Callable[..., Any]) -> None:
    """Building and dropping events leaves the data's reference count as it was."""
    data = b"leak check " * 3
    before = sys.getrefcount(data)
    for _ in range(1000):
        build(BytesMessage, data, True, False)
    gc.collect()
    assert sys.getrefcount(data) == before


def test_compiled_refuses_other_classes() -> None:
    """tp_new skips __init__: only the two classes whose __init__ it mirrors."""
    new_message = compiled("new_message")

    @dataclasses.dataclass(frozen=True)
    class Other(TextMessage):
        pass

    for cls in (Other, Message, dict):
        with pytest.raises(TypeError):
            new_message(cls, "x")


def test_events_do_not_write_their_dict() -> None:
    """The contract in events.py, checked in the source: no hand-written
    instance dicts (they broke CPython 3.13 once)."""
    import inspect

    import wsproto6455.events as events

    assert "__dict__" not in inspect.getsource(events).split('"""', 2)[2]
