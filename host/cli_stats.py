"""``router stats``: calls, errors, tokens, cost and latency from the local telemetry store.

Exit codes: 0; 2 for bad usage. An absent store is not an error (no calls yet): the table is empty.
"""

import json
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

import click

from .cli_support import example
from .log_text import printable
from .stats_query import GROUPINGS, WINDOWS, GroupStats, StatsReport, query_stats
from .telemetry_store import connect_read_only, db_path

__all__ = ["cost_text", "header_line", "stats", "tail_line"]

_TAIL_POLL_SECONDS = 0.25
_PIPED_WIDTH = 220
_TAIL_COLUMNS = (
    "id, time, source, pid, program, backend, upstream_model, requested_model, status, error, latency_ms, "
    "input_tokens, output_tokens, cost_usd"
)


@click.command(epilog=example("router stats", "router stats --since 7d --by backend", "router stats --json | jq .total",
                              "router stats --tail"))
@click.option("--since", "window", type=click.Choice(list(WINDOWS)), default="1d", show_default=True,
              help="How far back to look.")
@click.option("--by", type=click.Choice(GROUPINGS), default="model", show_default=True, help="One row per …")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (the proxy's /stats has the same).")
@click.option("--tail", is_flag=True, help="Follow new calls as they are stored; Ctrl-C to stop.")
def stats(window: str, by: str, as_json: bool, tail: bool) -> None:
    """Calls, errors, tokens, cost and latency of routed LLM calls (shim and proxy)."""
    if tail:
        _follow(db_path())
        return
    report = query_stats(window, by)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_table(report)


# Table ---------------------------------------------------------------------------------------
def header_line(report: StatsReport) -> str:
    """``router stats · last 1d · 42 calls, 3 errors · $0.1234``"""
    total = report.total
    window = "all time" if report.window == "all" else f"last {report.window}"
    parts = [f"router stats · {window} · {total.calls} calls, {total.errors} errors"]
    if total.calls:
        parts.append(f"cost {cost_text(total)}")
    return " · ".join(parts)


def cost_text(group: GroupStats) -> str:
    """``$0.0123``; ``$0.0123 + unknown`` when some calls had no price; ``unknown`` when none had one."""
    if group.calls and group.cost_unknown_calls == group.calls:
        return "unknown"
    known = f"${group.cost_usd:.4f}" if group.cost_usd < 100 else f"${group.cost_usd:,.2f}"
    return f"{known} + unknown" if group.cost_unknown_calls else known


def _notes(report: StatsReport) -> List[str]:
    notes = []
    if report.dropped.count:
        since = _local_time(report.dropped.since) if report.dropped.since else "?"
        reasons = f" ({', '.join(map(printable, report.dropped.reasons))})" if report.dropped.reasons else ""
        notes.append(f"{report.dropped.count} events were dropped since {since}{reasons}; the counts above are short")
    if report.problem:
        notes.append(f"the store {report.store} could not be read: {report.problem}")
    return notes


def _print_table(report: StatsReport) -> None:
    from rich.console import Console  # rich loads only for this command
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = _PIPED_WIDTH  # piped or captured: never cut a model name to fit 80 columns
    console.print(header_line(report), markup=False)
    for note in _notes(report):
        console.print(f"warning: {note}", markup=False, style="yellow")
    if not report.groups:
        console.print("no calls recorded in this window", markup=False)
        return
    table = Table(show_edge=False, pad_edge=False)
    fallbacks = _fallback_titles(report)
    for title in (report.by, "calls", "errors", *fallbacks, "in", "out", "cache r/w", "cost", "p50", "p95"):
        table.add_column(title, justify="left" if title == report.by else "right", no_wrap=True)
    for group in [*report.groups, report.total] if len(report.groups) > 1 else report.groups:
        table.add_row(*_row_cells(group, len(fallbacks)),
                      end_section=group is report.groups[-1] and len(report.groups) > 1)
    console.print(table)


def _fallback_titles(report: StatsReport) -> Tuple[str, ...]:
    """Fallback columns, only when the window had any: ``fallbacks`` (calls answered after one) and,
    by backend, ``left`` (calls that moved from this backend to another)."""
    if not report.total.fallbacks:
        return ()
    return ("fallbacks", "left") if report.by == "backend" else ("fallbacks",)


def _row_cells(group: GroupStats, fallback_columns: int = 0) -> Tuple[Any, ...]:
    from rich.text import Text  # a Text cell is never read as console markup ("[bold]" in a model name)

    fallbacks = (str(group.fallbacks), str(group.left_for_another))[:fallback_columns]
    return (
        Text(printable(group.key)),
        str(group.calls),
        str(group.errors),
        *fallbacks,
        f"{group.input_tokens:,}",
        f"{group.output_tokens:,}",
        f"{group.cache_read_tokens:,}/{group.cache_write_tokens:,}",
        cost_text(group),
        _ms(group.latency_p50_ms),
        _ms(group.latency_p95_ms),
    )


def _ms(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} ms" if value < 10 else f"{value:,.0f} ms"


def _local_time(stamp: float) -> str:
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


# Tail ----------------------------------------------------------------------------------------
def tail_line(row: sqlite3.Row) -> str:
    """One line per stored event: when, who, which model where, status, latency, tokens, cost."""
    model = printable(row["upstream_model"] or row["requested_model"] or "?")
    where = f"{printable(row['backend'])}/{model}" if row["backend"] else f"(no route) {model}"
    who = f"{printable(row['source'])} {printable(row['pid'])}" + (
        f" {printable(row['program'])}" if row["program"] else "")
    status = f"{printable(row['status'] or 'no response')}" + (f" {printable(row['error'])}" if row["error"] else "")
    tokens = f"in {row['input_tokens'] or 0} / out {row['output_tokens'] or 0}"
    cost = "unknown" if row["cost_usd"] is None else f"${row['cost_usd']:.6f}"
    return f"{_local_time(row['time'])} {who} → {where} · {status} · {_ms(row['latency_ms'])} · {tokens} · {cost}"


def _follow(path: Path) -> None:
    """"following …" once the starting point is taken: every call stored after that line is shown."""
    try:
        last = _starting_row(path)
        click.echo(f"following {path} (Ctrl-C to stop)", err=True)
        for row in _new_rows(path, last):
            click.echo(tail_line(row))
    except KeyboardInterrupt:
        pass


def _starting_row(path: Path) -> int:
    """The last row id stored now (0 before the store exists); a busy database is asked again."""
    while True:
        _, last = _rows_after(path, None)
        if last is not None:
            return last
        time.sleep(_TAIL_POLL_SECONDS)


def _new_rows(path: Path, last: int) -> Iterator[sqlite3.Row]:
    """Rows stored after row ``last``, forever; polls by rowid (the store may not exist yet)."""
    position: Optional[int] = last
    while True:
        rows, position = _rows_after(path, position)
        yield from rows
        time.sleep(_TAIL_POLL_SECONDS)


def _rows_after(path: Path, last: Optional[int]) -> Tuple[List[Any], Optional[int]]:
    if not path.exists():
        return [], 0 if last is None else last
    try:
        connection = connect_read_only(path)
        connection.row_factory = sqlite3.Row
        try:
            if last is None:  # only what comes after we started
                return [], int(connection.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])
            query = f"SELECT {_TAIL_COLUMNS} FROM events WHERE id > ? ORDER BY id"
            rows = connection.execute(query, (last,)).fetchall()
        finally:
            connection.close()
    except sqlite3.Error:  # not created yet, or busy: try again at the next poll
        return [], last
    return rows, (rows[-1]["id"] if rows else last)
