"""The telemetry collector (fed by real datagram senders), the summary and the -v lines."""

import json
import threading
import time
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from host.collector import ProcessInfo, RunTelemetry, TelemetryCollector
from host.run_dir import RunDir
from host.shim_summary import call_line, percentile, summary_lines
from shim.telemetry import CallEvent, encode_event
from shim.telemetry_sender import TelemetrySender


def make_event(**overrides: Any) -> CallEvent:
    fields: dict = dict(  # type: ignore[type-arg]
        time=1.0, source="shim", pid=100, ppid=1, program="agent.py", client_protocol="openai", endpoint="chat",
        backend="anthropic", upstream_host="127.0.0.1", requested_model="claude-x", upstream_model="claude-x",
        stream=False, translated=True, status=200, latency_ms=40.0, input_tokens=37, output_tokens=18,
    )  # fmt: skip
    fields.update(overrides)
    return CallEvent(**fields)


@pytest.fixture
def run() -> Iterator[RunDir]:
    with RunDir() as directory:
        yield directory


def _send(path: Path, *payloads: bytes) -> None:
    """Through the shim's own sender (SOCK_SEQPACKET on Linux, datagrams elsewhere)."""
    sender = TelemetrySender(str(path))
    try:
        assert all([sender.send(payload) for payload in payloads])
    finally:
        sender.close()


def _hello(pid: int, ppid: int = 1) -> bytes:
    message = {"v": 1, "kind": "hello", "pid": pid, "ppid": ppid, "program": "agent.py", "python": "3.12.1",
               "executable": "/usr/bin/python3"}  # fmt: skip
    return json.dumps(message).encode()


def test_collector_aggregates_hellos_events_errors_and_drops(run: RunDir) -> None:
    seen: List[CallEvent] = []
    collector = TelemetryCollector(run.socket_path, seen.append).start()
    _send(
        run.socket_path,
        _hello(100),
        _hello(101, ppid=100),
        encode_event(make_event()),
        encode_event(make_event(pid=101, dropped_before=3, status=529, error="overloaded")),
        json.dumps({"v": 1, "kind": "shim_error", "pid": 101, "message": "patch httpx failed"}).encode(),
        b"not json",
        json.dumps({"v": 99, "kind": "hello"}).encode(),
    )
    data = collector.stop()
    assert sorted(data.processes) == [100, 101] and data.processes[101].ppid == 100
    assert [event.pid for event in data.events] == [100, 101] == [event.pid for event in seen]
    assert data.dropped == 3
    assert data.shim_errors[0].message == "patch httpx failed"
    assert data.malformed == 2


def test_collector_keeps_up_with_a_burst_from_many_senders(run: RunDir) -> None:
    collector = TelemetryCollector(run.socket_path).start()
    sent = [0]
    lock = threading.Lock()

    def burst(pid: int) -> None:
        sender = TelemetrySender(str(run.socket_path))
        for _ in range(50):
            if not sender.send(encode_event(make_event(pid=pid))):  # dropped and counted: the queue was full
                time.sleep(0.001)
        sender.close()
        with lock:
            sent[0] += sender.sent

    threads = [threading.Thread(target=burst, args=(pid,)) for pid in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    data = collector.stop()
    assert data.calls.total.calls == sent[0] > 100  # every datagram that was accepted is counted


def test_record_event_from_the_proxy_path_reaches_the_callback(run: RunDir) -> None:
    seen: List[CallEvent] = []
    collector = TelemetryCollector(run.socket_path, seen.append).start()
    collector.record_event(make_event(source="proxy"))
    assert collector.stop().events == seen == [make_event(source="proxy")]


@pytest.mark.parametrize(
    ("values", "p50", "p95"),
    [([], None, None), ([5.0], 5.0, 5.0), ([1, 2, 3, 4], 2, 4), (list(range(1, 101)), 50, 95)],
)
def test_percentile_nearest_rank(values: List[float], p50: Any, p95: Any) -> None:
    assert percentile(values, 0.5) == p50 and percentile(values, 0.95) == p95


def test_summary_counts_calls_tokens_errors_latency_and_processes(run: RunDir) -> None:
    data = RunTelemetry(
        events=[
            make_event(latency_ms=10),
            make_event(latency_ms=30),
            make_event(backend=None, requested_model="mine", upstream_model="mine", status=500, latency_ms=100),
        ],
        dropped=2,
    )
    collector = TelemetryCollector(run.socket_path).start()
    _send(run.socket_path, _hello(100), _hello(101, ppid=100))
    data.processes = collector.stop().processes
    text = "\n".join(summary_lines(data))
    assert "3 calls, 1 error" in text
    assert "in 111 / out 54" in text
    assert "p50 30 ms, p95 100 ms" in text
    assert "anthropic" in text and "(no route)" in text and "mine" in text
    assert "shimmed 2 processes: 100 agent.py (python 3.12.1); 101 agent.py (python 3.12.1, child of 100)" in text
    assert "2 call events were dropped" in text


def test_summary_without_calls_says_so_in_one_line() -> None:
    assert summary_lines(RunTelemetry()) == ["router shim: no LLM calls seen"]


def test_call_line_names_route_status_latency_and_tokens() -> None:
    line = call_line(make_event(stream=True, latency_ms=152.4))
    assert line.startswith("router: pid 100 openai chat claude-x → anthropic/claude-x (translated, stream) · 200")
    assert "152 ms" in line and "in 37 / out 18" in line
    untouched = call_line(make_event(backend=None, upstream_host="api.example.com", error="timeout", status=0))
    assert "(no route) api.example.com" in untouched and "no response timeout" in untouched


def test_call_line_shows_the_chain_a_call_took() -> None:
    attempts = [{"backend": "anthropic", "model": "claude-x", "status": 529, "failure": None, "ms": 9, "wait_ms": 0},
                {"backend": "groq", "model": "l", "status": 0, "failure": "ConnectFailure", "ms": 1, "wait_ms": 0},
                {"backend": "openai", "model": "gpt-x", "status": 200, "failure": None, "ms": 90, "wait_ms": 0}]
    line = call_line(make_event(backend="openai", upstream_model="gpt-x", fallbacks=2, attempts=attempts))
    assert "claude-x → anthropic 529 → groq ConnectFailure → openai ✓ (openai/gpt-x) (translated) · 200" in line


def test_summary_names_the_processes_whose_calls_came_through_the_proxy() -> None:
    data = RunTelemetry(events=[
        make_event(),  # the shimmed agent's own call
        make_event(source="proxy", pid=300, ppid=100, program="claude"),
        make_event(source="proxy", pid=300, ppid=100, program="claude"),
        make_event(source="proxy", pid=301, ppid=7, program="curl"),
        make_event(source="proxy", pid=1, ppid=0, program=""),  # the proxy could not tell who
    ])
    data.processes = {100: ProcessInfo(100, 1, "agent.py", "3.12.1", "/usr/bin/python3")}
    proxy_lines = [line for line in summary_lines(data) if "through the proxy" in line]
    assert proxy_lines == [
        "router shim: 4 calls came through the proxy from processes without the shim: "
        "300 claude (2 calls, child of 100); 301 curl; 1 call from a process it could not name"
    ]
    assert not [line for line in summary_lines(RunTelemetry(events=[make_event()])) if "proxy" in line]
