"""Can hostile or careless clients hurt a ``router proxy``, or the clients that use it properly?

Run: ``python bench/hostile.py [--seconds 15] [--recovery 60] [--rounds 1] [--shared-provider]``. One real
proxy on 127.0.0.1 in front of a loopback fake provider (``bench/load_support``), its descriptor limit
at 1024. A *normal client* — another process, one keep-alive connection, a small chat completion
every 50 ms — runs from start to end. Meanwhile each attack runs alone for ``--seconds``, then all of
them together:

- **model names**: 8 connections sending chat calls with made-up model names, each one new (at most
  200,000; as fast as the proxy answers, so this one is also a flood);
- **Responses calls**: 8 connections sending small Responses calls as fast as the proxy answers (at
  most 200,000), each a record the proxy keeps for ``previous_response_id``;
- **idle sockets**: 1,100 connections that send nothing, 10 % of them half a request head, held open;
- **big headers**: requests with one 4 MiB header, two at a time (at most 20), each writing its whole
  request before it reads (the statuses they read are printed);
- **big bodies**: 8 MiB bodies of nested empty arrays, one at a time (at most 10);
- **JSON in strings**: the same 8 MiB of empty arrays inside one tool call's arguments (a string: one
  value to the body's count), sent to a model the proxy translates for, so that the translation
  parses them; one at a time (at most 10; docs/proxy-limits.md#request-bodies);
- **answers of lists**: calls whose backend answers 8 MiB of empty arrays beside its message, sent
  so that the proxy translates the answer; one at a time (at most 10; docs/proxy-limits.md#answers);
- **mid-stream disconnects**: 16 clients that start a slow stream and leave after its first chunk (at most 30,000);
- **pipelined requests**: 8 connections that each write 4 MiB of ``GET /health`` back to back and read
  no answer, a new one whenever the proxy closes one (at most 2,000 connections);
- **stalled bodies**: 32 calls that each send 32 MiB of body less one byte and stop, a new one whenever
  the proxy closes one (at most 2,000): held bodies cost memory until the body timeout or the
  budget for all bodies ends them (docs/proxy-limits.md#request-bodies);
- **store reads**: 8 connections asking for ``/stats?since=all`` and the dashboard's week summary, in
  turn, as fast as the proxy answers (at most 2,000): each walks every call the earlier phases
  stored, so this one runs after them (docs/telemetry-bounds.md#reading-the-store).

The counts are high enough that the floods last the whole phase: at 20,000 names and 2,000 streams
they ended after 3 s and 2 s, so a phase's p99 was the slowest of 30–60 calls, and what builds up
only over time did not show (two writer backlogs did: docs/telemetry-bounds.md#the-writer,
docs/response-store.md#the-writer).

The normal client's model is served by a fake provider process of its own (``--shared-provider``:
by the attackers' one). The fake is one Python process; shared with 16 stream attackers, its own
queue showed in the normal client's latency (p50 5.5–5.8 against 2.6–2.7 ms with its own, under
the stream flood, in two full runs), which measures the fake, not the proxy — a real provider does
not slow down for one client's flood. The two backends still share everything in the proxy: its
event loop, its limits and its stores.

A *control client* — the same code, cadence and body in a process of its own — calls the normal
client's fake provider directly, not through the proxy: its p99 beside the normal client's says how
much of a phase's latency this machine adds to any client and server while the attackers and the
proxy keep its cores busy, and how much is the proxy's (``--shared-provider`` has no control).

Every loop is bounded in count and in time. Printed, per phase: the normal client's p50/p99 and its
failed calls, the proxy's peak resident memory and open descriptors, and the size of ``/metrics``
at the end of the phase; then, once every attacker has gone, how long memory and descriptors took to
come back to what they were before the first attack (sampled every 5 s, at most ``--recovery``).
Targets: the normal client's p99 under attack within 3x its p99 without; memory and descriptors
back to the baseline (within 10 % and 5 descriptors) within 60 s. The figures move with the
machine's load (this is a shared machine): read them against the same run's "no attack" row.
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Dict, List, Optional, Tuple

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from load_support.proxy_under_test import ProxyUnderTest, percentile  # noqa: E402
from load_support.raw_http import Connection, request_bytes  # noqa: E402

CHAT = "/v1/chat/completions"
USER = [{"role": "user", "content": "hi"}]
NORMAL_PERIOD = 0.05
NORMAL_MODEL = "gpt-ok"
Attack = Callable[["Budget"], Awaitable[str]]


@dataclass
class Budget:
    """An attack stops at whichever comes first: its count, or the phase's end."""

    port: int
    deadline: float

    def open(self) -> bool:
        return time.monotonic() < self.deadline

    def left(self) -> float:
        return max(0.1, self.deadline - time.monotonic())


