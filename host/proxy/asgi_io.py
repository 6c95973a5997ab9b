"""The few ASGI messages the proxy sends and receives, with the header hygiene in one place."""

from typing import Any, Awaitable, Callable, Dict, Iterable, List, Mapping, MutableMapping, NamedTuple, Optional, Tuple

from shim.body_log import BodyCapture
from shim.errors import OverloadedError, RequestTooLargeError, RouterError
from shim.json_budget import JsonValueCount
from shim.model_key import ModelKeys
from shim.plan import ClientResponse

from .body_budget import EVICTED, BodyClaim

__all__ = [
    "CLOSE_CONNECTION",
    "CONNECTION_END",
    "STOPPED_READING",
    "ClientGone",
    "ConnectionEnd",
    "Receive",
    "ReceivedBody",
    "ResponseWriter",
    "Scope",
    "Send",
    "connection_closer",
    "connection_end_reason",
    "read_body",
    "request_headers",
]

# A request's scope holds, under this key, a weak reference to what closes its connection (set by
# connections.py; weak, so that the connection and its request's scope hold no cycle).
CLOSE_CONNECTION = "router.close_connection"
# ... and under this one its connection's :class:`ConnectionEnd`, which says why the proxy ended it.
CONNECTION_END = "router.connection_end"
STOPPED_READING = "client_stopped_reading"  # the send timeout's reason (docs/proxy-limits.md#connections)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ConnectionEnd:
    """Why the proxy itself ended a connection, for the calls on it (an object of the connection's that
    holds nothing, so a request's scope can share it without a cycle): None while it has not."""

    __slots__ = ("reason",)

    def __init__(self) -> None:
        self.reason: Optional[str] = None


def connection_end_reason(scope: Scope) -> Optional[str]:
    """The reason the proxy ended the request's connection, e.g. ``client_stopped_reading``; None
    when it did not (the client left, or the connection is open)."""
    end = scope.get(CONNECTION_END)
    return end.reason if isinstance(end, ConnectionEnd) else None


# Upstream headers that describe the upstream connection, not the answer; uvicorn writes its own
# date, framing and connection headers.
_HOP_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "date", "server", "content-encoding"}
)


class ClientGone(Exception):
    """The client disconnected before its request body was complete (or its body was dropped to make
    room for others', its connection closing: body_budget.py)."""


def connection_closer(scope: Scope) -> Optional[Callable[[], None]]:
    """What closes the request's connection (None: the server did not say)."""
    reference = scope.get(CLOSE_CONNECTION)
    if reference is None:
        return None

    def close() -> None:
        closing = reference()
        if closing is not None:
            closing()

    return close


