"""A tiny stdio MCP server for capture.py: JSON-RPC 2.0, one message per line, two tools.

Claude Code puts an MCP server's tools behind tool search (deferred tools), which is what the
tool_reference capture needs; nothing here is used by the tests themselves.
"""

import json
import sys
from typing import Any, Dict

TOOLS = [
    {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "inputSchema": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
    {
        "name": "add_numbers",
        "description": "Add two integers.",
        "inputSchema": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
]


def _send(message: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    sys.stdout.flush()


def _call(name: str, arguments: Dict[str, Any]) -> str:
    if name == "get_weather":
        return f"Sunny, 21 C in {arguments.get('city')}"
    return str(arguments.get("a", 0) + arguments.get("b", 0))


def _answer(method: str, params: Dict[str, Any]) -> Dict[str, Any]:
    if method == "initialize":
        version = params.get("protocolVersion", "2025-06-18")
        return {"result": {"protocolVersion": version, "capabilities": {"tools": {}},
                           "serverInfo": {"name": "demo", "version": "1.0.0"}}}
    if method == "tools/list":
        return {"result": {"tools": TOOLS}}
    if method == "tools/call":
        text = _call(params["name"], params.get("arguments", {}))
        return {"result": {"content": [{"type": "text", "text": text}]}}
    return {"error": {"code": -32601, "message": "method not found"}}


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        if message.get("id") is not None:  # notifications need no answer
            _send({"id": message["id"], **_answer(message.get("method", ""), message.get("params") or {})})


if __name__ == "__main__":
    main()
