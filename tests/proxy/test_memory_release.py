"""The proxy gives the system back the memory a burst of calls freed (docs/proxy-limits.md#memory-after-a-burst)."""

import asyncio
import json
import platform
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict, List

import pytest

from host.proxy.app import ProxyApp
from host.proxy.memory_release import MemoryRelease, free_memory_release
from host.proxy.settings import ProxySettings
from shim.config import RouterConfig

ROOT = Path(__file__).resolve().parents[2]
GLIBC = platform.libc_ver()[0] == "glibc"

# A burst's worth of 64 KiB blocks (below glibc's mmap threshold: they come from the heap), then one
# block after them that keeps the heap's top in use, as the proxy's long-lived objects do: freeing
# the burst gives nothing back to the system until a release.
BURST = """
import json, os, sys
from host.proxy.memory_release import free_memory_release

def resident() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

release = free_memory_release()
start = resident()
burst = [b"x" * (64 * 1024 - 64) for _ in range(1024)]
keep = [b"y" * (64 * 1024 - 64)]
peak = resident()
del burst
freed = resident()
release()
print(json.dumps({"start": start, "peak": peak, "freed": freed, "released": resident()}))
"""


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's; elsewhere the proxy releases nothing")
def test_a_release_gives_back_what_a_burst_freed() -> None:
    done = subprocess.run([sys.executable, "-c", BURST], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    sizes = {name: value / 2**20 for name, value in json.loads(done.stdout).items()}
    assert sizes["peak"] - sizes["start"] > 60, sizes  # the burst took 64 MiB
    assert sizes["peak"] - sizes["freed"] < 8, sizes  # freed, and still resident: glibc keeps it
    assert sizes["freed"] - sizes["released"] > 56, sizes  # the release gave it back


def test_without_malloc_trim_there_is_no_release() -> None:
    assert (free_memory_release() is not None) == GLIBC


def test_releases_run_off_the_loop_until_stopped() -> None:
    threads: List[int] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        third = asyncio.Event()

        def release() -> None:
            threads.append(threading.get_ident())
            if len(threads) == 3:
                loop.call_soon_threadsafe(third.set)

        memory = MemoryRelease(release, every=0.01)
        memory.start()
        await asyncio.wait_for(third.wait(), 10)
        memory.stop()
        stopped_at = len(threads)
        await asyncio.sleep(0.1)  # ten intervals: none may come
        assert len(threads) == stopped_at
        assert threading.get_ident() not in threads  # never on the event loop's thread

    asyncio.run(scenario())


def test_a_slow_release_is_not_doubled_and_a_failing_one_stays_off_the_loop() -> None:
    unblock, started = threading.Event(), threading.Semaphore(0)
    calls: List[str] = []
    loop_errors: List[Dict[str, Any]] = []

    def release() -> None:
        calls.append("release")
        started.release()
        if len(calls) == 1:
            unblock.wait(10)  # the first release takes many intervals
        raise OSError("the release failed")

    async def scenario() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: loop_errors.append(context))
        memory = MemoryRelease(release, every=0.01)
        memory.start()
        assert await asyncio.to_thread(started.acquire, True, 10)
        await asyncio.sleep(0.1)  # ten intervals while the first release runs
        assert calls == ["release"]
        unblock.set()
        assert await asyncio.to_thread(started.acquire, True, 10)  # the next tick releases again
        memory.stop()

    asyncio.run(scenario())
    assert len(calls) >= 2 and loop_errors == []


def test_the_proxy_releases_while_it_serves_and_stops_at_shutdown() -> None:
    released = threading.Semaphore(0)
    memory = MemoryRelease(released.release, every=0.01)
    app = ProxyApp(RouterConfig(), ProxySettings(), memory_release=memory)

    async def scenario() -> None:
        messages = asyncio.Queue()  # type: asyncio.Queue[Dict[str, str]]
        sent: List[Dict[str, Any]] = []

        async def send(message: Dict[str, Any]) -> None:
            sent.append(message)

        await messages.put({"type": "lifespan.startup"})
        lifespan = asyncio.ensure_future(app({"type": "lifespan"}, messages.get, send))
        assert await asyncio.to_thread(released.acquire, True, 10)
        assert await asyncio.to_thread(released.acquire, True, 10)  # and again, every interval
        await messages.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(lifespan, 10)
        assert [message["type"] for message in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        while released.acquire(blocking=False):
            pass
        await asyncio.sleep(0.1)
        assert not released.acquire(blocking=False)  # stopped with the proxy

    asyncio.run(scenario())
