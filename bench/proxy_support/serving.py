"""How a bench's loopback fake provider runs as a process: ``READY <port>`` on stdout once it
listens, then serve until SIGINT or SIGTERM (on uvloop when it is installed; correct without it)."""

import argparse
import asyncio
import signal
from typing import Any, Awaitable, Callable, List, Optional, Tuple

__all__ = ["run_server_main"]

# Start listening on (host, port); answer the server (to close) and the port it bound.
Serve = Callable[[str, int], Awaitable[Tuple[Any, int]]]


async def _serve_until_signalled(serve: Serve, host: str, port: int) -> None:
    server, bound = await serve(host, port)
    print(f"READY {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()


def run_server_main(serve: Serve, description: str, argv: Optional[List[str]] = None) -> None:
    """The command line of a fake: ``--host`` and ``--port`` (0: any free one)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        import uvloop  # a faster loop when available

        uvloop.run(_serve_until_signalled(serve, args.host, args.port))
    except ImportError:
        asyncio.run(_serve_until_signalled(serve, args.host, args.port))
