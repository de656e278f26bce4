"""The chat page in a real headless Chromium (Debian's /usr/bin/chromium,
driven by playwright; never ``playwright install``): two pages on two server
processes sharing one redis-server see each other's messages."""

from __future__ import annotations

import asyncio
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, List

import pytest

from chat_helpers import ChatServer
from redis_helpers import RedisServer, redis_server, skip_or_fail  # noqa: F401  (fixture)

CHROMIUM = os.environ.get("WSPROTO6455_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def browser() -> Iterator[object]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        skip_or_fail(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright package is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def two_servers(redis_server: RedisServer, tmp_path: Path) -> Iterator[List[ChatServer]]:
    servers = [ChatServer(redis_server.url).start(tmp_path) for _ in range(2)]
    try:
        yield servers
    finally:
        for server in servers:
            server.kill()


def join(page: object, server: ChatServer, name: str, room: str) -> None:
    page.goto(f"http://127.0.0.1:{server.port}/")  # type: ignore[attr-defined]
    page.fill("#name", name)  # type: ignore[attr-defined]
    page.fill("#room", room)  # type: ignore[attr-defined]
    page.click("#join")  # type: ignore[attr-defined]
    page.wait_for_selector("#status.connected", timeout=10_000)  # type: ignore[attr-defined]


def say(page: object, text: str) -> None:
    page.fill("#message", text)  # type: ignore[attr-defined]
    page.click("#send")  # type: ignore[attr-defined]


def messages(page: object) -> List[str]:
    return page.eval_on_selector_all(  # type: ignore[attr-defined]
        "#messages li", "items => items.map(item => item.textContent)")


def test_two_pages_on_two_servers_see_each_others_messages(
        browser: object, two_servers: List[ChatServer]) -> None:
    one, two = two_servers
    alice = browser.new_page()  # type: ignore[attr-defined]
    bob = browser.new_page()  # type: ignore[attr-defined]
    join(alice, one, "alice", "lobby")
    join(bob, two, "bob", "lobby")
    assert "connected" in alice.text_content("#status")
    say(alice, "hello from server one ✓")
    say(bob, "hi alice, this is server two")
    say(alice, "<b>not html</b>")
    expected = ["alice: hello from server one ✓", "bob: hi alice, this is server two",
                "alice: <b>not html</b>"]
    for page in (alice, bob):
        page.wait_for_function("n => document.querySelectorAll('#messages li').length >= n",
                               arg=3, timeout=10_000)
    # Each sees both, its own included; each sender's messages in order.
    for page in (alice, bob):
        seen = messages(page)
        assert sorted(seen) == sorted(expected)
        assert [m for m in seen if m.startswith("alice")] == [expected[0], expected[2]]
        assert page.eval_on_selector_all("#messages b", "bs => bs.length") == 0  # text, not markup


def test_the_page_shows_the_connection_state_and_reconnects(
        browser: object, two_servers: List[ChatServer], tmp_path: Path) -> None:
    one, two = two_servers
    page = browser.new_page()  # type: ignore[attr-defined]
    join(page, one, "carol", "r")
    other = browser.new_page()  # type: ignore[attr-defined]
    join(other, two, "dave", "r")
    say(other, "before")
    page.wait_for_function("() => document.querySelectorAll('#messages li').length === 1",
                           timeout=10_000)
    port = one.port
    one.kill()  # the page's server dies: the indicator says so, and it keeps retrying
    page.wait_for_selector("#status.reconnecting", timeout=10_000)
    assert page.is_disabled("#send")
    say(other, "while you were away 1")  # said while the page is disconnected
    say(other, "while you were away 2")
    other.wait_for_function("() => document.querySelectorAll('#messages li').length === 3",
                            timeout=10_000)
    restarted = ChatServer(one.redis_url, port=port).start(tmp_path)
    two_servers.append(restarted)
    page.wait_for_selector("#status.connected", timeout=20_000)
    say(other, "welcome back")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#messages li')].some(li => li.textContent === 'dave: welcome back')",
        timeout=10_000)
    # It resumed from its last position: what it missed, once, in order, then live.
    assert messages(page) == ["dave: before", "dave: while you were away 1",
                              "dave: while you were away 2", "dave: welcome back"]
    assert page.eval_on_selector_all("#messages li.gap", "items => items.length") == 0


def test_the_page_shows_a_notice_when_it_missed_more_than_the_history(
        browser: object, redis_server: RedisServer, tmp_path: Path) -> None:
    server = ChatServer(redis_server.url, ["--history", "10"]).start(tmp_path)
    try:
        page = browser.new_page()  # type: ignore[attr-defined]
        join(page, server, "erin", "r")
        say(page, "hello")
        page.wait_for_function("() => document.querySelectorAll('#messages li').length === 1",
                               timeout=10_000)
        port = server.port
        server.kill()
        page.wait_for_selector("#status.reconnecting", timeout=10_000)
        # Others talk through another server while the page's is down.
        other = ChatServer(redis_server.url, ["--history", "10"]).start(tmp_path)

        async def flood() -> None:  # past XADD MAXLEN ~ 10 (whole nodes of 100 are trimmed)
            from wsproto6455.asyncio import connect
            async with connect(other.ws_url("r")) as ws:
                for i in range(400):
                    await ws.send(f"flood {i}")
                for _ in range(400):
                    await ws.recv()

        try:
            with ThreadPoolExecutor(1) as pool:  # playwright's sync API owns this thread's loop
                pool.submit(asyncio.run, flood()).result(timeout=60)
        finally:
            other.kill()
        server = ChatServer(redis_server.url, ["--history", "10"], port=port).start(tmp_path)
        page.wait_for_selector("#messages li.gap", timeout=20_000)
        notice = page.text_content("#messages li.gap")
        assert "no longer kept" in notice and "missing" in notice
        page.wait_for_function(
            "() => [...document.querySelectorAll('#messages li')].some(li => li.textContent === 'flood 399')",
            timeout=10_000)
        seen = messages(page)
        assert seen[0] == "erin: hello" and seen[1] == notice
        kept = seen[2:]  # the kept tail, in order, up to the last one
        first = int(kept[0].split()[1])
        assert kept == [f"flood {i}" for i in range(first, 400)] and first > 0
    finally:
        server.kill()
