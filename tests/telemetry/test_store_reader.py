"""The reading process behind ``router proxy``'s ``/stats`` and dashboard (``host.store_reader``):
it answers what the same reads answer in-process, it fails a read with a typed error and lives on,
and it never stays behind — not when idle, not when stuck, not when the proxy closes it mid-read
(docs/telemetry-bounds.md#reads-in-a-process-of-their-own)."""

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from child_processes import WAIT_SECONDS, ended, wait_until
from telemetry_support import call_event

from host.store_reader import ReaderProcess
from host.store_reads import InProcessReads, StoreReadFailed
from host.telemetry_store import TelemetryStore

READS: List[Any] = [
    ("stats", {"window": "all", "by": "model"}),
    ("stats", {"window": "1d", "by": "day"}),
    ("summary", {"window": "1h"}),
    ("calls", {"after": None}),
    ("calls", {"after": 3}),
]


@pytest.fixture
def stored(home: Path) -> Path:
    """A store with forty calls of the last half hour, two of them errors, over four models."""
    store = TelemetryStore(home).start()
    now = time.time()
    for number in range(40):
        store.submit(call_event(time=now - 1800 + number * 40, latency_ms=float(10 + number),
                                requested_model=f"model-{number % 4}", upstream_model=f"model-{number % 4}",
                                status=500 if number in (7, 21) else 200), 1.0)
    assert store.flush(WAIT_SECONDS)
    store.close()
    return home


@pytest.fixture
def reader(stored: Path) -> Iterator[ReaderProcess]:
    reader = ReaderProcess(stored, idle_seconds=WAIT_SECONDS, read_timeout=WAIT_SECONDS)
    yield reader
    reader.close()


def _without_clock(answer: Dict[str, Any]) -> Dict[str, Any]:
    """An answer less the moments it was read at (when it was made, where its window began)."""
    return {key: value for key, value in answer.items() if key not in ("now", "since")}






def test_it_answers_what_the_same_reads_answer_in_process(reader: ReaderProcess, stored: Path) -> None:
    in_process = InProcessReads(stored)
    for name, params in READS:
        here, there = in_process.read(name, params), reader.read(name, params)
        assert _without_clock(there) == _without_clock(here), name
    totals = reader.read("stats", {"window": "all", "by": "model"})["total"]
    assert (totals["calls"], totals["errors"]) == (40, 2)  # the reads saw the store, not an empty one


def test_every_read_is_answered_by_one_process_while_reads_keep_coming(reader: ReaderProcess) -> None:
    reader.read("calls", {"after": None})
    pid = reader.pid
    for name, params in READS:
        reader.read(name, params)
    assert pid is not None and reader.pid == pid


def test_a_read_that_fails_names_its_error_type_only_and_the_process_lives_on(reader: ReaderProcess) -> None:
    reader.read("calls", {"after": None})
    pid = reader.pid
    with pytest.raises(StoreReadFailed) as failed:
        reader.read("stats", {"window": "all"})  # no "by": the read raises KeyError in the process
    assert str(failed.value) == "the read failed (KeyError)"
    with pytest.raises(StoreReadFailed, match=r"\(KeyError\)"):
        reader.read("no such read", {})
    assert reader.read("stats", {"window": "all", "by": "model"})["total"]["calls"] == 40
    assert reader.pid == pid


def test_a_process_killed_between_reads_is_replaced_by_the_next_read(reader: ReaderProcess) -> None:
    reader.read("calls", {"after": None})
    first = reader.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: ended(first), "the killed process ends")
    assert reader.read("stats", {"window": "all", "by": "model"})["total"]["calls"] == 40
    assert reader.pid not in (None, first)


def test_a_stuck_process_fails_its_read_in_time_and_is_killed(reader: ReaderProcess) -> None:
    reader.read("calls", {"after": None})
    stuck = reader.pid
    assert stuck is not None
    os.kill(stuck, signal.SIGSTOP)  # it will read the request and never answer it
    reader.read_timeout = 0.5
    with pytest.raises(StoreReadFailed, match=r"took longer than 0\.5 s"):
        reader.read("stats", {"window": "all", "by": "model"})
    assert reader.pid is None and not os.path.exists(f"/proc/{stuck}")  # killed and reaped
    reader.read_timeout = WAIT_SECONDS
    assert reader.read("stats", {"window": "all", "by": "model"})["total"]["calls"] == 40


def test_close_during_a_read_ends_it_at_once_and_leaves_no_process(reader: ReaderProcess) -> None:
    reader.read("calls", {"after": None})
    stuck = reader.pid
    assert stuck is not None
    os.kill(stuck, signal.SIGSTOP)
    failures: List[BaseException] = []

    def read() -> None:
        try:
            reader.read("stats", {"window": "all", "by": "model"})
        except BaseException as error:  # the test looks at what it was
            failures.append(error)

    thread = threading.Thread(target=read)
    thread.start()
    reader.close()  # whether the read had begun or not: it fails, and nothing waits the 30 s
    thread.join(WAIT_SECONDS / 2)
    assert not thread.is_alive(), "the read outlived close()"
    assert [type(error) for error in failures] == [StoreReadFailed]
    wait_until(lambda: ended(stuck), "the stuck process ends")
    assert reader.pid is None
    with pytest.raises(StoreReadFailed, match="shutting down"):
        reader.read("calls", {"after": None})


def test_an_idle_process_ends_and_is_reaped(stored: Path) -> None:
    reader = ReaderProcess(stored, idle_seconds=0.3, read_timeout=WAIT_SECONDS)
    try:
        reader.read("calls", {"after": None})
        pid: Optional[int] = reader.pid
        assert pid is not None
        wait_until(lambda: reader.pid is None, "the idle process is stopped")
        assert not os.path.exists(f"/proc/{pid}")  # reaped: no zombie, no descriptors left open
        assert reader.read("calls", {"after": None})["last"] > 0  # and the next read starts another
    finally:
        reader.close()


def test_its_environment_holds_none_of_the_keys_the_proxy_has(reader: ReaderProcess,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {"OPENAI_API_KEY": "sk-STOREREADER-secret", "ROUTER_API_KEY": "router-STOREREADER-secret",
               "PYTHONPATH": "/nowhere"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    reader.read("calls", {"after": None})
    with open(f"/proc/{reader.pid}/environ", "rb") as environ:
        names = {entry.split(b"=", 1)[0].decode() for entry in environ.read().split(b"\0") if entry}
        environ.seek(0)
        text = environ.read()
    assert names <= {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "LC_TIME", "TZ", "TMPDIR"}, names  # nothing else
    assert not any(value.encode() in text for value in secrets.values())


def test_it_yields_the_cpu_to_the_proxy_and_the_terminal_to_it(reader: ReaderProcess) -> None:
    """Niceness 10 above the proxy's (a call runs before a page's refresh where cores are few), and a
    session of its own (the terminal's Ctrl-C goes to the proxy, which stops it in order)."""
    reader.read("calls", {"after": None})
    pid = reader.pid
    assert pid is not None
    assert os.getpriority(os.PRIO_PROCESS, pid) == min(os.getpriority(os.PRIO_PROCESS, 0) + 10, 19)
    assert os.getsid(pid) == pid
