"""The per-call driver: plan → upstream → response or stream, every failure in the client's shape.

Follows the engine's driver contract (``shim/plan.py``): a :class:`RouterError` before anything
was sent becomes a real HTTP status in the client's protocol; once a stream's headers are out,
failures are in-band (``translator.abort``), never a hang and never a stream that looks complete.
"""

import asyncio
import contextlib
from typing import Any, Mapping, Union

from shim.call_ids import CallIds
from shim.errors import NotFoundError, RouterError, UpstreamProtocolError, error_from_upstream
from shim.plan import ANSWER_LOCALLY, REFUSED, UNTOUCHED, ClientCall, Plan, plan_call, render_error
from shim.protocols import ENDPOINT_PROTOCOL, RESPONSES
from shim.translate.stream_base import StreamTranslator

from .asgi_io import ResponseWriter
from .call_trace import CallTrace, url_host
from .state import ProxyState
from .upstream import BackendLimiter, QueueTimeout, UpstreamFailure, UpstreamResponse

__all__ = ["ProxyBusyError", "forward_call", "send_error"]

_ABORT_SEND_TIMEOUT = 1.0  # a client not reading must not hold up a shutdown
_CALL_IDS = CallIds(counter_digits=16)  # 32 hex digits, like a uuid4's


class ProxyBusyError(RouterError):
    """A backend stayed at its concurrency limit for the whole queue timeout."""

    kind_name = "rate_limit"


async def send_error(writer: ResponseWriter, trace: CallTrace, protocol: str, error: RouterError) -> None:
    """Answer with ``error`` as a real HTTP status in ``protocol``'s shape."""
    trace.fail(error)
    await writer.whole(render_error(protocol, error))


async def forward_call(state: ProxyState, trace: CallTrace, call: ClientCall, writer: ResponseWriter) -> None:
    """Serve one LLM call (``call.endpoint`` is one the engine plans) through ``writer``.

    The configuration generation is read here, once: the call is planned, limited and finished on
    it even if a reload installs another meanwhile (docs/configuration.md#live-reload)."""
    generation = state.generation
    try:
        plan = plan_call(
            generation.config, call, now=trace.started_wall, call_id=_CALL_IDS.next(),
            max_body_bytes=state.settings.max_body_bytes, responses=state.responses,
        )
    except RouterError as error:  # no route can be known: too large, not JSON, no model
        await send_error(writer, trace, ENDPOINT_PROTOCOL[call.endpoint], error)
        return
    trace.plan = plan  # from here on the call's event names its model, route and backend
    disposition = plan.disposition
    if disposition == REFUSED:
        assert plan.refusal is not None
        await send_error(writer, trace, plan.client_protocol, plan.refusal)
    elif disposition == ANSWER_LOCALLY:
        assert plan.local_response is not None
        await writer.whole(plan.local_response)
    elif disposition == UNTOUCHED:
        await send_error(writer, trace, plan.client_protocol, no_route_error(plan.requested_model))
    else:
        await _forward_limited(state, generation.limiter, plan, trace, writer)


def no_route_error(model: str) -> NotFoundError:
    """The proxy cannot send a call "where the client sent it" (it is where the client sent it)."""
    return NotFoundError(
        f"no configured backend serves model {model!r}; the proxy sends calls only to configured backends "
        f"(see: router route explain {model!r})",
        param="model",
    )


async def _forward_limited(
    state: ProxyState, limiter: BackendLimiter, plan: Plan, trace: CallTrace, writer: ResponseWriter
) -> None:
    assert plan.route is not None
    backend = plan.route.backend.name
    try:
        await limiter.acquire(backend)
    except QueueTimeout:
        busy = ProxyBusyError(
            f"backend {backend!r} is at its limit of {state.settings.max_concurrency} concurrent requests "
            f"and none finished within {state.settings.queue_timeout:g}s",
            retry_after="1",
        )
        await send_error(writer, trace, plan.client_protocol, busy)
        return
    try:
        await _exchange(state, plan, trace, writer)
    finally:
        limiter.release(backend)


async def _exchange(state: ProxyState, plan: Plan, trace: CallTrace, writer: ResponseWriter) -> None:
    assert plan.upstream_url is not None
    try:
        response = await state.client.post(plan.upstream_url, plan.upstream_headers, plan.upstream_body)
    except UpstreamFailure as failure:
        await send_error(writer, trace, plan.client_protocol, failure_error(state, plan, failure))
        return
    try:
        trace.request_id = response.headers.get("x-request-id") or response.headers.get("request-id")
        if plan.stream and 200 <= response.status < 300:
            await _relay_stream(state, plan, trace, writer, response)
        else:
            await _relay_whole(state, plan, trace, writer, response)
    finally:
        await response.close()  # on cancellation too: closes the upstream connection at once


