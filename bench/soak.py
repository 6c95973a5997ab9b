"""Does a ``router proxy`` hold flat under a long mixed load with faults? RSS and descriptors per minute.

Run: ``python bench/soak.py [--minutes 30] [--workers 4] [--warm-up 3]``. One real proxy (read and
connect timeouts of 2 s) in front of a loopback fake provider that also fails
(``bench/load_support``). ``--workers`` clients, each on its own connection with a 10 ms pause
between calls, pick every call from this mix:

| weight (of 110) | call |
| --- | --- |
| 16 | OpenAI client, same protocol (``gpt-ok``), whole or streamed |
| 14 | OpenAI client, translated to the Anthropic backend (``claude-ok``), whole or streamed |
| 10 | Anthropic client, same protocol; 10: translated to the OpenAI backend |
| 12 | Responses client: to the Chat backend; streamed to Anthropic; continuing its last response (chains of 5) |
| 4 | ``count_tokens``; 3: ``GET /v1/models``; 2: a made-up model name (404) |
| 10 | a stream the client leaves after its first chunk (``*-slow``, both routes) |
| 5 | upstream ``500``; 4: upstream ``429`` |
| 8 | upstream connection reset mid-stream |
| 2 | upstream that never answers (the proxy's read timeout ends it) |
| 7 | a stream on ``chain-*``: its first backend opens streams with an in-band overload, the second answers |
| 3 | a call answered whole on ``chain-*``: the first backend's answer is a ``200`` whose body is an overload |

Every Responses call leaves a record in the proxy's store of responses (``previous_response_id``:
docs/response-store.md), whose file is counted with the telemetry store's.

Every minute one line: calls made, the statuses seen, the proxy's resident memory and open
descriptors, the telemetry database's size (``--telemetry-max-events N`` bounds its rows, so the store
prunes under the load: docs/telemetry-bounds.md#retention). At the end, the growth of memory and descriptors from
the end of the warm-up to the last minute, and the largest value after the warm-up. Target: growth
< 5 % after warm-up.

Descriptors are counted five times a second apart each minute, and judged by the fewest of the
five: every call in flight holds one or two (its client's connection when it opened a new one, its
upstream connection), so a single count moves by a few with the moment it is taken (31 at one
minute, 33 the next: +6 %, and no leak), while a leak raises the fewest too. The most of the five is
printed beside it.
"""

import argparse
import asyncio
import collections
import json
import random
import sys
import time
from pathlib import Path
from typing import Counter, Dict, List, Tuple

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from load_support.proxy_under_test import ProxyUnderTest  # noqa: E402
from load_support.raw_http import Connection, request_bytes  # noqa: E402

USER = [{"role": "user", "content": "hi"}]
PAUSE = 0.01
RESPONSES = "/v1/responses"
CONTINUES = "responses, continued"
LONGEST_CHAIN = 5  # then a new conversation: the soak's load stays the same size
# (weight, name, path, model, stream, leaves after the first chunk)
MIX: List[Tuple[int, str, str, str, bool, bool]] = [
    (8, "openai", "/v1/chat/completions", "gpt-ok", False, False),
    (8, "openai stream", "/v1/chat/completions", "gpt-ok", True, False),
    (7, "openai→anthropic", "/v1/chat/completions", "claude-ok", False, False),
    (7, "openai→anthropic stream", "/v1/chat/completions", "claude-ok", True, False),
    (5, "anthropic", "/v1/messages", "claude-ok", False, False),
    (5, "anthropic stream", "/v1/messages", "claude-ok", True, False),
    (5, "anthropic→openai", "/v1/messages", "gpt-ok", False, False),
    (5, "anthropic→openai stream", "/v1/messages", "gpt-ok", True, False),
    (4, "responses→openai", RESPONSES, "gpt-ok", False, False),
    (4, "responses→anthropic stream", RESPONSES, "claude-ok", True, False),
    (4, CONTINUES, RESPONSES, "gpt-ok", False, False),
    (4, "count_tokens", "/v1/messages/count_tokens", "claude-ok", False, False),
    (3, "models", "/v1/models", "", False, False),
    (2, "made-up name", "/v1/chat/completions", "made-up-{n}", False, False),
    (5, "leaves mid-stream", "/v1/chat/completions", "gpt-slow", True, True),
    (5, "leaves mid-stream, translated", "/v1/chat/completions", "claude-slow", True, True),
    (5, "upstream 500", "/v1/chat/completions", "gpt-err500", False, False),
    (4, "upstream 429", "/v1/messages", "claude-err429", False, False),
    (4, "upstream reset", "/v1/chat/completions", "gpt-reset", True, False),
    (4, "upstream reset, translated", "/v1/messages", "gpt-reset", True, False),
    (2, "upstream hangs", "/v1/chat/completions", "gpt-hang", False, False),
    (4, "opens with an overload, falls back", "/v1/messages", "chain-1", True, False),
    (3, "opens with an overload, falls back, translated", "/v1/chat/completions", "chain-1", True, False),
    (2, "a 200 that is an overload, falls back", "/v1/messages", "chain-1", False, False),
    (1, "a 200 that is an overload, falls back, translated", "/v1/chat/completions", "chain-1", False, False),
]
# The chain-* route: the Anthropic backend's streams open with an overload, the OpenAI one answers.
CHAIN_ROUTE = """
[[routes]]
match = "chain-*"
backend = ["anthropic:claude-overload", "openai:gpt-ok"]
"""


