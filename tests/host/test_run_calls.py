"""A shim run's calls are summed in bounded memory however many there are
(docs/telemetry-bounds.md#a-shim-runs-summary): the summary stays exact in its counts, the host keeps
a bounded number of whole events, latency samples, groups, client processes and shim errors."""

import json
from typing import Any

from host.collector import PROCESSES_KEPT, RECENT_EVENTS, SHIM_ERRORS_KEPT, TelemetryCollector
from host.run_calls import CLIENT_LIMIT, GROUP_LIMIT, LATENCY_SAMPLE, OTHER_GROUP, RunCalls
from host.run_dir import RunDir
from host.shim_summary import summary_lines
from shim.telemetry import TEXT_LIMIT, CallEvent

CALLS = 60_000


def _event(number: int, **overrides: Any) -> CallEvent:
    fields: dict = dict(  # type: ignore[type-arg]
        time=1.0, source="shim", pid=100, ppid=1, program="agent.py", client_protocol="openai", endpoint="chat",
        backend="anthropic", upstream_host="127.0.0.1", requested_model="claude-x", upstream_model="claude-x",
        stream=False, translated=True, status=500 if number % 10 == 0 else 200, latency_ms=float(number % 1000),
        input_tokens=3, output_tokens=2,
    )  # fmt: skip
    fields.update(overrides)
    return CallEvent(**fields)


def test_a_long_run_keeps_a_bounded_number_of_events_and_exact_counts() -> None:
    with RunDir() as run:
        collector = TelemetryCollector(run.socket_path)
        for number in range(CALLS):
            collector.record_event(_event(number))
        data = collector.stop()
    assert len(data.events) == RECENT_EVENTS
    total = data.calls.total
    assert (total.calls, total.errors, total.tokens_in, total.tokens_out) == (CALLS, CALLS // 10, 3 * CALLS, 2 * CALLS)
    assert len(total.latencies) == LATENCY_SAMPLE
    assert abs((total.latency(0.5) or 0) - 500) < 30 and abs((total.latency(0.95) or 0) - 950) < 30
    headline = summary_lines(data)[0]
    assert headline.startswith(f"router shim: {CALLS} calls, {CALLS // 10} errors · in {3 * CALLS} / out {2 * CALLS}")


def test_many_models_and_clients_are_told_apart_up_to_a_limit() -> None:
    calls = RunCalls()
    for number in range(GROUP_LIMIT + 50):
        calls.add(_event(number, upstream_model=f"model-{number}"))
    for number in range(CLIENT_LIMIT + 50):
        calls.add(_event(number, source="proxy", pid=10_000 + number, program="node"))
    # 50 models beyond the limit, then every proxied call (its model arrived after the limit too)
    assert len(calls.groups) == GROUP_LIMIT + 1 and calls.groups[OTHER_GROUP].calls == 50 + (CLIENT_LIMIT + 50)
    assert len(calls.proxied_by) == CLIENT_LIMIT and calls.proxied_elsewhere == 50
    assert calls.proxied_calls == CLIENT_LIMIT + 50


def test_hellos_and_shim_errors_are_bounded_in_number_and_size() -> None:
    with RunDir() as run:
        collector = TelemetryCollector(run.socket_path)
        for pid in range(PROCESSES_KEPT + 10):
            hello = {"v": 1, "kind": "hello", "pid": pid, "ppid": 1, "program": "p" * 20_000, "python": "3.12",
                     "executable": "x" * 20_000}
            collector.handle_datagram(json.dumps(hello).encode())
        for _ in range(SHIM_ERRORS_KEPT + 10):
            collector.handle_datagram(json.dumps({"v": 1, "kind": "shim_error", "pid": 1, "message": "m" * 30_000})
                                      .encode())
        data = collector.stop()
    assert len(data.processes) == PROCESSES_KEPT
    assert max(len(info.program) + len(info.executable) for info in data.processes.values()) <= 2 * TEXT_LIMIT
    assert len(data.shim_errors) == SHIM_ERRORS_KEPT and data.shim_error_count == SHIM_ERRORS_KEPT + 10
    assert max(len(message.message) for message in data.shim_errors) <= 1000
    assert f"(and {SHIM_ERRORS_KEPT + 9} more)" in summary_lines(data)[-1]
