"""How much does ``router proxy`` add, next to its peers? One run, one table.

Run: ``python bench/proxy.py [--seconds 5] [--json out.json] [--targets direct,router,…] [--profile auto]``
with the project's interpreter (the one ``router`` is installed in).

What it does, all on 127.0.0.1 and bounded in time (about 6–8 minutes with the defaults):

1. Installs what it needs into ``bench/.cache/`` (idempotent): ``wrk`` from Debian (fatal if it
   cannot), the LiteLLM proxy from PyPI into its own venv, claude-code-router 2.0 from npm (a peer
   that does not install or start is reported as an n/a row, with the reason).
2. Starts a fast fake provider (uvloop + httptools, pre-encoded answers in both wire formats)
   pinned to core 1, where wrk also runs; each proxy under test is pinned to core 0, alone.
3. For direct-to-fake, the floor relay (``proxy_support/floor_relay.py``: the least a streaming
   relay on router proxy's own stack does — uvicorn serving, router's upstream client — with no
   routing, translation or telemetry: what it adds is the stack's cost on this machine, in the same
   run), ``router proxy`` (its default upstream client: asyncio connections, httptools parsing),
   ``router proxy --upstream-client aiohttp`` and ``… httpx`` (the upstream-client comparison the
   issue asks for; targets ``router-aiohttp``, ``router-httpx``), the LiteLLM proxy and
   claude-code-router, each
   configured against the same fake: for OpenAI→OpenAI (pass-through) and
   Anthropic-client→OpenAI-backend (translated), non-streaming and streaming, checks the answer
   (200 and the right body), then times it with wrk: latency p50/p99 at concurrency 1 and 16,
   requests/s at concurrency 32 (with the CPU time the proxy used meanwhile, so that requests per
   CPU-second shows the per-core rate even when other work shares the core), and RSS after the runs.
4. Prints the table with added latency (target minus direct-to-fake, same scenario) and marks the
   issue's targets: pass-through added p50 ≤ 0.4 ms and ≥ 2,000 req/s per core; translated added
   p50 ≤ 0.7 ms and ≥ 1,300 req/s per core; RSS ≤ 80 MB. When ``router proxy`` misses one, a
   py-spy profile under load (by layer: upstream client, engine, driver, server…) follows.

Every process it starts runs in its own process group and is killed on exit, whatever happens.
"""

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Dict, List, Optional

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from proxy_support.installers import InstallError, ensure_ccr, ensure_litellm, ensure_wrk  # noqa: E402
from proxy_support.measure import Plan, TargetResult, measure  # noqa: E402
from proxy_support.processes import ManagedProcess, free_port, pinned, start_process, wait_for_port  # noqa: E402
from proxy_support.profiling import ensure_py_spy, profile_under_load  # noqa: E402
from proxy_support.report import render_table, to_json, verdicts  # noqa: E402
from proxy_support.scenarios import SCENARIOS, request_headers  # noqa: E402
from proxy_support.targets import (  # noqa: E402
    DirectTarget,
    Target,
    TargetUnavailable,
    ccr_target,
    floor_target,
    litellm_target,
    router_proxy_argv,
    router_target,
)

CACHE = BENCH_DIR / ".cache"
_PROFILE_SECONDS = 5
PROXY_CORE = 0
CLIENT_CORE = 1  # the fake provider and wrk
ALL_TARGETS = ("direct", "floor", "router", "router-aiohttp", "router-httpx", "litellm", "ccr")


def _parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each timed wrk run (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up run per scenario (default 1 s)")
    parser.add_argument("--targets", default=",".join(ALL_TARGETS), help="comma list of " + ", ".join(ALL_TARGETS))
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON ('-' for stdout)")
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="py-spy profile of router proxy under load: when it misses a target (auto), always, never",
    )
    args = parser.parse_args(argv)
    args.targets = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = sorted(set(args.targets) - set(ALL_TARGETS))
    if unknown:
        parser.error(f"unknown target {unknown[0]!r}")
    if "direct" not in args.targets:
        args.targets.insert(0, "direct")  # the baseline every added latency needs
    return args


def _start_fake(work: Path) -> ManagedProcess:
    port = free_port()
    argv = pinned(CLIENT_CORE, [sys.executable, "-m", "proxy_support.fake_provider", "--port", str(port)])
    fake = start_process("fake-provider", argv, work, cwd=BENCH_DIR)
    fake.extra["port"] = str(port)
    if not wait_for_port(port, 15, fake.popen):
        fake.stop()
        raise RuntimeError(f"the fake provider did not start: {fake.log_tail()}")
    return fake


