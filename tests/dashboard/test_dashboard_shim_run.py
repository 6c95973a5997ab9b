"""``router dashboard`` in headless Chromium after a ``router shim`` run whose script starts a child Python:
the page shows the run's process tree, its calls and the routing table, loads nothing from elsewhere
and logs no error."""

import sys
from pathlib import Path

from chromium import Chromium
from dashboard_support import DashboardProcess, expected_totals, shown_totals, stats_json
from fakes import FakeProvider
from shim_support import run_shim, write_router_home, write_script

PARENT = """
    import subprocess
    import openai
    client = openai.OpenAI(max_retries=0)
    client.chat.completions.create(model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}])
    subprocess.run([sys.executable, "worker.py"], check=True)
    report("done")
"""
WORKER = """
    import anthropic
    anthropic.Anthropic(max_retries=0).messages.create(model="gpt-5.1", max_tokens=20,
                                                       messages=[{"role": "user", "content": "hi"}])
"""
TREE = """[...document.querySelectorAll('#processes li[data-pid]')].map((item) =>
    [item.firstChild.textContent, item.parentElement.closest('li[data-pid]')?.dataset.pid ?? null])"""


def test_the_process_tree_of_a_shim_run(home: Path, provider: FakeProvider, tmp_path: Path, browser: Chromium) -> None:
    write_router_home(home, provider.root_url)
    provider.reply(text="from the parent")
    provider.reply(text="from the worker")
    work = tmp_path / "work"
    script = write_script(work, PARENT, name="agent.py")
    write_script(work, WORKER, name="worker.py")
    run = run_shim([sys.executable, str(script)], home, cwd=work)
    assert run.result() == "done", run.explain()

    with DashboardProcess(home) as dashboard:
        browser.open(dashboard.url)
        browser.wait_for("document.querySelectorAll('#processes li[data-pid]').length === 2", 10)
        tree = browser.evaluate(TREE)
        totals = shown_totals(browser)
        routing = browser.evaluate("document.getElementById('routing').innerText")
        assert browser.errors == []  # checked while the dashboard still runs: the page polls it
    (parent_label, parent_of_parent), (worker_label, parent_of_worker) = tree
    assert "agent.py · 1 call" in parent_label and parent_of_parent is None
    assert "worker.py · 1 call" in worker_label and parent_of_worker == parent_label.split("agent.py")[0]
    assert totals == expected_totals(stats_json(home))
    assert "claude-*" in routing and "anthropic" in routing
    assert all(url.startswith(dashboard.url) for url in browser.requests), browser.requests
