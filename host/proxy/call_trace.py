"""What the proxy learns about one call as it goes, turned into a CallEvent and a ``-v`` line."""

import json
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional
from urllib.parse import urlsplit

from shim.errors import RouterError
from shim.plan import Plan
from shim.protocols import ENDPOINT_PROTOCOL, OPENAI
from shim.telemetry import TEXT_LIMIT, CallEvent, bounded_attempts, bounded_event, usage_fields
from shim.usage import Usage

from ..attempt_chain import chain_text
from ..log_text import printable

__all__ = ["CallTrace", "Caller", "url_host"]


@dataclass
class CallTrace:
    """Filled along one call by the driver; read once at the end."""

    method: str
    path: str
    endpoint: str
    started_wall: float  # time.time() at the start (the event's ``time``)
    started: float  # time.perf_counter() at the start
    plan: Optional[Plan] = None
    status: int = 0
    # An error kind ("rate_limit", "timeout" …), "client_disconnected", "body_dropped_for_room" (its
    # body was still arriving when other calls needed the room: docs/proxy-limits.md#request-bodies),
    # or "client_stopped_reading" (reset by the send timeout: docs/proxy-limits.md#connections).
    error: Optional[str] = None
    first_byte_at: float = 0.0  # perf_counter when the first body byte went to the client
    usage: Optional[Usage] = None
    request_id: Optional[str] = None
    caller: Optional["Caller"] = None  # a shimmed process that handed this call over (router shim only)
    fallbacks: int = 0  # times the call moved to another target
    attempts: Optional[List[Dict[str, Any]]] = None  # every attempt, when there was more than one
    request_body: Optional[bytes] = None  # -vv only: what the client sent (docs/operator-switches.md#bodies)

    @classmethod
    def begin(cls, method: str, path: str, endpoint: str) -> "CallTrace":
        return cls(method, path, endpoint, time.time(), time.perf_counter())

    def fail(self, error: RouterError) -> None:
        self.error = error.kind_name

    def latency_ms(self, now: float) -> float:
        return round((now - self.started) * 1000, 3)

    def event(self, now: float) -> CallEvent:
        """The telemetry record of this call (``now``: perf_counter when the last byte went out), every
        text cut to the limit events have (the client chose the model name; docs/telemetry-bounds.md)."""
        plan, route = self.plan, self.plan.route if self.plan else None
        caller = self.caller
        return bounded_event(CallEvent(
            time=self.started_wall,
            source=caller.source if caller else "proxy",
            pid=caller.pid if caller else os.getpid(),
            ppid=caller.ppid if caller else os.getppid(),
            program=caller.program if caller else "",
            client_protocol=plan.client_protocol if plan else ENDPOINT_PROTOCOL.get(self.endpoint, OPENAI),
            endpoint=self.endpoint,
            backend=route.backend.name if route else None,
            upstream_host=url_host(plan.upstream_url if plan else None),
            requested_model=plan.requested_model if plan else "",
            upstream_model=route.upstream_model if route else "",
            stream=bool(plan and plan.stream),
            translated=bool(plan and plan.translated),
            status=self.status,
            error=self.error,
            latency_ms=self.latency_ms(now),
            ttfb_ms=round((self.first_byte_at - self.started) * 1000, 3) if self.first_byte_at else None,
            request_id=self.request_id,
            fallbacks=self.fallbacks,
            attempts=bounded_attempts(self.attempts),
            **usage_fields(self.usage),  # type: ignore[arg-type]  # Optional[int] fields, all of them
        ))

    def log_line(self, now: float) -> str:
        """``-v``: method, path, model → backend (or the chain of attempts: ``anthropic 529 → openai ✓``),
        status, latency. Never a key, never a body; the client's values escaped and cut
        (docs/telemetry-bounds.md#log-lines)."""
        plan = self.plan
        model = printable(plan.requested_model) if plan else "-"
        backend = chain_text(self.attempts) or (plan.route.backend.name if plan and plan.route else "-")
        line = f"{self.method} {printable(self.path)} {model} → {printable(backend)} {self.status}"
        line = f"{line} {self.latency_ms(now):.1f}ms"
        return f"{line} {printable(self.error)}" if self.error else line


@dataclass(frozen=True)
class Caller:
    """The process a call came from: a shimmed one (``CALLER_HEADER``, source ``shim``), or one of the
    tree that is not (found from its connection, source ``proxy``: see ``host/peer_process.py``)."""

    pid: int
    ppid: int
    program: str
    source: str = "shim"

    @classmethod
    def from_header(cls, value: Optional[str]) -> Optional["Caller"]:
        """The header's caller; None when absent or not what the shim sends (it only labels the call)."""
        if not value:
            return None
        try:
            data = json.loads(value)
            pid, ppid, program = data["pid"], data["ppid"], data["program"]
        except (ValueError, TypeError, KeyError):
            return None
        if type(pid) is not int or type(ppid) is not int or not isinstance(program, str):
            return None
        return cls(pid, ppid, program[:TEXT_LIMIT])  # as a call event cuts it


def url_host(url: Optional[str]) -> str:
    """host[:port] of a backend URL, without any user-info part."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host