async def _relay_whole(
    state: ProxyState, plan: Plan, trace: CallTrace, writer: ResponseWriter, response: UpstreamResponse
) -> None:
    try:
        body = await response.read()
    except UpstreamFailure as failure:
        await send_error(writer, trace, plan.client_protocol, failure_error(state, plan, failure))
        return
    try:
        answer = plan.translate_response(response.status, response.headers, body)
    except RouterError as error:
        await send_error(writer, trace, plan.client_protocol, error)
        return
    if 200 <= response.status < 300:
        trace.usage = plan.usage_from_response(body)
        if 200 <= answer.status < 300:
            _store_record(state, plan, answer.body)
    else:
        trace.error = error_from_upstream(plan.upstream_protocol, response.status, body, response.headers).kind_name
    await writer.whole(answer)


async def _relay_stream(
    state: ProxyState, plan: Plan, trace: CallTrace, writer: ResponseWriter, response: UpstreamResponse
) -> None:
    """Each upstream chunk goes through the translator and out as soon as it arrives.

    A chunk read when the upstream body is already complete (often the whole stream: a short answer
    comes in one TCP segment) goes out together with the stream's end: one ASGI send and one write
    instead of two. Nothing is held back for data that has not arrived yet.
    """
    translator = plan.stream_translator()
    keeper = _RecordKeeper(state, plan)
    await writer.start(response.status, plan.stream_headers(response.headers))
    last = b""
    try:
        async for chunk in response.chunks():
            if response.ended():
                last += translator.feed(chunk)  # no more chunks can come: it goes out with the end
            else:
                out = translator.feed(chunk)
                keeper.keep(translator)
                await writer.body(out)
        tail = last + translator.close()
    except UpstreamFailure as failure:
        tail = last + translator.abort(failure_error(state, plan, failure))
    except asyncio.CancelledError:
        await _cut_stream(translator, writer, last)  # shutdown, or the client left (then this sends nothing)
        raise
    finally:
        _note_stream_outcome(trace, translator)
    keeper.keep(translator)
    await writer.body(tail, more=False)


async def _cut_stream(translator: StreamTranslator, writer: ResponseWriter, unsent: bytes) -> None:
    """End a stream that is being cancelled with an in-band error, so it cannot look complete
    (``unsent``: translated bytes not yet sent, which go first)."""
    stopping = UpstreamProtocolError("the router proxy is shutting down; the stream was cut", kind_name="overloaded")
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.body(unsent + translator.abort(stopping), more=False), _ABORT_SEND_TIMEOUT)


class _RecordKeeper:
    """Stores a Responses stream's record once its final Response went through the translator, and
    before the bytes that carry it go out: a client that has seen ``response.completed`` may name
    the response in its very next call (docs/responses-api.md#state-previous_response_id)."""

    def __init__(self, state: ProxyState, plan: Plan) -> None:
        self._state, self._plan = state, plan
        self._waiting = plan.endpoint == RESPONSES

    def keep(self, translator: StreamTranslator) -> None:
        if self._waiting and translator.final_response is not None:
            self._waiting = False
            _store_record(self._state, self._plan, translator.final_response)


def _store_record(state: ProxyState, plan: Plan, response: Union[bytes, Mapping[str, Any]]) -> None:
    """Keep what the engine says to keep of a Responses call (nothing for ``store: false``). Both
    stores take a record in memory at once (SQLite writes it later, on its own thread)."""
    record = plan.response_record(response)
    if record is not None:
        state.responses.put(record)


def _note_stream_outcome(trace: CallTrace, translator: StreamTranslator) -> None:
    trace.usage = translator.usage
    if translator.error is not None:
        trace.error = translator.error.kind_name


def failure_error(state: ProxyState, plan: Plan, failure: UpstreamFailure) -> RouterError:
    """A transport failure as an error naming the backend and its host (never a key or a path)."""
    assert plan.route is not None
    where = f"backend {plan.route.backend.name!r} ({url_host(plan.upstream_url)})"
    if failure.kind == "timeout":
        limit = state.settings.read_timeout if "data" in failure.reason else state.settings.connect_timeout
        return UpstreamProtocolError(f"{where} {failure.reason} (limit {limit:g}s)", kind_name="timeout")
    if failure.kind == "connect":
        return UpstreamProtocolError(f"{where} could not be reached: {failure.reason}", kind_name="api_error")
    return UpstreamProtocolError(f"{where}: {failure.reason}", kind_name="api_error")
