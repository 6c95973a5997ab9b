"""A call leaves nothing for the cycle collector (docs/proxy-limits.md#no-cycles-per-call).

The proxy here runs with the cycle collector off, and on SIGUSR2 prints what a full collection
finds unreachable, by type, then frees it. An object in a reference cycle outlives its call until
a full collection, which under a flood comes seldom: the proxy then holds thousands of dead calls
at once, and the memory they took stays mapped after the flood. Reference counting alone must
free every kind of call: translated or not, streamed or not, refused, failed upstream, or left by
its client mid-stream."""

import asyncio
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import weakref
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import httpx
import pytest
from fakes import FakeProvider
from proxy_clients import USER
from proxy_process import ProxyProcess
from raw_sockets import address, read_until_closed

from host.proxy.app import WATCH_AFTER, _DisconnectWatch
from host.proxy.asgi_io import ResponseWriter

# The collector off; SIGUSR2: "cycle garbage N {type: count}" on stderr.
WATCH = r"""
import collections, gc, itertools, json, runpy, signal, sys

reports = itertools.count(1)

def report(signum, frame):
    gc.set_debug(gc.DEBUG_SAVEALL)  # keep what the collection finds, to name it
    try:
        gc.collect()
    finally:
        gc.set_debug(0)
    kinds = collections.Counter(type(found).__module__ + "." + type(found).__qualname__ for found in gc.garbage)
    gc.garbage.clear()
    gc.collect()  # and free it, so the next report starts clean
    print(f"cycle garbage {next(reports)} {json.dumps(kinds, sort_keys=True)}", file=sys.stderr, flush=True)

gc.disable()
signal.signal(signal.SIGUSR2, report)
"""
WATCHED_ROUTER = WATCH + 'runpy.run_module("host", run_name="__main__", alter_sys=True)\n'

ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}
Call = Callable[["Caller"], None]


