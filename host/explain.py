"""``router route explain``: where a call for a model would go, as data and as text.

Pure: a :class:`~shim.config.RouterConfig`, a model name and the client's protocol in; a JSON-ready
dict out. It uses the engine's own :func:`~shim.routing.resolve_route` and URL rules, so the answer
is what the shim and the proxy will do, not a re-implementation. Keys are never part of it.
"""

from typing import Any, Dict, List

from shim.config import RouterConfig
from shim.plan import upstream_endpoint
from shim.protocols import ANTHROPIC, CHAT, MESSAGES, upstream_path
from shim.routing import resolve_route

__all__ = ["explain_route", "explanation_lines"]

UNTOUCHED = "no route matches; the call is left untouched (it goes where the client sent it)"


def _endpoint_of(protocol: str) -> str:
    """The generation endpoint a client (or backend) of ``protocol`` uses."""
    return MESSAGES if protocol == ANTHROPIC else CHAT


def explain_route(config: RouterConfig, model: str, client_protocol: str) -> Dict[str, Any]:
    """Which rule matched, the backend, the upstream URL and model, and whether translation happens.

    The client calls chat (OpenAI) or messages (Anthropic); a backend speaking the other protocol
    gets the translated call on its own endpoint (see ``shim/plan.py``).
    """
    route = resolve_route(config, model)
    report: Dict[str, Any] = {
        "model": model,
        "client_protocol": client_protocol,
        "client_endpoint": _endpoint_of(client_protocol),
        "routed": route is not None,
        "rule": None,
        "backend": None,
        "backend_protocol": None,
        "upstream_url": None,
        "translated": False,
        "upstream_model": None,
    }
    if route is None:
        return {**report, "note": UNTOUCHED}
    backend = route.backend
    # The engine's own choice: a model served only on /responses is translated there
    # (docs/responses-api.md#upstream-endpoint-choice).
    endpoint = upstream_endpoint(report["client_endpoint"], backend, route.upstream_model)
    path = upstream_path(backend.protocol, endpoint)
    assert path is not None  # every generation endpoint the engine picks exists on its backend
    return {
        **report,
        "rule": route.rule,
        "backend": backend.name,
        "backend_protocol": backend.protocol,
        "upstream_endpoint": endpoint,
        "upstream_url": backend.url_for(path),
        "translated": endpoint != report["client_endpoint"],
        "upstream_model": route.upstream_model,
    }


def explanation_lines(report: Dict[str, Any]) -> List[str]:
    """The report for people: one ``label: value`` per line."""
    if not report["routed"]:
        return [f"{report['model']}: {report['note']}"]
    if report["translated"]:
        translation = (f"yes: {report['client_protocol']} {report['client_endpoint']} → "
                       f"{report['backend_protocol']} {report['upstream_endpoint']}")
    else:
        translation = f"no (client and backend both speak {report['client_protocol']})"
    rows = [
        ("model", report["model"]),
        ("rule", report["rule"]),
        ("backend", f"{report['backend']} ({report['backend_protocol']})"),
        ("upstream URL", report["upstream_url"]),
        ("translation", translation),
        ("upstream model", report["upstream_model"]),
    ]
    if "key" in report:
        rows.append(("key", report["key"]))
    return [f"{label + ':':<16}{value}" for label, value in rows]
