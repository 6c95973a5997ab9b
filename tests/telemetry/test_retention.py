"""Retention: the telemetry database keeps the newest ``max_events`` rows of at most ``max_age_days``, so
a flood of calls cannot fill the disk (docs/telemetry-bounds.md#retention)."""

import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Tuple

import httpx
import pytest
from fakes import FakeProvider
from proxy_process import CLIENT_KEY, ProxyProcess, closed_port, write_proxy_config
from telemetry_support import call_event

from host.telemetry_retention import TelemetryRetention, load_retention, prune
from host.telemetry_store import DB_FILENAME, TelemetryStore, connect_database
from shim.config import ConfigError

DAY = 86_400.0


def _tokens_kept(home: Path) -> List[int]:
    """The ``input_tokens`` of every stored row, oldest first (the tests number events with them)."""
    connection = sqlite3.connect(home / DB_FILENAME)
    try:
        return [row[0] for row in connection.execute("SELECT input_tokens FROM events ORDER BY id")]
    finally:
        connection.close()


def _page_counts(home: Path) -> Tuple[int, int]:
    """(pages in the database, of which free): the file's size as SQLite sees it, WAL included."""
    connection = sqlite3.connect(home / DB_FILENAME)
    try:
        return (connection.execute("PRAGMA page_count").fetchone()[0],
                connection.execute("PRAGMA freelist_count").fetchone()[0])
    finally:
        connection.close()


def _submit_numbered(store: TelemetryStore, first: int, count: int, batch: int = 250) -> None:
    for start in range(first, first + count, batch):
        store.submit_many((call_event(input_tokens=number), None) for number in range(start, start + batch))
    assert store.flush()


def test_only_the_newest_max_events_are_kept(home: Path) -> None:
    store = TelemetryStore(home, retention=TelemetryRetention(max_events=1_000), prune_every_events=500).start()
    try:
        _submit_numbered(store, 0, 5_000)
        kept = _tokens_kept(home)
        assert len(kept) <= 1_000 + 500, "pruned every 500 rows written: at most that many over the bound"
        assert kept == list(range(5_000 - len(kept), 5_000)), "the newest are the ones kept, in order"
        assert store.pruned == 5_000 - len(kept)
    finally:
        store.close()
    reopened = TelemetryStore(home, retention=TelemetryRetention(max_events=1_000)).start()
    try:
        reopened.submit(call_event(input_tokens=5_000))
        assert reopened.flush()
        assert _tokens_kept(home) == list(range(4_000, 5_001)), "pruned to 1,000 on opening, then one written"
    finally:
        reopened.close()


def test_rows_older_than_max_age_are_deleted_when_the_store_opens(home: Path) -> None:
    now = time.time()
    writer = TelemetryStore(home).start()  # the defaults: 90 days
    writer.submit_many([(call_event(time=now - 40 * DAY, input_tokens=1), None),
                        (call_event(time=now - 10 * DAY, input_tokens=2), None),
                        (call_event(time=now - 60, input_tokens=3), None)])
    assert writer.flush()
    writer.close()
    assert _tokens_kept(home) == [1, 2, 3]

    TelemetryStore(home, retention=TelemetryRetention(max_age_days=30)).start().close()
    assert _tokens_kept(home) == [2, 3]
    TelemetryStore(home, retention=TelemetryRetention(max_age_days=1)).start().close()
    assert _tokens_kept(home) == [3]


def test_a_flood_of_calls_leaves_the_file_the_size_it_had(home: Path) -> None:
    """The resource itself: pages freed by the pruning are reused, so the database stops growing."""
    store = TelemetryStore(home, retention=TelemetryRetention(max_events=2_000), prune_every_events=1_000).start()
    try:
        _submit_numbered(store, 0, 6_000)
        pages_then, _ = _page_counts(home)
        _submit_numbered(store, 6_000, 30_000)
        pages_now, free_now = _page_counts(home)
    finally:
        store.close()
    assert pages_now <= pages_then * 1.2, (pages_then, pages_now)
    assert len(_tokens_kept(home)) <= 2_000 + 1_000
    assert free_now > 0, "the deleted rows' pages wait on the free list for the next rows"


