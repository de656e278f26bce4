"""What the suite runner installs and runs for each framework.

One entry per framework that embeds wsproto: the pinned sdist, the test
dependencies its own project declares (from its pyproject / tox / CI files,
trimmed to what the selected tests import), and the WebSocket tests to run.
Versions are pinned so that a baseline and a layer run are comparable over
time; bump them deliberately.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Framework:
    name: str  # PyPI project name
    version: str
    #: test dependencies, as pip requirement strings
    test_deps: tuple[str, ...]
    #: paths (relative to the unpacked sdist) handed to pytest
    tests: tuple[str, ...]
    #: extra pytest arguments (ini overrides, -k filters)
    pytest_args: tuple[str, ...] = ()
    #: directory inside the sdist to run pytest from ("" = the sdist root)
    rootdir: str = ""
    notes: str = ""
    #: installed after the rest with --no-deps: pins that contradict the
    #: framework's own requirements but that its tests need
    post_install: tuple[str, ...] = ()
    #: pytest plugins from compat/pytest_helpers loaded in both legs
    helpers: tuple[str, ...] = ()
    extra_env: dict[str, str] = field(default_factory=dict)


FRAMEWORKS: tuple[Framework, ...] = (
    Framework(
        name="simple-websocket",
        version="1.1.0",
        test_deps=("pytest",),
        tests=("tests",),
        # tox.ini runs `pytest -p no:logging`
        pytest_args=("-p", "no:logging"),
        helpers=("loopback_dns",),
        notes="whole suite (all of it is WebSocket); example.com resolved to 127.0.0.1",
    ),
    Framework(
        name="trio-websocket",
        version="0.12.2",
        test_deps=("pytest", "pytest-trio", "trustme", "attrs", "trio"),
        tests=("tests/test_connection.py",),
        # the project's pytest.ini (not shipped in the sdist) sets trio_mode
        pytest_args=("-o", "trio_mode=true"),
        notes="whole suite",
    ),
    Framework(
        name="uvicorn",
        version="0.54.0",
        test_deps=(
            "pytest", "pytest-mock", "trustme", "cryptography", "httpx2",
            "websockets>=13.0", "a2wsgi", "httptools", "PyYAML", "python-dotenv",
            "watchfiles", "anyio", "zttp",
        ),
        tests=(
            "tests/protocols/test_websocket.py",
            "tests/protocols/test_http.py",
            "tests/middleware/test_proxy_headers.py",
            "tests/middleware/test_logging.py",
        ),
        # only the tests parametrised with (or naming) the wsproto protocol class
        pytest_args=("-k", "wsproto"),
        notes="every test parametrised with ws=wsproto (websocket, http upgrade, "
              "proxy headers, logging)",
    ),
    Framework(
        name="hypercorn",
        version="0.18.0",
        test_deps=(
            "pytest", "pytest-asyncio", "pytest-trio", "trio", "hypothesis",
            "mock", "httpx", "h2",
        ),
        tests=(
            "tests/protocol/test_ws_stream.py",
            "tests/asyncio/test_sanity.py",
            "tests/trio/test_sanity.py",
        ),
        # hypercorn 0.18 requires h2>=4.3, whose stricter extended-CONNECT check
        # rejects the request its own HTTP/2 WebSocket sanity tests send; with
        # 4.2.0 those tests run (and exercise wsproto's Connection over h2).
        post_install=("h2==4.2.0",),
        notes="ws_stream unit tests + asyncio/trio sanity (h11 and h2 WebSocket); "
              "h2 pinned to 4.2.0, see compat/frameworks.py",
    ),
    Framework(
        name="httpx-ws",
        version="0.9.0",
        test_deps=(
            "pytest", "starlette", "uvicorn[standard]", "trio", "anyio", "httpx",
            "httpcore",
        ),
        tests=("tests",),
        notes="whole suite; the server side runs uvicorn with ws=wsproto and ws=websockets",
    ),
)
