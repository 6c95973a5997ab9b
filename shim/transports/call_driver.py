"""Everything about one intercepted LLM call that does not depend on the HTTP library.

Every shim transport (httpx and httpx2, sync and async; requests; aiohttp) does the same few
steps, and only the I/O differs, so the decisions live here, once:

1. :meth:`LLMCall.begin` plans the call and sets :attr:`LLMCall.action`:
   ``PASS`` (no route: send the original request untouched), ``ANSWER`` (the router answers by
   itself: a local count_tokens, or a protocol-shaped error for a routed call it refuses — whose
   event still names the route) or ``SEND`` (send upstream through the library's own transport).
   A call with no route that the program aimed at the host's proxy (its SDK read the base URL
   ``router shim`` set) is a ``SEND`` too, unchanged, to where it would have gone without the
   router (:attr:`LLMCall.unrouted_url`).
1b. A ``SEND`` goes out as the engine's attempts say (docs/routing.md#drivers):
   :meth:`first_request`, then after each answer :meth:`response_arrived` (None: this answer is
   the call's; else the next attempt's request, once this answer is closed) or after a failure
   :meth:`send_failed`. A route that can fall back (:attr:`may_fall_back`) has its stream's first
   bytes read before the response goes to the program, so a stream that breaks before then falls
   back too (:meth:`failed_before_first_byte`).
2. The way back: :meth:`whole_response` for a body read whole, or :meth:`stream_headers` +
   :meth:`feed` / :meth:`end` / :meth:`interrupted` for a 2xx stream, as bytes arrive, or — when
   :meth:`keeps_body` — the upstream response itself, its body observed (:meth:`body_observer`).
3. One telemetry event per call (:meth:`finish`, idempotent), also for calls left untouched.

Failure rules (docs/shim.md#failures): a :class:`RouterError` becomes a response in the client's protocol; a
translation failure carries ``x-should-retry: false`` so the SDK does not retry it; an internal
failure (a bug here) on a call that needed no translation passes it through unchanged. Errors the
library raises while talking upstream (connect, read) are not ours: the transport types them
(``library_failures.py``) for the routing policy and re-raises them — unless the route offered other
tries and they are spent: then the call is answered with a 502/504 in the client's protocol,
``x-should-retry: false`` (docs/routing.md#sdk-retries, docs/errors.md#upstream-failures).
"""

from __future__ import annotations  # the annotated engine types are imported lazily

import sys
import time
from typing import Any, Callable, Dict, Iterator, Mapping, NamedTuple, Optional, Tuple, Union

from ..answer_kinds import is_event_stream
from ..failures import report_failure
from ..platform_calls import (
    PLATFORM_ENDPOINTS,
    backend_url,
    forwarded_headers,
    has_no_key_of_its_own,
    report_local_answer,
    trace_backend,
)
from ..protocols import ENDPOINT_PROTOCOL, OPENAI, RESPONSES
from ..response_lookup import STORED_RESPONSE
from ..runtime import Runtime, current_runtime
from .body_observer import BodyObserver, content_encoding, observable_encoding

TYPE_CHECKING = False
if TYPE_CHECKING:  # the engine is imported on the first LLM call: see _import_engine
    from ..attempts import CallAttempts, Finish, Send
    from ..errors import RouterError, UpstreamError, UpstreamProtocolError, error_from_upstream
    from ..fallback import ANSWERING
    from ..llm_calls import split_url
    from ..plan import (
        FORWARD,
        REFUSED,
        ClientCall,
        ClientResponse,
        Plan,
        client_headers,
        credential_headers,
        parse_json_object,
        plan_call,
        render_error,
    )
    from ..response_lookup import deleted_response, stored_response_answer, stored_response_id
    from ..routing import Route, resolve_route
    from ..telemetry import CLIENT_DISCONNECTED, CLIENT_LEFT_STATUS, CallFields
    from ..translate.stream_base import StreamTranslator
    from ..upstream_failures import (
        ConnectionCut,
        ProtocolBroken,
        UpstreamFailure,
        WholeAnswer,
        undecodable_encoding,
        unusable_status,
    )
    from ..usage import Usage

__all__ = [
    "ANSWER", "PASS", "SEND", "LLMCall", "LowerCaseHeaders", "StreamOpeningFailed", "UpstreamRequest", "begin_call",
    "first_output", "terminal",
]

PASS = "pass"
ANSWER = "answer"
SEND = "send"

# Request headers an unrouted call redirected away from the host's proxy does not keep: they describe
# the connection to the proxy (the library writes its own for the new one). Credentials stay: the call
# goes where the program would have sent it, with what the program sent.
_CONNECTION_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade"}
)


class StreamOpeningFailed(Exception):
    """A stream held until its first content failed before any (the engine's ``OpeningHold``,
    docs/routing.md#errors-a-stream-opens-with): raised by :meth:`LLMCall.feed` and :meth:`LLMCall.end` while
    a transport reads ahead (:func:`first_output`), where a read failure is caught and given to
    :meth:`LLMCall.failed_before_first_byte`. ``failure``: the engine's, a ``RouterError`` (the
    backend's own error) or an ``UpstreamFailure`` (a stream that ended with nothing in it)."""

    def __init__(self, failure: Exception) -> None:
        super().__init__(str(failure))
        self.failure = failure


