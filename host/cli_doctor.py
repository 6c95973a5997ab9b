"""``router doctor``: check the whole setup and say what to fix; output meant for bug reports.

Exit codes: 0 when nothing is broken (warnings allowed); 1 when a check failed; 2 for bad usage.
No output shows more than the last four characters of any key.
"""

import json

import click

from .cli_support import example

__all__ = ["doctor"]


@click.command(epilog=example("router doctor", "router doctor --python .venv/bin/python", "router doctor --json",
                              "router doctor --spend      # also one tiny generation call per backend"))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--spend", is_flag=True, help="Also make one generation call per backend (≤ 5 tokens each).")
@click.option("--python", "python", metavar="PATH", help="Interpreter for the shim checks (default: python3 on PATH).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address router proxy would listen on.")
@click.option("--port", default=3456, show_default=True, type=click.IntRange(0, 65535),
              help="Port router proxy would listen on.")
def doctor(as_json: bool, spend: bool, python: str | None, host: str, port: int) -> None:
    """Check versions, config, backends, the shim, the proxy and telemetry; print each fix."""
    from .doctor import DoctorOptions, run_doctor

    report = run_doctor(DoctorOptions(spend=spend, python=python, proxy_host=host, proxy_port=port))
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else report.text())
    raise SystemExit(report.exit_code)
