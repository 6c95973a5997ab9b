"""``router demo``: see routing, translation both ways, streaming, tools and telemetry work, offline.

Exit codes: 0 every step passed; 1 a step failed (the last lines say what to check) or the
``openai``/``anthropic`` SDKs the example agent uses are not installed (it says what to install).
"""

import os
import sys

import click

from .cli_support import example

__all__ = ["demo"]


@click.command(epilog=example("router demo", "router demo 2>&1 | less"))
def demo() -> None:
    """See routing, translation and telemetry work, offline.

    Starts a local demo provider speaking both vendors' wire formats, runs an example agent under
    router shim (openai SDK -> claude-*, anthropic SDK -> gpt-*, streaming, tools), sends the same
    calls with curl through router proxy, then shows router stats. No configuration, no key, no
    network; exit 0 when every step worked."""
    from .demo.run import run_demo  # the demo's modules load only for this command

    sys.exit(run_demo(os.environ, click.echo))
