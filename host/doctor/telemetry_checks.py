"""``telemetry``: can calls be recorded, how big is the store, were events lost, where do spans go."""

import importlib.util
import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Mapping, Optional, Tuple
from urllib.parse import urlsplit

from ..otel_export import ENDPOINT_ENV
from ..paths import router_home
from ..stats_query import all_drops
from ..telemetry_retention import load_retention
from ..telemetry_store import connect_read_only, db_path
from .report import FAIL, INFO, OK, WARN, Section

__all__ = ["telemetry_section"]

_BUSY_MS = 200


def telemetry_section(environ: Mapping[str, str]) -> Section:
    section = Section("telemetry")
    path = db_path()
    if path.exists():
        _existing_store(section, path)
    else:
        _future_store(section, router_home())
    retention = load_retention(router_home())
    section.add(INFO, "retention", f"the newest {retention.max_events:,} calls of the last {retention.max_age_days:g} "
                                   "days are kept ([telemetry] in config.toml: docs/telemetry-bounds.md#retention)")
    _drops(section)
    _otel(section, environ)
    return section


def _existing_store(section: Section, path: Path) -> None:
    problem = _write_problem(path)
    size = sum(candidate.stat().st_size for candidate in (path, path.with_name(path.name + "-wal"))
               if candidate.exists())
    count, first = _event_count(path)
    since = f" since {datetime.fromtimestamp(first):%Y-%m-%d}" if first else ""
    contents = f"{count} events{since}, {size / 1048576:.1f} MiB"
    if problem is None:
        section.add(OK, "store", f"{path} is writable ({contents})")
    elif "locked" in problem:
        section.add(WARN, "store", f"{path} is busy ({problem}); {contents}",
                    fix="another router process holds a long write; if it persists, restart it")
    else:
        section.add(FAIL, "store", f"{path} cannot be written: {problem}",
                    fix=f"check the permissions of {path.parent} (calls are not recorded meanwhile)")


def _future_store(section: Section, home: Path) -> None:
    existing = next((parent for parent in (home, *home.parents) if parent.exists()), None)
    if existing is not None and os.access(existing, os.W_OK | os.X_OK):
        section.add(OK, "store", f"{db_path()} not created yet (the first recorded call creates it)")
    else:
        section.add(FAIL, "store", f"{home} cannot be created, so calls cannot be recorded",
                    fix="set ROUTER_HOME to a writable directory")


def _write_problem(path: Path) -> Optional[str]:
    """None when a write transaction can start (taken and rolled back at once), else why not."""
    try:
        connection = sqlite3.connect(str(path), timeout=_BUSY_MS / 1000)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
        finally:
            connection.close()
    except sqlite3.Error as exc:
        return " ".join(str(exc).split())
    return None


def _event_count(path: Path) -> Tuple[int, Optional[float]]:
    try:
        connection = connect_read_only(path)
        try:
            count, first = connection.execute("SELECT count(*), min(time) FROM events").fetchone()
        finally:
            connection.close()
    except sqlite3.Error:
        return 0, None
    return int(count), first


def _drops(section: Section) -> None:
    dropped = all_drops()
    if not dropped.count:
        section.add(OK, "dropped events", "none")
        return
    since = f" since {datetime.fromtimestamp(dropped.since):%Y-%m-%d %H:%M}" if dropped.since else ""
    reasons = f" ({'; '.join(dropped.reasons)})" if dropped.reasons else ""
    section.add(WARN, "dropped events", f"{dropped.count}{since}{reasons}: router stats counts are short",
                fix="usually a burst larger than the queues, or a store that could not be written; see above")


def _otel(section: Section, environ: Mapping[str, str]) -> None:
    endpoint = environ.get(ENDPOINT_ENV, "").strip()
    if not endpoint:
        section.add(INFO, "OpenTelemetry export", f"off ({ENDPOINT_ENV} unset)")
        return
    parts = urlsplit(endpoint)
    shown = f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    if not _otel_installed():
        section.add(FAIL, "OpenTelemetry export", f"{ENDPOINT_ENV} is set ({shown}) but the SDK is not installed",
                    fix="pip install 'router[otel]'")
    else:
        section.add(OK, "OpenTelemetry export", f"spans go to {shown}")


def _otel_installed() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False
