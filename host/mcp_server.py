"""``router mcp``: a read-only Model Context Protocol server on stdio, for agents that want to know
how the router routes and what it recorded.

Tools: ``stats`` (the ``router stats --json`` report, by model, backend, program or day),
``recent_calls`` (the last calls, no bodies), ``explain_route`` (``router route explain``),
``routing_table`` and ``doctor`` (``router doctor --json``, never ``--spend``). Every tool is
marked read-only. Nothing here writes the configuration, the credentials or the store, and no
answer holds a key: backends show where their key comes from, and the doctor its last four
characters at most. Built on the official ``mcp`` SDK (``MCPServer``); stdout carries the
protocol, so nothing else is ever printed there.
"""

import os
import sqlite3
from typing import Any, Dict, List, Literal, Optional

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

from .config_store import load_config
from .explain import explain_route as explain
from .injection import router_version
from .routing_table import routing_table as table_of
from .stats_query import query_stats
from .telemetry_store import connect_read_only, db_path

__all__ = ["RECENT_LIMIT", "TOOL_NAMES", "build_server"]

RECENT_LIMIT = 200
TOOL_NAMES = ("stats", "recent_calls", "explain_route", "routing_table", "doctor")
_READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
_RECENT_COLUMNS = (
    "time, source, pid, ppid, program, client_protocol, endpoint, backend, requested_model, upstream_model, stream, "
    "translated, status, error, latency_ms, ttfb_ms, input_tokens, output_tokens, cost_usd"
)
_INSTRUCTIONS = (
    "Read-only view of the local LLM router: how model names are routed to backends, the calls it "
    "recorded (tokens, cost, latency, errors; never bodies), and a health check of the setup."
)


def build_server() -> MCPServer:
    server: MCPServer = MCPServer(name="router", version=router_version(), instructions=_INSTRUCTIONS)
    for tool in (stats, recent_calls, explain_route, routing_table, doctor):
        server.add_tool(tool, annotations=_READ_ONLY)
    return server


def stats(since: Literal["1h", "1d", "7d", "all"] = "1d",
          by: Literal["model", "backend", "program", "day"] = "model") -> Dict[str, Any]:
    """Calls, errors, tokens, cost and p50/p95 latency of routed LLM calls in a window, one group per
    model, backend, program or day (the same report as `router stats --json`)."""
    return query_stats(since, by).as_dict()


def recent_calls(limit: int = 20) -> List[Dict[str, Any]]:
    """The most recent recorded calls, newest first (at most 200): who called which model where, the
    status, latency, tokens and cost. Never request or response bodies."""
    path = db_path()
    if not path.exists():
        return []
    try:
        connection = connect_read_only(path)
        connection.row_factory = sqlite3.Row
        try:
            query = f"SELECT {_RECENT_COLUMNS} FROM events ORDER BY id DESC LIMIT ?"
            return [dict(row) for row in connection.execute(query, (max(0, min(limit, RECENT_LIMIT)),))]
        finally:
            connection.close()
    except sqlite3.Error:  # not written to yet, or busy: nothing to show now
        return []


def explain_route(model: str, client_protocol: Literal["openai", "anthropic"] = "openai") -> Dict[str, Any]:
    """Where a call for `model` would go: which rule matches, the backend, the upstream URL and model,
    and whether the call is translated between the OpenAI and Anthropic protocols."""
    return explain(load_config(os.environ).config, model, client_protocol)


def routing_table() -> Dict[str, Any]:
    """The configured backends (where each key comes from, never the key), aliases, routes in order,
    the default backend, and which backend each built-in model family goes to."""
    return table_of(load_config(os.environ))


def doctor(python: Optional[str] = None) -> Dict[str, Any]:
    """Check the setup like `router doctor --json`: versions, config, each backend (DNS, TCP, TLS, one
    free authenticated model-list request), the shim in a child Python, the proxy port, telemetry.
    Never makes a call that spends tokens. `python`: the interpreter for the shim checks."""
    from .doctor import DoctorOptions, run_doctor

    return run_doctor(DoctorOptions(python=python)).as_dict()
