"""What ``router shim`` prints on stderr: one line per call with ``-v``, a short summary at exit.

Summary (nothing with ``--quiet``)::

    router shim: 4 calls, 1 error · tokens in 148 / out 72 · latency p50 41 ms, p95 120 ms
      anthropic   claude-sonnet-4-6               3 calls            in 111 / out 54   p50 40 ms, p95 52 ms
      (no route)  my-local-model                  1 call   1 error   in 37 / out 18    p50 120 ms, p95 120 ms
    router shim: shimmed 2 processes: 4242 agent.py (python 3.12.1); 4250 worker.py (python 3.12.1, child of 4242)
    router shim: 2 calls came through the proxy from processes without the shim: 4301 claude (2 calls, child of 4242)
    router shim: answered 3 OpenAI trace uploads in the program: no OpenAI key is configured (…)

The proxy line covers the tree's processes that are not Python (or could not load the shim): their
calls reach the router through the proxy ``router shim`` runs, which names the process on Linux
(``host/peer_process.py``) and otherwise says it could not.
"""

import math
from collections import defaultdict
from typing import AbstractSet, Dict, Iterable, List, Optional, Sequence, Tuple

from shim.platform_calls import TRACE_INGEST
from shim.telemetry import CallEvent

from .attempt_chain import chain_text
from .collector import ProcessInfo, RunTelemetry

__all__ = ["NO_ROUTE", "call_line", "percentile", "summary_lines"]

NO_ROUTE = "(no route)"
PROXY_SOURCE = "proxy"  # CallEvent.source of a call the proxy served for a process without the shim
_PREFIX = "router shim:"
_MAX_LISTED_PROCESSES = 6


