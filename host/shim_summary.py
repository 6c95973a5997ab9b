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

from typing import AbstractSet, List, Optional, Tuple

from shim.platform_calls import TRACE_INGEST
from shim.telemetry import CallEvent

from .attempt_chain import chain_text
from .collector import ProcessInfo, RunTelemetry
from .log_text import printable
from .run_calls import NO_ROUTE, CallStats, RunCalls, percentile

__all__ = ["NO_ROUTE", "call_line", "percentile", "summary_lines"]

_PREFIX = "router shim:"
_MAX_LISTED_PROCESSES = 6


def call_line(event: CallEvent) -> str:
    """One line for ``-v``: who called what, where it went, how it went."""
    if event.backend:
        where = f"{printable(event.backend)}/{printable(event.upstream_model)}"
    else:
        where = f"{NO_ROUTE} {printable(event.upstream_host)}"
    chain = chain_text(event.attempts)
    if chain is not None:
        where = f"{printable(chain)} ({where})"
    traits = [trait for trait, present in (("translated", event.translated), ("stream", event.stream)) if present]
    parts = [
        f"router: pid {event.pid} {printable(event.client_protocol)} {printable(event.endpoint)} "
        f"{printable(event.requested_model)} → {where}",
        f"({', '.join(traits)})" if traits else "",
        f"· {event.status or 'no response'}",
        f"{printable(event.error)}" if event.error else "",
        f"· {_ms(event.latency_ms)}",
        f"· in {event.input_tokens or 0} / out {event.output_tokens or 0}"
        if event.input_tokens is not None or event.output_tokens is not None else "",
    ]
    return " ".join(part for part in parts if part)


def summary_lines(data: RunTelemetry) -> List[str]:
    """The end-of-run summary, one string per line."""
    calls = data.calls
    lines = [_headline(calls.total)]
    lines += [_group_line(key, stats) for key, stats in _groups(calls)]
    if data.processes:  # none: the caller decides whether that deserves a warning (python_command)
        lines.append(_processes_line(list(data.processes.values())))
    if calls.proxied_calls:
        lines.append(_proxy_clients_line(calls, set(data.processes)))
    lines += [_local_answer_line(endpoint, count) for endpoint, count in sorted(data.local_answers.items())]
    if data.dropped:
        lines.append(f"{_PREFIX} {data.dropped} call events were dropped on the way (counts above are short)")
    if data.shim_errors:
        first = data.shim_errors[0]
        more = f" (and {data.shim_error_count - 1} more)" if data.shim_error_count > 1 else ""
        lines.append(f"{_PREFIX} shim error in pid {first.pid}: {printable(first.message)}{more}")
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


def _headline(total: CallStats) -> str:
    if not total.calls:
        return f"{_PREFIX} no LLM calls seen"
    parts = [f"{_count(total.calls, 'call')}, {_count(total.errors, 'error')}"]
    if total.has_tokens:
        parts.append(_tokens(total))
    parts.append(_latency(total))
    return f"{_PREFIX} " + " · ".join(parts)


def _groups(calls: RunCalls) -> List[Tuple[Tuple[str, str], CallStats]]:
    return sorted(calls.groups.items(), key=lambda item: (-item[1].calls, item[0]))


def _group_line(key: Tuple[str, str], stats: CallStats) -> str:
    backend, model = key
    columns = [
        f"  {printable(backend):<11} {printable(model):<30}",
        f"{_count(stats.calls, 'call'):<9}",
        f"{_count(stats.errors, 'error') if stats.errors else '':<9}",
        f"{_tokens(stats) if stats.has_tokens else '':<18}",
        _latency(stats),
    ]
    return " ".join(columns).rstrip()


def _processes_line(processes: List[ProcessInfo]) -> str:
    processes.sort(key=lambda info: info.pid)
    pids = {info.pid for info in processes}
    shown = "; ".join(_describe_process(info, pids) for info in processes[:_MAX_LISTED_PROCESSES])
    more = f"; … {len(processes) - _MAX_LISTED_PROCESSES} more" if len(processes) > _MAX_LISTED_PROCESSES else ""
    return f"{_PREFIX} shimmed {_count(len(processes), 'process', 'processes')}: {shown}{more}"


def _proxy_clients_line(calls: RunCalls, shimmed: AbstractSet[int]) -> str:
    """Who sent the calls the proxy served without a shim in the caller (pid and program, when known)."""
    named = sorted(key for key in calls.proxied_by if key[2])
    unnamed = sum(count for key, count in calls.proxied_by.items() if not key[2]) + calls.proxied_elsewhere
    described = [_describe_client(key, calls.proxied_by[key], shimmed) for key in named[:_MAX_LISTED_PROCESSES]]
    if len(named) > _MAX_LISTED_PROCESSES:
        described.append(f"… {len(named) - _MAX_LISTED_PROCESSES} more")
    if unnamed:
        described.append(f"{_count(unnamed, 'call')} from a process it could not name")
    came = "call came" if calls.proxied_calls == 1 else "calls came"
    return (f"{_PREFIX} {calls.proxied_calls} {came} through the proxy from processes without the shim: "
            f"{'; '.join(described)}")


def _describe_client(key: Tuple[int, int, str], calls: int, shimmed: AbstractSet[int]) -> str:
    pid, ppid, program = key
    details = [_count(calls, "call")] if calls > 1 else []
    if ppid in shimmed:
        details.append(f"child of {ppid}")
    suffix = f" ({', '.join(details)})" if details else ""
    return f"{pid} {printable(program)}{suffix}"


def _describe_process(info: ProcessInfo, pids: AbstractSet[int]) -> str:
    details = [f"python {printable(info.python)}"] if info.python else []
    if info.ppid in pids:
        details.append(f"child of {info.ppid}")
    suffix = f" ({', '.join(details)})" if details else ""
    return f"{info.pid} {printable(info.program or info.executable or '?')}{suffix}"


def _tokens(stats: CallStats) -> str:
    return f"in {stats.tokens_in} / out {stats.tokens_out}"


def _latency(stats: CallStats) -> str:
    return f"p50 {_ms(stats.latency(0.5))}, p95 {_ms(stats.latency(0.95))}"


def _ms(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def _count(number: int, singular: str, plural: Optional[str] = None) -> str:
    return f"{number} {singular if number == 1 else (plural or singular + 's')}"

