"""What does ``router shim`` cost a program? Start-up, added time per call, time to first byte.

Run: ``python bench/shim.py [--starts N] [--calls N] [--python PATH]``. Prints one table. Every
figure compares a child process *with* the injected directory on ``PYTHONPATH`` (and the shim's
variables set, as ``router shim`` sets them) against the same child without it, in the same run,
baseline first, against the same loopback fake provider (``tests/fakes``):

(a) start-up: median wall time of ``python -c pass`` and ``python -c "import openai"``;
(b) added time per call: a sync, non-streaming ``httpx2`` (else ``httpx``) client posting a chat
    completion — through the shim to ``https://api.openai.com`` (routed to the fake; same-protocol
    with a ``gpt-*`` model, translated with a ``claude-*`` model) versus the same client posting
    straight to the fake; median over many calls of a program calling in a loop (see below), and
    apart, the first call after an idle pause;
(c) time to the first streamed body byte, with and without the shim (same-protocol).

Targets (docs/shim.md#start-up-budget): start-up +5 ms or less when no HTTP library is imported; added per call
≤ 100 µs same-protocol and ≤ 300 µs translated.

On a busy machine the figures drift by more than what they measure, so the runs with and without
the shim alternate: start-ups one by one; per call, one long-lived child per figure (direct,
same-protocol, translated, and the two streamed ones), told to make ``--calls``/``--rounds`` calls
at a time, in turn, round after round, so a change in this machine's speed hits the figures with
and without the shim alike. "added" is the median of the per-round differences. The per-call CPU
rows (the calling thread's CPU time) move much less with load than wall time does.

A child that waited while the others ran is slow again for its next calls, with or without the shim
(this VM: the first call of a batch costs 2–3× a settled one, and calls keep getting faster for ~20
calls), and the shim's longer code path pays more of that. Batches are therefore long (100 calls by
default) and the per-call figures are the medians of each batch's calls after its first
``--settle`` (10): the cost inside a program that calls in a loop. The first call of each batch,
after the pause, is reported in its own rows.

``PYTHONDONTWRITEBYTECODE`` (set in many containers) makes every child compile the shim from source
unless the injected directory holds bytecode for its Python: the bench says so.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fakes import FakeProvider  # noqa: E402

from host.child_env import ChildSetup, child_environment  # noqa: E402
from host.injection import ensure_injection_dir  # noqa: E402
from host.run_dir import RunDir  # noqa: E402
from host.shim_proxy import BackgroundProxy  # noqa: E402
from shim.config import RouterConfig  # noqa: E402

CALLER = textwrap.dedent(
    """
    import json, sys, time, statistics
    try:
        import httpx2 as http
    except ImportError:
        import httpx as http
    url, model, stream = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    headers = {"authorization": "Bearer router-placeholder-key"}

    def call(client):
        \"\"\"One call: wall and CPU time until the response (streams: until the first body byte).\"\"\"
        start, start_cpu = time.perf_counter(), time.thread_time()
        if stream:
            with client.stream("POST", url, json=body, headers=headers) as response:
                chunks = response.iter_raw()
                next(chunks)
                elapsed, elapsed_cpu = time.perf_counter() - start, time.thread_time() - start_cpu
                for _ in chunks:
                    pass
        else:
            response = client.post(url, json=body, headers=headers)
            response.read()
            elapsed, elapsed_cpu = time.perf_counter() - start, time.thread_time() - start_cpu
            assert response.status_code == 200, response.text
        return elapsed, elapsed_cpu

    with http.Client(timeout=30) as client:
        for _ in range(20):  # warm-up: connections, imports, caches
            call(client)
        print(json.dumps({"ready": http.__name__}), flush=True)
        for line in sys.stdin:  # "N S": make N calls; answer with the median wall and CPU times of
            calls, settle = map(int, line.split())  # those after the first S, and the first call's
            times = [call(client) for _ in range(calls)]
            settled = times[settle:] or times
            print(json.dumps({"median": statistics.median(t[0] for t in settled),
                              "cpu": statistics.median(t[1] for t in settled),
                              "first": times[0][0], "first_cpu": times[0][1]}), flush=True)
    """
)


def _config(root: str) -> RouterConfig:
    return RouterConfig.from_dict(
        {
            "backends": {
                "anthropic": {"protocol": "anthropic", "base_url": root, "api_key": "sk-ant-bench"},
                "openai": {"protocol": "openai", "base_url": root + "/v1", "api_key": "sk-oai-bench"},
            }
        }
    )


def _median_walls(python: str, code: str, envs: Sequence[Mapping[str, str]], runs: int) -> List[float]:
    """Median wall time of ``python -c code`` in each environment, the runs interleaved."""
    times: List[List[float]] = [[] for _ in envs]
    for _ in range(runs):
        for env, samples in zip(envs, times, strict=True):
            start = time.perf_counter()
            subprocess.run([python, "-c", code], env=dict(env), check=True)
            samples.append(time.perf_counter() - start)
    return [statistics.median(samples) for samples in times]


class _Caller:
    """A long-lived child making calls in batches when told: the batches of every child alternate,
    tens of milliseconds apart, so what this machine's speed does meanwhile hits them all alike."""

    def __init__(self, python: str, env: Mapping[str, str], url: str, model: str, stream: bool) -> None:
        self._child = subprocess.Popen([python, "-c", CALLER, url, model, "1" if stream else "0"], env=dict(env),
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._answer()  # warmed up

    def batch(self, calls: int, settle: int) -> Dict[str, float]:
        assert self._child.stdin is not None
        self._child.stdin.write(f"{calls} {settle}\n")
        self._child.stdin.flush()
        return self._answer()

    def close(self) -> None:
        assert self._child.stdin is not None
        self._child.stdin.close()
        self._child.wait(30)

    def _answer(self) -> Dict[str, float]:
        assert self._child.stdout is not None
        line = self._child.stdout.readline()
        if not line:
            self._child.wait(30)
            raise SystemExit(f"benchmark child failed (exit {self._child.returncode}); see its stderr above")
        return json.loads(line)  # type: ignore[no-any-return]


def _queue_replies(provider: FakeProvider, count: int) -> None:
    for _ in range(count):
        provider.reply(text="bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--starts", type=int, default=30, help="runs per start-up figure")
    parser.add_argument("--calls", type=int, default=3000, help="calls per per-call figure")
    parser.add_argument("--rounds", type=int, default=30, help="rounds the per-call calls are split into")
    parser.add_argument("--settle", type=int, default=10, help="calls of each round left out of the per-call medians")
    parser.add_argument("--python", default=sys.executable, help="child interpreter (needs httpx2 or httpx, openai)")
    args = parser.parse_args()
    rows = run(args.python, args.starts, args.calls, args.rounds, args.settle)
    _print_table(rows)


Row = Tuple[str, str, str, str, str]


def run(python: str, starts: int, calls: int, rounds: int, settle: int) -> List[Row]:
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.endswith("_API_KEY")}
    injection = ensure_injection_dir()
    with FakeProvider() as provider, RunDir() as run_dir:
        config = _config(provider.root_url)
        run_dir.write_snapshot(config)
        collector = _start_collector(run_dir.socket_path)
        # The proxy router shim runs for the tree, bound as it binds it (never connected to here): the
        # shimmed child gets its URL and the base URLs pointing at it, exactly as under router shim.
        proxy = BackgroundProxy(config, lambda event: None).start()
        setup = ChildSetup(str(injection.path), str(run_dir.snapshot_path), str(run_dir.socket_path), proxy.url, True)
        shimmed = child_environment(base, setup)
        plain = dict(base)
        rows = _startup_rows(python, plain, shimmed, starts)
        rows += _call_rows(python, plain, shimmed, provider, calls, max(1, rounds), settle)
        received = _stop_collector(collector)
        proxy.stop()
    rows.append(("events received by the collector", "", "", received, ""))
    note = _bytecode_note(python, injection.path, shimmed)
    if note:
        print(note, file=sys.stderr)
    return rows


