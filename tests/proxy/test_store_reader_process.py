"""``router proxy`` reads its telemetry store — ``/stats`` and the dashboard's API — in a process of
its own, which holds no key, ends once reads stop, and never outlives the proxy
(docs/telemetry-bounds.md#reads-in-a-process-of-their-own).

Before, the reads ran on a worker thread inside the proxy, and what a burst of them left in its
allocator (SQLite's sorts and caches, the rows) stayed in the proxy for good."""

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from child_processes import WAIT_SECONDS, children, ended, wait_until
from fakes import FakeProvider
from proxy_process import BACKEND_KEYS, ProxyProcess

IDLE_SECONDS = 0.5  # the reading process's idle time in these tests' proxies (10 s in a real one)
# The real CLI with a shorter idle time for the reading process: the test's instrument, set before
# the proxy starts (the product reads it when the proxy builds its reader).
SHORT_IDLE_ROUTER = ("import runpy, host.store_reader as reader\n"
                     f"reader.IDLE_SECONDS = {IDLE_SECONDS}\n"
                     "runpy.run_module('host', run_name='__main__', alter_sys=True)\n")


def _pipes(pid: int) -> int:
    """How many of the process's descriptors are pipes."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:")
        except FileNotFoundError:
            continue
    return count






def _one_call(proxy: ProxyProcess) -> None:
    answer = httpx.post(proxy.url + "/v1/chat/completions", timeout=10,
                        json={"model": "gpt-5.1", "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 200, answer.text


def _get(proxy: ProxyProcess, path: str) -> Any:
    answer = httpx.get(proxy.url + path, timeout=WAIT_SECONDS)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _reader_of(proxy: ProxyProcess) -> int:
    started = children(proxy.process.pid)
    assert len(started) == 1, started
    pid, state = started[0]
    assert state != "Z", "a reading process ended and was not reaped"
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        assert b"host.store_reader" in cmdline.read()
    return pid


def test_the_proxy_reads_its_store_in_a_process_without_keys_that_ends_when_idle(
        home: Path, provider: FakeProvider) -> None:
    proxy = ProxyProcess(home, python_args=("-c", SHORT_IDLE_ROUTER)).wait_ready()
    try:
        pid = proxy.process.pid
        provider.reply(text="hello")
        _one_call(proxy)
        pipes = _pipes(pid)  # the event loop's own are there once it has served
        assert children(pid) == []  # a call starts no process; a read does
        assert _get(proxy, "/stats?since=all")["total"]["calls"] == 1
        reader = _reader_of(proxy)
        with open(f"/proc/{reader}/environ", "rb") as environ:
            text = environ.read()
        assert not [name for name, key in BACKEND_KEYS.items() if key.encode() in text]
        assert _get(proxy, "/dashboard/api/summary?window=1h")["total"]["calls"] == 1
        assert _get(proxy, "/dashboard/api/calls")["calls"][0]["requested_model"] == "gpt-5.1"
        wait_until(lambda: children(pid) == [], "the idle reading process ends and is reaped")
        assert _pipes(pid) == pipes  # its pipes closed with it
        assert _get(proxy, "/stats?since=all")["total"]["calls"] == 1  # and the next read starts another
        assert _reader_of(proxy) != reader
    finally:
        proxy.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_the_reading_process_ends_with_the_proxy(home: Path, sig: int) -> None:
    proxy = ProxyProcess(home).wait_ready()  # the real idle time: the reader is still there at the end
    try:
        _get(proxy, "/stats?since=all")
        reader = _reader_of(proxy)
    finally:
        proxy.stop(sig)
    if sig == signal.SIGTERM:
        assert ended(reader)  # the proxy stopped it and reaped it before it exited
    wait_until(lambda: ended(reader), "the reading process ends once its proxy is gone")
