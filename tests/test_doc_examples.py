"""Every python example in README.md and docs/ runs, so none can rot.

Each block is one test, named after its file and line (``README.md:57``).
How a block is marked (a complete program, a fragment in a harness, a server
or a client checked against a real peer on loopback) is described in
tests/doc_examples.py; an unmarked block fails with that description.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.doc_examples import CONVENTION, HARNESSES, Block, doc_files, find_blocks, run_block

BLOCKS = [block for path in doc_files() for block in find_blocks(path)]


@pytest.mark.parametrize("block", BLOCKS, ids=[block.where for block in BLOCKS])
def test_doc_example(block: Block, tmp_path: Path) -> None:
    if block.error is not None:
        pytest.fail(f"{block.where}: {block.error}.\n\n"
                    + CONVENTION.format(harnesses=", ".join(sorted(HARNESSES))), pytrace=False)
    run_block(block, tmp_path)


def test_the_docs_have_examples() -> None:
    # The collector finds blocks at all (a broken parser must not pass by finding none).
    where = {block.path.name for block in BLOCKS}
    assert {"README.md", "ASYNCIO.md"} <= where


# -- the harness itself: it must be able to fail ------------------------------

PIECE_ECHO_SERVER = '''\
import socket
from wsproto6455 import WSConnection, ConnectionType
from wsproto6455.events import AcceptConnection, Request, TextMessage, BytesMessage

with socket.create_server(("127.0.0.1", 8765)) as server:
    sock, _ = server.accept()
    ws = WSConnection(ConnectionType.SERVER)
    while True:
        ws.receive_data(sock.recv(65536))
        for event in ws.events():
            if isinstance(event, Request):
                sock.send(ws.send(AcceptConnection()))
            elif isinstance(event, (TextMessage, BytesMessage)):
                sock.send(ws.send(type(event)(event.data)))   # each piece as a message
'''


def markdown(tmp_path: Path, text: str) -> list[Block]:
    path = tmp_path / "EXAMPLE.md"
    path.write_text(text, encoding="utf-8")
    return find_blocks(path)


def test_a_server_that_echoes_pieces_as_messages_fails_the_echo_check(tmp_path: Path) -> None:
    # The README's old example: a 300 KB message came back as several messages.
    [block] = markdown(tmp_path, "<!-- doc-example: run port=8765 client=echo timeout=60 -->\n"
                                 f"```python\n{PIECE_ECHO_SERVER}```\n")
    assert block.error is None
    with pytest.raises(AssertionError, match="EXAMPLE.md:2.*echo client's check failed"):
        run_block(block, tmp_path)


def test_a_failing_program_is_reported_with_its_file_line_and_output(tmp_path: Path) -> None:
    [block] = markdown(tmp_path, "Text.\n\n<!-- doc-example: run -->\n\n```python\n"
                                 "print('before')\nraise SystemExit(3)\n```\n")
    with pytest.raises(AssertionError) as info:
        run_block(block, tmp_path)
    report = str(info.value)
    assert report.startswith("EXAMPLE.md:5: ")
    assert "exit status 3" in report and "before" in report


def test_blocks_without_a_valid_marker_are_errors(tmp_path: Path) -> None:
    blocks = markdown(tmp_path, (
        "```python\nprint(1)\n```\n"                                   # unmarked
        "<!-- doc-example: run harness=nope -->\n```python\nx\n```\n"  # unknown harness
        "<!-- doc-example: compile-only -->\n```python\nx\n```\n"      # no reason
        "<!-- doc-example: run -->\n```sh\nls\n```\n"                  # marker before shell
        "<!-- doc-example: run -->\nSome prose.\n"                     # orphan marker
        "```sh\necho unchecked\n```\n"                                 # shell: not checked
        "<!-- doc-example: run server=echo -->\n```python\nx\n```\n"   # server without port
    ))
    errors = [block.error for block in blocks]
    assert len(errors) == 6 and all(errors), errors
    assert "no doc-example marker" in errors[0]
    assert "unknown harness 'nope'" in errors[1]
    assert "reason" in errors[2]
    assert "followed by a sh block" in errors[3]
    assert "no python block follows" in errors[4]
    assert "need port=" in errors[5]


def test_harness_blocks_keep_their_indentation_and_ports_are_replaced(tmp_path: Path) -> None:
    [block] = markdown(tmp_path, "<!-- doc-example: run harness=asyncio port=8765 stdout=ok -->\n"
                                 "```python\nimport asyncio\nif 8765 != 18765:\n"
                                 "    await asyncio.sleep(0)\n    print('ok')\n```\n")
    run_block(block, tmp_path)
    [missing] = markdown(tmp_path, "<!-- doc-example: run port=9 -->\n```python\npass\n```\n")
    with pytest.raises(AssertionError, match="never mentions 9"):
        run_block(missing, tmp_path)
