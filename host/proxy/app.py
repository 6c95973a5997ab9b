"""The raw ASGI application: lifespan (the shared upstream client, following the configuration),
routing of paths, auth, the body limit, the client-disconnect watch, telemetry and ``-v``.

No framework: the proxy has a handful of routes and measured per-request overhead matters more than
routing conveniences (the whole app is a few hundred lines of plain ASGI).
"""

import asyncio
import contextlib
import dataclasses
import gc
import json
import sys
import time
from importlib import metadata
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, TypeVar

from shim.body_log import BodyCapture, body_line
from shim.config import RouterConfig
from shim.env_names import CALLER_HEADER
from shim.errors import AuthenticationError, NotFoundError, RouterError, ShuttingDownError
from shim.plan import ClientCall, ClientResponse, render_error
from shim.protocols import ENDPOINT_PROTOCOL, MODELS, endpoint_for_path
from shim.response_lookup import deleted_response, missing_response, stored_response_answer, stored_response_id
from shim.telemetry import CLIENT_DISCONNECTED, CLIENT_LEFT_STATUS, TEXT_LIMIT

from ..backend_states import HEALTH_PATH
from ..log_text import printable
from ..pricing import load_library as load_price_library
from ..store_reads import InProcessReads, StoreReadFailed, StoreReads
from .asgi_io import (
    STOPPED_READING,
    BodyRefused,
    ClientGone,
    Receive,
    ResponseWriter,
    Scope,
    Send,
    connection_closer,
    connection_end_reason,
    read_body,
    request_headers,
)
from .auth import is_authorized
from .body_budget import EVICTED, BodyClaim
from .call_trace import Caller, CallTrace
from .error_shape import client_protocol
from .forward import forward_call, send_error
from .generation import ConfigGeneration
from .memory_release import MemoryRelease
from .settings import ProxySettings
from .state import ProxyState
from .stats_view import stats_params, stored_stats
from .store_batch import StoreBatcher
from .upstream import BackendLimiter, UpstreamClient
from .web_pages import page_refusal
from .websocket_refusal import is_websocket_upgrade, refuse_websocket, upgrade_refusal

if TYPE_CHECKING:
    from ..dashboard.site import DashboardSite
    from .live_config import LiveConfig

__all__ = ["ProxyApp", "root_answer", "router_version", "settings_upstream"]

UpstreamFactory = Callable[[ProxySettings, int], UpstreamClient]
_AUTH_MESSAGE = "missing or wrong router key: send the value of ROUTER_API_KEY as x-api-key or a bearer token"
_Read = TypeVar("_Read")
_CONNECTION_GONE = frozenset({CLIENT_DISCONNECTED, STOPPED_READING})  # the client left, or the proxy reset it
_SHUTTING_DOWN = "the router proxy is shutting down; the call was stopped before its answer began"


def settings_upstream(settings: ProxySettings, backend_count: int) -> UpstreamClient:
    """The upstream client ``settings.upstream_client`` names (see :data:`UPSTREAM_CLIENTS`)."""
    if settings.upstream_client == "httpx":
        from .upstream import HttpxUpstream

        return HttpxUpstream(settings, backend_count)
    if settings.upstream_client == "aiohttp":
        from .upstream_aiohttp import AiohttpUpstream

        return AiohttpUpstream(settings, backend_count)
    from .upstream_httptools import HttptoolsUpstream

    return HttptoolsUpstream(settings, backend_count)


def router_version() -> str:
    try:
        return metadata.version("router")
    except metadata.PackageNotFoundError:
        return "unknown"


WATCH_AFTER = 0.025  # seconds before a running call starts watching for its client leaving


