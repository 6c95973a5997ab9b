"""What does ``router shim`` cost a program? Start-up, added time per call, time to first byte.

Run: ``python bench/shim.py [--starts N] [--calls N] [--python PATH]``. Prints one table. Every
figure compares a child process *with* the injected directory on ``PYTHONPATH`` (and the shim's
variables set, as ``router shim`` sets them) against the same child without it, in the same run,
baseline first, against the same loopback fake provider (``tests/fakes``):

(a) start-up: median wall time of ``python -c pass`` and ``python -c "import openai"``;
(b) added time per call: a sync, non-streaming ``httpx2`` (else ``httpx``) client posting a chat
    completion — through the shim to ``https://api.openai.com`` (routed to the fake; same-protocol
    with a ``gpt-*`` model, translated with a ``claude-*`` model) versus the same client posting
    straight to the fake; median over many calls, after warm-up;
(c) time to the first streamed body byte, with and without the shim (same-protocol).

Targets (issue 3): start-up +5 ms or less when no HTTP library is imported; added per call
≤ 100 µs same-protocol and ≤ 300 µs translated.
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
from typing import Dict, List, Mapping, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fakes import FakeProvider  # noqa: E402

from host.child_env import ChildSetup, child_environment  # noqa: E402
from host.collector import TelemetryCollector  # noqa: E402
from host.injection import ensure_injection_dir  # noqa: E402
from host.run_dir import RunDir  # noqa: E402
from shim.config import RouterConfig  # noqa: E402

CALLER = textwrap.dedent(
    """
    import json, sys, time, statistics
    try:
        import httpx2 as http
    except ImportError:
        import httpx as http
    url, model, calls, stream = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    headers = {"authorization": "Bearer router-placeholder-key"}
    times = []
    with http.Client(timeout=30) as client:
        for position in range(calls + 20):  # 20 warm-up calls
            start = time.perf_counter()
            if stream:
                with client.stream("POST", url, json=body, headers=headers) as response:
                    chunks = response.iter_raw()
                    next(chunks)
                    elapsed = time.perf_counter() - start
                    for _ in chunks:
                        pass
            else:
                response = client.post(url, json=body, headers=headers)
                response.read()
                elapsed = time.perf_counter() - start
                assert response.status_code == 200, response.text
            if position >= 20:
                times.append(elapsed)
    print(json.dumps({"median": statistics.median(times), "module": http.__name__}))
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


def _median_wall(python: str, code: str, env: Mapping[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([python, "-c", code], env=dict(env), check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _caller(python: str, env: Mapping[str, str], url: str, model: str, calls: int, stream: bool) -> Dict[str, object]:
    done = subprocess.run(
        [python, "-c", CALLER, url, model, str(calls), "1" if stream else "0"],
        env=dict(env), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _queue_replies(provider: FakeProvider, count: int) -> None:
    for _ in range(count):
        provider.reply(text="bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--starts", type=int, default=30, help="runs per start-up figure")
    parser.add_argument("--calls", type=int, default=300, help="calls per per-call figure")
    parser.add_argument("--python", default=sys.executable, help="child interpreter (needs httpx2 or httpx, openai)")
    args = parser.parse_args()
    rows = run(args.python, args.starts, args.calls)
    _print_table(rows)


Row = Tuple[str, str, str, str, str]


def run(python: str, starts: int, calls: int) -> List[Row]:
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.endswith("_API_KEY")}
    injection = ensure_injection_dir()
    with FakeProvider() as provider, RunDir() as run_dir:
        config = _config(provider.root_url)
        run_dir.write_snapshot(config)
        collector = TelemetryCollector(run_dir.socket_path).start()
        setup = ChildSetup(str(injection.path), str(run_dir.snapshot_path), str(run_dir.socket_path), None, True)
        shimmed = child_environment(base, setup)
        plain = dict(base)
        rows = _startup_rows(python, plain, shimmed, starts)
        _queue_replies(provider, 6 * (calls + 20))
        rows += _call_rows(python, plain, shimmed, provider.root_url, calls)
        data = collector.stop()
    rows.append(("events received by the collector", "", "", str(len(data.events)), ""))
    return rows


def _startup_rows(python: str, plain: Mapping[str, str], shimmed: Mapping[str, str], runs: int) -> List[Row]:
    rows: List[Row] = []
    figures = (("start-up: python -c pass", "pass", 5.0), ("start-up: import openai", "import openai", None))
    for label, code, target in figures:
        without = _median_wall(python, code, plain, runs)
        with_shim = _median_wall(python, code, shimmed, runs)
        rows.append(_row(label, without * 1e3, with_shim * 1e3, "ms", target))
    return rows


def _call_rows(python: str, plain: Mapping[str, str], shimmed: Mapping[str, str], root: str, calls: int) -> List[Row]:
    direct_url = root + "/v1/chat/completions"
    routed_url = "https://api.openai.com/v1/chat/completions"
    direct = _caller(python, plain, direct_url, "gpt-bench", calls, False)["median"]
    same = _caller(python, shimmed, routed_url, "gpt-bench", calls, False)["median"]
    translated = _caller(python, shimmed, routed_url, "claude-bench", calls, False)["median"]
    direct_ttfb = _caller(python, plain, direct_url, "gpt-bench", calls // 3, True)["median"]
    shim_ttfb = _caller(python, shimmed, routed_url, "gpt-bench", calls // 3, True)["median"]
    return [
        _row("per call, same-protocol (sync)", direct * 1e6, same * 1e6, "µs", 100.0),  # type: ignore[operator]
        _row("per call, translated (sync)", direct * 1e6, translated * 1e6, "µs", 300.0),  # type: ignore[operator]
        _row("first streamed byte", direct_ttfb * 1e3, shim_ttfb * 1e3, "ms", None),  # type: ignore[operator]
    ]


def _row(label: str, without: float, with_shim: float, unit: str, target: Optional[float]) -> Row:
    added = with_shim - without
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
