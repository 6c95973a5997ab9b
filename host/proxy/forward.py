"""The per-call driver: plan → attempts upstream → response or stream, every failure in the client's shape.

Follows the engine's driver contract (``shim/plan.py``): a :class:`RouterError` before anything
was sent becomes a real HTTP status in the client's protocol; once a stream's first byte is out,
failures are in-band (``translator.abort``), never a hang and never a stream that looks complete.

A routed call is carried out as the engine's :class:`~shim.attempts.CallAttempts` says
(docs/routing.md#drivers): each attempt is sent to its target with that target's plan; an answer
that falls back is closed unread and the next attempt goes; the final answer or failure goes to the
client. A stream's headers go out with its first translated bytes, so a stream that breaks before
then can still fall back to the next target: the client never sees a trace of the first one.
"""

import asyncio
import contextlib
import time
from typing import Any, Mapping, Optional, Union

from shim.attempts import CallAttempts, Finish, Send
from shim.call_ids import CallIds
from shim.errors import NotFoundError, RouterError, UpstreamError, UpstreamProtocolError, error_from_upstream, kept
from shim.json_budget import AnswerValueCount
from shim.plan import ANSWER_LOCALLY, REFUSED, UNTOUCHED, ClientCall, Plan, plan_call, render_error
from shim.protocols import ENDPOINT_PROTOCOL, RESPONSES
from shim.telemetry import TEXT_LIMIT
from shim.translate.stream_base import StreamTranslator
from shim.upstream_failures import ConnectTimeout, UpstreamFailure, UpstreamTimeout, unusable_status

from .asgi_io import ResponseWriter
from .call_trace import CallTrace, url_host
from .state import ProxyState
from .upstream import BackendLimiter, QueueTimeout, UpstreamResponse

__all__ = ["ProxyBusyError", "forward_call", "send_error"]

# Why an attempt failed before the client saw a byte: a transport failure, or an error the
# backend's stream began with (shim/translate/stream_opening.py).
Failure = Union[UpstreamFailure, RouterError]
_ABORT_SEND_TIMEOUT = 1.0  # a client not reading must not hold up a shutdown
_CALL_IDS = CallIds(hex_digits=32)  # 128 random bits, like a uuid4


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
            max_body_bytes=state.settings.max_body_bytes, max_held_bytes=state.settings.max_response_bytes,
            responses=state.responses,
        )
    except RouterError as error:  # no route can be known: too large, not JSON, no model
        await send_error(writer, trace, ENDPOINT_PROTOCOL[call.endpoint], error)
        return
    trace.plan = plan  # from here on the call's event names its model, route and backend
    disposition = plan.disposition
    alternatives = plan.route is not None and plan.route.has_alternatives
    if disposition == REFUSED and not alternatives:
        assert plan.refusal is not None
        await send_error(writer, trace, plan.client_protocol, plan.refusal)
    elif disposition == ANSWER_LOCALLY:
        assert plan.local_response is not None
        await writer.whole(plan.local_response)
    elif disposition == UNTOUCHED:
        await send_error(writer, trace, plan.client_protocol, no_route_error(plan.requested_model))
    else:  # FORWARD, or a refusal another target of the chain may not share
        await _ForwardedCall(state, generation.limiter, plan, trace, writer).run()


def no_route_error(model: str) -> NotFoundError:
    """The proxy cannot send a call "where the client sent it" (it is where the client sent it). The
    name is cut as telemetry cuts it: an error body must not echo megabytes back."""
    shown = model if len(model) <= TEXT_LIMIT else model[:TEXT_LIMIT] + "…"
    return NotFoundError(
        f"no configured backend serves model {shown!r}; the proxy sends calls only to configured backends "
        f"(see: router route explain {shown!r})",
        param="model",
    )


Step = Union[Send, Finish, None]  # None: the call is answered


