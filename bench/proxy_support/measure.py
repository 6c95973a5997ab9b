"""Check, then time, one target across the scenarios: the measurement plan of the issue.

Per scenario: one correctness check (200 and the right body; a failure skips that scenario's
timing), a short warm-up, then wrk at concurrency 1 and 16 (latency) and 32 (throughput). The
client (wrk) shares the fake's core, so the proxy under test has its core to itself.
"""

from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence

from .scenarios import CheckFailed, Scenario, check_scenario, request_headers
from .targets import Target
from .wrk_runner import WrkResult, run_wrk

__all__ = ["LATENCY_CONCURRENCIES", "THROUGHPUT_CONCURRENCY", "Plan", "ScenarioResult", "TargetResult", "measure"]

LATENCY_CONCURRENCIES = (1, 16)
THROUGHPUT_CONCURRENCY = 32


@dataclass(frozen=True)
class Plan:
    """How long to run wrk and where to pin it."""

    wrk: str
    seconds: float
    warmup_seconds: float
    client_core: int


@dataclass
class ScenarioResult:
    """One scenario on one target: the check's verdict and the wrk runs by concurrency."""

    scenario: Scenario
    unsupported: Optional[str] = None
    check_error: Optional[str] = None
    runs: Dict[int, WrkResult] = field(default_factory=dict)
    run_error: Optional[str] = None
    # CPU seconds the target used during the throughput run: on a shared machine the proxy may get
    # less than its whole core, and requests per CPU-second is then the fair per-core figure.
    throughput_cpu_seconds: Optional[float] = None

    @property
    def requests_per_cpu_second(self) -> Optional[float]:
        run = self.runs.get(THROUGHPUT_CONCURRENCY)
        if run is None or not self.throughput_cpu_seconds:
            return None
        return run.requests / self.throughput_cpu_seconds


@dataclass
class TargetResult:
    """Everything measured for one target; ``unavailable`` is the reason for an n/a row."""

    name: str
    unavailable: Optional[str] = None
    scenarios: Dict[str, ScenarioResult] = field(default_factory=dict)
    rss_kib: Optional[int] = None


def _time_scenario(target: Target, scenario: Scenario, plan: Plan, result: ScenarioResult) -> None:
    url = target.base_url + scenario.path
    body, headers = scenario.body(), request_headers(scenario, target.api_key)
    run_wrk(plan.wrk, url, body, headers, 16, plan.warmup_seconds, plan.client_core)
    for connections in LATENCY_CONCURRENCIES:
        result.runs[connections] = run_wrk(plan.wrk, url, body, headers, connections, plan.seconds, plan.client_core)
    cpu_before = target.cpu_seconds()
    result.runs[THROUGHPUT_CONCURRENCY] = run_wrk(
        plan.wrk, url, body, headers, THROUGHPUT_CONCURRENCY, plan.seconds, plan.client_core
    )
    cpu_after = target.cpu_seconds()
    if cpu_before is not None and cpu_after is not None:
        result.throughput_cpu_seconds = cpu_after - cpu_before


def measure_scenario(target: Target, scenario: Scenario, plan: Plan) -> ScenarioResult:
    """Check the scenario on the target; time it only when the check passes."""
    result = ScenarioResult(scenario, unsupported=target.unsupported_reason(scenario))
    if result.unsupported:
        return result
    try:
        check_scenario(target.base_url, scenario, scenario.body(), target.api_key)
    except (CheckFailed, OSError) as exc:
        result.check_error = str(exc)[:300]
        return result
    try:
        _time_scenario(target, scenario, plan, result)
    except RuntimeError as exc:
        result.run_error = str(exc)[:300]
    return result


def measure(target: Target, scenarios: Sequence[Scenario], plan: Plan, log: bool = True) -> TargetResult:
    """Every scenario on a started target, then its RSS (after the load, before it stops)."""
    result = TargetResult(target.name)
    for scenario in scenarios:
        if log:
            print(f"  {target.name}: {scenario.name} …", flush=True)
        result.scenarios[scenario.name] = measure_scenario(target, scenario, plan)
        outcome = result.scenarios[scenario.name]
        if log and (outcome.unsupported or outcome.check_error or outcome.run_error):
            print(
                f"    {outcome.unsupported or 'FAILED: ' + str(outcome.check_error or outcome.run_error)}", flush=True
            )
    result.rss_kib = target.rss_kib()
    return result
