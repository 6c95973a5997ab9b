"""``router stats``: table, --json, --since, --by, unknown cost, dropped events, --tail."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from click.testing import CliRunner, Result
from telemetry_support import FullDiskConnection, call_event

from host.cli import cli
from host.pricing import PriceBook
from host.telemetry_store import TelemetryStore
from shim.telemetry import CallEvent

NOW = time.time()
HOUR = 3600.0


def _events() -> List[CallEvent]:
    """Known events: 3 sonnet calls (one failed) now, 1 unknown model 2 h ago, 1 gpt call 3 days ago."""
    return [
        call_event(time=NOW - 60, latency_ms=100.0, input_tokens=1000, output_tokens=200, cache_read_tokens=50),
        call_event(time=NOW - 120, latency_ms=300.0, input_tokens=2000, output_tokens=100, program="worker.py"),
        call_event(time=NOW - 180, latency_ms=200.0, input_tokens=None, output_tokens=None, status=529,
                   error="overloaded"),
        call_event(time=NOW - 2 * HOUR, backend="ollama", upstream_host="127.0.0.1:11434", latency_ms=50.0,
                   requested_model="my-local-model", upstream_model="my-local-model", input_tokens=10,
                   output_tokens=5),
        call_event(time=NOW - 3 * 24 * HOUR, backend="openai", upstream_host="api.openai.com", latency_ms=400.0,
                   requested_model="gpt-4o", upstream_model="gpt-4o", input_tokens=100, output_tokens=10,
                   endpoint="responses"),
    ]


@pytest.fixture
def stored(home: Path) -> Dict[int, Optional[float]]:
    """The events above in the store; their costs by index."""
    store = TelemetryStore(home).start()
    prices = PriceBook()
    costs = {}
    for index, event in enumerate(_events()):
        costs[index] = prices.cost(event)
        store.submit(event, costs[index])
    store.close()
    return costs


def _stats(home: Path, *args: str) -> Result:
    result = CliRunner(env={"ROUTER_HOME": str(home), "COLUMNS": "200"}).invoke(cli, ["stats", *args])
    assert result.exit_code == 0, result.output
    return result


def _json(home: Path, *args: str) -> Dict[str, Any]:
    return json.loads(_stats(home, "--json", *args).stdout)  # type: ignore[no-any-return]


def test_json_totals_for_the_last_day(home: Path, stored: Dict[int, Optional[float]]) -> None:
    report = _json(home, "--since", "1d")
    total = report["total"]
    assert (total["calls"], total["errors"]) == (4, 1)
    assert (total["input_tokens"], total["output_tokens"], total["cache_read_tokens"]) == (3010, 305, 50)
    assert total["cost_usd"] == pytest.approx(stored[0] + stored[1])  # type: ignore[operator]
    assert total["cost_unknown_calls"] == 2 and total["cost_known"] is False  # the failed call, the local model
    assert report["dropped"]["count"] == 0


def test_json_groups_by_model_with_percentiles(home: Path, stored: Dict[int, Optional[float]]) -> None:
    groups = {group["key"]: group for group in _json(home, "--since", "1d", "--by", "model")["groups"]}
    assert set(groups) == {"claude-sonnet-4-5", "my-local-model"}
    sonnet = groups["claude-sonnet-4-5"]
    assert (sonnet["calls"], sonnet["latency_p50_ms"], sonnet["latency_p95_ms"]) == (3, 200.0, 300.0)
    assert groups["my-local-model"]["cost_unknown_calls"] == 1 and groups["my-local-model"]["cost_usd"] == 0


@pytest.mark.parametrize(
    ("window", "calls"), [("1h", 3), ("1d", 4), ("7d", 5), ("all", 5)],
)
def test_since_selects_the_window(home: Path, stored: Dict[int, Optional[float]], window: str, calls: int) -> None:
    assert _json(home, "--since", window)["total"]["calls"] == calls


@pytest.mark.parametrize(
    ("by", "keys"),
    [("backend", {"anthropic": 3, "ollama": 1, "openai": 1}),
     ("program", {"agent.py": 4, "worker.py": 1}),
     ("endpoint", {"chat": 4, "responses": 1}),
     ("model", {"claude-sonnet-4-5": 3, "my-local-model": 1, "gpt-4o": 1})],
)
def test_by_groups(home: Path, stored: Dict[int, Optional[float]], by: str, keys: Dict[str, int]) -> None:
    groups = _json(home, "--since", "all", "--by", by)["groups"]
    assert {group["key"]: group["calls"] for group in groups} == keys


def test_by_day_is_in_date_order(home: Path, stored: Dict[int, Optional[float]]) -> None:
    days = [group["key"] for group in _json(home, "--since", "all", "--by", "day")["groups"]]
    assert days == sorted(days) and len(days) >= 2 and sum(1 for _ in days) == len(set(days))


def test_table_shows_header_rows_and_unknown_cost(home: Path, stored: Dict[int, Optional[float]]) -> None:
    output = _stats(home, "--since", "1d").stdout
    lines = output.splitlines()
    known = stored[0] + stored[1]  # type: ignore[operator]
    assert lines[0] == f"router stats · last 1d · 4 calls, 1 errors · cost ${known:.4f} + unknown"
    rows = {cells[0]: cells[1:] for cells in (_cells(line) for line in lines[1:]) if cells}
    assert rows["my-local-model"][:6] == ["1", "0", "10", "5", "0/0", "unknown"]
    assert rows["claude-sonnet-4-5"] == ["3", "1", "3,000", "300", "50/0", f"${known:.4f} + unknown", "200 ms",
                                         "300 ms"]
    assert rows["total"][0] == "4"


def _cells(line: str) -> List[str]:
    return [cell.strip() for cell in line.split("│")] if "│" in line else []


def test_empty_store_is_not_an_error(home: Path) -> None:
    result = _stats(home)
    assert "0 calls" in result.stdout and "no calls recorded" in result.stdout
    assert _json(home)["total"]["calls"] == 0


def test_dropped_events_are_reported(home: Path) -> None:
    full = TelemetryStore(home, connect=lambda path: sqlite3.connect(path, factory=FullDiskConnection)).start()
    for _ in range(6):
        full.submit(call_event())
    full.close()
    assert _json(home)["dropped"]["count"] == 6
    output = _stats(home).output
    assert "6 events were dropped since" in output and "database or disk is full" in output


def test_tail_prints_new_events_and_stops_cleanly_on_ctrl_c(home: Path) -> None:
    store = TelemetryStore(home).start()
    store.submit(call_event(requested_model="old", upstream_model="old"))  # before the tail: not shown
    store.flush()
    env = {**os.environ, "ROUTER_HOME": str(home)}
    # SIGINT at its default in the child, as in a terminal: a test run started as a background job of a
    # shell without job control (`bash .ci/run &`) inherits it ignored, and then no Ctrl-C arrives.
    tail = subprocess.Popen([sys.executable, "-m", "host", "stats", "--tail"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert "following" in tail.stderr.readline()  # type: ignore[union-attr]  # its starting point is taken
        store.submit(call_event(input_tokens=77, output_tokens=11, pid=999), 0.5)
        store.flush()
        line = tail.stdout.readline()  # type: ignore[union-attr]
    finally:
        tail.send_signal(signal.SIGINT)
        try:
            code = tail.wait(30)
        except subprocess.TimeoutExpired:
            tail.kill()
            _, err = tail.communicate(timeout=10)
            raise AssertionError(f"router stats --tail did not end on SIGINT; its stderr: {err!r}") from None
        finally:
            store.close()
    assert "proxy 999 agent.py → anthropic/claude-sonnet-4-5 · 200" in line
    assert "in 77 / out 11" in line and "$0.500000" in line and "old" not in line
    assert code == 0


def _attempt(backend: str, status: int, failure: Optional[str] = None) -> Dict[str, Any]:
    return {"backend": backend, "model": "m", "status": status, "failure": failure, "ms": 5.0, "wait_ms": 0.0}


def test_fallbacks_are_counted_per_backend(home: Path) -> None:
    store = TelemetryStore(home).start()
    store.submit(call_event(backend="openai", fallbacks=1,
                            attempts=[_attempt("anthropic", 529), _attempt("openai", 200)]))
    store.submit(call_event(backend="openai", fallbacks=2, attempts=[
        _attempt("anthropic", 0, "ConnectFailure"), _attempt("groq", 503), _attempt("openai", 200)]))
    store.submit(call_event(backend="anthropic", fallbacks=0, attempts=[_attempt("anthropic", 529),
                                                                        _attempt("anthropic", 200)]))
    store.submit(call_event(backend="anthropic"))
    store.close()
    report = _json(home, "--by", "backend")
    rows = {group["key"]: (group["calls"], group["fallbacks"], group["left_for_another"]) for group in report["groups"]}
    # groq answered nothing, but two calls left the others for it and one left it
    assert rows == {"openai": (2, 2, 0), "anthropic": (2, 0, 2), "groq": (0, 0, 1)}
    assert (report["total"]["fallbacks"], report["total"]["left_for_another"]) == (2, 3)
    table = _stats(home, "--by", "backend").stdout
    assert "fallbacks" in table and "left" in table
    assert "fallbacks" in _stats(home).stdout and "left" not in _stats(home).stdout.split("\n")[1]


def test_no_fallback_columns_without_fallbacks(home: Path, stored: Dict[int, Optional[float]]) -> None:
    assert "fallbacks" not in _stats(home, "--by", "backend").stdout