class _ForwardedCall:
    """One routed call's attempts and delivery; see the module docstring."""

    def __init__(
        self, state: ProxyState, limiter: BackendLimiter, plan: Plan, trace: CallTrace, writer: ResponseWriter
    ) -> None:
        self.state, self.limiter, self.trace, self.writer = state, limiter, trace, writer
        self.attempts = CallAttempts(plan, state.book, state.rng)
        self.response: Optional[UpstreamResponse] = None  # the latest attempt's answer, not relayed yet
        self.failure: Optional[Failure] = None  # or its failure
        self.slot: Optional[str] = None  # the backend whose concurrency slot this call holds

    async def run(self) -> None:
        try:
            step: Step = self.attempts.start(time.monotonic())
            while step is not None:
                step = await (self._send(step) if isinstance(step, Send) else self._deliver(step))
        finally:
            await self._drop_response()  # on cancellation too: closes the upstream connection at once
            self._release()
            self.attempts.close()
            self.trace.plan = self.attempts.plan  # the event names the target that answered
            self.trace.attempts, self.trace.fallbacks = self.attempts.attempts(), self.attempts.fallbacks

    # Attempts ----------------------------------------------------------------------------------
    async def _send(self, step: Send) -> Step:
        await self._drop_response()  # an earlier answer that fell back goes nowhere
        self._release()
        if step.wait > 0:
            await asyncio.sleep(step.wait)
        plan = step.plan
        assert plan.route is not None and plan.upstream_url is not None
        backend = plan.route.backend.name
        try:
            await self.limiter.acquire(backend)
        except QueueTimeout:
            await send_error(self.writer, self.trace, plan.client_protocol, self._busy(backend))
            return None
        self.slot = backend
        self.attempts.sending(time.monotonic())
        try:
            response = await self.state.client.post(plan.upstream_url, plan.upstream_headers, plan.upstream_body)
        except UpstreamFailure as failure:
            self.failure = kept(failure)
            return self.attempts.failed(self.failure, time.monotonic())
        unusable = unusable_status(response.status)
        if unusable is not None:  # a redirect, no content, a status HTTP has not: nothing to relay
            await response.close()
            self.failure = unusable
            return self.attempts.failed(unusable, time.monotonic())
        self.response, self.failure = response, None
        self.trace.request_id = response.headers.get("x-request-id") or response.headers.get("request-id")
        return self.attempts.answered(response.status, response.headers, now=time.monotonic(), wall_now=time.time())

    def _busy(self, backend: str) -> ProxyBusyError:
        settings = self.state.settings
        return ProxyBusyError(
            f"backend {backend!r} is at its limit of {settings.max_concurrency} concurrent requests "
            f"and none finished within {settings.queue_timeout:g}s",
            retry_after="1",
        )

    async def _failed_unsent(self, failure: Failure) -> Step:
        """The delivered answer failed before the client saw any of it: perhaps another target, else
        the failure as the answer."""
        self.failure = kept(failure)
        step = self.attempts.failed_before_first_byte(self.failure, time.monotonic())
        return step if isinstance(step, Send) else await self._deliver(step)

    # Delivery ----------------------------------------------------------------------------------
    async def _deliver(self, finish: Finish) -> Step:
        plan, protocol = finish.plan, finish.plan.client_protocol
        if finish.answer is not None:  # the engine's own: a refusal, or a local answer
            if plan.refusal is not None:
                self.trace.fail(plan.refusal)
            self.attempts.committed()
            await self.writer.whole(finish.answer)
            return None
        if self.failure is not None or self.response is None:
            assert self.failure is not None
            await send_error(self.writer, self.trace, protocol, self._failure_error(plan, final=finish.exhausted))
            return None
        if plan.stream and 200 <= self.response.status < 300:
            return await self._relay_stream(plan, self.response)
        return await self._relay_whole(plan, self.response, final=finish.exhausted)

    async def _relay_whole(self, plan: Plan, response: UpstreamResponse, *, final: bool) -> Step:
        count = AnswerValueCount()  # as the answer arrives, not in one pass once read (docs/proxy-limits.md#answers)
        try:
            body = await response.read(count.feed)
        except UpstreamFailure as failure:
            return await self._failed_unsent(failure)
        values = count.values
        try:  # the usage from the translation's own parse, as the shim's driver takes it
            answer, usage = plan.translate_response_with_usage(response.status, response.headers, body,
                                                               json_values=values)
        except RouterError as error:
            if isinstance(error, UpstreamError) and 200 <= response.status < 300:
                # a 2xx answer that is the backend's error: docs/routing.md#errors-an-answer-is
                return await self._failed_unsent(error)
            self.attempts.committed()
            await send_error(self.writer, self.trace, plan.client_protocol, error)
            return None
        if 200 <= response.status < 300:
            self.trace.usage = usage
            if 200 <= answer.status < 300:  # the count is the answer's when it is passed on as it came
                _store_record(self.state, plan, answer.body, values if answer.body is body else None)
        else:
            self.trace.error = error_from_upstream(plan.upstream_protocol, response.status, body,
                                                   response.headers).kind_name
            if final:  # the router's policy already retried: the client's SDK must not (docs/routing.md#sdk-retries)
                answer.headers["x-should-retry"] = "false"
        self.attempts.committed()
        await self.writer.whole(answer)
        return None

    async def _relay_stream(self, plan: Plan, response: UpstreamResponse) -> Step:
        """Each upstream chunk goes through the translator and out as soon as it arrives; the headers
        go with the first translated bytes (until then, a failure can still fall back).

        A chunk read when the upstream body is already complete (often the whole stream: a short
        answer comes in one TCP segment) goes out together with the stream's end: one ASGI send and
        one write instead of two. Nothing is held back for data that has not arrived yet."""
        translator = plan.stream_translator(response.headers)
        keeper = _RecordKeeper(self.state, plan)
        writer, last = self.writer, b""
        try:
            async for chunk in response.chunks():
                out = translator.feed(chunk)
                if not writer.started:
                    if not out:
                        if translator.opening_failure is not None:
                            break  # nothing more to read: the answer failed before its content
                        continue
                    await self._start_stream(plan, response)
                if response.ended():
                    last += out  # no more chunks can come: it goes out with the end
                else:
                    keeper.keep(translator)
                    await writer.body(out)
            tail = last + translator.close()
        except UpstreamFailure as failure:
            if not writer.started:
                return await self._failed_unsent(failure)
            tail = last + translator.abort(failure_error(self.state, plan, kept(failure), final=True))
        except asyncio.CancelledError:
            if writer.started:  # shutdown, or the client left (then this sends nothing)
                await _cut_stream(translator, writer, last)
            raise
        finally:
            _note_stream_outcome(self.trace, translator)
        if not writer.started:
            if translator.opening_failure is not None:  # docs/routing.md#errors-a-stream-opens-with
                return await self._failed_unsent(translator.opening_failure)
            await self._start_stream(plan, response)
        keeper.keep(translator)
        await writer.body(tail, more=False)
        return None

    async def _start_stream(self, plan: Plan, response: UpstreamResponse) -> None:
        self.attempts.committed()
        await self.writer.start(response.status, plan.stream_headers(response.headers))

    def _failure_error(self, plan: Plan, *, final: bool) -> RouterError:
        """The attempts' last failure as the client's error: a transport's, naming the backend; the
        backend's own (an error its stream began with), as it said it. ``final``: the client's SDK
        must not retry it (docs/routing.md#sdk-retries)."""
        failure = self.failure
        if isinstance(failure, UpstreamFailure):
            return failure_error(self.state, plan, failure, final=final)
        assert isinstance(failure, RouterError)
        if final:
            failure.should_retry = False
        return failure

    # Resources ---------------------------------------------------------------------------------
    async def _drop_response(self) -> None:
        response, self.response = self.response, None
        if response is not None:
            await response.close()

    def _release(self) -> None:
        slot, self.slot = self.slot, None
        if slot is not None:
            self.limiter.release(slot)


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