class LowerCaseHeaders(Dict[str, str]):
    """A plain dict of headers whose names a transport wrote in lower case (see :func:`_request_id`)."""


class UpstreamRequest(NamedTuple):
    """What a transport sends for one attempt, after waiting ``wait`` seconds."""

    url: str
    headers: Dict[str, str]
    body: bytes
    wait: float = 0.0
    method: str = "POST"


def first_output(call: LLMCall, chunks: Iterator[bytes]) -> Tuple[bytes, bool]:
    """Feed upstream ``chunks`` to ``call`` until the client has bytes to see: (those bytes, whether
    the stream ended meanwhile). The library's read errors go through to the caller."""
    for chunk in chunks:
        out = call.feed(chunk)
        if out:
            return out, False
    return call.end(), True


def terminal(response: ClientResponse) -> ClientResponse:
    """``response`` marked as final: the SDKs must not retry a router-made error (docs/shim.md#sdk-parsers)."""
    response.headers["x-should-retry"] = "false"
    return response


# A transport's typing of its library's exceptions (library_failures.py): (error, answered) → failure
FailureTyping = Callable[[BaseException, bool], "UpstreamFailure"]


def begin_call(method: str, url: str, endpoint: str, headers: Mapping[str, str], body: bytes,
               failure_of: Optional[FailureTyping] = None) -> Optional[LLMCall]:
    """Plan a call to an LLM URL; None when the shim failed (the transport then passes it through).
    ``failure_of``: the transport's typing of its library's exceptions, which the call's routing
    (the next target or not) and its event go by."""
    try:
        return LLMCall(current_runtime(), method, url, endpoint, headers, body, failure_of)
    except Exception as error:
        report_failure("plan call", error)
        return None


_engine_imported = False


def _import_engine() -> None:
    """Import the engine (plan, every translator, errors, routing, telemetry) now, on the first LLM
    call, rather than when the program imports httpx/requests/aiohttp: most programs that import an
    HTTP library (every ``import openai``) pay nothing for the router until they call a model.
    The names become this module's globals, so the per-call code reads them at global speed."""
    global _engine_imported, RouterError, UpstreamError, UpstreamProtocolError, error_from_upstream, split_url
    global ClientCall, ClientResponse, Plan, client_headers, credential_headers, parse_json_object, plan_call
    global render_error, resolve_route, deleted_response, stored_response_answer, stored_response_id
    global FORWARD, REFUSED, CallAttempts, Send, ANSWERING, WholeAnswer, undecodable_encoding, unusable_status
    global CLIENT_DISCONNECTED, CLIENT_LEFT_STATUS, ConnectionCut
    from ..attempts import CallAttempts, Send
    from ..errors import RouterError, UpstreamError, UpstreamProtocolError, error_from_upstream
    from ..fallback import ANSWERING
    from ..llm_calls import split_url
    from ..plan import (
        FORWARD,
        REFUSED,
        ClientCall,
        ClientResponse,
        Plan,
        client_headers,
        credential_headers,
        parse_json_object,
        plan_call,
        render_error,
    )
    from ..response_lookup import deleted_response, stored_response_answer, stored_response_id
    from ..routing import resolve_route
    from ..telemetry import CLIENT_DISCONNECTED, CLIENT_LEFT_STATUS
    from ..upstream_failures import ConnectionCut, WholeAnswer, undecodable_encoding, unusable_status

    _engine_imported = True


