"""Record what Claude Code sends, for the golden tests beside this file (see README.md).

    python tests/golden/claude_code/capture.py /path/to/node_modules/.bin/claude

Runs the CLI offline against the tests' fake provider (``tests/fakes``) in three scenarios, then
writes one JSON file per request the golden tests use, with everything personal or machine-specific
replaced by stable fakes (paths, device and session ids, the kernel version). Needs the test
dependencies (the fake provider) and a Claude Code install; the CLI talks only to the fake.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # tests/, for the fake provider
from fakes import FakeProvider  # noqa: E402

FAKE_HOME = "/home/user"
FAKE_DEVICE_ID = "0123456789abcdef" * 4
FAKE_SESSION_ID = "00000000-0000-4000-8000-000000000001"
KEPT_HEADERS = ("anthropic-beta", "anthropic-version", "user-agent", "x-app", "x-claude-code-session-id")
MCP_TOOLS = "mcp__demo__get_weather"


def _run(claude: str, provider: FakeProvider, prompt: str, extra: List[str]) -> List[Dict[str, Any]]:
    home = tempfile.mkdtemp(prefix="cc-golden-")
    project = os.path.join(home, "project")
    os.mkdir(project)
    env = {"PATH": os.environ["PATH"], "HOME": home, "ANTHROPIC_BASE_URL": provider.root_url,
           "ANTHROPIC_AUTH_TOKEN": "unused", "DISABLE_AUTOUPDATER": "1"}
    done = subprocess.run([claude, "-p", prompt, "--output-format", "json", *extra], env=env, cwd=project,
                          capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise SystemExit(f"claude exited {done.returncode}: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    records = [_record(exchange.request) for exchange in provider.exchanges]
    provider.reset()
    return [_sanitized(record, home) for record in records]


def _record(request: Any) -> Dict[str, Any]:
    headers = {name: value for name, value in request.headers.items() if name in KEPT_HEADERS}
    return {"method": request.method, "path": request.path, "headers": headers, "body": request.json}


def _sanitized(record: Dict[str, Any], home: str) -> Dict[str, Any]:
    text = json.dumps(record)
    session = record["headers"].get("x-claude-code-session-id")
    user_id = (record["body"].get("metadata") or {}).get("user_id")
    # Claude Code names a project's memory directory after its path, every other character a dash.
    replacements = {home: FAKE_HOME, re.sub(r"[^A-Za-z0-9]", "-", home): re.sub(r"[^A-Za-z0-9]", "-", FAKE_HOME)}
    if session:
        replacements[session] = FAKE_SESSION_ID
    if user_id:
        replacements[json.loads(user_id)["device_id"]] = FAKE_DEVICE_ID
    for old, new in replacements.items():
        text = text.replace(old, new)
    text = re.sub(r"OS Version: [^\\\"]*", "OS Version: Linux 6.0.0", text)
    return json.loads(text)


def _write(name: str, record: Dict[str, Any]) -> None:
    (HERE / name).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")


def main() -> None:
    claude = sys.argv[1]
    mcp = json.dumps({"mcpServers": {"demo": {"type": "stdio", "command": sys.executable,
                                                "args": [str(HERE / "mcp_demo_server.py")]}}})
    with FakeProvider() as provider:
        provider.reply(text="hi")
        (first,) = _run(claude, provider, "say hi", [])
        _write("first-request.json", first)

        provider.reply(tool_calls=[("ToolSearch", {"query": f"select:{MCP_TOOLS}"})])
        provider.reply(tool_calls=[(MCP_TOOLS, {"city": "Paris"})])
        provider.reply(text="It is sunny in Paris.")
        allowed = ["--mcp-config", mcp, "--allowedTools", f"{MCP_TOOLS},ToolSearch"]
        _, search, loop = _run(claude, provider, "What is the weather in Paris? Use the demo MCP server.", allowed)
        _write("tool-reference.json", search)
        _write("tool-loop.json", loop)

        counts = _run(claude, provider, "/context", ["--mcp-config", mcp])
        _write("count-tokens.json", next(r for r in counts if MCP_TOOLS in json.dumps(r["body"].get("tools"))))


if __name__ == "__main__":
    main()
