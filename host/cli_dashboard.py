"""``router dashboard``: the live dashboard on 127.0.0.1, from the telemetry store.

Exit codes: 0 after Ctrl-C; 2 when the port cannot be bound or ``ROUTER_API_KEY`` is too weak to be a key.
"""

import os

import click

from .cli_proxy import ROUTER_API_KEY_ENV
from .cli_support import example
from .router_key import RouterKeyRefused, router_key

__all__ = ["dashboard"]


class DashboardStartProblem(click.ClickException):
    exit_code = 2


@click.command(epilog=example("router dashboard", "router dashboard --port 8787"))
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (0: any free port; the URL is printed).")
def dashboard(port: int) -> None:
    """Serve the live dashboard (calls, errors, tokens, cost, latency, routing) on 127.0.0.1."""
    try:
        api_key = router_key(os.environ.get(ROUTER_API_KEY_ENV))
    except RouterKeyRefused as problem:
        raise DashboardStartProblem(str(problem)) from None
    from .dashboard.server import run_dashboard  # uvicorn loads only for this command
    from .proxy.server import BindRefused

    try:
        run_dashboard(port, api_key)
    except BindRefused as exc:
        raise DashboardStartProblem(str(exc)) from None
