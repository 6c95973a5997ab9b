"""Call events for the telemetry tests."""

import sqlite3
import time
from typing import Any

from shim.telemetry import CallEvent

__all__ = ["FullDiskConnection", "call_event"]


def call_event(**overrides: Any) -> CallEvent:
    """A successful Anthropic call through the ``anthropic`` backend (override any field)."""
    fields = dict(
        time=time.time() - 60, source="proxy", pid=4242, ppid=1, program="agent.py", client_protocol="openai",
        endpoint="chat", backend="anthropic", upstream_host="api.anthropic.com", requested_model="claude-sonnet-4-5",
        upstream_model="claude-sonnet-4-5", stream=False, translated=True, status=200, latency_ms=120.0,
        ttfb_ms=80.0, input_tokens=1000, output_tokens=200, cache_read_tokens=0, cache_write_tokens=0,
        reasoning_tokens=None, request_id="req_1",
    )
    fields.update(overrides)
    return CallEvent(**fields)


class FullDiskConnection(sqlite3.Connection):
    """A connection whose event inserts fail as on a full disk (no tiny tmpfs here); the store writes a
    batch with ``execute`` (one statement) or, on an SQLite without JSON, ``executemany``."""

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        _refuse_inserts(sql)
        return super().execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        _refuse_inserts(sql)
        return super().executemany(sql, *args)


def _refuse_inserts(sql: str) -> None:
    if sql.startswith("INSERT INTO events"):
        raise sqlite3.OperationalError("database or disk is full")