class ProxyApp:
    """The ASGI callable. ``upstream_factory`` builds the pooled client at lifespan start-up.

    The configuration changes while it serves: ``live`` (``router proxy``) watches the files and
    swaps the generation itself; :meth:`adopt_config` lets an owner push one (``router shim``)."""

    def __init__(
        self,
        config: RouterConfig,
        settings: ProxySettings,
        upstream_factory: UpstreamFactory = settings_upstream,
        *,
        fingerprint: str = "",
        live: "Optional[LiveConfig]" = None,
        memory_release: Optional[MemoryRelease] = None,
    ) -> None:
        limiter = BackendLimiter(settings.max_concurrency, settings.queue_timeout)
        self.state = ProxyState(ConfigGeneration.first(config, fingerprint, limiter, time.time()), settings)
        self._upstream_factory = upstream_factory
        self._live = live
        self._loop: Optional[asyncio.AbstractEventLoop] = None  # set at start-up: where adopt_config runs
        self._store_batcher: Optional[StoreBatcher] = None
        self._memory_release = memory_release or MemoryRelease()  # gives back what a burst freed
        self._store_reads = asyncio.Lock()  # one read of the telemetry store at a time (_read_store)
        self._listed_origins = frozenset(settings.cors_origins)  # pages a keyless proxy serves (web_pages.py)
        self._version = router_version()
        self.root = root_answer  # GET/HEAD /: replaceable
        # router proxy's dashboard: the page at / for browsers, its files and API under /dashboard/.
        self.dashboard: Optional[DashboardSite] = None
        # Where /stats reads the store (None: on a worker thread here; router proxy's: a process of
        # their own, shared with the dashboard, docs/telemetry-bounds.md#reads-in-a-process-of-their-own).
        self.store_reads: Optional[StoreReads] = None

    def adopt_config(self, config: RouterConfig, fingerprint: str) -> None:
        """From any thread: calls that start after this use ``config`` (calls under way keep theirs)."""
        loop = self._loop
        if loop is None:  # not serving yet: nothing can be reading the generation
            self.state.adopt(config, fingerprint)
        else:
            loop.call_soon_threadsafe(self.state.adopt, config, fingerprint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await refuse_websocket(scope, receive, send, self.state.settings.api_key)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    # Lifespan ------------------------------------------------------------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                backend_count = len(self.state.generation.config.backends)
                self.state.upstream = self._upstream_factory(self.state.settings, backend_count)
                self._store_batcher = StoreBatcher.install(self.state.sink)
                load_price_library()  # not at the first call's end, on the loop (docs/telemetry-bounds.md#prices)
                # Everything built so far (modules, the engine's tables, the price library) lives as long
                # as the process: out of the collector's sight, full collections stop walking it.
                gc.freeze()
                self._loop = asyncio.get_running_loop()
                self._memory_release.start()
                if self._live is not None:
                    self._live.start(self.state)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._live is not None:
                    self._live.stop()  # first: the registry entry goes before anything closes
                self._memory_release.stop()
                if self._store_batcher is not None:
                    self._store_batcher.stop()  # what is buffered goes to the store; later events go direct
                if self.state.upstream is not None:
                    await self.state.upstream.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # Requests ------------------------------------------------------------------------------
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        headers = request_headers(scope)
        writer = ResponseWriter(send, time.perf_counter)
        api_key = self.state.settings.api_key
        if not api_key and (refusal := page_refusal(path, headers, self._listed_origins)) is not None:
            # A web page the user visits, not a client: refused before anything is served or spent.
            await writer.whole(render_error(client_protocol(path, headers), refusal))
            return
        if is_websocket_upgrade(headers):  # the server has no WebSocket library: it comes as plain HTTP
            await writer.whole(upgrade_refusal(path, headers, api_key), close=True)
            return
        if path == "/health" and method == "GET":  # liveness for anyone; what it serves, for the key's holders
            await writer.whole(_json_response(200, self._health(detailed=is_authorized(headers, api_key))))
            return
        if self.dashboard is not None and _is_dashboard_request(path, headers):
            await self._dashboard(scope, receive, writer, headers)  # the page is open; its API checks the key itself
            return
        if path == "/" and method in ("GET", "HEAD"):  # open like /health: it says no more than it
            await writer.whole(self.root(self._version))  # uvicorn sends no body for HEAD
            return
        protocol = client_protocol(path, headers)
        if not is_authorized(headers, api_key):
            denied = AuthenticationError(_AUTH_MESSAGE)
            await writer.whole(render_error(protocol, denied))
            return
        endpoint = endpoint_for_path(path)
        if endpoint in ENDPOINT_PROTOCOL and method == "POST":
            await self._call(scope, receive, writer, headers, endpoint)
        elif method in ("GET", "DELETE") and (response_id := stored_response_id(path)) is not None:
            await writer.whole(await self._stored_response(method, response_id))
        elif endpoint == MODELS and method == "GET":
            await self._models(writer, headers)
        elif path == "/stats" and method == "GET":
            await self._stats(scope, receive, writer)
        elif path == HEALTH_PATH and method == "GET":
            await writer.whole(_json_response(200, self._backend_health()))
        elif path == "/metrics" and method == "GET" and self.state.metrics is not None:
            metrics = self.state.metrics
            # Off the event loop: rendering takes time in proportion to the series, and other clients wait
            # on the loop meanwhile (docs/telemetry-bounds.md#metrics).
            exposition = await asyncio.to_thread(metrics.render)
            await writer.whole(ClientResponse(200, {"content-type": metrics.content_type}, exposition))
        else:
            error = NotFoundError(f"no such endpoint: {method} {path}")
            await writer.whole(render_error(protocol, error))

    async def _stored_response(self, method: str, response_id: str) -> ClientResponse:
        """``GET``/``DELETE /v1/responses/{id}`` from the proxy's store (a primary-key lookup at most:
        the SQLite store writes a deletion on its own thread)."""
        store = self.state.responses
        if method == "GET":
            answer = stored_response_answer(store, response_id, time.time())
        else:
            answer = deleted_response(response_id) if store.delete(response_id) else None
        answer = answer or missing_response(response_id)
        self.state.stats.count_request(answer.status)
        return answer

    async def _dashboard(self, scope: Scope, receive: Receive, writer: ResponseWriter, headers: Dict[str, str]) -> None:
        assert self.dashboard is not None
        if self._store_batcher is not None:
            self._store_batcher.flush()  # the calls already answered reach the store the page reads
        response = await self._read_store(
            receive, self.dashboard.answer, scope["method"], scope["path"], scope.get("query_string", b""), headers)
        if response is not None:
            await writer.whole(response)

    async def _read_store(self, receive: Receive, read: Callable[..., _Read], *args: Any) -> Optional[_Read]:
        """``read(*args)`` on a worker thread (SQLite off the event loop), one at a time; None, and
        nothing read, for a client that left while it waited its turn.

        A read walks every call of its window in Python; run side by side, reads multiplied the
        memory they hold and the threads the loop shares the interpreter with, and any client can
        ask for them. The others wait here holding only their connection, and a client that
        queued reads and left does not keep the worker busy for nobody
        (docs/telemetry-bounds.md#reading-the-store)."""
        left = asyncio.ensure_future(_client_left(receive))
        try:
            async with self._store_reads:
                if left.done():
                    return None
                return await asyncio.to_thread(read, *args)
        finally:
            left.cancel()

    async def _models(self, writer: ResponseWriter, headers: Mapping[str, str]) -> None:
        catalog = self.state.generation.catalog
        body = await catalog.body(self.state.client, anthropic_shape="anthropic-version" in headers)
        await writer.whole(ClientResponse(200, {"content-type": "application/json"}, body))
        self.state.stats.count_request(200)

    async def _call(
        self, scope: Scope, receive: Receive, writer: ResponseWriter, headers: Dict[str, str], endpoint: str
    ) -> None:
        """One call; its body holds its share of the proxy's budget for bodies until the call ends, or
        until it is refused part way (docs/proxy-limits.md#request-bodies)."""
        claim = self.state.bodies.claim(connection_closer(scope))
        try:
            await self._serve_call(scope, receive, writer, headers, endpoint, claim)
        finally:
            claim.release()

    async def _serve_call(self, scope: Scope, receive: Receive, writer: ResponseWriter, headers: Dict[str, str],
                          endpoint: str, claim: BodyClaim) -> None:
        trace = CallTrace.begin(scope["method"], scope["path"], endpoint)
        if self.state.settings.log_bodies:
            writer.capture = BodyCapture()
        if self.state.settings.shim_callers:
            trace.caller = await self._caller(scope, headers)
        try:
            received = await read_body(receive, headers, self.state.settings.max_body_bytes, claim)
        except BodyRefused as refused:
            trace.fail(refused.error)
            # close unless the body was read to its end: unread bytes would be taken for the next request
            await writer.whole(render_error(ENDPOINT_PROTOCOL[endpoint], refused.error), close=not refused.read_whole)
            return self._finish(trace, writer)
        except ClientGone:
            # Its connection closed: by the client, or by the proxy to make room for other calls' bodies.
            trace.error = "body_dropped_for_room" if claim.state == EVICTED else CLIENT_DISCONNECTED
            return self._finish(trace, writer)
        trace.request_body = received.raw if self.state.settings.log_bodies else None
        watch = _DisconnectWatch(receive, writer)
        try:
            query = scope.get("query_string", b"").decode("latin-1")
            call = ClientCall(endpoint, headers, received.raw, query,  # counted and searched by read_body
                              json_values=received.json_values, model_keys=received.model_keys)
            await forward_call(self.state, trace, call, writer)
            if trace.error is None:  # the proxy cut the connection while its last writes waited:
                trace.error = connection_end_reason(scope)  # they went nowhere (docs/proxy-limits.md#connections)
        except asyncio.CancelledError:
            watch.uncancel()
            if watch.client_left:  # or the proxy reset it: docs/proxy-limits.md#connections, send timeout
                trace.error = connection_end_reason(scope) or CLIENT_DISCONNECTED
            else:  # shutdown: uvicorn cancels what is still running after its grace period
                await _stopped_by_shutdown(writer, trace, ENDPOINT_PROTOCOL[endpoint])
        except RouterError as error:  # a translator raised after all: still an answer in the client's shape
            await _late_error(writer, trace, ENDPOINT_PROTOCOL[endpoint], error)
        finally:
            watch.stop()
            self._finish(trace, writer)

    async def _caller(self, scope: Scope, headers: Mapping[str, str]) -> Optional[Caller]:
        """The process of the tree that made this call: the shim's header says, else the connection
        does (/proc reads, off the event loop: milliseconds for a new connection, less after)."""
        caller = Caller.from_header(headers.get(CALLER_HEADER))
        peers, client, server = self.state.peers, scope.get("client"), scope.get("server")
        if caller is not None or peers is None or not client or not server:
            return caller
        peer = await asyncio.to_thread(peers.find, client[1], server[1])
        if peer is None:
            return None
        return Caller(peer.pid, peer.ppid, peer.program[:TEXT_LIMIT], source="proxy")

    def _finish(self, trace: CallTrace, writer: ResponseWriter) -> None:
        now = time.perf_counter()
        trace.status = writer.status if writer.complete else (writer.status or CLIENT_LEFT_STATUS)
        if trace.error in _CONNECTION_GONE:
            trace.status = CLIENT_LEFT_STATUS
        trace.first_byte_at = writer.first_byte_at
        event = trace.event(now)
        self.state.stats.record(event)
        if self.state.sink is not None:
            self.state.sink.record(event)
        settings = self.state.settings
        lines = [trace.log_line(now)] if settings.verbose else []
        if settings.log_bodies:  # the proxy of router shim -vv prints only these (the host prints -v's line)
            lines += self._body_lines(trace, writer, headed=not settings.verbose)
        if lines:
            sys.stderr.write("\n".join(lines) + "\n")

    def _body_lines(self, trace: CallTrace, writer: ResponseWriter, headed: bool) -> List[str]:
        """``-vv``: the call's bodies, every secret the router holds or can recognise redacted
        (``headed``: after a line naming the call, where no ``-v`` line precedes them)."""
        secrets = [b.api_key for b in self.state.generation.config.backends.values() if b.api_key]
        if self.state.settings.api_key:
            secrets.append(self.state.settings.api_key)
        body = trace.request_body or b""
        lines = [body_line("request body", body, len(body), secrets)]
        if headed:
            caller = f"pid {trace.caller.pid} " if trace.caller is not None else ""
            model = printable(trace.plan.requested_model) if trace.plan is not None else "-"
            lines.insert(0, f"router: {caller}{trace.endpoint} {model}")
        if writer.capture is not None:
            lines.append(writer.capture.line("response body", secrets))
        return lines

    async def _stats(self, scope: Scope, receive: Receive, writer: ResponseWriter) -> None:
        """``router stats --json`` for ``?since=&by=`` (from the store), plus the live counters."""
        live = self.state.stats.snapshot()
        store = self.state.sink.store if self.state.sink is not None else None
        if store is None:
            return await writer.whole(_json_response(200, live))
        if self._store_batcher is not None:
            self._store_batcher.flush()  # the calls already answered are counted
        try:
            params = stats_params(scope.get("query_string", b""))
        except ValueError as problem:
            error = {"error": {"type": "invalid_request_error", "message": str(problem)}}
            return await writer.whole(_json_response(400, error))
        reads = self.store_reads or InProcessReads(store.home)
        try:
            stored = await self._read_store(receive, stored_stats, store, reads, params)
        except StoreReadFailed as failure:
            error = {"error": {"type": "api_error", "message": failure.client_message()}}
            return await writer.whole(_json_response(503, error))
        if stored is None:
            return None  # the client left
        stored.pop("store", None)  # where the database lives is this machine's business, not a client's
        await writer.whole(_json_response(200, {**stored, **live}))

    def _backend_health(self) -> Dict[str, Any]:
        """``GET /backends/health``: each configured backend's cooldown state in this process, for
        ``router route explain`` (docs/routing.md#route-explain). Names and numbers only."""
        now, book = time.monotonic(), self.state.book
        names = self.state.generation.config.backends
        return {"backends": {name: dataclasses.asdict(book.status(name, now)) for name in names}}

    def _health(self, detailed: bool) -> Dict[str, Any]:
        """``GET /health``: liveness and the version (what ``router doctor`` asks) for anyone; the
        backends served and the configuration generation only for a client that may call them (a
        proxy without a key, or the right key): a name says which provider accounts stand behind."""
        if not detailed:
            return {"status": "ok", "version": self._version}
        generation = self.state.generation
        # Which configuration serves new calls (the fingerprint is metadata of the files, never content),
        # and when the files were last looked at (a proxy that follows them).
        config: Dict[str, Any] = {"generation": generation.number, "fingerprint": generation.fingerprint}
        if self._live is not None:
            config["checked_at"] = self._live.checked_at
        return {
            "status": "ok",
            "version": self._version,
            "backends": list(generation.config.backends),
            "requests_served": self.state.stats.requests_served,
            "config": config,
        }


async def _client_left(receive: Receive) -> None:
    """Returns once ``receive`` says the client disconnected (for a request whose body is read or
    empty, nothing else can come but the body's last, empty, message)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class _DisconnectWatch:
    """Cancels the handling task when the client disconnects, so that the upstream request (and its
    connection) is closed instead of running on for nobody.

    After the body is read, the only message ``receive`` can still deliver is ``http.disconnect``;
    uvicorn also delivers it once the response is complete, which ``writer.complete`` tells apart.
    Waiting on ``receive`` takes a task of its own, which cost a call 10-15 % of the proxy's CPU, so
    it starts only once a call has run for :data:`WATCH_AFTER` seconds: a call that ends sooner
    never pays for it, and a client that leaves is noticed within that time (every LLM call worth
    cancelling runs far longer).
    """

    def __init__(self, receive: Receive, writer: ResponseWriter) -> None:
        self.client_left = False
        self._writer = writer
        self._task = asyncio.current_task()
        self._watcher: Optional[asyncio.Future[None]] = None
        self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER, self._start, receive)

    def _start(self, receive: Receive) -> None:
        self._watcher = asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        message = await receive()
        if message["type"] == "http.disconnect" and not self._writer.complete and self._task is not None:
            self.client_left = True
            self._task.cancel()

    def uncancel(self) -> None:
        """Forget our own cancellation so later awaits in this task are not affected."""
        uncancel = getattr(self._task, "uncancel", None)  # Python ≥ 3.11
        if uncancel is not None:
            uncancel()

    def stop(self) -> None:
        self._timer.cancel()
        # Let go of the watcher as it is cancelled: its CancelledError's traceback holds the frame of
        # _watch, which holds this object; kept here, that would be a reference cycle holding the
        # whole exchange (docs/proxy-limits.md#no-cycles-per-call).
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()


async def _stopped_by_shutdown(writer: ResponseWriter, trace: CallTrace, protocol: str) -> None:
    """A call the shutdown stopped: a stream was cut in-band already (``forward.py``); any other call gets
    503 in its client's protocol with ``x-should-retry: true`` (another proxy, or this one restarted,
    can take it), instead of uvicorn's plain-text 500 and a traceback in the log."""
    trace.error = "shutdown"
    if writer.started:
        return
    with contextlib.suppress(Exception):  # the client may be gone too: nothing more to do then
        await writer.whole(render_error(protocol, ShuttingDownError(_SHUTTING_DOWN, should_retry=True)), close=True)


async def _late_error(writer: ResponseWriter, trace: CallTrace, protocol: str, error: RouterError) -> None:
    if writer.started:
        trace.fail(error)  # a stream already began: nothing but cutting it is possible
        return
    await send_error(writer, trace, protocol, error)


def root_answer(version: str) -> ClientResponse:
    """``GET /`` and ``HEAD /``: one line saying a router proxy answers here. Clients probe the root
    before their first call (Claude Code sends ``HEAD /``) and expect 200 from a gateway."""
    return _json_response(200, {"status": "ok", "service": "router proxy", "version": version})


def _is_dashboard_request(path: str, headers: Mapping[str, str]) -> bool:
    """The dashboard's own paths; and the root for a browser (it asks for HTML), while a client probing
    the root (``HEAD /`` from Claude Code, ``*/*``) still gets :func:`root_answer`."""
    if path.startswith("/dashboard/"):
        return True
    return path == "/" and "text/html" in headers.get("accept", "")


def _json_response(status: int, payload: Any) -> ClientResponse:
    return ClientResponse(status, {"content-type": "application/json"}, json.dumps(payload).encode())