def _router_available() -> Optional[str]:
    """None when ``router proxy`` exists, else why not."""
    try:
        done = subprocess.run(
            [*router_proxy_argv(), "proxy", "--help"], capture_output=True, text=True, timeout=60, cwd=REPO
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"router not runnable: {exc}"
    if done.returncode != 0:
        return "`router proxy` is not available: " + (done.stderr.strip().splitlines() or ["?"])[-1]
    return None


def _factory(name: str, fake_port: int, work: Path) -> Target:
    """Build (installing if needed) the target called ``name``; raise TargetUnavailable/InstallError."""
    if name == "direct":
        return DirectTarget(f"http://127.0.0.1:{fake_port}")
    if name == "floor":
        return floor_target(fake_port, work, PROXY_CORE, BENCH_DIR)
    if name.startswith("router"):
        reason = _router_available()
        if reason:
            raise TargetUnavailable(reason)
        upstream = name.partition("-")[2] or None  # router-aiohttp → --upstream-client aiohttp
        return router_target(fake_port, work, PROXY_CORE, REPO, upstream_client=upstream)
    if name == "litellm":
        return litellm_target(ensure_litellm(CACHE), fake_port, work, PROXY_CORE)
    return ccr_target(ensure_ccr(CACHE), fake_port, work, PROXY_CORE)


_DISPLAY = {
    "direct": "direct-to-fake",
    "floor": "floor relay",
    "router": "router proxy",
    "router-aiohttp": "router proxy (aiohttp)",
    "router-httpx": "router proxy (httpx)",
    "litellm": "litellm proxy",
    "ccr": "claude-code-router",
}


def _profile(target: Target, result: TargetResult, plan: Plan) -> List[str]:
    """py-spy summaries of ``target`` under load, one per scenario that passed its check."""
    pid = target.server_pid()
    if pid is None:
        return []
    try:
        py_spy = ensure_py_spy(CACHE)
    except InstallError as exc:
        return [f"{target.name}: no profile ({exc})"]
    summaries = []
    for scenario in SCENARIOS:
        outcome = result.scenarios.get(scenario.name)
        if outcome is None or outcome.check_error or outcome.unsupported:
            continue
        print(f"  profiling {target.name}: {scenario.name} …", flush=True)
        headers = request_headers(scenario, target.api_key)
        url = target.base_url + scenario.path
        found = profile_under_load(
            py_spy, pid, plan.wrk, url, scenario.body(), headers, _PROFILE_SECONDS, plan.client_core
        )
        summaries.append(found.render(f"{target.name}, {scenario.name}"))
    return summaries


def _run_target(
    name: str, fake_port: int, work: Path, plan: Plan, results: Dict[str, TargetResult], profile: str
) -> List[str]:
    """Start, measure, (maybe) profile and stop one target; its result goes into ``results``."""
    print(f"== {_DISPLAY[name]}", flush=True)
    try:
        target = _factory(name, fake_port, work)
        target.start()
    except (TargetUnavailable, InstallError) as exc:
        print(f"  n/a: {exc}", flush=True)
        results[_DISPLAY[name]] = TargetResult(_DISPLAY[name], unavailable=str(exc))
        return []
    try:
        time.sleep(0.5)  # let the server finish its start-up work before the first request
        results[target.name] = result = measure(target, SCENARIOS, plan)
        wanted = name.startswith("router") and profile != "never"
        if wanted and (profile == "always" or verdicts(results, SCENARIOS, target.name)):
            return _profile(target, result, plan)
        return []
    finally:
        target.stop()


def _raise_on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop every process


def _load_average() -> str:
    """The 1/5/15-minute load averages: other work on this 2-core machine skews every figure."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _report(results: Dict[str, TargetResult], json_path: Optional[str], profiles: List[str], load: str) -> None:
    print()
    print(render_table(results, SCENARIOS))
    print(f"load average before the run: {load}; after: {_load_average()} (2 cores: anything well above 0 is noise)")
    for name in ("router proxy", "router proxy (httpx)"):
        if name in results:
            missed = verdicts(results, SCENARIOS, name)
            print(f"{name} vs the issue's targets: " + ("all met" if not missed else "; ".join(missed)))
    for summary in profiles:
        print()
        print(summary)
    if json_path:
        data = json.dumps(to_json(results, SCENARIOS), indent=2)
        if json_path == "-":
            print(data)
        else:
            Path(json_path).write_text(data + "\n")


def main(argv: Optional[List[str]] = None) -> int:
    """Run the whole bench; 0 when it ran (missed targets are reported, not fatal), 2 without wrk."""
    args = _parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        wrk = ensure_wrk(CACHE)
    except InstallError as exc:
        print(f"cannot run the bench: {exc}", file=sys.stderr)
        return 2
    load_before = _load_average()
    work = Path(tempfile.mkdtemp(prefix="run-", dir=CACHE))
    print(f"logs and configs of this run: {work}", flush=True)
    plan = Plan(wrk=wrk, seconds=args.seconds, warmup_seconds=args.warmup, client_core=CLIENT_CORE)
    fake = _start_fake(work)
    try:
        fake_port = int(fake.extra["port"])
        results: Dict[str, TargetResult] = {}
        profiles: List[str] = []
        for name in args.targets:
            profiles += _run_target(name, fake_port, work, plan, results, args.profile)
    finally:
        fake.stop()
    _report(results, args.json, profiles, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
