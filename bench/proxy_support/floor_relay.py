"""The floor: the least a relay on router proxy's own stack (uvicorn + uvloop + httptools serving,
router proxy's own pooled upstream client) must do, and nothing more.

It forwards each request's path and body to the fake and relays the answer, a stream chunk by chunk
as it arrives. No routing, no translation, no usage scan, no telemetry, no auth, no limits, no
disconnect handling. Whatever this adds over direct-to-fake in the same run is the stack's own
cost on this machine; what router proxy adds beyond it is router's.

Run: ``python bench/proxy_support/floor_relay.py --upstream http://127.0.0.1:PORT --port PORT``.
"""

import argparse
from typing import Any, Awaitable, Callable, Dict, MutableMapping, Optional

import uvicorn

from host.proxy.settings import ProxySettings
from host.proxy.upstream import UpstreamClient
from host.proxy.upstream_httptools import HttptoolsUpstream

Message = MutableMapping[str, Any]

_FORWARDED = ("content-type", "authorization", "x-api-key", "anthropic-version")


class FloorRelay:
    def __init__(self, upstream: str) -> None:
        self._upstream = upstream.rstrip("/")
        self._client: Optional[UpstreamClient] = None

    async def __call__(self, scope: Message, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            return
        if self._client is None:
            self._client = HttptoolsUpstream(ProxySettings(), 1)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        wanted = {name.decode(): value.decode() for name, value in scope["headers"]}
        headers: Dict[str, str] = {name: wanted[name] for name in _FORWARDED if name in wanted}
        response = await self._client.post(self._upstream + scope["path"], headers, body)
        try:
            content_type = response.headers.get("content-type", "application/json")
            await send({"type": "http.response.start", "status": response.status,
                        "headers": [(b"content-type", content_type.encode())]})
            async for chunk in response.chunks():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(FloorRelay(args.upstream), host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                log_level="warning", access_log=False, proxy_headers=False, lifespan="off")


if __name__ == "__main__":
    main()
