"""What does telemetry cost? Per-event cost in the child; events/s the host stores without loss.

Run: ``python bench/telemetry.py [--events N] [--rate R]``. Prints one table:

(1) child: ``LLMCall.finish`` (the event built from the call, encoded, sent without blocking) through the shim's own
    ``shim/telemetry_sender.TelemetrySender`` to the host's real ``TelemetryCollector`` running in
    another process — median and p95 per event (each event timed alone, one every 200 µs so the
    reader's sleeping and waking is part of it), target ≤ 10 µs;
(2) store: decoded events fed into ``TelemetryStore.submit`` from one thread as fast as the store
    takes them (the producer waits while 19,800 of the 20,000 events the store holds at most are
    waiting), then flushed — events/s stored, with the count stored and dropped (target ≥ 20,000/s,
    none lost); then the same while another thread keeps the GIL busy, as the proxy's event loop does
    under a flood (docs/telemetry-bounds.md#the-writer), with the batch written as one statement (the
    store's way) and, beside it, with ``executemany`` (its way on an SQLite without JSON functions);
(3) the same through ``EventSink.record`` (pricing with genai-prices included; tokens vary per
    event, as real calls do, so the price cache helps only partly);
(4) end to end, child processes → socket → ``TelemetryCollector`` → sink → SQLite: one sender flat
    out (a sender that never waits outruns any reader: it shows what is stored and what the sender
    dropped), and 4 senders at a realistic pace (``--rate`` events/s together, in bursts of 20) —
    stored events/s from the senders' common start until the last event is in the database;
(5) retention (docs/telemetry-bounds.md#retention): the store's throughput again with a
    ``max_events`` it keeps pruning to, beside (2); and ``prune`` on a database of ``--prune-rows``
    rows (default a million and 10,000 over the bound): the first prune, then p50/p99 of prunes with
    nothing left to delete.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any, Callable, List, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from load_support.busy_thread import busy_thread  # noqa: E402

from host import telemetry_store  # noqa: E402
from host.collector import TelemetryCollector, socket_kind  # noqa: E402
from host.event_sink import EventSink  # noqa: E402
from host.pricing import PriceBook  # noqa: E402
from host.telemetry_retention import TelemetryRetention, prune  # noqa: E402
from host.telemetry_store import _INSERT, MAX_PENDING_EVENTS, TelemetryStore, connect_database, event_row  # noqa: E402
from shim.config import RouterConfig  # noqa: E402
from shim.env_names import TELEMETRY_SOCKET  # noqa: E402
from shim.runtime import Runtime  # noqa: E402
from shim.telemetry import (  # noqa: E402
    CallEvent,
    EventHead,
    decode_event,
    encode_event,
    encode_fields,
    usage_fields,
    write_call_event,
)
from shim.transports.call_driver import SEND, LLMCall  # noqa: E402
from shim.usage import Usage  # noqa: E402

Row = Tuple[str, str, str]
_HAS_JSON = telemetry_store.has_json_functions


def sample_event(index: int) -> CallEvent:
    return CallEvent(
        time=time.time(), source="shim", pid=os.getpid(), ppid=os.getppid(), program="/home/me/agent/run.py",
        client_protocol="openai", endpoint="chat", backend="anthropic", upstream_host="api.anthropic.com",
        requested_model="claude-sonnet-4-5", upstream_model="claude-sonnet-4-5", stream=True, translated=True,
        status=200, latency_ms=812.5, ttfb_ms=301.25, input_tokens=1200 + index % 997, output_tokens=150 + index % 89,
        cache_read_tokens=index % 3 * 1000, cache_write_tokens=0, reasoning_tokens=None, request_id="req_011CXyz",
    )


_RECEIVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from host.collector import TelemetryCollector
    collector = TelemetryCollector(Path(sys.argv[1])).start()  # the host's real reader, no store behind it
    print("ready", flush=True)
    sys.stdin.read()
    print(collector.stop().calls.total.calls, flush=True)
""")


