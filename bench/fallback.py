"""What does a fallback cost? The engine's cost of a chain, and the time a refused first target adds.

Run: ``python bench/fallback.py [--engine-runs N] [--calls N] [--rounds N]``. Prints one table, p50
and p99 of every figure, each beside its same-run baseline:

(a) engine: one routed call's engine work — ``plan_call``, then the attempts (start, sending, a 200
    answer, committed, close) — on a route of one target, and on a chain of three whose first target
    answers. Target: the chain costs ≤ 10 µs more.
(b) proxy: a ``router proxy`` process, a client at concurrency 1 (keep-alive) posting a chat
    completion: straight to a backend, versus a route whose first target refuses the connection
    (nothing listens on its port) and whose second is that backend. With the breaker off (every call
    is refused first: what the target is about) and, apart, with the default breaker (the refusing
    backend soon cools down and is skipped). Target: ≤ 1 ms added at p50.
(c) shim: the same two calls from a shimmed Python process (httpx2, else httpx, to
    ``https://api.openai.com``), routed in-process. Target: ≤ 0.5 ms added at p50.

The backend is the proxy bench's loopback fake (``bench/proxy_support/fake_provider.py``: answers
encoded once, never the bottleneck). Direct and fallback calls alternate in rounds of ``--calls /
--rounds`` so this machine's drift hits both alike; "added" is the difference of the two medians
(p50) and of the two p99s, over all calls.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # not bench/ itself: its shim.py would hide the shim package

import httpx  # noqa: E402

from bench.proxy_support.processes import free_port, start_process, wait_for_port  # noqa: E402
from host.child_env import ChildSetup, child_environment  # noqa: E402
from host.injection import ensure_injection_dir  # noqa: E402
from host.run_dir import RunDir  # noqa: E402
from shim.attempts import CallAttempts  # noqa: E402
from shim.config import RouterConfig  # noqa: E402
from shim.cooldown import CooldownBook  # noqa: E402
from shim.plan import ClientCall, plan_call  # noqa: E402

Row = Tuple[str, str, str, str]
BODY = {"model": "", "messages": [{"role": "user", "content": "Say hello in one word."}]}


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# (a) The engine ------------------------------------------------------------------------------------


def engine_rows(runs: int) -> List[Row]:
    backends = {name: {"protocol": "openai", "base_url": f"http://{name}.test/v1", "api_key": "k"}
                for name in ("a", "b", "c")}
    single = RouterConfig.from_dict({"backends": backends, "routes": [{"match": "m*", "backend": "a"}]})
    chain = RouterConfig.from_dict({"backends": backends, "routes": [{"match": "m*", "backend": ["a", "b", "c"]}]})
    call = ClientCall("chat", {"authorization": "Bearer x"}, json.dumps({**BODY, "model": "m-1"}).encode())
    book, rng = CooldownBook(single.cooldown), random.Random(1)

    def one(config: RouterConfig) -> float:
        start = time.perf_counter_ns()
        plan = plan_call(config, call, now=1.0, call_id="c")
        attempts = CallAttempts(plan, book, rng)
        attempts.start(0.0)
        attempts.sending(0.0)
        attempts.answered(200, {}, now=0.0, wall_now=0.0)
        attempts.committed()
        attempts.close()
        return (time.perf_counter_ns() - start) / 1000.0

    timings: Dict[str, List[float]] = {"single": [], "chain": []}
    for _ in range(200):  # warm-up
        one(single), one(chain)
    for _ in range(runs // 100):  # alternate batches: drift hits both alike
        timings["single"] += [one(single) for _ in range(100)]
        timings["chain"] += [one(chain) for _ in range(100)]
    return _pair("engine: plan + attempts, µs", timings["single"], timings["chain"], "µs", "≤ 10 µs")


# (b) The proxy -------------------------------------------------------------------------------------


def proxy_config(backend_port: int, dead_port: int, breaker: bool) -> str:
    return textwrap.dedent(f"""
        [backends.second]
        protocol = "openai"
        base_url = "http://127.0.0.1:{backend_port}/v1"
        [backends.dead]
        protocol = "openai"
        base_url = "http://127.0.0.1:{dead_port}/v1"
        [[routes]]
        match = "direct-*"
        backend = "second"
        [[routes]]
        match = "fallback-*"
        backend = ["dead", "second"]
        [cooldown]
        failures = {3 if breaker else 0}
    """)


def proxy_rows(backend_port: int, calls: int, rounds: int, logs: Path) -> List[Row]:
    rows: List[Row] = []
    for breaker in (False, True):
        home = Path(tempfile.mkdtemp(prefix="bench-fallback-"))
        (home / "config.toml").write_text(proxy_config(backend_port, free_port(), breaker))
        port = free_port()
        env = {**os.environ, "ROUTER_HOME": str(home)}
        proxy = start_process(f"proxy-{breaker}", [sys.executable, "-m", "host", "proxy", "--port", str(port)],
                              logs, env=env, cwd=ROOT)
        try:
            if not wait_for_port(port, 30, proxy.popen):
                raise SystemExit(f"the proxy did not start:\n{proxy.log_tail()}")
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            with httpx.Client(timeout=30) as client:
                direct, fallback = _alternate(lambda model, url=url: _post(client, url, model), calls, rounds)
        finally:
            proxy.stop()
        what = "refused every time (breaker off)" if not breaker else "default breaker (refuser skipped)"
        rows += _pair(f"proxy: direct vs first target {what}, ms", direct, fallback, "ms",
                      "≤ 1 ms" if not breaker else "")
    return rows


def _post(client: httpx.Client, url: str, model: str) -> float:
    start = time.perf_counter()
    response = client.post(url, json={**BODY, "model": model}, headers={"authorization": "Bearer bench"})
    response.read()
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.text
    return elapsed * 1000.0


def _alternate(call: Callable[[str], float], calls: int, rounds: int) -> Tuple[List[float], List[float]]:
    direct: List[float] = []
    fallback: List[float] = []
    for _ in range(20):  # warm-up: connections, caches, the breaker's first failures
        call("direct-x"), call("fallback-x")
    per_round = max(1, calls // rounds)
    for _ in range(rounds):
        direct += [call("direct-x") for _ in range(per_round)]
        fallback += [call("fallback-x") for _ in range(per_round)]
    return direct, fallback


# (c) The shim --------------------------------------------------------------------------------------

CALLER = textwrap.dedent("""
    import json, sys, time
    try:
        import httpx2 as http
    except ImportError:
        import httpx as http
    calls, rounds = int(sys.argv[1]), int(sys.argv[2])
    url = "https://api.openai.com/v1/chat/completions"
    body = {"messages": [{"role": "user", "content": "Say hello in one word."}]}

    def call(client, model):
        start = time.perf_counter()
        response = client.post(url, json={**body, "model": model}, headers={"authorization": "Bearer x"})
        response.read()
        assert response.status_code == 200, response.text
        return (time.perf_counter() - start) * 1000.0

    direct, fallback = [], []
    with http.Client(timeout=30) as client:
        for _ in range(20):
            call(client, "direct-x"), call(client, "fallback-x")
        for _ in range(rounds):
            direct += [call(client, "direct-x") for _ in range(calls // rounds)]
            fallback += [call(client, "fallback-x") for _ in range(calls // rounds)]
    print(json.dumps({"direct": direct, "fallback": fallback}))
""")


def shim_rows(backend_port: int, calls: int, rounds: int) -> List[Row]:
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.endswith("_API_KEY")}
    config = RouterConfig.from_dict({
        "backends": {
            "second": {"protocol": "openai", "base_url": f"http://127.0.0.1:{backend_port}/v1", "api_key": "k"},
            "dead": {"protocol": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1"},
        },
        "routes": [{"match": "direct-*", "backend": "second"}, {"match": "fallback-*", "backend": ["dead", "second"]}],
        "cooldown": {"failures": 0},
    })
    with RunDir() as run_dir:
        run_dir.write_snapshot(config)
        setup = ChildSetup(str(ensure_injection_dir().path), str(run_dir.snapshot_path), str(run_dir.socket_path),
                           None, True)
        env: Mapping[str, str] = child_environment(base, setup)
        done = subprocess.run([sys.executable, "-c", CALLER, str(calls), str(rounds)], env=dict(env),
                              capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise SystemExit(f"the shimmed child failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return _pair("shim: direct vs first target refused (breaker off), ms", result["direct"], result["fallback"],
                 "ms", "≤ 0.5 ms")


# The table -----------------------------------------------------------------------------------------


def _pair(title: str, base: List[float], measured: List[float], unit: str, target: str) -> List[Row]:
    p50 = statistics.median(measured) - statistics.median(base)
    p99 = percentile(measured, 0.99) - percentile(base, 0.99)
    return [
        (title, f"{statistics.median(base):.3f} / {percentile(base, 0.99):.3f}",
         f"{statistics.median(measured):.3f} / {percentile(measured, 0.99):.3f}",
         f"{p50:+.3f} / {p99:+.3f} {unit}" + (f"  (target {target} at p50)" if target else "")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine-runs", type=int, default=20000)
    parser.add_argument("--calls", type=int, default=2000, help="calls per figure, each of direct and fallback")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--skip", choices=["engine", "proxy", "shim"], action="append", default=[])
    args = parser.parse_args()
    rows: List[Row] = []
    if "engine" not in args.skip:
        rows += engine_rows(args.engine_runs)
    logs = Path(tempfile.mkdtemp(prefix="bench-fallback-logs-"))
    backend_port = free_port()
    fake = start_process("fake-provider", [sys.executable, "-m", "proxy_support.fake_provider", "--port",
                                           str(backend_port)], logs, cwd=ROOT / "bench")
    try:
        if not wait_for_port(backend_port, 30, fake.popen):
            raise SystemExit(f"the fake provider did not start:\n{fake.log_tail()}")
        if "proxy" not in args.skip:
            rows += proxy_rows(backend_port, args.calls, args.rounds, logs)
        if "shim" not in args.skip:
            rows += shim_rows(backend_port, args.calls, args.rounds)
    finally:
        fake.stop()
    _print(rows)


def _print(rows: List[Row]) -> None:
    header = ("figure", "baseline p50 / p99", "measured p50 / p99", "added p50 / p99")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
