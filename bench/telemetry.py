"""What does telemetry cost? Per-event cost in the child; events/s the host stores without loss.

Run: ``python bench/telemetry.py [--events N]``. Prints one table:

(1) child: ``encode_event`` + a non-blocking ``AF_UNIX`` datagram send through the shim's own
    ``shim/telemetry_sender.TelemetrySender`` to a socket that a separate process drains — median
    and p95 ns per event (each event timed alone), target ≤ 10 µs;
(2) store: decoded events fed into ``TelemetryStore.submit`` from one thread as fast as possible,
    then flushed — events/s stored, with the count stored and dropped (target ≥ 20,000/s, none lost);
(3) the same through ``EventSink.record`` (pricing with genai-prices included; tokens vary per
    event, as real calls do, so the price cache helps only partly);
(4) end to end: a child process sends datagrams through ``TelemetrySender``, the host's
    ``TelemetryCollector`` reads them and records into the sink — stored events/s, and how many the
    sender dropped (kernel queue full: the child never waits).
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from host.collector import TelemetryCollector  # noqa: E402
from host.event_sink import EventSink  # noqa: E402
from host.pricing import PriceBook  # noqa: E402
from host.telemetry_store import TelemetryStore  # noqa: E402
from shim.telemetry import CallEvent, decode_event, encode_event  # noqa: E402
from shim.telemetry_sender import TelemetrySender  # noqa: E402

Row = Tuple[str, str, str]


def sample_event(index: int) -> CallEvent:
    return CallEvent(
        time=time.time(), source="shim", pid=os.getpid(), ppid=os.getppid(), program="/home/me/agent/run.py",
        client_protocol="openai", endpoint="chat", backend="anthropic", upstream_host="api.anthropic.com",
        requested_model="claude-sonnet-4-5", upstream_model="claude-sonnet-4-5", stream=True, translated=True,
        status=200, latency_ms=812.5, ttfb_ms=301.25, input_tokens=1200 + index % 997, output_tokens=150 + index % 89,
        cache_read_tokens=index % 3 * 1000, cache_write_tokens=0, reasoning_tokens=None, request_id="req_011CXyz",
    )


_DRAIN = textwrap.dedent("""
    import socket, sys
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind(sys.argv[1]); print("ready", flush=True)
    while s.recv(65536): pass
""")


def child_cost(count: int, directory: Path) -> Row:
    path = str(directory / "drain.sock")
    drain = subprocess.Popen([sys.executable, "-c", _DRAIN, path], stdout=subprocess.PIPE, text=True)
    assert drain.stdout is not None and drain.stdout.readline().strip() == "ready"
    sender, timings = TelemetrySender(path), []
    events = [sample_event(i) for i in range(count)]
    clock = time.perf_counter_ns
    for event in events:
        started = clock()
        sender.send(encode_event(event))
        timings.append(clock() - started)
    encode_only = []
    for event in events:
        started = clock()
        encode_event(event)
        encode_only.append(clock() - started)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as stopper:
        stopper.sendto(b"", path)
    drain.wait(10)
    timings.sort()
    median, p95 = statistics.median(timings), timings[int(0.95 * len(timings))]
    figure = f"median {median / 1000:.2f} µs, p95 {p95 / 1000:.2f} µs"
    encode = statistics.median(encode_only) / 1000
    return ("child: encode + datagram send", figure,
            f"{count} events, {sender.dropped} dropped (queue full); encode_event alone: median {encode:.2f} µs")


def store_throughput(count: int, directory: Path) -> Row:
    events = [decode_event(encode_event(sample_event(i))) for i in range(count)]
    store = TelemetryStore(directory / "store").start()
    started = time.perf_counter()
    for event in events:
        store.submit(event, 0.001)  # type: ignore[arg-type]
    store.flush(120)
    elapsed = time.perf_counter() - started
    store.close()
    detail = f"{store.stored} stored, {store.dropped} dropped"
    return "store: submit → SQLite", f"{count / elapsed:,.0f} events/s", detail


def sink_throughput(count: int, directory: Path) -> Row:
    events = [decode_event(encode_event(sample_event(i))) for i in range(count)]
    sink = EventSink(TelemetryStore(directory / "sink").start(), [], PriceBook())
    started = time.perf_counter()
    for event in events:
        sink.record(event)  # type: ignore[arg-type]
    assert sink.store is not None
    sink.store.flush(120)
    elapsed = time.perf_counter() - started
    sink.close()
    stored, dropped = sink.store.stored, sink.store.dropped
    return "sink: price + store", f"{count / elapsed:,.0f} events/s", f"{stored} stored, {dropped} dropped"


_SENDER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[3])
    from shim.telemetry_sender import TelemetrySender
    sender = TelemetrySender(sys.argv[1])
    data = [line.encode() for line in open(sys.argv[2]).read().splitlines()]
    for datagram in data:
        sender.send(datagram)
    print(sender.sent, sender.dropped, flush=True)
""")


def end_to_end(count: int, directory: Path) -> Row:
    path = directory / "collector.sock"
    datagrams = directory / "datagrams.txt"
    datagrams.write_text("\n".join(encode_event(sample_event(i)).decode() for i in range(count)))
    sink = EventSink(TelemetryStore(directory / "e2e").start(), [], PriceBook())
    collector = TelemetryCollector(path, sink.callback()).start()
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _SENDER, str(path), str(datagrams), str(ROOT)],
                            capture_output=True, text=True, check=True)
    data = collector.stop()
    assert sink.store is not None
    sink.store.flush(120)
    elapsed = time.perf_counter() - started
    sink.close()
    sent, dropped = (int(x) for x in result.stdout.split())
    rate = f"{sink.store.stored / elapsed:,.0f} events/s"
    detail = f"{sent} sent, {dropped} dropped by sender, {len(data.events)} received, {sink.store.stored} stored"
    return "end to end: child → socket → collector → sink", rate, detail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rtb-", dir="/tmp") as tmp:  # short path: sun_path ≤ 104 bytes
        directory = Path(tmp)
        rows: List[Row] = [
            child_cost(min(args.events, 20_000), directory),
            store_throughput(args.events, directory),
            sink_throughput(args.events, directory),
            end_to_end(args.events, directory),
        ]
    width = max(len(row[0]) for row in rows)
    print(f"{'measure':<{width}}  {'figure':<28}  detail")
    for name, figure, detail in rows:
        print(f"{name:<{width}}  {figure:<28}  {detail}")
    print("targets: child ≤ 10 µs per event; store ≥ 20,000 events/s without loss")


if __name__ == "__main__":
    main()
