"""Options are typed keyword parameters: type checkers see them, and a wrong
name raises a TypeError naming the function called, with a hint."""

from __future__ import annotations

import dataclasses
import inspect
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest
from mypy import api

from wsproto6455 import ConnectionType, WSConnection
from wsproto6455.asyncio import Settings, connect, serve
from wsproto6455.connection import Connection
from wsproto6455.handshake import Handshake

SERVER = ConnectionType.SERVER
REPO = Path(__file__).resolve().parent.parent


async def handler(ws: Any) -> None:
    pass


CALLS: dict[str, Callable[..., object]] = {
    "serve()": lambda **kw: serve(handler, "127.0.0.1", 0, **kw),
    "connect()": lambda **kw: connect("ws://127.0.0.1/", **kw),
    "WSConnection()": lambda **kw: WSConnection(SERVER, **kw),
    "Connection()": lambda **kw: Connection(SERVER, **kw),
    "Handshake()": lambda **kw: Handshake(SERVER, **kw),
}


@pytest.mark.parametrize("called", sorted(CALLS))
def test_misspelt_option_names_the_function_called(called: str) -> None:
    with pytest.raises(TypeError) as info:
        CALLS[called](max_mesage_size=10)
    message = str(info.value)
    assert message.startswith(f"{called} got an unexpected keyword argument 'max_mesage_size'")
    assert "did you mean max_message_size=?" in message
    assert "__init__" not in message


@pytest.mark.parametrize("called", sorted(CALLS))
def test_websockets_max_size_gets_a_hint(called: str) -> None:
    with pytest.raises(TypeError, match=r"'max_size'; wsproto6455 calls this option max_message_size="):
        CALLS[called](max_size=10)


@pytest.mark.parametrize(
    "called, name, hint",
    [
        ("connect()", "additional_headers", "wsproto6455 calls this option extra_headers="),
        ("serve()", "extensions", "wsproto6455 calls this option compression="),
        ("serve()", "origins", "no origins option: check the Origin header in process_request"),
        ("connect()", "proxy", "HTTP proxies are not supported"),
        ("connect()", "heartbeat", "wsproto6455 calls this option ping_interval="),
        ("serve()", "protocols", "wsproto6455 calls this option subprotocols="),
        ("connect()", "ssl_context", "wsproto6455 calls this option ssl="),
    ],
)
def test_other_libraries_names_get_a_hint(called: str, name: str, hint: str) -> None:
    with pytest.raises(TypeError) as info:
        CALLS[called](**{name: None})
    assert str(info.value) == f"{called} got an unexpected keyword argument {name!r}; {hint}"


def test_foreign_name_for_an_option_this_function_lacks_gets_no_misleading_hint() -> None:
    # extra_headers is ours, but not an option of the sans-IO connection.
    with pytest.raises(TypeError) as info:
        WSConnection(SERVER, additional_headers=[])  # type: ignore[call-arg]
    assert "extra_headers" not in str(info.value)


def test_unknown_name_without_a_close_match_has_no_hint() -> None:
    with pytest.raises(TypeError) as info:
        connect("ws://127.0.0.1/", zzz=1)  # type: ignore[call-arg]
    assert str(info.value) == "connect() got an unexpected keyword argument 'zzz'"


def test_positional_errors_are_pythons_own() -> None:
    with pytest.raises(TypeError, match="positional"):
        connect("ws://127.0.0.1/", None)  # type: ignore[misc]


@pytest.mark.parametrize("func", [serve, connect])
def test_signatures_carry_every_setting_with_its_default(func: Any) -> None:
    parameters = inspect.signature(func).parameters
    for field in dataclasses.fields(Settings):
        if func is connect and field.metadata.get("role") == "server":
            assert field.name not in parameters
            continue
        parameter = parameters[field.name]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, field.name
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default  # type: ignore[misc]
        assert parameter.default == default, field.name
        assert parameter.annotation == field.type, field.name
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


@pytest.mark.parametrize("func", [WSConnection, Connection])
def test_core_signatures_have_no_catch_all(func: Any) -> None:
    parameters = inspect.signature(func).parameters
    assert "max_message_size" in parameters
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def test_options_reach_the_settings() -> None:
    server = serve(handler, "127.0.0.1", 0, max_message_size=7, ping_interval=None,
                   compression=None, write_limit=99)
    settings = server._server.settings
    assert (settings.max_message_size, settings.ping_interval, settings.compression,
            settings.write_limit) == (7, None, None, 99)
    client = connect("ws://127.0.0.1/", max_queue=3, deflate_options={"server_max_window_bits": 10})
    assert client._settings.max_queue == 3
    assert client._settings.deflate_options == {"server_max_window_bits": 10}


MYPY_SNIPPET = '''
from wsproto6455 import ConnectionType, WSConnection
from wsproto6455.asyncio import connect, serve

async def handler(ws: object) -> None: ...

async def good() -> None:
    async with serve(handler, "127.0.0.1", 0, max_message_size=1 << 20, ping_interval=20,
                     deflate_options={{"server_max_window_bits": 12}}) as server:
        async with connect("ws://127.0.0.1:{{}}/".format(server.port), ping_interval=None) as ws:
            await ws.send("hi")
    WSConnection(ConnectionType.CLIENT, max_message_size=None)

async def bad() -> None:
    connect("ws://x/", max_mesage_size=10)  # line {typo}
    serve(handler, "127.0.0.1", 0, ping_interval="20")  # line {wrong_type}
    WSConnection(ConnectionType.SERVER, max_size=10)  # line {foreign}
    serve(handler, deflate_options={{"server_max_window_bit": 12}})  # line {deflate_key}
    connect("ws://x/", compression="gzip")  # line {compression}
'''


def test_mypy_catches_misspelt_and_mistyped_options(tmp_path: Path) -> None:
    lines = {"typo": 15, "wrong_type": 16, "foreign": 17, "deflate_key": 18, "compression": 19}
    source = textwrap.dedent(MYPY_SNIPPET.format(**lines))
    assert source.splitlines()[lines["typo"] - 1].strip().startswith("connect(")
    snippet = tmp_path / "snippet.py"
    snippet.write_text(source)
    stdout, stderr, status = api.run([
        "--strict", "--no-error-summary", "--show-error-codes",
        "--cache-dir", str(tmp_path / "cache"), str(snippet),
    ])
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    by_line = {int(line.split(":")[1]): line for line in errors}
    assert status == 1, stdout + stderr
    assert sorted(by_line) == sorted(lines.values()), stdout
    assert 'Unexpected keyword argument "max_mesage_size" for "connect"' in by_line[lines["typo"]]
    assert 'Argument "ping_interval" to "serve" has incompatible type "str"' in by_line[lines["wrong_type"]]
    assert 'Unexpected keyword argument "max_size" for "WSConnection"' in by_line[lines["foreign"]]
    assert '"deflate_options"' in by_line[lines["deflate_key"]] and 'DeflateOptions' in by_line[lines["deflate_key"]]
    assert '"compression"' in by_line[lines["compression"]]
