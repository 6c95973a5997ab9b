"""``router shim -vv``: each call's bodies, printed by the process that made it (in-process routing)
or by the run's proxy (other programs), redacted (docs/operator-switches.md#bodies)."""

import sys
from pathlib import Path

from fakes import FakeProvider
from shim_support import BACKEND_KEYS, run_shim, write_script

LEAKED = "sk-proj-LEAKEDLEAKEDLEAKED0123456789"

SCRIPT = f"""
import openai
client = openai.OpenAI(max_retries=0)
messages = [{{"role": "user", "content": "key {LEAKED}"}}]
reply = client.chat.completions.create(model="claude-sonnet-4-6", messages=messages)
report(reply.choices[0].message.content)
"""

CURL_SCRIPT = """
import os, subprocess
url = os.environ["OPENAI_BASE_URL"] + "/chat/completions"
body = '{"model": "gpt-5.1", "messages": [{"role": "user", "content": "from curl"}]}'
out = subprocess.run(["curl", "-sS", "--max-time", "10", "-H", "content-type: application/json", "-d", body, url],
                     capture_output=True, text=True, timeout=20, check=True).stdout
report(json.loads(out)["choices"][0]["message"]["content"])
"""


def test_a_python_child_prints_its_bodies_redacted(provider: FakeProvider, router_home: Path, workdir: Path) -> None:
    provider.reply(text=f"answer with {BACKEND_KEYS['anthropic']}")
    ran = run_shim([sys.executable, str(write_script(workdir, SCRIPT))], router_home, cwd=workdir, flags=["-vv"])
    assert ran.returncode == 0, ran.explain()
    lines = ran.stderr.splitlines()
    head = next(index for index, line in enumerate(lines) if line.endswith(" chat claude-sonnet-4-6"))
    request, response = lines[head + 1], lines[head + 2]
    assert request.startswith("  request body (") and "key [redacted]" in request
    assert response.startswith("  response body (") and "answer with [redacted]" in response
    assert any("claude-sonnet-4-6 → anthropic/claude-sonnet-4-6" in line for line in lines)  # -v's line too
    assert LEAKED not in ran.stderr and all(key not in ran.stderr for key in BACKEND_KEYS.values())


def test_a_program_through_the_runs_proxy_gets_its_bodies_printed(
    provider: FakeProvider, router_home: Path, workdir: Path
) -> None:
    provider.reply(text="answered curl")
    ran = run_shim([sys.executable, str(write_script(workdir, CURL_SCRIPT))], router_home, cwd=workdir,
                   flags=["-vv"])
    assert ran.returncode == 0, ran.explain()
    assert ran.result() == "answered curl"
    lines = ran.stderr.splitlines()
    head = next(index for index, line in enumerate(lines) if line.endswith(" chat gpt-5.1"))
    assert "from curl" in lines[head + 1] and "answered curl" in lines[head + 2]


def test_without_vv_no_body_is_printed(provider: FakeProvider, router_home: Path, workdir: Path) -> None:
    provider.reply(text="quiet answer")
    ran = run_shim([sys.executable, str(write_script(workdir, SCRIPT))], router_home, cwd=workdir, flags=["-v"])
    assert ran.returncode == 0, ran.explain()
    assert "body (" not in ran.stderr and "quiet answer" not in ran.stderr
