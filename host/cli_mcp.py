"""``router mcp``: the read-only MCP server on stdio (see :mod:`host.mcp_server`)."""

import click

from .cli_support import example

__all__ = ["mcp"]


@click.command(epilog=example("claude mcp add router-mcp -- router mcp",
                              "router mcp    # speaks MCP on stdin/stdout; an MCP client starts it"))
def mcp() -> None:
    """Serve stats, route explanations and the doctor to MCP clients (read-only, stdio)."""
    from .mcp_server import build_server  # the SDK loads only for this command

    build_server().run("stdio")