def percentile(values: Sequence[float], fraction: float) -> Optional[float]:
    """Nearest-rank percentile (p50 of [1, 2, 3, 4] is 2); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def call_line(event: CallEvent) -> str:
    """One line for ``-v``: who called what, where it went, how it went."""
    where = f"{event.backend}/{event.upstream_model}" if event.backend else f"{NO_ROUTE} {event.upstream_host}"
    chain = chain_text(event.attempts)
    if chain is not None:
        where = f"{chain} ({event.backend}/{event.upstream_model})"
    traits = [trait for trait, present in (("translated", event.translated), ("stream", event.stream)) if present]
    parts = [
        f"router: pid {event.pid} {event.client_protocol} {event.endpoint} {event.requested_model} → {where}",
        f"({', '.join(traits)})" if traits else "",
        f"· {event.status or 'no response'}",
        f"{event.error}" if event.error else "",
        f"· {_ms(event.latency_ms)}",
        f"· {_tokens([event])}" if _has_tokens([event]) else "",
    ]
    return " ".join(part for part in parts if part)


def summary_lines(data: RunTelemetry) -> List[str]:
    """The end-of-run summary, one string per line."""
    lines = [_headline(data.events)]
    lines += [_group_line(key, events) for key, events in _groups(data.events)]
    if data.processes:  # none: the caller decides whether that deserves a warning (python_command)
        lines.append(_processes_line(list(data.processes.values())))
    proxied = [event for event in data.events if event.source == PROXY_SOURCE]
    if proxied:
        lines.append(_proxy_clients_line(proxied, set(data.processes)))
    lines += [_local_answer_line(endpoint, count) for endpoint, count in sorted(data.local_answers.items())]
    if data.dropped:
        lines.append(f"{_PREFIX} {data.dropped} call events were dropped on the way (counts above are short)")
    if data.shim_errors:
        first = data.shim_errors[0]
        more = f" (and {len(data.shim_errors) - 1} more)" if len(data.shim_errors) > 1 else ""
        lines.append(f"{_PREFIX} shim error in pid {first.pid}: {first.message}{more}")
    return lines


# What the program was told, and what the user can do about it (docs/platform-calls.md).
_LOCAL_ANSWERS = {
    TRACE_INGEST: (
        "OpenAI trace upload", "no OpenAI key is configured (`router backend add openai` sends them to OpenAI)"
    ),
}


def _local_answer_line(endpoint: str, count: int) -> str:
    what, why = _LOCAL_ANSWERS.get(endpoint, (f"{endpoint} call", "no key is configured for it"))
    return f"{_PREFIX} answered {_count(count, what)} in the program: {why}"


def _headline(events: List[CallEvent]) -> str:
    if not events:
        return f"{_PREFIX} no LLM calls seen"
    parts = [f"{_count(len(events), 'call')}, {_count(_errors(events), 'error')}"]
    if _has_tokens(events):
        parts.append(_tokens(events))
    parts.append(_latency(events))
    return f"{_PREFIX} " + " · ".join(parts)


def _groups(events: Iterable[CallEvent]) -> List[Tuple[Tuple[str, str], List[CallEvent]]]:
    grouped: Dict[Tuple[str, str], List[CallEvent]] = defaultdict(list)
    for event in events:
        grouped[(event.backend or NO_ROUTE, event.upstream_model or event.requested_model)].append(event)
    return sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0]))


def _group_line(key: Tuple[str, str], events: List[CallEvent]) -> str:
    backend, model = key
    errors = _errors(events)
    columns = [
        f"  {backend:<11} {model:<30}",
        f"{_count(len(events), 'call'):<9}",
        f"{_count(errors, 'error') if errors else '':<9}",
        f"{_tokens(events) if _has_tokens(events) else '':<18}",
        _latency(events),
    ]
    return " ".join(columns).rstrip()


def _processes_line(processes: List[ProcessInfo]) -> str:
    processes.sort(key=lambda info: info.pid)
    pids = {info.pid for info in processes}
    shown = "; ".join(_describe_process(info, pids) for info in processes[:_MAX_LISTED_PROCESSES])
    more = f"; … {len(processes) - _MAX_LISTED_PROCESSES} more" if len(processes) > _MAX_LISTED_PROCESSES else ""
    return f"{_PREFIX} shimmed {_count(len(processes), 'process', 'processes')}: {shown}{more}"


def _proxy_clients_line(events: List[CallEvent], shimmed: AbstractSet[int]) -> str:
    """Who sent the calls the proxy served without a shim in the caller (pid and program, when known)."""
    calls: Dict[Tuple[int, int, str], int] = defaultdict(int)
    for event in events:
        calls[(event.pid, event.ppid, event.program)] += 1
    named = sorted(key for key in calls if key[2])
    unnamed = sum(count for key, count in calls.items() if not key[2])
    described = [_describe_client(key, calls[key], shimmed) for key in named[:_MAX_LISTED_PROCESSES]]
    if len(named) > _MAX_LISTED_PROCESSES:
        described.append(f"… {len(named) - _MAX_LISTED_PROCESSES} more")
    if unnamed:
        described.append(f"{_count(unnamed, 'call')} from a process it could not name")
    came = "call came" if len(events) == 1 else "calls came"
    return f"{_PREFIX} {len(events)} {came} through the proxy from processes without the shim: {'; '.join(described)}"


def _describe_client(key: Tuple[int, int, str], calls: int, shimmed: AbstractSet[int]) -> str:
    pid, ppid, program = key
    details = [_count(calls, "call")] if calls > 1 else []
    if ppid in shimmed:
        details.append(f"child of {ppid}")
    suffix = f" ({', '.join(details)})" if details else ""
    return f"{pid} {program}{suffix}"


def _describe_process(info: ProcessInfo, pids: AbstractSet[int]) -> str:
    details = [f"python {info.python}"] if info.python else []
    if info.ppid in pids:
        details.append(f"child of {info.ppid}")
    suffix = f" ({', '.join(details)})" if details else ""
    return f"{info.pid} {info.program or info.executable or '?'}{suffix}"


def _errors(events: Iterable[CallEvent]) -> int:
    return sum(1 for event in events if event.error or event.status == 0 or event.status >= 400)


def _has_tokens(events: Iterable[CallEvent]) -> bool:
    return any(event.input_tokens is not None or event.output_tokens is not None for event in events)


def _tokens(events: Iterable[CallEvent]) -> str:
    events = list(events)
    tokens_in = sum(event.input_tokens or 0 for event in events)
    tokens_out = sum(event.output_tokens or 0 for event in events)
    return f"in {tokens_in} / out {tokens_out}"


def _latency(events: Iterable[CallEvent]) -> str:
    latencies = [event.latency_ms for event in events]
    return f"p50 {_ms(percentile(latencies, 0.5))}, p95 {_ms(percentile(latencies, 0.95))}"


def _ms(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def _count(number: int, singular: str, plural: Optional[str] = None) -> str:
    return f"{number} {singular if number == 1 else (plural or singular + 's')}"