# The host's collector in a process of its own, as under ``router shim``: in this process it would
# share a GIL with the fake provider and slow the fake's answers to shimmed children only.
_COLLECTOR = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from host.collector import TelemetryCollector
    collector = TelemetryCollector(Path(sys.argv[1])).start()
    print("ready", flush=True)
    sys.stdin.read()  # until the bench closes it
    print(collector.stop().calls.total.calls, flush=True)
    """
)


def _start_collector(socket_path: Path) -> "subprocess.Popen[str]":
    collector = subprocess.Popen([sys.executable, "-c", _COLLECTOR, str(socket_path)], cwd=ROOT,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert collector.stdout is not None
    if collector.stdout.readline().strip() != "ready":
        raise SystemExit("the telemetry collector did not start")
    return collector


def _stop_collector(collector: "subprocess.Popen[str]") -> str:
    """Stop the collector; the number of events it received."""
    out, _ = collector.communicate(timeout=60)
    return out.strip() or "?"


def _startup_rows(python: str, plain: Mapping[str, str], shimmed: Mapping[str, str], runs: int) -> List[Row]:
    rows: List[Row] = []
    figures = (("start-up: python -c pass", "pass", 5.0), ("start-up: import openai", "import openai", None))
    for label, code, target in figures:
        without, with_shim = _median_walls(python, code, (plain, shimmed), runs)
        rows.append(_row(label, without * 1e3, with_shim * 1e3, "ms", target))
    return rows


# (name, through the shim?, model, streamed?)
_CALL_FIGURES = (
    ("direct", False, "gpt-bench", False),
    ("same", True, "gpt-bench", False),
    ("translated", True, "claude-bench", False),
    ("direct stream", False, "gpt-bench", True),
    ("same stream", True, "gpt-bench", True),
)


def _call_rows(
    python: str, plain: Mapping[str, str], shimmed: Mapping[str, str], provider: FakeProvider, calls: int,
    rounds: int, settle: int,
) -> List[Row]:
    """Per-call figures from one long-lived child per figure, their batches interleaved round by round."""
    urls = {False: provider.root_url + "/v1/chat/completions", True: "https://api.openai.com/v1/chat/completions"}
    per_round = max(1, calls // rounds)
    _queue_replies(provider, (per_round * rounds + 20) * len(_CALL_FIGURES))
    callers = {name: _Caller(python, shimmed if routed else plain, urls[routed], model, stream)
               for name, routed, model, stream in _CALL_FIGURES}
    samples: Dict[str, List[Dict[str, float]]] = {name: [] for name in callers}
    try:
        for _ in range(rounds):
            for name, caller in callers.items():
                samples[name].append(caller.batch(per_round, settle))
    finally:
        for caller in callers.values():
            caller.close()
    return [
        _paired_row("per call, same-protocol (sync)", samples, "direct", "same", "median", 1e6, "µs", 100.0),
        _paired_row("per call, translated (sync)", samples, "direct", "translated", "median", 1e6, "µs", 300.0),
        _paired_row("  same-protocol, CPU of the caller", samples, "direct", "same", "cpu", 1e6, "µs", None),
        _paired_row("  translated, CPU of the caller", samples, "direct", "translated", "cpu", 1e6, "µs", None),
        _paired_row("first call after a pause, same-protocol", samples, "direct", "same", "first", 1e6, "µs", None),
        _paired_row("first call after a pause, translated", samples, "direct", "translated", "first", 1e6, "µs", None),
        _paired_row("first streamed byte", samples, "direct stream", "same stream", "median", 1e3, "ms", None),
    ]


def _paired_row(
    label: str, samples: Mapping[str, List[Dict[str, float]]], base: str, other: str, key: str, scale: float,
    unit: str, target: Optional[float],
) -> Row:
    """Medians over the rounds; "added" is the median of the per-round differences."""
    without = [run[key] * scale for run in samples[base]]
    with_shim = [run[key] * scale for run in samples[other]]
    added = statistics.median([b - a for a, b in zip(without, with_shim, strict=True)])
    return _row(label, statistics.median(without), statistics.median(with_shim), unit, target, added)


def _bytecode_note(python: str, injection: Path, env: Mapping[str, str]) -> str:
    """A warning when every shimmed child compiles the shim from source (no bytecode it may use)."""
    if not env.get("PYTHONDONTWRITEBYTECODE"):
        return ""
    tag = subprocess.run([python, "-c", "import sys; print(sys.implementation.cache_tag)"],
                         capture_output=True, text=True, check=False).stdout.strip()
    if tag and any(injection.rglob(f"bootstrap.{tag}.pyc")):
        return ""
    return ("note: PYTHONDONTWRITEBYTECODE is set and the injected directory has no bytecode for this Python: "
            "every child compiles the shim from source (start-up and first-call figures include it)")


def _row(
    label: str, without: float, with_shim: float, unit: str, target: Optional[float], added: Optional[float] = None
) -> Row:
    added = with_shim - without if added is None else added
    verdict = "" if target is None else ("ok" if added <= target else "OVER")
    goal = "" if target is None else f"≤ +{target:g} {unit} {verdict}"
    return (label, f"{without:.1f} {unit}", f"{with_shim:.1f} {unit}", f"{added:+.1f} {unit}", goal)


def _print_table(rows: List[Row]) -> None:
    header: Row = ("figure", "without shim", "with shim", "added", "target")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