class LLMCall:
    """One intercepted call; see the module docstring."""

    def __init__(
        self, runtime: Runtime, method: str, url: str, endpoint: str, headers: Mapping[str, str], body: bytes,
        failure_of: Optional[FailureTyping] = None,
    ) -> None:
        if not _engine_imported:  # the first LLM call of this process
            _import_engine()
        self.runtime = runtime
        self._failure_of = failure_of
        self.endpoint = endpoint
        self.started = time.time()
        self._clock_start = time.perf_counter()
        self._first_byte: Optional[float] = None
        self._reported = False
        self._translator: Optional[StreamTranslator] = None
        self._usage: Optional[Usage] = None
        self._request_id: Optional[str] = None
        self._status = 0  # upstream status of a stream, for its event
        self._url = url  # parsed only when an event needs the original host (a call left untouched)
        self.action = PASS
        self.reportable = False  # an event is due (no event for /v1/models or unreadable calls)
        self.plan: Optional[Plan] = None
        self._refused_route: Optional[Route] = None  # the route of a call refused before it had a plan
        self.requested_model = ""
        self.answer: Optional[ClientResponse] = None
        # The kind of the failure :meth:`_failure_answer` made the answer of: its rendered body says
        # less (a 502 reads back as api_error), and the event names the kind as the proxy's does.
        self._answer_kind: Optional[str] = None
        self._kept = False  # a Responses call's record went to the store (or there was none)
        self.upstream_method = "POST"  # a stored-response lookup redirected away from the host's proxy keeps its own
        # A call with no route aimed at the host's proxy: where it goes instead (see _redirect_unrouted).
        self.unrouted_url: Optional[str] = None
        self._unrouted_request: Optional[Tuple[Dict[str, str], bytes]] = None
        self._attempts: Optional[CallAttempts] = None  # a routed SEND's attempts (step 1b)
        self._finish: Optional[Finish] = None  # how the attempts ended, once they have
        self._bodies: Optional[CallBodies] = CallBodies(body) if runtime.log_bodies else None  # -vv only
        if method.upper() == "POST" and endpoint in ENDPOINT_PROTOCOL:
            self._plan(headers, body)
        elif endpoint == STORED_RESPONSE:
            self._stored_response(method.upper(), url, headers)
        elif endpoint in PLATFORM_ENDPOINTS:
            self._platform_call(headers, body)

    # Step 1: the decision ------------------------------------------------------------------
    @property
    def client_protocol(self) -> str:
        return ENDPOINT_PROTOCOL.get(self.endpoint, "")

    @property
    def original_host(self) -> str:
        """The host the program sent this call to."""
        return _host_of(self._url)

    @property
    def routed(self) -> bool:
        """The router takes this call (sends it to a backend or answers it itself)."""
        return self.action != PASS and self.unrouted_url is None

    def _plan(self, headers: Mapping[str, str], body: bytes) -> None:
        call = ClientCall(self.endpoint, headers, body, _query_of(self._url))
        responses = self.runtime.responses if self.endpoint == RESPONSES else None
        try:
            self.plan = plan_call(
                self.runtime.config, call, now=self.started, call_id=self.runtime.new_call_id(), responses=responses
            )
        except RouterError as error:
            self._refuse(body, error)
            return
        self.requested_model = self.plan.requested_model
        self.reportable = True
        disposition = self.plan.disposition
        alternatives = self.plan.route is not None and self.plan.route.has_alternatives
        if disposition == REFUSED and not alternatives:
            self.action, self.answer = ANSWER, terminal(self.plan.refusal_response())
        elif disposition in (FORWARD, REFUSED):  # a refusal another target of the chain may not share
            self.action = SEND
        elif self.plan.local_response is not None:
            self.action, self.answer = ANSWER, self.plan.local_response
        else:
            self._redirect_unrouted(headers, body)

    def _redirect_unrouted(self, headers: Mapping[str, str], body: bytes) -> None:
        """No route, and the program aimed the call at the host's proxy only because ``router shim``
        set its base URL: send it, unchanged, where it would have gone without the router (the
        user's own base URL, else the vendor's API), not to the proxy, which would refuse it
        (docs/shim-process-tree.md#calls-with-no-route)."""
        proxy = self.runtime.host_proxy
        destination = proxy.unrouted_url(self._url, self.client_protocol) if proxy is not None else None
        if destination is None:
            return
        kept = {name: value for name, value in headers.items() if name.lower() not in _CONNECTION_HEADERS}
        self.unrouted_url, self._unrouted_request = destination, (kept, body)
        self.action = SEND

    def _stored_response(self, method: str, url: str, headers: Mapping[str, str]) -> None:
        """``GET``/``DELETE …/v1/responses/{id}`` for a response this process stored: answered here
        (not an LLM call: no event). Any other id goes where the program sent it — or, when that is
        the host's proxy, where it would have gone without the router (the proxy holds none of this
        process's responses). Other methods are left alone."""
        response_id = stored_response_id(split_url(url)[3].rstrip("/"))
        if response_id is None or method not in ("GET", "DELETE"):
            return
        store = self.runtime.responses
        answer = stored_response_answer(store, response_id, self.started)
        if answer is None:
            self._redirect_lookup(method, url, headers)
            return
        if method == "DELETE":
            store.delete(response_id)
            answer = deleted_response(response_id)
        self.action, self.answer = ANSWER, answer

    def _redirect_lookup(self, method: str, url: str, headers: Mapping[str, str]) -> None:
        """A lookup of an id this process does not hold, aimed at the host's proxy only because
        ``router shim`` set the base URL: sent, with the program's own headers, to the user's base
        URL or OpenAI's API (docs/shim-process-tree.md#calls-with-no-route). Not an LLM call: the
        plan only carries the request (no route, no event)."""
        proxy = self.runtime.host_proxy
        destination = proxy.unrouted_url(url, OPENAI) if proxy is not None else None
        if destination is None:
            return
        kept = {name: value for name, value in headers.items() if name.lower() not in _CONNECTION_HEADERS}
        self.plan = Plan(OPENAI, self.endpoint, "", False, None, upstream_url=destination, upstream_headers=kept)
        self.action, self.upstream_method = SEND, method

    def _keep_response(self, response: Union[bytes, Mapping[str, Any]]) -> None:
        """Store a Responses call's record (the client body, or a stream's final Response) before
        the client can see the call complete, so that its next call may name it. Once per call."""
        plan = self.plan
        if self._kept or plan is None or plan.endpoint != RESPONSES:
            return
        self._kept = True
        try:
            record = plan.response_record(response)
            if record is not None:
                self.runtime.responses.put(record)
        except Exception as error:
            report_failure("store response", error, once=True)

    def _platform_call(self, headers: Mapping[str, str], body: bytes) -> None:
        """A keyless program's trace upload: to the ``openai`` backend with its key, else answered
        here (docs/platform-calls.md). Either way it is not an LLM call: no event (``reportable``
        stays False). A program with a key of its own is left alone (``PASS``)."""
        lowered = {name.lower(): value for name, value in headers.items()}
        if not has_no_key_of_its_own(lowered):
            return
        backend = trace_backend(self.runtime.config)
        if backend is None:
            self.action, self.answer = ANSWER, ClientResponse(204, {}, b"")
            report_local_answer(self.endpoint)
            return
        upstream_headers = {**forwarded_headers(lowered), **credential_headers(backend)}
        self.plan = Plan(OPENAI, self.endpoint, "", False, None, upstream_url=backend_url(backend, self.endpoint),
                         upstream_headers=upstream_headers, upstream_body=body)
        self.action = SEND

    def _refuse(self, body: bytes, error: RouterError) -> None:
        """A request the engine could not plan at all (too large to read). Only a routed model's
        call is answered with the error; anything else (no model, unknown model) goes where it was
        going, as if the shim were absent."""
        model = _model_of(body)
        route = None if model is None else resolve_route(self.runtime.config, model)
        if model is None or route is None:
            return
        self.requested_model = model
        self._refused_route = route
        self.reportable = True
        self.action = ANSWER
        self.answer = terminal(render_error(self.client_protocol, error))

    def upstream_request(self) -> Tuple[str, Dict[str, str], bytes]:
        """URL, headers and body to send upstream (``SEND`` calls only)."""
        if self.unrouted_url is not None and self._unrouted_request is not None:
            headers, body = self._unrouted_request
            return self.unrouted_url, dict(headers), body
        plan = self._sent_plan()
        assert plan.upstream_url is not None
        return plan.upstream_url, dict(plan.upstream_headers), plan.upstream_body

    # Step 1b: the attempts ------------------------------------------------------------------
    def first_request(self) -> Optional[UpstreamRequest]:
        """The first attempt's request; None when the call is answered without one (:attr:`answer`:
        every target of the chain refused it, or answers it locally)."""
        if self.unrouted_url is not None or self.plan is None or self.plan.route is None:
            # not a routed LLM call (no route, a stored-response lookup, a trace upload): one request
            return UpstreamRequest(*self.upstream_request(), method=self.upstream_method)
        state = self.runtime.routing_state
        self._attempts = CallAttempts(self._sent_plan(), state.book, state.random)
        return self._take(self._attempts.start(time.monotonic()))

    @property
    def may_fall_back(self) -> bool:
        """A failure could still lead to another attempt (the route offers other targets or retries)."""
        attempts = self._attempts
        if attempts is None:
            return False
        return attempts.session.route.may_fall_back

    def sending(self) -> None:
        """The request :meth:`first_request` (or the next) gave is being sent now, after its wait."""
        if self._attempts is not None:
            self._attempts.sending(time.monotonic())

    def response_arrived(self, status: int, headers: Mapping[str, str]) -> Optional[UpstreamRequest]:
        """The upstream answered: None when this answer is the call's — unless :attr:`answer` is set,
        then that goes to the program in its place; else the next attempt's request (the transport
        closes this answer first, in both cases)."""
        if self._attempts is None:
            return None
        self._note_upstream(headers)
        unusable = unusable_status(status) or undecodable_encoding(content_encoding(headers))
        if unusable is not None:
            return self._unusable(unusable)
        return self._take(self._attempts.answered(status, headers, now=time.monotonic(), wall_now=time.time()))

    def _unusable(self, failure: ProtocolBroken) -> Optional[UpstreamRequest]:
        """An answer no program can be given (a redirect its SDK would follow past the router, no
        content, a status HTTP has not, an encoding the router does not decode:
        docs/proxy-limits.md#answers), as the proxy takes it: a failed attempt, then the next one's
        request, or a 502 in the program's protocol as the answer."""
        assert self._attempts is not None
        return self._answer_failed(failure, self._attempts.failed(failure, time.monotonic()))

    def whole_answer(self) -> WholeAnswer:
        """Where the transport gathers an answer it reads whole: a routed call's at most the proxy's
        limit; an unrouted one's (no route, a stored-response lookup, a trace upload) as the program
        would read it without the router, whole."""
        return WholeAnswer() if self._attempts is not None else WholeAnswer(limit=sys.maxsize)

    def answer_too_large(self, whole: WholeAnswer) -> Optional[UpstreamRequest]:
        """The routed answer being read whole went over ``whole``'s limit (docs/proxy-limits.md#answers):
        the proxy's 502, or the next target, where the program's memory held all of it."""
        assert self._attempts is not None, "only a routed call's answer has a limit (whole_answer)"
        failure = whole.too_large()
        return self._answer_failed(failure, self._attempts.failed_before_first_byte(failure, time.monotonic()))

    def _answer_failed(
        self, failure: Union[UpstreamFailure, RouterError], step: Union[Send, Finish]
    ) -> Optional[UpstreamRequest]:
        request = self._take(step)
        if request is None and self.answer is None:
            finish = self._finish
            self.answer = self._failure_answer(failure, final=finish is not None and finish.exhausted)
        return request

    def _failure_answer(self, failure: Union[UpstreamFailure, RouterError], *, final: bool) -> ClientResponse:
        """``failure`` as the program's answer: a transport's naming the backend, the backend's own as
        it said it; ``final``: the route's tries are spent, so the program's SDK must not retry it
        either (as the proxy's failure_error)."""
        plan = self._sent_plan()
        if isinstance(failure, RouterError):
            if final:
                failure.should_retry = False
            error = failure
        else:
            error = failure.client_error(_where(plan), should_retry=False if final else None)
        self._answer_kind = error.kind_name
        return plan.error_response(error)

    def send_failed(self, error: Exception) -> Optional[UpstreamRequest]:
        """Sending (or waiting for the answer) raised the library's ``error``: the next attempt's
        request, or None — then :attr:`answer` is the call's answer, or None when the transport
        re-raises ``error``."""
        if self._attempts is None:
            self.upstream_failed(error)
            return None
        failure = self._typed(error, answered=False)
        return self._after_failure(error, failure, self._attempts.failed(failure, time.monotonic()))

    def failed_before_first_byte(self, error: Exception) -> Optional[UpstreamRequest]:
        """The answer being delivered broke before the program saw a byte of it: as :meth:`send_failed`."""
        assert self._attempts is not None
        self._translator, self._first_byte, self._usage = None, None, None
        if isinstance(error, StreamOpeningFailed):  # the engine's own failure, typed already
            opening = error.failure
            assert isinstance(opening, (RouterError, ConnectionCut))
            return self._answer_failed(opening, self._attempts.failed_before_first_byte(opening, time.monotonic()))
        failure = self._typed(error, answered=True)
        return self._after_failure(error, failure, self._attempts.failed_before_first_byte(failure, time.monotonic()))

    def _typed(self, error: Exception, *, answered: bool) -> UpstreamFailure:
        """The library's ``error`` as the router's failure, by the transport's own typing
        (``library_failures.py``; ``answered``: the answer's head had arrived); a connection cut when
        the transport gave none, as that module types an exception it does not know."""
        failure_of = self._failure_of
        return ConnectionCut() if failure_of is None else failure_of(error, answered)

    def _after_failure(
        self, error: Exception, failure: UpstreamFailure, step: Union[Send, Finish]
    ) -> Optional[UpstreamRequest]:
        request = self._take(step)
        if request is not None or self.answer is not None:
            return request
        finish = self._finish
        if finish is not None and finish.exhausted:  # the route's tries are spent: the client must not retry
            self.answer = terminal(self._failure_answer(failure, final=True))
        else:
            self.upstream_failed(error)  # nothing else was offered: the library's error, as without the router
        return None

    def _take(self, step: Union[Send, Finish]) -> Optional[UpstreamRequest]:
        attempts = self._attempts
        assert attempts is not None
        self.plan = plan = attempts.plan  # the plan of the current attempt: translation and the event
        if isinstance(step, Send):
            assert plan.upstream_url is not None
            self.answer, self._answer_kind = None, None
            return UpstreamRequest(plan.upstream_url, dict(plan.upstream_headers), plan.upstream_body, step.wait)
        self._finish = finish = step
        if finish.answer is not None:
            self.answer = terminal(finish.answer) if plan.refusal is not None else finish.answer
        return None

    def committed(self) -> None:
        """The response goes to the program now: no other attempt from here on."""
        if self._attempts is not None and self._attempts.session.state == ANSWERING:
            self._attempts.committed()

    def fallback(self, error: BaseException) -> Optional[ClientResponse]:
        """The shim failed before sending: None → pass the original request through (it needed no
        translation), else a terminal error in the client's protocol."""
        report_failure("route call", error)
        if self.plan is None or not self.plan.translated:
            self.action = PASS
            return None
        return self.answered(terminal(self.plan.error_response(UpstreamProtocolError("router internal error"))))

    def answered(self, response: ClientResponse) -> ClientResponse:
        """Report a response the router made without an upstream call."""
        if self._bodies is not None:
            self._bodies.response.add(response.body)
        self.finish(response.status, self._answer_kind or _error_kind(self, response.status, response.body))
        return response

    # Step 2a: whole responses --------------------------------------------------------------
    def streams(self, status: int) -> bool:
        """Stream the upstream body through the translator (a 2xx answer to a streaming call)?"""
        return bool(self.plan and self.plan.stream and 200 <= status < 300)

    def whole_response(
        self, status: int, headers: Mapping[str, str], body: bytes
    ) -> Union[ClientResponse, UpstreamRequest]:
        """The client's response for an upstream body read whole; or, when that 2xx body is the
        backend's error on a route that can fall back (docs/routing.md#errors-an-answer-is), the next
        attempt's request. Never raises."""
        plan = self._sent_plan()
        self._note_upstream(headers)
        usage: Optional[Usage] = None
        try:  # the usage comes from the same parse as the translation: parsing again cost ~8 µs a call
            response, usage = plan.translate_response_with_usage(status, headers, body)
        except RouterError as error:
            if isinstance(error, UpstreamError) and 200 <= status < 300 and self.may_fall_back:
                return self._whole_answer_failed(error)
            response = terminal(plan.error_response(error))
        except Exception as error:
            response = self._untranslatable(error, status, headers, body)
            usage = _usage_or_none(plan, body)  # an untranslated body still reaches the client as it is
        if 200 <= status < 300 and 200 <= response.status < 300:
            self._usage = usage
            self._keep_response(response.body)
        elif self._finish is not None and self._finish.exhausted:
            terminal(response)  # the route's tries are spent: the client's SDK must not retry on top
        self.committed()
        if self._bodies is not None:
            self._bodies.response.add(response.body)
        self.finish(response.status, self._answer_kind or _error_kind(self, response.status, response.body))
        return response

    def _whole_answer_failed(self, error: RouterError) -> Union[ClientResponse, UpstreamRequest]:
        """A 2xx answer read whole is the backend's error: the attempt failed before the program saw
        a byte, as a stream that opens with an error (the next attempt's request, or the error as
        the answer, an HTTP status in the program's protocol)."""
        assert self._attempts is not None
        following = self._answer_failed(error, self._attempts.failed_before_first_byte(error, time.monotonic()))
        if following is not None:
            return following
        assert self.answer is not None
        return self.answered(self.answer)

    def keeps_body(self, status: int, headers: Mapping[str, str]) -> bool:
        """Can the upstream response go to the client as it is, its body only observed on the way?

        True for a whole (not streamed) body of an untranslated call that is not content-encoded
        (on a route: a success that sets no cookie): :meth:`whole_response` would hand back those very bytes,
        so the transport may return the upstream response itself and skip reading it, rebuilding it
        and reading it again (the same-protocol fast path's main cost). The rest take the whole
        path: encoded bodies, so that the usage in the event is read from decoded bytes; and on a
        route, errors, which may quote the backend's key (docs/secrets.md#what-a-shimmed-program-gets)
        and may get ``x-should-retry: false``, a ``set-cookie``, which the program's client would
        keep for the host it called, not the backend's (docs/protocol-rules.md#answer-headers), an
        event stream, which becomes the whole answer asked for (docs/protocol-rules.md#streams-to-whole-answers),
        and every answer on a route that can fall back, whose 2xx body may be an error after all
        (docs/routing.md#errors-an-answer-is)."""
        plan = self.plan
        if plan is None or plan.translated or self.streams(status):
            return False
        if self._attempts is not None and (status >= 400 or "set-cookie" in headers or is_event_stream(headers)
                                           or self.may_fall_back):
            # routed: the program's client is not the backend's, a stream it did not ask for is made
            # its whole answer (docs/protocol-rules.md#streams-to-whole-answers), and on a route that
            # can fall back a 2xx body may be an error after all (docs/routing.md#errors-an-answer-is);
            # a call with no route goes as it would
            return False
        try:
            return content_encoding(headers) == "identity"
        except Exception:  # an odd header mapping: the whole-body path copes with anything
            return False

    def body_observer(self, status: int, headers: Mapping[str, str], decoded: bool = False) -> Optional[BodyObserver]:
        """An observer for a response the program gets as it came — a call left untouched (no route)
        or a :meth:`keeps_body` one — so that its event has the call's tokens; None when there is
        nothing to observe (then report the call with :meth:`passed_through` at once). ``decoded``:
        the bytes the observer will see are decoded already (a response the library read itself)."""
        plan = self.plan
        if plan is None or plan.translated or not self.reportable:
            return None
        encoding = "identity" if decoded else observable_encoding(headers)
        if encoding is None:  # br, zstd…: not decodable with the standard library
            return None
        self._note_upstream(headers)
        stream = plan.stream and 200 <= status < 300
        if stream:
            self._translator, self._status = plan.stream_translator(headers), status
        return BodyObserver(self, status, encoding, stream)

    def body_observed(self, status: int, body: bytes) -> None:
        """The client read the whole (decoded) upstream body of an observed call: report the call
        (:meth:`body_observer` noted the response's headers already)."""
        if self._bodies is not None:
            self._bodies.response.add(body)
        if 200 <= status < 300:
            self._usage = _usage_or_none(self._sent_plan(), body)
            self._keep_response(body)
        self.finish(status, _error_kind(self, status, body))

    def _untranslatable(self, error: Exception, status: int, headers: Mapping[str, str], body: bytes) -> ClientResponse:
        report_failure("translate response", error)
        plan = self._sent_plan()
        if not plan.translated:
            return ClientResponse(status, client_headers(headers), body)
        return terminal(plan.error_response(UpstreamProtocolError("the router could not translate the response")))

    # Step 2b: streams ----------------------------------------------------------------------
    def stream_headers(self, status: int, headers: Mapping[str, str]) -> Dict[str, str]:
        """Start translating a 2xx upstream stream; the headers for the client."""
        plan = self._sent_plan()
        self._note_upstream(headers)
        self._translator = plan.stream_translator(headers)
        self._status = status
        return plan.stream_headers(headers)

    def feed(self, chunk: bytes) -> bytes:
        """Upstream bytes in, client bytes out, as they arrive."""
        translator = self._translator
        if translator is None:  # observation failed earlier on an untranslated stream
            return chunk
        try:
            out = translator.feed(chunk)
        except Exception as error:
            return self._stream_bug(error, chunk)
        if translator.opening_failure is not None:
            raise StreamOpeningFailed(translator.opening_failure)
        if out and self._first_byte is None:
            self._first_byte = time.perf_counter()
        if self._bodies is not None:
            self._bodies.response.add(out)
        if translator.final_response is not None and not self._kept:
            self._keep_response(translator.final_response)  # before the program sees response.completed
        if translator.complete and not self._reported:
            # SDKs stop at message_stop / [DONE] and may never read to EOF or close: count the call
            # now, with its latency at the last event, instead of waiting for an end that may not come.
            self._finish_stream()
        return out

    def end(self) -> bytes:
        """Upstream reached end-of-file: the client stream's tail."""
        translator = self._translator
        tail = b""
        if translator is not None:
            try:
                tail = translator.close()
            except Exception as error:
                tail = self._stream_bug(error, b"")
            if translator.opening_failure is not None:
                raise StreamOpeningFailed(translator.opening_failure)
        self._finish_stream()
        return tail

    def interrupted(self, error: BaseException) -> Optional[bytes]:
        """The upstream read failed mid-stream (connection lost, timeout). Translated streams end
        with an in-band error (the engine's rule: once headers are out, errors are in-band); an
        untranslated one returns None so the transport re-raises the library's own exception."""
        translator = self._translator
        if self.plan is None or not self.plan.translated or translator is None:
            self.finish(self._status, self._failure_name(error))
            return None
        try:
            tail = translator.abort(self._stream_cut(error))
        except Exception as bug:
            report_failure("abort stream", bug)
            tail = b""
        self._finish_stream()
        return tail

    def _stream_cut(self, error: BaseException) -> RouterError:
        """The in-band error of a translated stream whose upstream read raised ``error``: typed as the
        proxy types it (``timeout`` for silence, else ``bad_gateway``: docs/routing.md#telemetry) when
        the transport can say what the library's exception was."""
        if self._failure_of is None or not isinstance(error, Exception):
            return UpstreamProtocolError(f"upstream connection lost: {type(error).__name__}")
        return self._typed(error, answered=True).client_error(_where(self._sent_plan()))

    def closed(self) -> None:
        """The client closed the response (possibly before the end): report what we have. One that
        left a stream before its end is recorded as the proxy records a client that left (499,
        ``client_disconnected``: docs/routing.md#telemetry). A stream that carried an error is
        reported with it: an SDK raises on an in-band error and closes the stream before its end,
        and "the client left" lost what the backend said."""
        translator = self._translator
        if self._reported:
            return
        if translator is not None and not translator.complete and translator.error is None:
            self._finish_stream(error=CLIENT_DISCONNECTED, status=CLIENT_LEFT_STATUS)
        else:
            self._finish_stream()

    def _finish_stream(self, error: Optional[str] = None, status: Optional[int] = None) -> None:
        translator = self._translator
        if translator is not None:
            if translator.final_response is not None:
                self._keep_response(translator.final_response)
            self._usage = translator.usage
            if error is None and translator.error is not None:
                error = translator.error.kind_name
        self.finish(self._status if status is None else status, error)

    def _stream_bug(self, error: Exception, chunk: bytes) -> bytes:
        """A translator raised something outside the engine's hierarchy (a bug)."""
        report_failure("translate stream", error)
        translator, self._translator = self._translator, None
        if self.plan is None or not self.plan.translated or translator is None:
            return chunk  # untranslated: the bytes go on unchanged, only observation stops
        self._translator = translator
        try:
            return translator.abort(UpstreamProtocolError("the router could not translate the stream"))
        except Exception:
            return b""

    # Pass-through --------------------------------------------------------------------------
    def passed_through(self, status: int, headers: Optional[Mapping[str, str]] = None) -> None:
        """The original request went where it was going; report it (no route → backend None)."""
        if headers is not None:
            self._note_upstream(headers)
        self.finish(status, None if status < 400 else f"http_{status}")

    def passed_through_failed(self, error: BaseException) -> None:
        self.finish(0, type(error).__name__)

    def upstream_failed(self, error: BaseException) -> None:
        """Sending upstream raised (the library's own error, which the transport re-raises)."""
        self.finish(0, self._failure_name(error))

    def _failure_name(self, error: BaseException) -> str:
        """The event's ``error`` for the library's ``error``: on a routed call the failure's kind, as
        the proxy records it (``bad_gateway``, ``timeout``: docs/routing.md#telemetry); on a call the
        router left alone, or an interruption that is not the backend's, the exception's class."""
        if self._attempts is None or self._failure_of is None or not isinstance(error, Exception):
            return type(error).__name__
        return self._typed(error, answered=True).kind_name

    # Step 3: the event ---------------------------------------------------------------------
    def finish(self, status: int, error: Optional[str] = None) -> None:
        """Send this call's event, once."""
        if self._reported or not self.reportable:
            return
        self._reported = True
        attempts = self._attempts
        if attempts is not None:
            attempts.close()  # the call leaves its backend's in-flight count
        try:
            self.runtime.report_call(self._event_fields(status, error), self._usage)
        except Exception as bug:
            report_failure("call event", bug, once=True)
        if self._bodies is not None:
            self._bodies.print(self)

    def _event_fields(self, status: int, error: Optional[str]) -> CallFields:
        now = time.perf_counter()
        plan = self.plan
        route = plan.route if plan is not None else self._refused_route
        first_byte = self._first_byte if self._first_byte is not None else now
        return {
            "time": self.started,
            "client_protocol": ENDPOINT_PROTOCOL.get(self.endpoint, ""),
            "endpoint": self.endpoint,
            "backend": route.backend.name if route else None,
            "upstream_host": self._upstream_host(),
            "requested_model": self.requested_model,
            "upstream_model": route.upstream_model if route else self.requested_model,
            "stream": bool(plan and plan.stream),
            "translated": bool(plan and plan.translated),
            "status": status,
            "error": error,
            "latency_ms": (now - self._clock_start) * 1000.0,
            "ttfb_ms": (first_byte - self._clock_start) * 1000.0,
            "request_id": self._request_id,
            "fallbacks": 0 if self._attempts is None else self._attempts.fallbacks,
            "attempts": None if self._attempts is None else self._attempts.attempts(),
        }

    def _upstream_host(self) -> str:
        plan = self.plan
        if self.unrouted_url is not None:
            return _host_of(self.unrouted_url)
        if plan is not None and plan.upstream_url:
            return _host_of(plan.upstream_url)
        answered_here = (plan is not None and plan.routed) or self._refused_route is not None
        return "" if answered_here else self.original_host  # "": answered by the router itself

    def _note_upstream(self, headers: Mapping[str, str]) -> None:
        try:
            self._request_id = _request_id(headers)
        except Exception:
            self._request_id = None

    def _sent_plan(self) -> Plan:
        assert self.plan is not None, "only planned calls have an upstream"
        return self.plan