class Caller:
    """Calls on the proxy, counted: the report waits until the proxy has recorded every one."""

    def __init__(self, proxy: ProxyProcess, provider: FakeProvider) -> None:
        self.proxy, self.provider = proxy, provider
        self.calls = 0

    def post(self, path: str, body: Dict[str, Any]) -> httpx.Response:
        self.calls += 1
        return httpx.post(self.proxy.url + path, json=body, headers=ANTHROPIC_HEADERS, timeout=10)

    def post_raw(self, path: str, data: bytes) -> httpx.Response:
        self.calls += 1
        return httpx.post(self.proxy.url + path, content=data, headers={"content-type": "application/json"},
                          timeout=10)

    def leave_mid_stream(self, path: str, body: Dict[str, Any]) -> None:
        """Start a stream, read its first bytes, and close the connection while the upstream holds the rest."""
        self.calls += 1
        self.provider.new_hold()
        self.provider.reply(text="an answer nobody will read", hold_after_events=2)
        try:
            with httpx.stream("POST", self.proxy.url + path, json={**body, "stream": True},
                              headers=ANTHROPIC_HEADERS, timeout=10) as response:
                chunks = response.iter_raw()
                next(chunks)  # keep the iterator: closing it would end the call at once
                assert self.provider.holding.wait(timeout=10)
            assert self.provider.peer_closed.wait(timeout=10), "the proxy kept the upstream connection open"
        finally:
            self.provider.release.set()

    def refused_at_the_socket(self) -> None:
        """Requests the connection refuses before the app sees them, each ended by a lingering close
        (docs/proxy-limits.md#connections): a head over the limit alone, and one behind a request
        whose answer comes first. Waits until the proxy has closed both connections."""
        descriptors = len(os.listdir(f"/proc/{self.proxy.process.pid}/fd"))
        big_head = b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\nx-big: " + b"a" * (1 << 20) + b"\r\n\r\n"
        for first in (b"", b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"):
            with socket.create_connection(address(self.proxy.url), timeout=10) as sock:
                sock.sendall(first + big_head)
                answers = read_until_closed(sock)
            assert answers.startswith(b"HTTP/1.1 200 " if first else b"HTTP/1.1 431 ")  # the first's, then none
        deadline = time.monotonic() + 10
        while len(os.listdir(f"/proc/{self.proxy.process.pid}/fd")) > descriptors:
            assert time.monotonic() < deadline, "the proxy kept a refused connection open"
            time.sleep(0.01)

    def wait_until_recorded(self) -> None:
        deadline = time.monotonic() + 10
        while httpx.get(self.proxy.url + "/stats", timeout=10).json()["requests_served"] < self.calls:
            assert time.monotonic() < deadline, "the proxy did not record every call"
            time.sleep(0.01)


def _chat(model: str, stream: bool) -> Dict[str, Any]:
    return {"model": model, "messages": USER, "stream": stream, "max_tokens": 32}


def _responses(model: str, stream: bool) -> Dict[str, Any]:
    return {"model": model, "input": "hi", "stream": stream}


def _answered(caller: Caller, path: str, body: Dict[str, Any], **reply: Any) -> None:
    caller.provider.reply(**({"text": "fine"} | reply))
    response = caller.post(path, body)
    assert response.status_code == 200, response.text


# Backends of write_proxy_config: claude-* on an Anthropic backend, gpt-* on an OpenAI one; every
# client protocol to each, so each call is translated or passed through.
MODELS = ["claude-sonnet-4-6", "gpt-5.1"]
PATHS = {"/v1/chat/completions": _chat, "/v1/messages": _chat, "/v1/responses": _responses}


def _answer_every_kind(caller: Caller) -> None:
    for (path, body), model, stream in itertools.product(PATHS.items(), MODELS, (False, True)):
        _answered(caller, path, body(model, stream))
        _answered(caller, path, body(model, stream), tool_calls=[("lookup", {"q": 1})])


def _failed_calls() -> List[Call]:
    def refused(caller: Caller) -> None:
        assert caller.post("/v1/chat/completions", _chat("made-up-model", False)).status_code == 404

    def malformed(caller: Caller) -> None:
        assert caller.post_raw("/v1/messages", b'{"model": ').status_code == 400

    def untranslatable(caller: Caller) -> None:
        assert caller.post("/v1/chat/completions", {**_chat("claude-sonnet-4-6", False), "n": 2}).status_code == 400

    def backend_down(caller: Caller) -> None:
        assert caller.post("/v1/messages", _chat("dead-model", True)).status_code == 502

    def upstream_error(caller: Caller) -> None:
        caller.provider.reply(error=(429, None))
        assert caller.post("/v1/chat/completions", _chat("claude-sonnet-4-6", False)).status_code == 429

    def cut_mid_stream(caller: Caller) -> None:
        for model in MODELS:
            caller.provider.reply(text="cut short", truncate_after_events=3, drop_connection=True)
            caller.post("/v1/chat/completions", _chat(model, True))  # ends in an in-band error

    def left_by_the_client(caller: Caller) -> None:
        for (path, body), model in itertools.product(PATHS.items(), MODELS):
            caller.leave_mid_stream(path, body(model, True))

    return [refused, malformed, untranslatable, backend_down, upstream_error, cut_mid_stream, left_by_the_client]


@pytest.fixture
def watched(home: Path) -> Iterator[ProxyProcess]:
    proxy = ProxyProcess(home, python_args=("-c", WATCHED_ROUTER)).wait_ready()
    yield proxy
    proxy.stop()


def _garbage_report(proxy: ProxyProcess, number: int) -> Dict[str, int]:
    proxy.process.send_signal(signal.SIGUSR2)
    prefix = f"cycle garbage {number} "
    line = proxy.wait_for_stderr(lambda text: text.startswith(prefix))
    return dict(json.loads(line[len(prefix):]))


def test_calls_of_every_kind_leave_no_reference_cycles(watched: ProxyProcess, provider: FakeProvider,
                                                       chunking: str) -> None:
    caller = Caller(watched, provider)
    _answered(caller, "/v1/chat/completions", _chat("gpt-5.1", False))  # the first call builds what lasts
    caller.wait_until_recorded()
    _garbage_report(watched, 1)
    _answer_every_kind(caller)
    for call in _failed_calls():
        call(caller)
    caller.refused_at_the_socket()
    caller.wait_until_recorded()
    garbage = _garbage_report(watched, 2)
    assert not garbage, json.dumps(garbage, indent=1)


def test_the_watch_names_what_a_cycle_left() -> None:
    """The instrument itself: an object in a cycle is reported by its type, once."""
    knot = WATCH + "class Knot: pass\nknot = Knot(); knot.me = knot; del knot\nos.kill(os.getpid(), signal.SIGUSR2)\n"
    done = subprocess.run([sys.executable, "-c", "import os\n" + knot], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    prefix = "cycle garbage 1 "
    assert done.stderr.startswith(prefix), done.stderr
    assert json.loads(done.stderr[len(prefix):])["__main__.Knot"] == 1


def test_a_call_that_watched_for_its_client_leaves_no_cycle(collector_off: None) -> None:
    """Every real LLM call runs longer than :data:`WATCH_AFTER`: the proxy then watches for its client
    leaving, and stops watching when the call ends (the calls above are answered sooner)."""
    async def a_long_call() -> "weakref.ref[_DisconnectWatch]":
        never = asyncio.Event()

        async def receive() -> Dict[str, Any]:
            await never.wait()  # the client stays
            return {"type": "http.disconnect"}

        async def send(message: Dict[str, Any]) -> None:
            pass

        watch = _DisconnectWatch(receive, ResponseWriter(send, time.monotonic))
        await asyncio.sleep(WATCH_AFTER * 2)  # the loop runs timers in deadline order: the watch has begun
        assert len(asyncio.all_tasks()) == 2, "the watch did not begin"
        watch.stop()
        while len(asyncio.all_tasks()) > 1:  # until the watcher has taken its cancellation
            await asyncio.sleep(0)
        return weakref.ref(watch)

    watch = asyncio.run(a_long_call())
    assert watch() is None, "a reference cycle holds the watch"
