"""What running proxies know about their backends' health: for ``router route explain``.

The cooldown state is per process (docs/routing.md#state-per-process): each ``router proxy`` and the
proxy of each ``router shim`` run keep their own, and each shimmed Python process keeps another, in
its own memory. The CLI finds the proxies in the registry (:mod:`host.proxy_registry`) and asks each
one ``GET /backends/health`` on 127.0.0.1, with ``ROUTER_API_KEY`` when it is set, waiting at most
:data:`ASK_TIMEOUT` seconds each. Shimmed processes cannot be asked: the report says so.
"""

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from .proxy_registry import ProxyRecord, live_records

__all__ = ["ASK_TIMEOUT", "HEALTH_PATH", "RunningStates", "running_states"]

HEALTH_PATH = "/backends/health"
ASK_TIMEOUT = 1.0
_MAX_ANSWER_BYTES = 1 << 20


@dataclass
class RunningStates:
    """Process label → backend → its status fields; and the processes that did not answer."""

    states: Dict[str, Dict[str, Dict[str, Any]]] = field(default_factory=dict)
    silent: List[str] = field(default_factory=list)

    def note(self) -> str:
        """One line on where the states come from (shown by ``route explain``)."""
        asked = ", ".join(sorted(self.states)) or "no running proxy"
        silent = f"; no answer from {', '.join(self.silent)}" if self.silent else ""
        return f"from {asked}{silent}; shimmed programs keep their own, in their memory"


def running_states(
    records: Optional[List[ProxyRecord]] = None, environ: Mapping[str, str] = os.environ
) -> RunningStates:
    """Ask every running proxy (never raises: a proxy that does not answer is listed as silent)."""
    result = RunningStates()
    key = environ.get("ROUTER_API_KEY") or None
    for record in records if records is not None else _records():
        label = _label(record)
        answer = _ask(record.port, key)
        if answer is None:
            result.silent.append(label)
        else:
            result.states[label] = answer
    return result


# Loopback, never through an HTTP proxy from the environment (HTTP_PROXY would otherwise apply).
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _records() -> List[ProxyRecord]:
    try:
        return live_records()
    except OSError:
        return []


def _label(record: ProxyRecord) -> str:
    if record.kind == "shim":
        return f"the proxy of router shim (pid {record.pid}) on :{record.port}"
    return f"the proxy on :{record.port}"


def _ask(port: int, key: Optional[str]) -> Optional[Dict[str, Dict[str, Any]]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{HEALTH_PATH}")
    if key:
        request.add_header("authorization", f"Bearer {key}")
    try:
        with _DIRECT.open(request, timeout=ASK_TIMEOUT) as response:
            data = json.loads(response.read(_MAX_ANSWER_BYTES))
    except (OSError, ValueError, urllib.error.URLError):
        return None
    backends = data.get("backends") if isinstance(data, dict) else None
    if not isinstance(backends, dict):
        return None
    return {str(name): dict(status) for name, status in backends.items() if isinstance(status, dict)}
