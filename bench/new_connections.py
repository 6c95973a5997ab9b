"""What does a call on a new connection cost a ``router proxy``, next to one on a kept-alive connection?

Run: ``python bench/new_connections.py [--calls 2000] [--seconds 10] [--clients 16]``. One real proxy on
127.0.0.1 in front of a loopback fake provider (``bench/load_support``); a small chat completion each
call. Printed, p50 and p99 beside each other:

- one client, ``--calls`` calls one after another, each on a new connection, then as many on one
  kept-alive connection (the same run's baseline);
- ``--clients`` clients for ``--seconds``, each opening a new connection for every call (a busy
  client without keep-alive, or a flood of them): calls a second and latency.

The proxy takes every connection waiting each time its loop looks at the listening socket
(docs/proxy-limits.md#accepting); this script says what that path costs when nothing is hostile.
"""

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import List, Optional

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from load_support.proxy_under_test import ProxyUnderTest, percentile  # noqa: E402
from load_support.raw_http import Connection, request_bytes  # noqa: E402

CHAT = "/v1/chat/completions"
BODY = {"model": "gpt-ok", "messages": [{"role": "user", "content": "hi"}]}
_TIMEOUT = 10.0


async def _call(port: int, request: bytes, connection: Optional[Connection] = None) -> float:
    """Milliseconds for one call; on ``connection`` if given, else on a new one closed after."""
    started = time.monotonic()
    own = connection is None
    used = connection or await Connection.open(port)
    try:
        answer = await used.exchange(request, _TIMEOUT)
        if answer.status != 200:
            raise RuntimeError(f"the proxy answered {answer.status}")
    finally:
        if own:
            used.close()
    return (time.monotonic() - started) * 1000


async def _one_after_another(port: int, request: bytes, calls: int) -> "tuple[List[float], List[float]]":
    for _ in range(calls // 10):  # warm up both paths
        await _call(port, request)
    kept = await Connection.open(port)
    try:
        new = [await _call(port, request) for _ in range(calls)]
        alive = [await _call(port, request, kept) for _ in range(calls)]
    finally:
        kept.close()
    return new, alive


async def _reconnecting_clients(port: int, request: bytes, clients: int, seconds: float) -> List[float]:
    latencies: List[float] = []
    deadline = time.monotonic() + seconds

    async def client() -> None:
        while time.monotonic() < deadline:
            latencies.append(await _call(port, request))

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


def _row(name: str, latencies: List[float], extra: str = "") -> str:
    p50, p99 = percentile(latencies, 0.5) or 0.0, percentile(latencies, 0.99) or 0.0
    return f"{name:<44} {len(latencies):>7} {p50:>8.2f} {p99:>8.2f}  {extra}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls one after another, on each path")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the reconnecting clients run")
    parser.add_argument("--clients", type=int, default=16, help="clients opening a connection per call")
    args = parser.parse_args()
    request = request_bytes(CHAT, json.dumps(BODY).encode())
    proxy = ProxyUnderTest().start()
    try:
        new, alive = asyncio.run(_one_after_another(proxy.port, request, args.calls))
        churn = asyncio.run(_reconnecting_clients(proxy.port, request, args.clients, args.seconds))
    finally:
        proxy.stop()
    print(f"{'':<44} {'calls':>7} {'p50 ms':>8} {'p99 ms':>8}")
    print(_row("one client, a new connection each call", new))
    print(_row("one client, one kept-alive connection", alive))
    print(_row(f"{args.clients} clients, a new connection each call", churn,
               f"{len(churn) / args.seconds:,.0f} calls/s"))


if __name__ == "__main__":
    main()
