"""One real ``router proxy`` process for the whole proxy suite, in front of the session's fake
provider; tests that need a differently started proxy (auth, bind, signals) start their own."""

import asyncio
import socket
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import anthropic
import openai
import pytest
import uvloop
from fakes import FakeProvider
from proxy_process import CLIENT_KEY, ProxyProcess, closed_port, write_proxy_config

READ_TIMEOUT = 1.5  # short, so the upstream-timeout tests are quick; far above any normal pause here


@pytest.fixture(scope="session")
def blackhole_port() -> Iterator[int]:
    """A port that accepts connections (kernel backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def proxy_home(tmp_path_factory: pytest.TempPathFactory, _fake_provider_session: FakeProvider,
               blackhole_port: int) -> Path:
    home = tmp_path_factory.mktemp("proxy-home")
    write_proxy_config(home, _fake_provider_session.root_url, closed_port(), blackhole_port)
    return home


@pytest.fixture(scope="session")
def _proxy_session(proxy_home: Path) -> Iterator[ProxyProcess]:
    proxy = ProxyProcess(proxy_home, ["--read-timeout", str(READ_TIMEOUT), "--connect-timeout", "2"]).wait_ready()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxy(_proxy_session: ProxyProcess, provider: FakeProvider) -> ProxyProcess:
    """The shared proxy (the fake provider reset for this test)."""
    assert _proxy_session.process.poll() is None, _proxy_session.output
    return _proxy_session


@pytest.fixture
def oai(proxy: ProxyProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=proxy.url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=10) as client:
        yield client


@pytest.fixture
def ant(proxy: ProxyProcess) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=proxy.url, api_key=CLIENT_KEY, max_retries=0, timeout=10) as client:
        yield client


@pytest.fixture
def home(tmp_path: Path, _fake_provider_session: FakeProvider) -> Path:
    """A configuration of the test's own (:func:`write_proxy_config`, its ``dead`` and ``blackhole``
    backends on closed ports), for a test that starts its own proxy: with options, or to edit the
    files it follows. A module may define its own ``home``."""
    path = tmp_path / "home"
    write_proxy_config(path, _fake_provider_session.root_url, closed_port(), closed_port())
    return path


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Awaitable[Any]], Any]:
    """Run a coroutine on the default loop and on uvloop (the proxy's): their transports differ."""
    def runner(coroutine: Awaitable[Any]) -> Any:
        if request.param == "uvloop":
            return uvloop.run(coroutine)  # type: ignore[arg-type]
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    return runner


@pytest.fixture(params=["uvloop", "asyncio"])
def event_loop_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The loop the router's uvicorn settings serve on: uvloop when it can be imported, asyncio's own
    when it cannot."""
    if request.param == "asyncio":
        monkeypatch.setitem(sys.modules, "uvloop", None)  # what an install without uvloop looks like
    yield request.param