def test_prune_deletes_in_chunks_and_leaves_what_it_keeps(tmp_path: Path) -> None:
    connection = connect_database(tmp_path / DB_FILENAME)
    now = time.time()
    with connection:
        connection.executemany("INSERT INTO events (time, input_tokens) VALUES (?, ?)",
                               [(now - (1_000 - number), number) for number in range(1_000)])
    statements: List[str] = []
    connection.set_trace_callback(statements.append)
    deleted = prune(connection, TelemetryRetention(max_events=300), now, chunk=64)
    connection.set_trace_callback(None)
    assert deleted == 700
    kept = [row[0] for row in connection.execute("SELECT input_tokens FROM events ORDER BY id")]
    assert kept == list(range(700, 1_000))
    assert sum(statement.startswith("DELETE") for statement in statements) == 700 // 64 + 1 + 1  # + one by age
    assert prune(connection, TelemetryRetention(max_events=300), now, chunk=64) == 0
    connection.close()


@pytest.mark.parametrize(("table", "message"), [
    ({"max_events": 0}, "telemetry.max_events must be a whole number above 0, not 0"),
    ({"max_events": 10.5}, "telemetry.max_events must be a whole number above 0, not 10.5"),
    ({"max_events": True}, "telemetry.max_events must be a whole number above 0, not True"),
    ({"max_age_days": -1}, "telemetry.max_age_days must be a number above 0, not -1"),
    ({"max_age_days": float("inf")}, "telemetry.max_age_days must be a number above 0, not inf"),
    ({"max_age_days": "90"}, "telemetry.max_age_days must be a number above 0, not '90'"),
    ({"keep": 3}, "telemetry: unknown field 'keep' (it has max_age_days, max_events)"),
    ([], "telemetry must be a table ([telemetry])"),
])
def test_a_bad_telemetry_table_is_refused_naming_the_field(table: object, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        TelemetryRetention.from_table(table)
    assert str(refused.value) == message


def test_the_store_reads_its_retention_from_the_config_file(home: Path) -> None:
    home.mkdir(parents=True)
    assert load_retention(home) == TelemetryRetention()
    (home / "config.toml").write_text("[telemetry]\nmax_age_days = 7.5\nmax_events = 1234\n")
    assert load_retention(home) == TelemetryRetention(max_age_days=7.5, max_events=1234)
    store = TelemetryStore(home).start()
    try:
        store.submit(call_event())
        assert store.flush()
        assert store.retention == TelemetryRetention(max_age_days=7.5, max_events=1234)
    finally:
        store.close()


def test_the_cli_refuses_a_bad_telemetry_table_and_keeps_it_through_edits(home: Path) -> None:
    home.mkdir(parents=True)
    config = home / "config.toml"
    config.write_text('[backends.local]\nprotocol = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n\n'
                      "[telemetry]\nmax_events = -5\n")
    refused = _router("route", "add", "gpt-*", "local")
    assert refused.returncode != 0
    assert "telemetry.max_events must be a whole number above 0, not -5" in refused.stderr + refused.stdout

    config.write_text(config.read_text().replace("max_events = -5", "max_events = 500"))
    added = _router("route", "add", "gpt-*", "local")
    assert added.returncode == 0, added.stderr
    assert "max_events = 500" in config.read_text(), "an edit by the CLI keeps the [telemetry] table"


def test_a_proxy_started_on_a_large_history_trims_it_to_the_bound(tmp_path: Path, provider: FakeProvider) -> None:
    home = tmp_path / "home"
    write_proxy_config(home, provider.root_url, closed_port(), closed_port())
    writer = TelemetryStore(home).start()
    _submit_numbered(writer, 0, 2_000)
    writer.close()
    with (home / "config.toml").open("a") as config:
        config.write("\n[telemetry]\nmax_events = 100\n")

    process = ProxyProcess(home, env={"OTEL_EXPORTER_OTLP_ENDPOINT": ""}).wait_ready()
    try:
        provider.reply(text="hello")
        response = httpx.post(process.url + "/v1/chat/completions", timeout=10,
                              headers={"authorization": f"Bearer {CLIENT_KEY}", "x-api-key": CLIENT_KEY},
                              json={"model": "claude-sonnet-4-6", "max_tokens": 20,
                                    "messages": [{"role": "user", "content": "hi"}]})
        assert response.status_code == 200, response.text
    finally:
        process.stop()
    kept = _tokens_kept(home)
    assert kept[:100] == list(range(1_900, 2_000)), "pruned to the newest 100 when the proxy's store opened"
    assert len(kept) == 101, "then the call's own row"


def _router(*args: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-m", "host", *args], capture_output=True, text=True, timeout=60,
                          check=False)
