"""``router dashboard`` as a child process, and what the page and ``router stats --json`` show."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from chromium import Chromium
from proxy_process import limit_open_files

from host.cli_stats import cost_text
from host.stats_query import GroupStats

__all__ = ["DashboardProcess", "expected_totals", "shown_totals", "stats_json"]

_START_TIMEOUT = 20.0


class DashboardProcess:
    """``python -m host dashboard --port 0``; the URL from its first line."""

    def __init__(self, home: Path, env: Optional[Mapping[str, str]] = None,
                 max_open_files: Optional[int] = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if k != "ROUTER_API_KEY"}
        full_env.update({"ROUTER_HOME": str(home), **(env or {})})
        self.process = subprocess.Popen([sys.executable, "-m", "host", "dashboard", "--port", "0"], env=full_env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        preexec_fn=None if max_open_files is None
                                        else lambda: limit_open_files(max_open_files))
        lines: queue.Queue[str] = queue.Queue()
        self.output: List[str] = []

        def pump() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line)
                lines.put(line)
            lines.put("")

        threading.Thread(target=pump, daemon=True).start()
        first = lines.get(timeout=_START_TIMEOUT)
        prefix = "router dashboard on "
        if not first.startswith(prefix):
            self.stop()
            raise AssertionError(f"dashboard did not start: {first!r} {''.join(self.output)}")
        self.url = first[len(prefix):].strip()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(10)

    def __enter__(self) -> "DashboardProcess":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def stats_json(home: Path, window: str = "1h") -> Dict[str, Any]:
    """``router stats --json --since WINDOW`` run as a user would."""
    done = subprocess.run([sys.executable, "-m", "host", "stats", "--json", "--since", window],
                          env={**os.environ, "ROUTER_HOME": str(home)}, capture_output=True, text=True, timeout=60,
                          check=True)
    return dict(json.loads(done.stdout))


def expected_totals(report: Dict[str, Any]) -> Dict[str, str]:
    """What the page's total cards must show for a ``router stats --json`` report."""
    total = report["total"]
    group = GroupStats("total", calls=total["calls"], cost_usd=total["cost_usd"],
                       cost_unknown_calls=total["cost_unknown_calls"])
    return {"calls": f"{total['calls']:,}", "errors": f"{total['errors']:,}",
            "input_tokens": f"{total['input_tokens']:,}", "output_tokens": f"{total['output_tokens']:,}",
            "cost": cost_text(group)}


SHOWN_TOTALS = ("Object.fromEntries([...document.querySelectorAll('[data-total]')]"
                ".map((node) => [node.dataset.total, node.textContent]))")


def shown_totals(browser: Chromium) -> Dict[str, str]:
    return dict(browser.evaluate(SHOWN_TOTALS))
