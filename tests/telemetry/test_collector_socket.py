"""The collector's socket: a queue per sender (SOCK_SEQPACKET on Linux), lossless at a realistic pace
from several processes, never a raise or a signal in the child, and child-counted drops in ``router stats``."""

import json
import os
import select
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Iterator, List

import pytest
from telemetry_support import call_event

import host.collector as collector_module
from host.collector import TelemetryCollector, socket_kind
from host.event_sink import EventSink
from host.run_dir import RunDir
from host.stats_query import SENDER_DROP_REASON, query_stats
from host.telemetry_store import TelemetryStore
from shim.env_names import TELEMETRY_SOCKET
from shim.telemetry import CallEvent, encode_event
from shim.telemetry_sender import TelemetrySender

ROOT = Path(__file__).resolve().parents[2]
LINUX_ONLY = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SOCK_SEQPACKET is the Linux transport")


@pytest.fixture
def run() -> Iterator[RunDir]:
    with RunDir() as directory:
        yield directory


@LINUX_ONLY
def test_linux_collector_listens_with_seqpacket_and_the_sender_connects_with_it(run: RunDir) -> None:
    collector = TelemetryCollector(run.socket_path).start()
    sender = TelemetrySender(str(run.socket_path))
    assert sender.send(encode_event(call_event()))
    assert sender._sock.type == socket.SOCK_SEQPACKET  # type: ignore[union-attr]
    sender.close()
    assert collector.kind == socket_kind() == socket.SOCK_SEQPACKET
    assert [event.pid for event in collector.stop().events] == [4242]