def request_headers(scope: Scope) -> Dict[str, str]:
    """The request headers as a dict (names are lower case in ASGI; a repeated name keeps the last)."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


class BodyRefused(Exception):
    """The request body was refused: too large (413), or no room for it now (overloaded).
    ``read_whole``: the client's body was read to its end (and dropped), so the connection may serve
    another request; otherwise it must close."""

    def __init__(self, error: RouterError, read_whole: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.read_whole = read_whole


class ReceivedBody(NamedTuple):
    """A whole request body, its JSON values as :func:`read_body` counted them, and where it spells
    its model key (both looked for piece by piece as it arrived: docs/proxy-limits.md#request-bodies)."""

    raw: bytes
    json_values: int
    model_keys: ModelKeys


async def read_body(receive: Receive, headers: Mapping[str, str], limit: int, claim: BodyClaim) -> ReceivedBody:
    """The whole request body, refusing (413) before reading it when content-length is too big,
    as soon as a body without one grows past ``limit``, and as soon as it holds more JSON values
    than a call may (counted piece by piece: docs/proxy-limits.md#request-bodies). ``claim`` holds
    the body's bytes in the proxy's budget for all bodies (the declared length at once, else as
    they come); one that does not fit is refused as overloaded, before more of it is read, and one
    dropped to make room for another ends as if its client had left (its connection is closing)."""
    declared = headers.get("content-length", "")
    if declared.isdigit():
        if int(declared) > limit:
            raise BodyRefused(RequestTooLargeError(f"request body is {declared} bytes; the limit is {limit}"), False)
        if not claim.cover(int(declared)):
            raise BodyRefused(_no_room(), False)
    parts: List[bytes] = []
    size = 0
    values = JsonValueCount()
    keys = ModelKeys()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        part = message.get("body", b"")
        size += len(part)
        more = message.get("more_body", False)
        if size > limit:
            raise BodyRefused(RequestTooLargeError(f"request body is over the limit of {limit} bytes"), False)
        if not claim.cover(size):
            parts.clear()
            if claim.state == EVICTED:
                raise ClientGone()
            raise await _refused_part_way(_no_room(), claim, receive, more, limit - size)
        values.feed(part)
        try:
            values.check()
        except RequestTooLargeError as error:
            parts.clear()
            raise await _refused_part_way(error, claim, receive, more, limit - size) from None
        keys.feed(part)
        parts.append(part)
        if not more:
            claim.complete()
            return ReceivedBody(parts[0] if len(parts) == 1 else b"".join(parts), values.values, keys)


def _no_room() -> OverloadedError:
    return OverloadedError("the router proxy holds as many request bodies as it may at once; retry shortly",
                           retry_after="1")


async def _refused_part_way(error: RouterError, claim: BodyClaim, receive: Receive, more: bool,
                            room: int) -> BodyRefused:
    """A body refused before its end keeps nothing, so its share of the budget goes back at once —
    the rest, read only to be dropped, is held nowhere. Holding its declared length while that rest
    came, it was a body still arriving that other calls could drop for room, and its client lost the
    refusal to a closed connection (docs/proxy-limits.md#request-bodies)."""
    claim.release()
    return BodyRefused(error, not more or await _drop_rest(receive, room))


async def _drop_rest(receive: Receive, room: int) -> bool:
    """Read the rest of a refused body without keeping or counting it, at most ``room`` bytes: a
    client that writes its whole body before it reads (most do) then gets the 413, not a connection
    reset by a server that closed on bytes it never read. True when the body ended."""
    while room >= 0:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        room -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return room >= 0
    return False


def _header_list(headers: Mapping[str, str], extra: Iterable[Tuple[str, str]] = ()) -> List[Tuple[bytes, bytes]]:
    out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items() if k.lower() not in _HOP_HEADERS]
    out.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in extra)
    return out


class ResponseWriter:
    """Sends one response through ``send`` and remembers how far it got (for telemetry, for the
    disconnect watcher, and to know whether an error can still be a real HTTP status)."""

    def __init__(self, send: Send, clock: Callable[[], float]) -> None:
        self._send = send
        self._clock = clock
        self.status = 0
        self.started = False
        self.complete = False
        self.first_byte_at: float = 0.0
        self.capture: Optional[BodyCapture] = None  # -vv: the first bytes sent, for the log

    async def whole(self, response: ClientResponse, close: bool = False) -> None:
        """A complete response with content-length (``close``: ask the client to reconnect)."""
        extra = [("content-length", str(len(response.body)))]
        if close:
            extra.append(("connection", "close"))
        await self.start(response.status, response.headers, extra)
        await self.body(response.body, more=False)

    async def start(
        self, status: int, headers: Mapping[str, str], extra: Iterable[Tuple[str, str]] = ()
    ) -> None:
        self.status, self.started = status, True
        message = {"type": "http.response.start", "status": status, "headers": _header_list(headers, extra)}
        await self._send(message)

    async def body(self, data: bytes, more: bool = True) -> None:
        if not data and more:
            return  # an empty chunk is noise (and would end a chunked body in some servers)
        if not self.first_byte_at:
            self.first_byte_at = self._clock()
        if not more:
            self.complete = True
        if self.capture is not None:
            self.capture.add(data)
        await self._send({"type": "http.response.body", "body": data, "more_body": more})