# Attacks ------------------------------------------------------------------------------------------
async def made_up_names(budget: Budget, connections: int = 8, limit: int = 200_000) -> str:
    def request(worker_id: int, number: int) -> bytes:
        name = f"made-up-{worker_id}-{number}-{random.getrandbits(64):016x}"
        return request_bytes(CHAT, {"model": name, "messages": USER})

    return f"{await _flood(budget, connections, limit, request)} names"


async def responses_calls(budget: Budget, connections: int = 8, limit: int = 200_000) -> str:
    """Small Responses calls (translated to the Chat backend), each one a record the proxy stores for
    ``previous_response_id``: its store's writer has to keep up (docs/response-store.md#the-writer)."""
    body = request_bytes("/v1/responses", {"model": "gpt-flood", "input": "hi"})
    return f"{await _flood(budget, connections, limit, lambda worker_id, number: body)} Responses calls"


async def _flood(budget: Budget, connections: int, limit: int, request: Callable[[int, int], bytes]) -> int:
    """``connections`` kept-alive connections sending ``request(worker, number)`` as fast as the proxy
    answers, each answer awaited until the phase ends at most; the number of requests sent."""
    sent = [0]

    async def worker(worker_id: int) -> None:
        connection = await Connection.open(budget.port)
        try:
            while budget.open() and sent[0] < limit:
                sent[0] += 1
                answer = await connection.exchange(request(worker_id, sent[0]), budget.left())
                if answer.closed or answer.status == 0:
                    connection.close()
                    connection = await Connection.open(budget.port)
        finally:
            connection.close()

    await _gather(worker(n) for n in range(connections))
    return sent[0]


