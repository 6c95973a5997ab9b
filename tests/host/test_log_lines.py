"""Every line router prints escapes what came from outside and cuts it (docs/telemetry-bounds.md#log-lines):
a model name, a program name or an error a client or a process chose can neither forge a second
line, nor reach the reader's terminal as an escape sequence, nor fill the log."""

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
from click.testing import CliRunner

from host.cli import cli
from host.collector import ProcessInfo, RunTelemetry, ShimError
from host.log_text import LOG_VALUE_LIMIT, printable
from host.proxy.call_trace import CallTrace
from host.shim_summary import call_line, summary_lines
from host.telemetry_store import DB_FILENAME, TelemetryStore
from shim.config import RouterConfig
from shim.plan import ClientCall, plan_call
from shim.telemetry import CallEvent

HOSTILE = {
    "newline": "gpt-4o\nrouter: pid 1 forged line",
    "ansi": "gpt-4o\x1b[2J\x1b]0;title\x07",
    "nul": "gpt\x00-4o",
    "c1-and-del": "gpt\x9b31m\x7f",
    "bidi": "gpt-4o\u202egnp.exe",
    "carriage-return": "gpt-4o\rok",
    "line-separator": "gpt\u2028-4o",
}
HUGE = "m" * 5_000_000
CONFIG = RouterConfig.from_dict({"backends": {"openai": {"protocol": "openai", "base_url": "https://api.openai.com/v1"}}})


def assert_one_clean_line(line: str) -> None:
    assert line.isprintable(), repr(line)
    assert len(line) < 4 * LOG_VALUE_LIMIT + 300, len(line)


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_printable_escapes_every_invisible_character(value: str) -> None:
    shown = printable(value)
    assert shown.isprintable() and shown.startswith("gpt")


def test_printable_keeps_ordinary_text_and_cuts_long_values() -> None:
    assert printable("claude-sonnet-4-6 (café, 東京)") == "claude-sonnet-4-6 (café, 東京)"
    assert printable("a\\nb") == "a\\\\nb", "a backslash in the value cannot pose as one of our escapes"
    assert printable(HUGE) == "m" * LOG_VALUE_LIMIT + "…"
    assert printable(None) == "-" and printable(404) == "404"


def _event(**overrides: Any) -> CallEvent:
    fields: Dict[str, Any] = dict(
        time=time.time() - 60, source="shim", pid=100, ppid=1, program="agent.py", client_protocol="openai",
        endpoint="chat", backend="openai", upstream_host="api.openai.com", requested_model="gpt-4o",
        upstream_model="gpt-4o", stream=False, translated=False, status=200, latency_ms=40.0,
    )
    fields.update(overrides)
    return CallEvent(**fields)


@pytest.mark.parametrize("value", [*HOSTILE.values(), HUGE], ids=[*HOSTILE.keys(), "huge"])
def test_shim_verbose_line_and_summary(value: str) -> None:
    event = _event(requested_model=value, upstream_model=value, program=value, error=value)
    unrouted = _event(backend=None, upstream_host=value, requested_model=value, source="proxy", program=value)
    assert_one_clean_line(call_line(event))
    assert_one_clean_line(call_line(unrouted))
    data = RunTelemetry(
        events=[event, unrouted], processes={100: ProcessInfo(100, 1, value, value, value)},
        shim_errors=[ShimError(100, value)],
    )
    for line in summary_lines(data):
        assert_one_clean_line(line)


@pytest.mark.parametrize("value", [*HOSTILE.values(), HUGE], ids=[*HOSTILE.keys(), "huge"])
def test_proxy_verbose_line(value: str) -> None:
    trace = CallTrace.begin("POST", "/v1/chat/completions" + value, "chat")
    body = json.dumps({"model": f"openai:{value}", "messages": []}).encode()
    trace.plan = plan_call(CONFIG, ClientCall("chat", {}, body), now=0.0, call_id="c")
    assert trace.plan.requested_model == f"openai:{value}"
    trace.status, trace.error = 200, value
    assert_one_clean_line(trace.log_line(trace.started + 0.01))


def test_router_stats_table_and_tail(home: Path) -> None:
    store = TelemetryStore(home).start()
    for name, value in HOSTILE.items():
        store.submit(_event(requested_model=value, upstream_model=value, program=value, error=name), None)
    store.submit(_event(requested_model="[bold red]markup[/]", upstream_model="[bold red]markup[/]"), None)
    store.close()
    for by in ("model", "program"):
        table = CliRunner().invoke(cli, ["stats", "--by", by], catch_exceptions=False)
        assert table.exit_code == 0, table.output
        for line in table.output.splitlines():
            assert line.isprintable(), repr(line)
        assert by != "model" or "[bold red]markup[/]" in table.output, "a model name is never console markup"
    from host.cli_stats import tail_line

    connection = sqlite3.connect(home / DB_FILENAME)
    connection.row_factory = sqlite3.Row
    try:
        rows: List[sqlite3.Row] = connection.execute("SELECT * FROM events").fetchall()
    finally:
        connection.close()
    for row in rows:
        assert_one_clean_line(tail_line(row))
