"""Turn measurements into the bench's table, target verdicts and JSON.

"Added latency" is a target's percentile minus direct-to-fake's for the same scenario and
concurrency. The issue's targets (floors every peer is beaten by) are judged on added p50 at
concurrency 1, requests/s at concurrency 32 with the proxy on one core, and RSS after the runs.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

from .measure import LATENCY_CONCURRENCIES, THROUGHPUT_CONCURRENCY, ScenarioResult, TargetResult
from .scenarios import Scenario
from .wrk_runner import WrkResult

__all__ = ["TARGETS", "Goal", "render_table", "to_json", "verdicts"]


@dataclass(frozen=True)
class Goal:
    """The issue's targets for one kind of scenario."""

    added_p50_ms: float
    rps: float


TARGETS = {False: Goal(added_p50_ms=0.4, rps=2000.0), True: Goal(added_p50_ms=0.7, rps=1300.0)}
RSS_LIMIT_MB = 80.0
DIRECT = "direct-to-fake"


def _run(result: TargetResult, scenario: str, connections: int) -> Optional[WrkResult]:
    outcome = result.scenarios.get(scenario)
    return outcome.runs.get(connections) if outcome is not None else None


def added(results: Dict[str, TargetResult], target: str, scenario: str, connections: int) -> Optional[List[float]]:
    """[added p50, added p99] in ms versus direct-to-fake, or None when either run is missing."""
    mine, base = _run(results[target], scenario, connections), None
    if DIRECT in results:
        base = _run(results[DIRECT], scenario, connections)
    if mine is None or base is None:
        return None
    return [mine.p50_ms - base.p50_ms, mine.p99_ms - base.p99_ms]


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISS"


def scenario_verdict(results: Dict[str, TargetResult], target: str, scenario: Scenario) -> str:
    """'p50 ok, rps MISS' style verdict against the issue's targets (empty for the baseline)."""
    if target == DIRECT:
        return ""
    goal = TARGETS[scenario.translated]
    delta = added(results, target, scenario.name, 1)
    run = _run(results[target], scenario.name, THROUGHPUT_CONCURRENCY)
    if delta is None or run is None:
        return "n/a"
    verdict = f"p50 {_mark(delta[0] <= goal.added_p50_ms)}, rps {_mark(run.rps >= goal.rps)}"
    per_cpu = results[target].scenarios[scenario.name].requests_per_cpu_second
    if run.rps < goal.rps and per_cpu is not None and per_cpu >= goal.rps:
        verdict += " (ok per CPU-s)"  # the proxy did not get its whole core: other load on the machine
    return verdict


def rss_verdict(result: TargetResult) -> str:
    """RSS in MB with its mark, or '—' for a target without a process of its own."""
    if result.rss_kib is None:
        return "—"
    megabytes = result.rss_kib / 1024
    return f"{megabytes:.0f} MB {_mark(megabytes <= RSS_LIMIT_MB)}"


def _pair(values: Optional[Sequence[float]], signed: bool = False) -> str:
    if values is None:
        return "—"
    fmt = "{:+.2f}" if signed else "{:.2f}"
    return "/".join(fmt.format(value) for value in values)


def _row(results: Dict[str, TargetResult], target: str, scenario: Scenario) -> List[str]:
    outcome: Optional[ScenarioResult] = results[target].scenarios.get(scenario.name)
    if outcome is not None and outcome.unsupported:
        return [target, scenario.name, f"n/a: {outcome.unsupported[:110]}"] + [""] * 8
    if outcome is None or outcome.check_error or outcome.run_error:
        reason = "not run" if outcome is None else (outcome.check_error or outcome.run_error or "")
        return [target, scenario.name, f"FAIL: {reason[:110]}"] + [""] * 8
    cells = [target, scenario.name, "200 ok"]
    for connections in LATENCY_CONCURRENCIES:
        run = outcome.runs.get(connections)
        cells.append(_pair([run.p50_ms, run.p99_ms]) if run else "—")
        cells.append("" if target == DIRECT else _pair(added(results, target, scenario.name, connections), True))
    throughput = outcome.runs.get(THROUGHPUT_CONCURRENCY)
    cells.append(f"{throughput.rps:,.0f}" if throughput else "—")
    per_cpu = outcome.requests_per_cpu_second
    cells.append(f"{per_cpu:,.0f}" if per_cpu is not None else "")
    cells.append(str(sum(run.errors for run in outcome.runs.values())))
    cells.append(scenario_verdict(results, target, scenario))
    return cells