class Conversation:
    """A worker's Responses conversation: the response its next continuing call names."""

    def __init__(self) -> None:
        self.last_id = ""
        self.length = 0

    def previous(self) -> str:
        """The id to continue, or "" to start again (none yet, or the chain is long enough)."""
        return self.last_id if 0 < self.length < LONGEST_CHAIN else ""

    def answered(self, body: bytes, continued: bool) -> None:
        try:
            response_id = json.loads(body)["id"]
        except (ValueError, KeyError, TypeError):
            return
        self.last_id, self.length = response_id, self.length + 1 if continued else 1


class Tally:
    def __init__(self) -> None:
        self.calls = 0
        self.statuses: Counter[str] = collections.Counter()

    def take(self) -> Tuple[int, Dict[str, int]]:
        calls, statuses = self.calls, dict(self.statuses)
        self.calls, self.statuses = 0, collections.Counter()
        return calls, statuses


async def _worker(port: int, tally: Tally, deadline: float, seed: int) -> None:
    rng = random.Random(seed)
    weights = [entry[0] for entry in MIX]
    conversation = Conversation()
    connection = await Connection.open(port)
    try:
        while time.monotonic() < deadline:
            _, name, path, model, stream, leaves = rng.choices(MIX, weights)[0]
            if leaves:
                status = await _leave_mid_stream(port, path, model)
            else:
                body = _body(path, model.format(n=rng.getrandbits(48)), stream)
                previous = conversation.previous() if name == CONTINUES else ""
                if previous:
                    body["previous_response_id"] = previous
                connection, status, answer = await _call(connection, port, path, body)
                if path == RESPONSES and not stream and status == "200":
                    conversation.answered(answer, bool(previous))
            tally.calls += 1
            tally.statuses[status] += 1
            await asyncio.sleep(PAUSE)
    finally:
        connection.close()


def _body(path: str, model: str, stream: bool) -> Dict[str, object]:
    body: Dict[str, object] = {"model": model}
    body.update({"input": "hi"} if path == RESPONSES else {"messages": USER})
    if path.startswith("/v1/messages") and not path.endswith("count_tokens"):
        body["max_tokens"] = 64
    if stream:
        body["stream"] = True
    return body


async def _call(connection: Connection, port: int, path: str,
                body: Dict[str, object]) -> Tuple[Connection, str, bytes]:
    """The call on ``connection`` (a new one when the proxy closed it): the connection to go on
    with, the status (or the failure's name) and the answer's body."""
    headers = {"anthropic-version": "2023-06-01"} if path.startswith("/v1/messages") else {}
    if path == "/v1/models":
        data = request_bytes(path, b"", headers, method="GET")
    else:
        data = request_bytes(path, body, headers)
    try:
        answer = await connection.exchange(data, timeout=30)
        status = str(answer.status) if answer.status else "no answer"
        if answer.closed or not answer.status:
            connection.close()
            connection = await Connection.open(port)
        return connection, status, answer.body
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
        connection.close()
        return await Connection.open(port), type(exc).__name__, b""