_HOSTS: Dict[str, str] = {}
_HOSTS_LIMIT = 256  # URLs come from the configuration and the program's few base URLs


def _host_of(url: str) -> str:
    """The host of ``url``, parsed once per URL: every event names one."""
    host = _HOSTS.get(url)
    if host is None:
        if len(_HOSTS) >= _HOSTS_LIMIT:
            _HOSTS.clear()
        host = _HOSTS[url] = split_url(url)[1]
    return host


def _where(plan: Plan) -> str:
    """The backend a failure is about, with its host (never a URL's path, a key, or the library's
    message, which may quote either)."""
    route = plan.route
    return f"backend {route.backend.name!r} ({_host_of(plan.upstream_url or '')})" if route else "the backend"


def _query_of(url: str) -> str:
    """The query string of ``url`` (without ``?`` and any fragment); usually empty."""
    if "?" not in url:
        return ""
    return url.partition("?")[2].partition("#")[0]


def _model_of(body: bytes) -> Optional[str]:
    try:
        model = parse_json_object(body).get("model")
    except RouterError:
        return None
    return model if isinstance(model, str) and model else None


def _usage_or_none(plan: Plan, body: bytes) -> Optional[Usage]:
    try:
        return plan.usage_from_response(body)
    except Exception:
        return None