async def idle_sockets(budget: Budget, count: int = 1100, half_sent: float = 0.1) -> str:
    opened: List[Connection] = []
    refused = 0
    for number in range(count):
        if not budget.open():
            break
        try:
            connection = await Connection.open(budget.port, timeout=2.0)
        except (OSError, asyncio.TimeoutError):
            refused += 1
            continue
        if number < count * half_sent:
            await connection.send(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ")
        opened.append(connection)
    closed_by_proxy = 0
    while budget.open():
        await asyncio.sleep(0.25)
    for connection in opened:
        if connection.reader.at_eof():
            closed_by_proxy += 1
        connection.close()
    return f"{len(opened)} held, {refused} refused, {closed_by_proxy} closed by the proxy"


async def big_headers(budget: Budget, size: int = 4 << 20, limit: int = 20, parallel: int = 2) -> str:
    statuses: Dict[int, int] = {}
    sent = [0]

    async def worker() -> None:
        while budget.open() and sent[0] < limit:
            sent[0] += 1
            status = await _one_request(budget.port, request_bytes(CHAT, {"model": "gpt-ok", "messages": USER},
                                                                    {"x-big": "a" * size}))
            statuses[status] = statuses.get(status, 0) + 1

    await _gather(worker() for _ in range(parallel))
    return f"{sent[0]} sent, statuses {dict(sorted(statuses.items()))}"


# The big calls go on one after another for the whole phase, as the floods do: ten of them ended the
# phase after a second or two, a p99 over some twenty normal calls.
_BIG_CALLS = 2_000


async def big_bodies(budget: Budget, size: int = 8 << 20, limit: int = _BIG_CALLS) -> str:
    body = b'{"model": "gpt-ok", "messages": [' + b"[]," * (size // 3) + b"[]]}"
    return await _one_at_a_time(budget, request_bytes(CHAT, body), limit)


async def json_in_strings(budget: Budget, size: int = 8 << 20, limit: int = _BIG_CALLS) -> str:
    arguments = '{"rows":[' + "[]," * (size // 3) + "[]]}"
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    body = {"model": "claude-ok", "messages": [  # the Anthropic backend: Chat -> Anthropic parses arguments
        *USER, {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "done"}]}
    return await _one_at_a_time(budget, request_bytes(CHAT, body), limit)


async def answers_of_lists(budget: Budget, limit: int = _BIG_CALLS) -> str:
    body = {"model": "gpt-lists", "max_tokens": 8, "messages": USER}  # Messages to the OpenAI backend: translated
    return await _one_at_a_time(budget, request_bytes("/v1/messages", body, {"anthropic-version": "2023-06-01"}),
                                limit)


async def _one_at_a_time(budget: Budget, request: bytes, limit: int) -> str:
    """``request`` on a connection of its own, the next once it is answered, at most ``limit``."""
    statuses: Dict[int, int] = {}
    sent = 0
    while budget.open() and sent < limit:
        sent += 1
        status = await _one_request(budget.port, request)
        statuses[status] = statuses.get(status, 0) + 1
    return f"{sent} sent, statuses {dict(sorted(statuses.items()))}"


async def mid_stream_disconnects(budget: Budget, parallel: int = 16, limit: int = 30_000) -> str:
    left = [0]
    models = ("gpt-slow", "claude-slow")  # same-protocol, and translated (OpenAI client, Anthropic backend)

    async def worker(worker_id: int) -> None:
        while budget.open() and left[0] < limit:
            left[0] += 1
            body = {"model": models[left[0] % 2], "messages": USER, "stream": True}
            try:
                connection = await Connection.open(budget.port)
                try:
                    await connection.send(request_bytes(CHAT, body))
                    await asyncio.wait_for(connection.read_head(), 10)
                    await asyncio.wait_for(connection.read_first_chunk(), 10)
                finally:
                    connection.close()
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
                await asyncio.sleep(0.05)

    await _gather(worker(n) for n in range(parallel))
    return f"{left[0]} streams left after their first chunk"


async def pipelined_requests(budget: Budget, connections: int = 8, size: int = 4 << 20, limit: int = 2_000) -> str:
    request = request_bytes("/health", b"", method="GET")
    data = request * (size // len(request))
    answers = [0]

    async def pipeline(connection: Connection) -> None:
        with contextlib.suppress(OSError, asyncio.TimeoutError):  # the proxy closes before it has all
            await asyncio.wait_for(connection.send(data), budget.left())
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            answered = await asyncio.wait_for(connection.reader.read(), budget.left())
            answers[0] += answered.count(b"HTTP/1.1 ")

    opened = await _one_connection_after_another(budget, connections, limit, pipeline)
    return f"{opened} connections of {size >> 20} MiB of requests, {answers[0]} answered"


async def stalled_bodies(budget: Budget, parallel: int = 32, size: int = 32 << 20, limit: int = 2_000) -> str:
    head = (f"POST {CHAT} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"content-length: {size}\r\n\r\n").encode()
    body = b" " * (size - 1)
    statuses: Dict[int, int] = {}

    async def stall(connection: Connection) -> None:
        with contextlib.suppress(OSError, asyncio.TimeoutError):  # dropped or refused: closed under the rest
            await asyncio.wait_for(connection.send(head + body), budget.left())
        try:  # an answer (refused), or the close (dropped for room, the body timeout), or the phase's end
            status = (await asyncio.wait_for(connection.read_head(), budget.left()))[0]
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
            status = 0
        statuses[status] = statuses.get(status, 0) + 1

    started = await _one_connection_after_another(budget, parallel, limit, stall)
    return f"{started} bodies of {size >> 20} MiB less a byte, answers {dict(sorted(statuses.items()))}"


async def _one_connection_after_another(budget: Budget, parallel: int, limit: int,
                                        use: Callable[[Connection], Awaitable[None]]) -> int:
    """``parallel`` workers, each opening a connection, handing it to ``use`` and closing it, again
    and again until the phase ends or ``limit`` connections were opened; how many were."""
    opened = [0]

    async def worker() -> None:
        while budget.open() and opened[0] < limit:
            opened[0] += 1
            try:
                connection = await Connection.open(budget.port)
            except (OSError, asyncio.TimeoutError):
                await asyncio.sleep(0.05)
                continue
            try:
                await use(connection)
            finally:
                connection.close()

    await _gather(worker() for _ in range(parallel))
    return opened[0]


async def store_reads(budget: Budget, connections: int = 8, limit: int = 2_000) -> str:
    """Each read waits for the ones before it (the proxy reads for one request at a time); those still
    waiting when the phase ends are left, which the proxy notices (it reads nothing for them)."""
    reads = (request_bytes("/stats?since=all", b"", method="GET"),
             request_bytes("/dashboard/api/summary?window=7d", b"", method="GET"))
    asked = await _flood(budget, connections, limit, lambda worker_id, number: reads[number % 2])
    return f"{asked} reads of the store asked"


async def everything(budget: Budget) -> str:
    results = await asyncio.gather(*(attack(budget) for _, attack in ATTACKS))
    return "; ".join(results)


ALL_AT_ONCE = "all at once"
ATTACKS: List[Tuple[str, Attack]] = [
    ("model names", made_up_names),
    ("Responses calls", responses_calls),
    ("idle sockets", idle_sockets),
    ("big headers", big_headers),
    ("big bodies", big_bodies),
    ("JSON in strings", json_in_strings),
    ("answers of lists", answers_of_lists),
    ("mid-stream disconnects", mid_stream_disconnects),
    ("pipelined requests", pipelined_requests),
    ("stalled bodies", stalled_bodies),
    ("store reads", store_reads),
]


async def _one_request(port: int, data: bytes, timeout: float = 60.0) -> int:
    """Status of one request on its own connection (0: no answer, the connection died)."""
    try:
        connection = await Connection.open(port)
    except (OSError, asyncio.TimeoutError):
        return 0
    try:
        return (await connection.exchange(data, timeout)).status
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
        return 0
    finally:
        connection.close()


async def _gather(coroutines: "object") -> None:
    await asyncio.gather(*coroutines, return_exceptions=True)  # type: ignore[call-overload]


# The normal client (a process of its own) -----------------------------------------------------------
def normal_client(port: int, out: str) -> None:
    """One call every NORMAL_PERIOD seconds until SIGTERM; (monotonic start, ms, ok, on a new connection)
    per call to ``out``. Every fifth call opens a new connection, as a client without keep-alive (curl)
    always does: a proxy out of descriptors fails those first, and under a connection flood they wait
    in the listen queue behind the attackers' (docs/proxy-limits.md#measured)."""
    import http.client

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    body = json.dumps({"model": NORMAL_MODEL, "messages": USER}).encode()
    records: List[Tuple[float, float, bool, bool]] = []
    connection: Optional[http.client.HTTPConnection] = None
    next_at = time.monotonic()
    while not stopping:
        started = time.monotonic()
        ok = False
        new_connection = connection is None or len(records) % 5 == 0
        try:
            if connection is not None and new_connection:
                connection.close()
                connection = None
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("POST", CHAT, body, {"content-type": "application/json"})
            response = connection.getresponse()
            ok = response.status == 200 and b"choices" in response.read()
        except (OSError, http.client.HTTPException):
            if connection is not None:
                connection.close()
            connection = None
        records.append((started, (time.monotonic() - started) * 1000, ok, new_connection))
        next_at += NORMAL_PERIOD
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at = max(next_at, time.monotonic() - NORMAL_PERIOD)
    Path(out).write_text(json.dumps(records))


# The run -----------------------------------------------------------------------------------------
@dataclass
class Phase:
    name: str
    started: float = 0.0
    ended: float = 0.0
    peak_rss: float = 0.0
    peak_children_rss: float = 0.0  # the processes the proxy started: its store's reading process
    peak_fds: int = 0
    metrics_bytes: int = 0
    note: str = ""
    latencies: List[float] = field(default_factory=list)
    control_latencies: List[float] = field(default_factory=list)  # the control client's, beside the proxy
    failures: int = 0
    calls: List[Tuple[float, float]] = field(default_factory=list)  # (start, ms) of each normal call
    worst_new_connection: float = 0.0  # ms: the slowest call that opened its connection (it waits to be accepted)

    def longest_gap(self) -> float:
        """Seconds the normal client went without a call finishing or starting (it was held, or starved)."""
        moments = [self.started] + [t for start, ms in self.calls for t in (start, start + ms / 1000)] + [self.ended]
        moments.sort()
        return max((b - a for a, b in itertools.pairwise(moments)), default=0.0)


async def _run_phase(proxy: ProxyUnderTest, phase: Phase, attack: Optional[Attack], seconds: float) -> None:
    phase.started = time.monotonic()
    budget = Budget(proxy.port, phase.started + seconds)
    task = asyncio.ensure_future(attack(budget)) if attack else asyncio.ensure_future(asyncio.sleep(seconds))
    while not task.done():
        phase.peak_rss = max(phase.peak_rss, proxy.rss_mib())
        phase.peak_children_rss = max(phase.peak_children_rss, proxy.children_rss_mib())
        phase.peak_fds = max(phase.peak_fds, proxy.open_fds())
        await asyncio.sleep(0.5)
    result = task.result()
    phase.note = result if isinstance(result, str) else ""
    phase.ended = time.monotonic()
    phase.metrics_bytes = await asyncio.to_thread(proxy.metrics_size)


def _recovery(proxy: ProxyUnderTest, rss: float, fds: int, limit: float) -> List[Tuple[float, float, int]]:
    samples, started = [], time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        samples.append((elapsed, proxy.tree_rss_mib(), proxy.open_fds()))
        if (samples[-1][1] <= rss * 1.10 and samples[-1][2] <= fds + 5) or elapsed >= limit:
            return samples
        time.sleep(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="how long each attack phase lasts")
    parser.add_argument("--recovery", type=float, default=60.0, help="how long to watch the proxy recover")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the attacks this many times: memory a round keeps is reused by the next, or leaks")
    parser.add_argument("--proxy-arg", action="append", default=[], help="an extra `router proxy` option")
    parser.add_argument("--attack", action="append", choices=[name for name, _ in ATTACKS] + [ALL_AT_ONCE],
                        default=[], help=f"run only this attack (repeatable; no {ALL_AT_ONCE!r} phase then, "
                                         f"unless named)")
    parser.add_argument("--shared-provider", action="store_true",
                        help="serve the normal client from the attackers' fake provider, not one of its own")
    parser.add_argument("--normal-client", nargs=2, metavar=("PORT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.normal_client:
        normal_client(int(args.normal_client[0]), args.normal_client[1])
        return
    _raise_own_descriptor_limit()
    proxy = ProxyUnderTest(args.proxy_arg, own_provider_for="" if args.shared_provider else NORMAL_MODEL).start()
    out = Path(tempfile.mkstemp(prefix="hostile-normal-", suffix=".json")[1])
    control_out = Path(tempfile.mkstemp(prefix="hostile-control-", suffix=".json")[1])
    try:
        _warm_up(proxy)
        base_rss, base_fds, base_kinds = proxy.rss_mib(), proxy.open_fds(), proxy.resident_kinds()
        client = subprocess.Popen([sys.executable, __file__, "--normal-client", str(proxy.port), str(out)])
        control = (subprocess.Popen([sys.executable, __file__, "--normal-client", str(proxy.own_provider_port),
                                     str(control_out)]) if proxy.own_provider_port else None)
        phases, attacks = _phases(args.rounds, args.attack)
        rss_after_rounds: List[float] = []
        for phase, attack in zip(phases, attacks, strict=True):
            asyncio.run(_run_phase(proxy, phase, attack, args.seconds))
            if not proxy.alive():
                phase.note += " — THE PROXY DIED"
                break
            if attack is everything:
                rss_after_rounds.append(proxy.tree_rss_mib())
        recovery = _recovery(proxy, base_rss, base_fds, args.recovery) if proxy.alive() else []
        kinds_after = proxy.resident_kinds() if proxy.alive() else {}
        for process in filter(None, (client, control)):
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        _assign_calls(phases, json.loads(out.read_text()))
        if control is not None:
            _assign_control_calls(phases, json.loads(control_out.read_text()))
        _report(phases, base_rss, base_fds, recovery, args)
        _report_rounds(base_rss, rss_after_rounds)
        _report_kinds(base_kinds, kinds_after)
    finally:
        proxy.stop()
        out.unlink(missing_ok=True)
        control_out.unlink(missing_ok=True)


def _phases(rounds: int, only: List[str]) -> Tuple[List[Phase], List[Optional[Attack]]]:
    """The quiet baseline, then each attack alone and all at once, ``rounds`` times (or only the
    attacks named, each alone: for studying one; naming ``all at once`` runs every attack together
    without running each alone first)."""
    chosen = [(name, attack) for name, attack in ATTACKS if not only or name in only]
    if not only or ALL_AT_ONCE in only:
        chosen.append((ALL_AT_ONCE, everything))
    phases, attacks = [Phase("no attack")], [None]
    for round_number in range(1, rounds + 1):
        suffix = f" #{round_number}" if rounds > 1 else ""
        phases += [Phase(name + suffix) for name, _ in chosen]
        attacks += [attack for _, attack in chosen]
    return phases, attacks


def _report_rounds(base_rss: float, after: List[float]) -> None:
    """Memory the proxy kept after each round. The allocator keeps what the first round took (a
    high-water mark, reused); a leak shows as growth from one round to the next."""
    if len(after) < 2:
        return
    steps = ", ".join(f"{rss:.1f}" for rss in after)
    print(f"RSS after each round (MiB): {steps}; baseline {base_rss:.1f}; "
          f"round 1 → {len(after)}: {after[-1] - after[0]:+.1f} MiB ({(after[-1] / after[0] - 1) * 100:+.1f} %)")


def _report_kinds(before: Dict[str, float], after: Dict[str, float]) -> None:
    """Where the resident memory is, before the attacks and at the end of the recovery: what stays
    in glibc's main arena (``heap``) is not where CPython's object arenas are (``anonymous``)."""
    if after:
        print("resident by mapping (MiB, before → after): " + ", ".join(
            f"{kind} {before[kind]:.1f} → {after[kind]:.1f}" for kind in before))


def _raise_own_descriptor_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))


def _warm_up(proxy: ProxyUnderTest) -> None:
    """The first calls load code and fill pools: they belong to the baseline, not to an attack."""
    async def run() -> None:
        connection = await Connection.open(proxy.port)
        try:
            for number in range(200):
                body = {"model": ("gpt-ok", "claude-ok")[number % 2], "messages": USER, "stream": number % 4 < 2}
                await connection.exchange(request_bytes(CHAT, body))
        finally:
            connection.close()

    asyncio.run(run())
    proxy.metrics_size()


def _phase_at(phases: List[Phase], moment: float) -> Optional[Phase]:
    return next((phase for phase in phases if phase.started <= moment < phase.ended), None)


def _assign_calls(phases: List[Phase], records: List[List[float]]) -> None:
    for started, latency, ok, new_connection in records:
        phase = _phase_at(phases, started)
        if phase is not None:
            phase.latencies.append(latency)
            phase.calls.append((started, latency))
            phase.failures += 0 if ok else 1
            if new_connection:
                phase.worst_new_connection = max(phase.worst_new_connection, latency)


def _assign_control_calls(phases: List[Phase], records: List[List[float]]) -> None:
    for started, latency, _ok, _new_connection in records:
        phase = _phase_at(phases, started)
        if phase is not None:
            phase.control_latencies.append(latency)


def _report(phases: List[Phase], rss: float, fds: int, recovery: List[Tuple[float, float, int]],
            args: argparse.Namespace) -> None:
    baseline_p99 = percentile(phases[0].latencies, 0.99) or 0.0
    control_baseline_p99 = percentile(phases[0].control_latencies, 0.99) or 0.0
    print(f"router proxy under attack: {args.seconds:g} s per phase; before the attacks: RSS {rss:.1f} MiB, "
          f"{fds} descriptors (limit 1024)")
    print(f"{'phase':<24} {'secs':>4} {'calls':>5} {'failed':>6} {'p50 ms':>7} {'p99 ms':>7} {'p99/base':>8} "
          f"{'control p99':>13} {'new conn':>8} {'gap s':>5} {'RSS MiB':>8} {'+reader':>7} {'fds':>5} {'/metrics':>9}  "
          "what the attackers did")
    for phase in phases:
        p50, p99 = percentile(phase.latencies, 0.5), percentile(phase.latencies, 0.99)
        ratio = f"{p99 / baseline_p99:.1f}x" if p99 and baseline_p99 else "-"
        control_p99 = percentile(phase.control_latencies, 0.99)
        control = (f"{control_p99:.1f} {control_p99 / control_baseline_p99:.1f}x"
                   if control_p99 and control_baseline_p99 else "-")
        verdict = "" if phase is phases[0] or not p99 else (" ok" if p99 <= 3 * baseline_p99 else " OVER")
        print(f"{phase.name:<24} {phase.ended - phase.started:>4.0f} {len(phase.latencies):>5} {phase.failures:>6} "
              f"{_ms(p50):>7} {_ms(p99):>7} "
              f"{ratio + verdict:>8} {control:>13} {_ms(phase.worst_new_connection):>8} {phase.longest_gap():>5.1f} "
              f"{phase.peak_rss:>8.1f} {phase.peak_children_rss:>7.1f} {phase.peak_fds:>5} "
              f"{phase.metrics_bytes:>9}  {phase.note}")
    print(f"(a phase ends after {args.seconds:g} s or when its attacks reach their counts; the normal client calls "
          f"every {NORMAL_PERIOD * 1000:.0f} ms, every fifth on a new connection ('new conn': the slowest of "
          "those, ms), and 'gap s' is the longest it went without starting or finishing one; '+reader': the "
          "peak RSS of the process the proxy reads its store in, apart from its own; after the attacks, RSS "
          "is the two together; 'control p99': the control client's, straight to the fake, and over its own "
          "quiet p99)")
    if recovery:
        last = recovery[-1]
        back = last[1] <= rss * 1.10 and last[2] <= fds + 5
        print(f"after the attacks: RSS {recovery[0][1]:.1f} → {last[1]:.1f} MiB, descriptors {recovery[0][2]} → "
              f"{last[2]} after {last[0]:.0f} s ({'back to the baseline' if back else 'NOT back'} "
              f"within {args.recovery:g} s; target 60 s)")
        print("  samples (s, MiB, fds): " + ", ".join(f"({t:.0f}, {r:.1f}, {f})" for t, r, f in recovery))


def _ms(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1f}"


if __name__ == "__main__":
    main()