def test_sender_falls_back_to_datagrams_for_a_datagram_host(tmp_path: Path) -> None:
    path = str(tmp_path / "d.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as host:
        host.bind(path)
        sender = TelemetrySender(path)
        assert sender.send(b'{"v":1}') and host.recv(100) == b'{"v":1}'
        sender.close()


_PACED_SENDER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from shim.telemetry_sender import TelemetrySender
    from shim.telemetry import CallEvent, encode_event
    sender, count, rate = TelemetrySender(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    event = dict(time=1.0, source="shim", pid=0, ppid=1, program="p", client_protocol="openai", endpoint="chat",
                 backend="b", upstream_host="h", requested_model="m", upstream_model="m", stream=False,
                 translated=False, status=200)
    began = time.perf_counter()
    for index in range(count):
        if index % 20 == 0:
            time.sleep(max(0.0, began + index / rate - time.perf_counter()))
        sender.send(encode_event(CallEvent(**dict(event, pid=index))))
    print(sender.sent, sender.dropped)
""")


def test_four_processes_at_a_realistic_pace_lose_nothing(run: RunDir, tmp_path: Path) -> None:
    store = TelemetryStore(tmp_path / "home").start()
    sink = EventSink(store)
    collector = TelemetryCollector(run.socket_path, sink.callback()).start()
    count = 1500
    senders = [subprocess.Popen([sys.executable, "-c", _PACED_SENDER, str(ROOT), str(run.socket_path), str(count),
                                 "3000"], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    results = [sender.communicate(timeout=60)[0].split() for sender in senders]
    data = collector.stop()
    sink.close()
    assert results == [[str(count), "0"]] * 4  # every sender: all sent, nothing dropped
    assert data.calls.total.calls == 4 * count and store.stored == 4 * count and store.dropped == 0


def test_messages_of_a_sender_that_exited_before_being_accepted_are_read_at_stop(run: RunDir) -> None:
    collector = TelemetryCollector(run.socket_path)  # never started: nothing accepts until stop()
    for pid in (7, 8):
        sender = TelemetrySender(str(run.socket_path))
        assert sender.send(encode_event(call_event(pid=pid)))
        sender.close()
    assert sorted(event.pid for event in collector.stop().events) == [7, 8]


_HOST_GOES_AWAY = textwrap.dedent("""
    import signal, sys, time
    sys.path.insert(0, sys.argv[1])
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # a program that wants SIGPIPE: a write must not kill it
    from shim.telemetry_sender import TelemetrySender
    sender = TelemetrySender(sys.argv[2])
    print(sender.send(b'{"v":1}'), flush=True)
    sys.stdin.readline()  # the host is gone now
    print([sender.send(b'{"v":1}') for _ in range(3)], sender.dropped, flush=True)
""")


def test_a_vanished_host_is_a_drop_never_a_signal_or_an_exception(run: RunDir) -> None:
    collector = TelemetryCollector(run.socket_path).start()
    child = subprocess.Popen([sys.executable, "-c", _HOST_GOES_AWAY, str(ROOT), str(run.socket_path)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline().strip() == "True"
    time.sleep(0.05)
    collector.stop()  # closes every connection and the listening socket
    out, _ = child.communicate("go\n", timeout=30)
    assert child.returncode == 0 and out.strip() == "[False, False, False] 3"  # no SIGPIPE death


def test_drops_counted_by_children_reach_router_stats(run: RunDir, tmp_path: Path) -> None:
    home = tmp_path / "home"
    sink = EventSink(TelemetryStore(home).start())
    collector = TelemetryCollector(run.socket_path, sink.callback()).start()
    sender = TelemetrySender(str(run.socket_path))
    events: List[CallEvent] = [call_event(dropped_before=4), call_event(), call_event(dropped_before=3)]
    assert all(sender.send(encode_event(event)) for event in events)
    sender.close()
    assert collector.stop().dropped == 7
    sink.close()
    report = query_stats("all", home=home)
    assert report.total.calls == 3
    assert report.dropped.count == 7 and report.dropped.reasons == (SENDER_DROP_REASON,)
    assert report.as_dict()["dropped"]["count"] == 7


def test_malformed_messages_are_counted_and_events_decode_to_the_sent_event(run: RunDir) -> None:
    collector = TelemetryCollector(run.socket_path).start()
    sender = TelemetrySender(str(run.socket_path))
    for payload in (b"[1]", b"{", json.dumps({"v": 1, "source": "shim"}).encode(), encode_event(call_event())):
        assert sender.send(payload)
    sender.close()
    data = collector.stop()
    assert data.malformed == 3 and len(data.events) == 1 and data.events[0] == call_event(time=data.events[0].time)


_FLOODS_THEN_EXITS = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from shim import bootstrap
    from shim.telemetry import CallEvent, encode_event
    from shim.telemetry_sender import process_sender
    assert bootstrap.activate()  # as sitecustomize does: hello, and the exit hook
    event = encode_event(CallEvent(time=1.0, source="shim", pid=9, ppid=1, program="p", client_protocol="openai",
                                   endpoint="chat", backend="openai", upstream_host="h", requested_model="m",
                                   upstream_model="m", stream=False, translated=False, status=200))
    sender = process_sender()
    for _ in range(5000):  # nobody reads yet: the queue fills and the rest is dropped
        sender.send(event)
    print(sender.sent, sender.dropped, flush=True)
    sys.stdin.readline()  # exits normally: no later event will carry the drop count
""")


@LINUX_ONLY
def test_events_a_process_dropped_are_reported_when_it_exits(run: RunDir, tmp_path: Path) -> None:
    home = tmp_path / "home"
    sink = EventSink(TelemetryStore(home).start())
    collector = TelemetryCollector(run.socket_path, sink.callback(), sink.lost_callback())  # not reading yet
    env = {**os.environ, TELEMETRY_SOCKET: str(run.socket_path)}
    child = subprocess.Popen([sys.executable, "-c", _FLOODS_THEN_EXITS, str(ROOT)], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    sent, dropped = (int(n) for n in child.stdout.readline().split())
    assert dropped > 0 and sent > 1  # the hello and some events got into the queue
    collector.start()  # the queue drains; the exit report finds room
    child.communicate("exit\n", timeout=30)
    assert child.returncode == 0
    data = collector.stop()
    assert data.calls.total.calls == sent - 1 and data.dropped == dropped  # every event accounted for
    sink.close()
    report = query_stats("all", home=home)
    assert report.total.calls == sent - 1
    assert report.dropped.count == dropped and report.dropped.reasons == (SENDER_DROP_REASON,)


@LINUX_ONLY
def test_messages_read_and_not_yet_aggregated_are_bounded_and_none_is_lost(
        run: RunDir, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that falls behind (here: a callback that waits) no longer lets the reader pile up
    what it reads: at the bound the reader stops, the sender's kernel queue fills, and once the
    worker is back every message the kernel took is aggregated."""
    bound = 64 * 1024
    monkeypatch.setattr(collector_module, "INBOX_BYTES", bound, raising=False)
    worker_may_go = threading.Event()
    collector = TelemetryCollector(run.socket_path, lambda event: worker_may_go.wait(60)).start()
    message = encode_event(call_event())
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sender.connect(str(run.socket_path))
    sender.setblocking(False)
    accepted, offered = 0, 8 * 1024 * 1024 // len(message)  # 8 MiB: far more than the bound and a kernel queue
    try:
        while accepted < offered:
            try:
                sender.send(message)
                accepted += 1
            except BlockingIOError:  # the kernel queue is full: does anyone read it again within a second?
                if not select.select([], [sender], [], 1.0)[1]:
                    break
        assert accepted < offered, "the reader kept reading for a worker that was not keeping up"
        assert collector.inbox_bytes <= bound + len(message)
    finally:
        worker_may_go.set()
        sender.close()
    data = collector.stop()
    assert data.calls.total.calls == accepted and collector.inbox_bytes == 0
