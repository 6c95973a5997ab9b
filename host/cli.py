"""The ``router`` command line: backends, aliases, routes and where the configuration lives.

Exit codes: 0 done; 1 the thing named does not exist or is still in use (``backend remove``,
``alias remove``, ``route remove``, ``route add`` with an unknown backend); 2 bad usage, or a state
file that cannot be read, written or is invalid (one line on stderr naming the file, never a
traceback). No output, error or ``--json`` ever contains any part of an API key.
"""

from typing import Any

import click

from .cli_backend import backend
from .cli_dashboard import dashboard
from .cli_demo import demo
from .cli_doctor import doctor
from .cli_mcp import mcp
from .cli_proxy import proxy
from .cli_routing import alias, route
from .cli_shim import shim
from .cli_stats import stats
from .cli_support import example
from .paths import StateFileError, config_path

__all__ = ["cli", "main"]


class FileProblem(click.ClickException):
    """A state file cannot be read, written or is invalid. Exit 2."""

    exit_code = 2


class RouterGroup(click.Group):
    """Turns state-file problems anywhere below into one line on stderr and exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StateFileError as exc:
            raise FileProblem(str(exc)) from None
        except OSError as exc:  # e.g. ROUTER_HOME names a file; never a traceback
            raise FileProblem(" ".join(f"{exc.filename or ''}: {exc.strerror or exc}".split())) from None


@click.group(cls=RouterGroup, epilog=example("router backend add groq", "router route explain llama-3.1-8b-instant"))
@click.version_option(package_name="router", prog_name="router")
def cli() -> None:
    """Route LLM calls by model name to configured backends."""


@cli.group(epilog=example("router config path"))
def config() -> None:
    """Where the configuration lives."""


@config.command("path", epilog=example("$EDITOR \"$(router config path)\""))
def config_path_command() -> None:
    """Print the path of config.toml ($ROUTER_HOME, else the user config directory)."""
    click.echo(str(config_path()))


for group in (backend, route, alias, proxy, shim, stats, dashboard, demo, doctor, mcp):
    cli.add_command(group)


def main() -> None:
    """Console-script entry point (``router``)."""
    cli(prog_name="router")


if __name__ == "__main__":
    main()