HEADER = [
    "target",
    "scenario",
    "check",
    "c1 p50/p99 ms",
    "c1 added",
    "c16 p50/p99 ms",
    "c16 added",
    "c32 req/s",
    "req/CPU-s",
    "errors",
    "vs targets",
]


def render_table(results: Dict[str, TargetResult], scenarios: Sequence[Scenario]) -> str:
    """The whole result as an aligned text table, then one RSS line per target."""
    rows: List[List[str]] = [HEADER]
    for name, result in results.items():
        if result.unavailable:
            rows.append([name, "(all)", f"n/a: {result.unavailable[:110]}"] + [""] * 8)
            continue
        rows += [_row(results, name, scenario) for scenario in scenarios]
    widths = [max(len(row[i]) for row in rows if not row[2].startswith(("n/a", "FAIL"))) for i in range(len(HEADER))]
    lines = []
    for row in rows:
        if row[2].startswith(("n/a", "FAIL")):
            lines.append("  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2]]))
        else:
            lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    rss = [f"{name}: {rss_verdict(result)}" for name, result in results.items() if not result.unavailable]
    lines.append("")
    lines.append(f"RSS after the runs (process group, limit {RSS_LIMIT_MB:.0f} MB): " + "; ".join(rss))
    return "\n".join(lines)


def verdicts(results: Dict[str, TargetResult], scenarios: Sequence[Scenario], target: str) -> List[str]:
    """The missed targets of ``target`` as sentences (empty when every target is met)."""
    result = results.get(target)
    if result is None or result.unavailable:
        return [f"{target}: not measured ({result.unavailable if result else 'absent'})"]
    missed = []
    for scenario in scenarios:
        verdict = scenario_verdict(results, target, scenario)
        if "MISS" in verdict or verdict == "n/a":
            missed.append(f"{scenario.name}: {verdict}")
    if "MISS" in rss_verdict(result):
        missed.append(f"RSS {rss_verdict(result)}")
    return missed


def _run_json(run: WrkResult) -> Dict[str, Any]:
    return {
        "requests": run.requests,
        "seconds": run.seconds,
        "rps": run.rps,
        "errors": run.errors,
        "p50_ms": run.p50_ms,
        "p90_ms": run.p90_ms,
        "p99_ms": run.p99_ms,
        "mean_ms": run.mean_ms,
    }


def to_json(results: Dict[str, TargetResult], scenarios: Sequence[Scenario]) -> Dict[str, Any]:
    """Everything measured, plus added latencies and verdicts, as plain JSON data."""
    out: Dict[str, Any] = {"targets": {}}
    for name, result in results.items():
        entry: Dict[str, Any] = {"unavailable": result.unavailable, "rss_kib": result.rss_kib, "scenarios": {}}
        for scenario in scenarios:
            outcome = result.scenarios.get(scenario.name)
            if outcome is None:
                continue
            entry["scenarios"][scenario.name] = {
                "unsupported": outcome.unsupported,
                "check_error": outcome.check_error,
                "run_error": outcome.run_error,
                "runs": {str(c): _run_json(run) for c, run in outcome.runs.items()},
                "added_ms": {str(c): added(results, name, scenario.name, c) for c in LATENCY_CONCURRENCIES},
                "throughput_cpu_seconds": outcome.throughput_cpu_seconds,
                "requests_per_cpu_second": outcome.requests_per_cpu_second,
                "verdict": scenario_verdict(results, name, scenario),
            }
        out["targets"][name] = entry
    return out