def child_cost(count: int, directory: Path) -> Row:
    """What telemetry adds to one call in the child: ``LLMCall.finish`` — the event's fields from the
    call, encoded, sent — timed alone, one call every 200 µs (a busy program; real calls are much
    further apart), to the host's own collector in another process, wake-ups of the reader included.
    The JSON encoder on the same fields (the general path, ``encode_fields``) is timed as a baseline."""
    path = str(directory / "child.sock")
    receiver = subprocess.Popen([sys.executable, "-c", _RECEIVER, path, str(ROOT)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    assert receiver.stdin is not None and receiver.stdout is not None
    assert receiver.stdout.readline().strip() == "ready"
    os.environ[TELEMETRY_SOCKET] = path
    runtime = Runtime(RouterConfig.from_dict(_CONFIG), None)
    sender = runtime.sender
    sender.send(b"{}")  # connect outside the timed loop (once per process in real use)
    head, usage = EventHead("shim", os.getpid(), os.getppid(), "/home/me/agent/run.py"), Usage(1200, 150)
    per_call: List[int] = []
    write_only: List[int] = []
    general: List[int] = []
    for _ in range(_ROUNDS):  # interleaved, so a noisy moment of this VM hits all three alike
        calls = [_finished_call(runtime) for _ in range(count // _ROUNDS)]
        per_call += _timed(calls, lambda call: call.finish(200))[0]
        fields = [call._event_fields(200, None) for call in calls]
        timings = _timed(fields, lambda f: write_call_event(head, f, usage, 0),
                         lambda f: encode_fields({**head.fields, **f, **usage_fields(usage)}))
        write_only += timings[0]
        general += timings[1]
    sender.close()
    receiver.stdin.close()
    received = int(receiver.stdout.readline())
    receiver.wait(30)
    kind = "SOCK_SEQPACKET" if socket_kind() != socket.SOCK_DGRAM else "SOCK_DGRAM"
    median, p95 = statistics.median(per_call), sorted(per_call)[int(0.95 * len(per_call))]
    detail = (f"{count} calls, {sender.sent - 1} events sent, {sender.dropped} dropped, {received} received; "
              f"medians: its write_call_event alone {statistics.median(write_only) / 1000:.2f} µs, the same event "
              f"through the JSON encoder (encode_fields, baseline) {statistics.median(general) / 1000:.2f} µs")
    return f"child: telemetry per call ({kind})", f"median {median / 1000:.2f} µs, p95 {p95 / 1000:.2f} µs", detail


_ROUNDS = 10
_CONFIG = {"backends": {"anthropic": {"protocol": "anthropic", "base_url": "https://api.anthropic.com",
                                      "api_key": "sk-bench"}}}
_REQUEST = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 64,
                       "messages": [{"role": "user", "content": "hi"}]}).encode()


def _finished_call(runtime: Runtime) -> LLMCall:
    """A routed call whose response has been read, its event not yet sent: what ``whole_response``
    has noted when it calls ``finish`` (the part timed here)."""
    call = LLMCall(runtime, "POST", "https://api.openai.com/v1/chat/completions", "chat", {}, _REQUEST)
    assert call.action == SEND and call.reportable
    call._usage = Usage(input_tokens=1200, output_tokens=150)  # what whole_response notes before finish
    call._request_id = "req_011CXyz"
    return call


def _timed(events: Sequence[Any], *actions: Callable[[Any], object]) -> List[List[int]]:
    """ns per call of each action over ``events``, one call every 200 µs (a busy wait: no sleep wake-ups)."""
    clock, results = time.perf_counter_ns, []
    for action in actions:
        timings = []
        for event in events:
            started = clock()
            action(event)
            timings.append(clock() - started)
            while clock() - started < 200_000:
                pass
        results.append(timings)
    return results


def store_throughput(count: int, directory: Path, max_events: int = 0) -> Row:
    """(2), or with ``max_events`` (5): the store pruning to that many rows as it writes."""
    events = [decode_event(encode_event(sample_event(i))) for i in range(count)]
    retention = TelemetryRetention(max_events=max_events) if max_events else None
    store = TelemetryStore(directory / f"store-{max_events}", retention=retention).start()
    started = time.perf_counter()
    for event in events:
        _wait_for_room(store)
        store.submit(event, 0.001)  # type: ignore[arg-type]
    store.flush(120)
    elapsed = time.perf_counter() - started
    store.close()
    detail = f"{store.stored} stored, {store.dropped} dropped"
    if not max_events:
        return "store: submit → SQLite", f"{count / elapsed:,.0f} events/s", detail
    return (f"store, pruning to {max_events:,} rows", f"{count / elapsed:,.0f} events/s",
            f"{detail}, {store.pruned} pruned")


def _wait_for_room(store: TelemetryStore, hand_off: int = 200) -> None:
    """A producer that never makes the store drop: it waits while the store is nearly full."""
    while store.pending > MAX_PENDING_EVENTS - hand_off:
        time.sleep(0.0005)


def store_beside_busy_thread(count: int, directory: Path, one_statement: bool) -> Row:
    """(2), while another thread runs Python without pause; events handed over 200 at a time, as the
    proxy does."""
    pairs = [(decode_event(encode_event(sample_event(i))), 0.001) for i in range(count)]
    if not one_statement:
        telemetry_store.has_json_functions = lambda connection: False  # the fallback, as on an SQLite without JSON
    store = TelemetryStore(directory / f"busy-{one_statement}").start()
    with busy_thread():
        started = time.perf_counter()
        for index in range(0, count, 200):
            _wait_for_room(store)
            store.submit_many(pairs[index:index + 200])  # type: ignore[arg-type]
        store.flush(300)
        elapsed = time.perf_counter() - started
    store.close()
    telemetry_store.has_json_functions = _HAS_JSON
    how = "one statement a batch" if one_statement else "executemany"
    return (f"store beside a busy thread ({how})", f"{count / elapsed:,.0f} events/s",
            f"{store.stored} stored, {store.dropped} dropped")


def prune_cost(rows: int, directory: Path, over: int = 10_000, runs: int = 200) -> Row:
    """``prune`` on a database of ``rows`` rows, ``over`` of them past the bound."""
    connection = connect_database(directory / "prune.db")
    row = event_row(sample_event(0), 0.001)
    with connection:
        connection.executemany(_INSERT, (row for _ in range(rows)))
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    row_bytes = (directory / "prune.db").stat().st_size / rows  # with its share of the time index
    retention = TelemetryRetention(max_events=rows - over)
    started = time.perf_counter()
    deleted = prune(connection, retention, time.time())
    first_ms = (time.perf_counter() - started) * 1000
    idle = []
    for _ in range(runs):
        started = time.perf_counter()
        prune(connection, retention, time.time())
        idle.append((time.perf_counter() - started) * 1000)
    connection.close()
    idle.sort()
    return (f"prune, {rows:,} rows", f"{first_ms:.1f} ms for {deleted:,} over",
            f"nothing to delete: p50 {idle[len(idle) // 2]:.3f} ms, p99 {idle[int(len(idle) * 0.99)]:.3f} ms; "
            f"{row_bytes:.0f} bytes a row")


def sink_throughput(count: int, directory: Path) -> Row:
    events = [decode_event(encode_event(sample_event(i))) for i in range(count)]
    sink = EventSink(TelemetryStore(directory / "sink").start(), [], PriceBook())
    started = time.perf_counter()
    assert sink.store is not None
    for event in events:
        _wait_for_room(sink.store)
        sink.record(event)  # type: ignore[arg-type]
    sink.store.flush(120)
    elapsed = time.perf_counter() - started
    sink.close()
    stored, dropped = sink.store.stored, sink.store.dropped
    return "sink: price + store", f"{count / elapsed:,.0f} events/s", f"{stored} stored, {dropped} dropped"


_SENDER = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, sys.argv[3])
    from shim.telemetry_sender import TelemetrySender
    path, rate, start_at = sys.argv[1], float(sys.argv[4]), float(sys.argv[5])
    sender = TelemetrySender(path)
    data = [line.encode() for line in open(sys.argv[2]).read().splitlines()]
    while time.time() < start_at:
        time.sleep(0.001)
    began = time.perf_counter()
    for index, datagram in enumerate(data):
        if rate and index % 20 == 0:  # paced: bursts of 20, then wait for the schedule
            delay = began + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        sender.send(datagram)
    print(sender.sent, sender.dropped, flush=True)
""")


def end_to_end(count: int, directory: Path, senders: int, rate: float) -> Row:
    """``senders`` processes, each sending ``count // senders`` events at ``rate`` events/s (0: flat out)."""
    path = directory / f"c{senders}.sock"
    per_sender = count // senders
    datagrams = directory / "datagrams.txt"
    datagrams.write_text("\n".join(encode_event(sample_event(i)).decode() for i in range(per_sender)))
    sink = EventSink(TelemetryStore(directory / f"e2e{senders}").start(), [], PriceBook())
    collector = TelemetryCollector(path, sink.callback()).start()
    start_at = time.time() + 0.5
    children = [subprocess.Popen([sys.executable, "-c", _SENDER, str(path), str(datagrams), str(ROOT), str(rate),
                                  str(start_at)], stdout=subprocess.PIPE, text=True) for _ in range(senders)]
    outputs = [child.communicate()[0] for child in children]
    data = collector.stop()
    assert sink.store is not None
    sink.store.flush(120)
    elapsed = time.time() - start_at
    sink.close()
    sent = sum(int(out.split()[0]) for out in outputs)
    dropped = sum(int(out.split()[1]) for out in outputs)
    stored = sink.store.stored
    kind = "SOCK_SEQPACKET" if collector.kind != socket.SOCK_DGRAM else "SOCK_DGRAM"
    pace = "flat out" if not rate else f"{rate:,.0f}/s each ({rate * senders:,.0f}/s offered)"
    name = f"end to end: {senders} sender{'s' if senders > 1 else ''}, {pace}"
    detail = (f"{kind}; {senders * per_sender} events, {sent} sent, {dropped} dropped by senders, "
              f"{data.calls.total.calls} received, {stored} stored in {elapsed:.2f} s")
    return name, f"{stored / elapsed:,.0f} events/s", detail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=20_000, help="events/s the 4 paced senders offer together")
    parser.add_argument("--prune-rows", type=int, default=1_010_000, help="rows of the database (5) prunes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rtb-", dir="/tmp") as tmp:  # short path: sun_path ≤ 104 bytes
        directory = Path(tmp)
        rows: List[Row] = [
            child_cost(min(args.events, 5_000), directory),
            store_throughput(args.events, directory),
            store_beside_busy_thread(args.events, directory, one_statement=True),
            store_beside_busy_thread(min(args.events, 5_000), directory, one_statement=False),
            sink_throughput(args.events, directory),
            end_to_end(args.events, directory, 1, 0),
            end_to_end(args.events, directory, 4, args.rate / 4),
            store_throughput(args.events, directory, max_events=args.events // 10),
            prune_cost(args.prune_rows, directory),
        ]
    width = max(len(row[0]) for row in rows)
    print(f"{'measure':<{width}}  {'figure':<28}  detail")
    for name, figure, detail in rows:
        print(f"{name:<{width}}  {figure:<28}  {detail}")
    print("targets: child ≤ 10 µs per event; store ≥ 20,000 events/s without loss")


if __name__ == "__main__":
    main()