async def _leave_mid_stream(port: int, path: str, model: str) -> str:
    try:
        connection = await Connection.open(port)
        try:
            await connection.send(request_bytes(path, _body(path, model, True)))
            status, _ = await asyncio.wait_for(connection.read_head(), 10)
            await asyncio.wait_for(connection.read_first_chunk(), 10)
            return f"{status}, left"
        finally:
            connection.close()
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
        return type(exc).__name__


FD_COUNTS = 5  # descriptor counts a minute, a second apart (the module docstring says why)


async def _descriptors(proxy: ProxyUnderTest) -> Tuple[int, int]:
    """The fewest and the most open descriptors over :data:`FD_COUNTS` counts a second apart."""
    counts = [proxy.open_fds()]
    for _ in range(FD_COUNTS - 1):
        await asyncio.sleep(1.0)
        counts.append(proxy.open_fds())
    return min(counts), max(counts)


async def _soak(proxy: ProxyUnderTest, minutes: int, workers: int, warm_up: int) -> List[Tuple[int, float, int]]:
    tally = Tally()
    started = time.monotonic()
    deadline = started + minutes * 60
    tasks = [asyncio.ensure_future(_worker(proxy.port, tally, deadline, seed)) for seed in range(workers)]
    samples: List[Tuple[int, float, int]] = []
    print(f"{'minute':>6} {'calls':>6} {'RSS MiB':>8} {'fds':>4} {'(most)':>6} {'store MiB':>9}  statuses",
          flush=True)
    for minute in range(1, minutes + 1):
        await asyncio.sleep(max(0.0, started + minute * 60 - FD_COUNTS + 1 - time.monotonic()))
        fds, most_fds = await _descriptors(proxy)
        calls, statuses = tally.take()
        rss = proxy.rss_mib()
        samples.append((minute, rss, fds))
        store = sum(path.stat().st_size for pattern in ("telemetry.db*", "responses.db*")
                    for path in proxy.home.glob(pattern)) / (1 << 20)
        mark = " (warm-up)" if minute <= warm_up else ""
        shown = ", ".join(f"{name} {count}" for name, count in sorted(statuses.items()))
        print(f"{minute:>6} {calls:>6} {rss:>8.1f} {fds:>4} {most_fds:>6} {store:>9.1f}  {shown}{mark}", flush=True)
        if not proxy.alive():
            print("THE PROXY DIED")
            break
    await asyncio.gather(*tasks, return_exceptions=True)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--warm-up", type=int, default=3, help="minutes before growth is measured")
    parser.add_argument("--telemetry-max-events", type=int, default=0,
                        help="a [telemetry] max_events for the proxy, so that its store prunes during the run")
    args = parser.parse_args()
    retention = f"\n[telemetry]\nmax_events = {args.telemetry_max_events}\n" if args.telemetry_max_events else ""
    proxy = ProxyUnderTest(["--read-timeout", "2", "--connect-timeout", "2"],
                           extra_config=CHAIN_ROUTE + retention).start()
    try:
        samples = asyncio.run(_soak(proxy, args.minutes, args.workers, args.warm_up))
    finally:
        proxy.stop()
    after = [sample for sample in samples if sample[0] >= args.warm_up]
    if len(after) < 2:
        print("too short to measure growth after the warm-up")
        return
    for label, index, unit in (("RSS", 1, " MiB"), ("descriptors (fewest of each minute's counts)", 2, "")):
        start, last, peak = after[0][index], after[-1][index], max(sample[index] for sample in after)
        growth, peak_growth = (last - start) / start * 100, (peak - start) / start * 100
        verdict = "ok" if peak_growth < 5 else "OVER"
        print(f"{label}: {start:.1f}{unit} at minute {after[0][0]}, {last:.1f}{unit} at minute {after[-1][0]} "
              f"({growth:+.1f} %); largest after the warm-up {peak:.1f}{unit} ({peak_growth:+.1f} %); "
              f"target < 5 %: {verdict}")


if __name__ == "__main__":
    main()