def _error_kind(call: LLMCall, status: int, body: bytes) -> Optional[str]:
    """The error kind of a non-2xx client response (status and body), for the event."""
    if status < 400:
        return None
    try:
        return error_from_upstream(call.client_protocol, status, body).kind_name
    except Exception:
        return f"http_{status}"


def _request_id(headers: Mapping[str, str]) -> Optional[str]:
    """The upstream's request id. The libraries' header mappings (httpx ``Headers``, requests'
    ``CaseInsensitiveDict``, aiohttp's ``CIMultiDict``) look names up case-insensitively, and a
    :class:`LowerCaseHeaders` has lower-case names, so only a plain ``dict`` needs the slower scan
    over its keys."""
    value = headers.get("x-request-id") or headers.get("request-id")
    if value is None and type(headers) is dict:
        lowered = {k.lower(): v for k, v in headers.items()}
        value = lowered.get("x-request-id") or lowered.get("request-id")
    return value


class CallBodies:
    """``router shim -vv``: a call's request body and the first bytes of its answer, printed by the
    process itself on its standard error when the call ends (its ``-v`` line comes from the host,
    through telemetry: the two may interleave with other output; docs/operator-switches.md#bodies)."""

    __slots__ = ("request", "response")

    def __init__(self, request: bytes) -> None:
        from ..body_log import BodyCapture  # imported only under -vv

        self.request = BodyCapture()
        self.request.add(request)
        self.response = BodyCapture()

    def print(self, call: LLMCall) -> None:
        from ..log_text import printable

        try:
            secrets = [backend.api_key for backend in call.runtime.config.backends.values() if backend.api_key]
            head = f"router: pid {call.runtime.pid} {call.endpoint} {printable(call.requested_model)}"
            lines = [head, self.request.line("request body", secrets), self.response.line("response body", secrets)]
            sys.stderr.write("\n".join(lines) + "\n")
            sys.stderr.flush()
        except Exception as error:
            report_failure("print bodies", error, once=True)