def _store_record(state: ProxyState, plan: Plan, response: Union[bytes, Mapping[str, Any]],
                  json_values: Optional[int] = None) -> None:
    """Keep what the engine says to keep of a Responses call (nothing for ``store: false``). Both
    stores take a record in memory at once (SQLite writes it later, on its own thread)."""
    record = plan.response_record(response, json_values=json_values)
    if record is not None:
        state.responses.put(record)


def _note_stream_outcome(trace: CallTrace, translator: StreamTranslator) -> None:
    trace.usage = translator.usage
    if translator.error is not None:
        trace.error = translator.error.kind_name


def failure_error(state: ProxyState, plan: Plan, failure: UpstreamFailure, *, final: bool = True) -> RouterError:
    """A transport failure as the client's error (502, or 504 for a timeout: docs/errors.md#upstream-failures),
    naming the backend and its host (never a key or a path), and for a timeout the limit that expired.
    ``final``: the routing policy gave up on it, so the client's SDK must not retry it either."""
    assert plan.route is not None
    where = f"backend {plan.route.backend.name!r} ({url_host(plan.upstream_url)})"
    limit = None
    if isinstance(failure, UpstreamTimeout):
        settings = state.settings
        limit = settings.connect_timeout if isinstance(failure, ConnectTimeout) else settings.read_timeout
    return failure.client_error(where, limit=limit, should_retry=False if final else None)
