"""``router route explain``: where a call for a model would go, as data and as text.

Pure: a :class:`~shim.config.RouterConfig`, a model name and the client's protocol in (and, when the
CLI could ask running proxies, their backends' states); a JSON-ready dict out. It uses the engine's
own :func:`~shim.routing.resolve_route` and URL rules, so the answer is what the shim and the proxy
will do, not a re-implementation. Keys are never part of it.

The top-level ``backend``, ``upstream_url``, ``translated`` and ``upstream_model`` describe the first
target; ``targets`` lists every target of the chain in the order they are tried
(docs/routing.md#route-explain).
"""

from typing import Any, Dict, List, Mapping, Optional

from shim.config import RouterConfig
from shim.fallback_policy import FallbackPolicy
from shim.plan import upstream_endpoint
from shim.protocols import ANTHROPIC, CHAT, MESSAGES, upstream_path
from shim.routing import Route, RouteGroup, RouteTarget, resolve_route
from shim.translate.stream_opening import MAX_OPENING_SECONDS

__all__ = ["explain_route", "explanation_lines"]

UNTOUCHED = "no route matches; the call is left untouched (it goes where the client sent it)"
# What a process's backend state looks like to the CLI: process label → backend → status fields.
States = Mapping[str, Mapping[str, Mapping[str, Any]]]


def _endpoint_of(protocol: str) -> str:
    """The generation endpoint a client (or backend) of ``protocol`` uses."""
    return MESSAGES if protocol == ANTHROPIC else CHAT


def explain_route(
    config: RouterConfig, model: str, client_protocol: str, states: Optional[States] = None
) -> Dict[str, Any]:
    """Which rule matched, every target with its URL, model and translation, the fallback policy,
    and, from ``states`` (what running proxies said), which targets cool down."""
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
    targets = _targets(route, report["client_endpoint"], states or {})
    first = targets[0]
    return {
        **report,
        "rule": route.rule,
        **{name: first[name] for name in ("backend", "backend_protocol", "upstream_endpoint", "upstream_url",
                                          "translated", "upstream_model")},
        "targets": targets,
        "fallback": _policy(route.policy),
        # a stream's opening waits for its first content, so that an error before it can fall back
        "stream_opening_held": route.may_fall_back,
        "states_from": sorted(states or {}),
    }


def _targets(route: Route, client_endpoint: str, states: States) -> List[Dict[str, Any]]:
    rows = []
    for number, group in enumerate(route.chain, 1):
        for index, target in enumerate(group.targets):
            position = str(number) if len(group.targets) == 1 else f"{number}{chr(ord('a') + index)}"
            rows.append({"position": position, **_target(target, client_endpoint),
                         **_membership(group, index), "state": _state(target, states)})
    return rows


def _target(target: RouteTarget, client_endpoint: str) -> Dict[str, Any]:
    backend = target.backend
    # The engine's own choice: a model served only on /responses is translated there
    # (docs/responses-api.md#upstream-endpoint-choice).
    endpoint = upstream_endpoint(client_endpoint, backend, target.upstream_model)
    path = upstream_path(backend.protocol, endpoint)
    assert path is not None  # every generation endpoint the engine picks exists on its backend
    return {
        "backend": backend.name,
        "backend_protocol": backend.protocol,
        "upstream_endpoint": endpoint,
        "upstream_url": backend.url_for(path),
        "translated": endpoint != client_endpoint,
        "upstream_model": target.upstream_model,
    }


def _membership(group: RouteGroup, index: int) -> Dict[str, Any]:
    if len(group.targets) == 1:
        return {"weight": None, "sticky": None}
    total = sum(group.weight_of(i) for i in range(len(group.targets)))
    return {"weight": group.weight_of(index), "weight_share": group.weight_of(index) / total, "sticky": group.sticky}


def _state(target: RouteTarget, states: States) -> Dict[str, Any]:
    """Each reporting process's word on the target's backend (absent: it has not used it yet)."""
    return {process: dict(backends[target.backend.name]) for process, backends in sorted(states.items())
            if target.backend.name in backends}


def _policy(policy: FallbackPolicy) -> Dict[str, Any]:
    return policy.as_data()


def explanation_lines(report: Dict[str, Any]) -> List[str]:
    """The report for people: ``label: value`` lines; one block per target for a chain."""
    if not report["routed"]:
        return [f"{report['model']}: {report['note']}"]
    rows = [("model", report["model"]), ("rule", report["rule"])]
    targets = report["targets"]
    if len(targets) == 1:
        target = targets[0]
        rows += [
            ("backend", f"{target['backend']} ({target['backend_protocol']})"),
            ("upstream URL", target["upstream_url"]),
            ("translation", _translation(report, target)),
            ("upstream model", target["upstream_model"]),
        ]
        rows += [("key", target["key"])] if "key" in target else []
        rows += [("state", line) for line in _state_lines(target)]
    else:
        rows.append(("fallback", _policy_line(report["fallback"])))
        for target in targets:
            rows += _target_rows(report, target)
    if report["stream_opening_held"]:
        rows.append(("streams", _HELD_OPENING))
    if report.get("states_note"):
        rows.append(("states", report["states_note"]))
    return [f"{label + ':':<16}{value}" for label, value in rows]


def _target_rows(report: Dict[str, Any], target: Dict[str, Any]) -> List[Any]:
    head = f"{target['backend']} ({target['backend_protocol']}), model {target['upstream_model']}"
    if target["weight"] is not None:
        head += f", weight {target['weight']:g} ({target['weight_share']:.0%}{', sticky' if target['sticky'] else ''})"
    rows = [(f"target {target['position']}", head), ("  upstream URL", target["upstream_url"]),
            ("  translation", _translation(report, target))]
    rows += [("  key", target["key"])] if "key" in target else []
    rows += [("  state", line) for line in _state_lines(target)]
    return rows


def _translation(report: Dict[str, Any], target: Dict[str, Any]) -> str:
    if not target["translated"]:
        return f"no (client and backend both speak {report['client_protocol']})"
    return (f"yes: {report['client_protocol']} {report['client_endpoint']} → "
            f"{target['backend_protocol']} {target['upstream_endpoint']}")


def _state_lines(target: Dict[str, Any]) -> List[str]:
    lines = []
    for process, status in target["state"].items():
        state = status.get("state")
        if state == "cooling":
            what = f"cooling down, {status.get('seconds_left', 0):.0f} s left"
        elif state in ("probe_due", "probing"):
            what = "cooled down; the next call is its probe" if state == "probe_due" else "one probe call under way"
        else:
            what = "in use"
        failures = status.get("recent_failures") or 0
        lines.append(f"{what}{f', {failures} recent failures' if failures else ''} ({process})")
    return lines


_HELD_OPENING = (f"sent from their first content (or after {MAX_OPENING_SECONDS:g} s): "
                 "an error a stream opens with falls back too")


def _policy_line(policy: Mapping[str, Any]) -> str:
    statuses = " ".join(str(status) for status in policy["statuses"])
    retries = policy["retries"]
    return (f"on {statuses} or x-should-retry: true; {retries} retr{'y' if retries == 1 else 'ies'} per target "
            f"(backoff {policy['backoff']:g}–{policy['max_backoff']:g} s); waits ≤ {policy['max_wait']:g} s; "
            f"≤ {policy['max_attempts']} attempts")
