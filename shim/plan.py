"""From a client's call to everything a driver needs to send it upstream and answer the client.

``plan_call(config, call, now=…, call_id=…, responses=…)`` parses the body once, resolves the
route, picks the upstream endpoint (:func:`upstream_endpoint`), and returns a :class:`Plan`: the
upstream URL, headers and body (in the backend's format), and the way back —
:meth:`Plan.translate_response` for whole bodies, :meth:`Plan.stream_translator` for streams,
:meth:`Plan.error_response` for errors the driver itself hits (dead host, timeout), and for
Responses clients :meth:`Plan.response_record`, the record a driver stores so that a later call
can continue this one (docs/responses-api.md#state-previous_response_id).

A route with several targets (a fallback chain, a balanced group) is planned for its first target;
:meth:`Plan.for_target` plans the same call for another target of the route without parsing the
body again, and :meth:`Plan.conversation` tells a balanced group which conversation the call is
part of (docs/routing.md#drivers).

:attr:`Plan.disposition` names what the driver does with the call: :data:`UNTOUCHED` (no route),
:data:`FORWARD` (send the upstream request), :data:`ANSWER_LOCALLY` (:attr:`Plan.local_response`)
or :data:`REFUSED` (a routed call the engine cannot plan, for instance a request the backend's
protocol cannot express: :attr:`Plan.refusal` says why). A refused call keeps its route, so its
telemetry names the model, the backend and the upstream model like any other call.
``plan_call`` raises only when no route can be known: a body that is too large to read, not JSON,
or without a model.

Drivers do the I/O; nothing here touches a socket, a clock or the environment. Every failure is a
:class:`~shim.errors.RouterError` that the driver renders with :meth:`Plan.error_response` (or
:func:`render_error` before a plan exists).
"""

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, TypeVar, Union

from .affinity import ConversationKey
from .answer_kinds import is_event_stream, is_whole_answer, starts_as_json
from .config import Backend, RouterConfig
from .errors import (
    NOT_A_JSON_NUMBER,
    InvalidRequestError,
    RequestTooLargeError,
    RouterError,
    UnsupportedFeatureError,
    UpstreamProtocolError,
    UpstreamTransportError,
    error_from_upstream,
    kept,
    nested_too_deeply,
)
from .forwarded_headers import forwarded_headers, forwarded_query
from .json_budget import (
    JsonBudget,
    JsonMeasure,
    TooManyJsonValues,
    check_json_values,
    check_json_work,
    count_json_values,
    json_text,
    loads_within_budget,
)
from .model_key import ModelKeys, may_repeat_model, replace_model
from .model_limits import output_limit
from .protocols import (
    ANTHROPIC,
    CHAT,
    COUNT_TOKENS,
    ENDPOINT_PROTOCOL,
    GENERATION_ENDPOINTS,
    MESSAGES,
    RESPONSES,
    upstream_path,
)
from .responses_chain import Chain, expand_chain, stored_response
from .responses_store import ResponseStore, StoredResponse
from .routing import Route, RouteTarget, resolve_route
from .token_estimate import estimate_anthropic_input_tokens
from .translate.compose import ResponseTranslator, StreamFactory
from .translate.context import RequestOptions, ResponseContext, TranslatedRequest
from .translate.directions import translation_for
from .translate.held_text import MAX_HELD_BYTES
from .translate.request_checks import expect_bool
from .translate.response_common import upstream_object
from .translate.stream_base import StreamTranslator
from .translate.stream_opening import OpeningHold
from .translate.stream_passthrough import PassthroughStream
from .translate.stream_whole_answer import WholeAnswerStream
from .translate.whole_from_events import whole_from_events
from .usage import Usage, answer_object, response_usage, usage_from_anthropic, usage_from_openai, usage_from_responses

__all__ = [
    "ANSWER_LOCALLY",
    "FORWARD",
    "MAX_BODY_BYTES",
    "REFUSED",
    "UNTOUCHED",
    "ClientCall",
    "ClientResponse",
    "Plan",
    "client_headers",
    "parse_request_body",
    "plan_call",
    "render_error",
    "upstream_endpoint",
]

MAX_BODY_BYTES = 32 * 1024 * 1024
_NOTHING_TO_REPLAY = JsonMeasure(0, 0)

# What a driver does with a planned call (:attr:`Plan.disposition`).
UNTOUCHED = "untouched"  # no route: the call goes where the client sent it
FORWARD = "forward"  # send upstream_body to upstream_url
ANSWER_LOCALLY = "answer_locally"  # the router answers itself: local_response
REFUSED = "refused"  # a routed call the engine cannot plan: refusal is the client's error

# Anthropic API version for requests the router itself writes (translated from OpenAI clients).
# 2023-06-01 is accepted by every current model and, unlike 2026-10-21, still accepts the
# sampling parameters OpenAI clients send (docs/protocol-rules.md#translated-api-version). Same-protocol calls
# forward the client's own version.
TRANSLATED_ANTHROPIC_VERSION = "2023-06-01"

# Upstream response headers dropped on the way back (docs/protocol-rules.md#answer-headers): framing
# that no longer describes a body a driver decoded (and perhaps re-encoded); the hop-by-hop fields of
# RFC 9110 section 7.6.1, which describe the backend's connection, not the client's (and any the
# answer's Connection field names); and cookies, which the client would keep for the router's own
# host, where every local service would be sent them.
_DROPPED_RESPONSE_HEADERS = frozenset({
    "content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive", "proxy-connection",
    "te", "trailer", "upgrade", "proxy-authenticate", "set-cookie",
})
_REDACTED_KEY = b"[the backend's key]"
_SHORTEST_KEY = 12  # no provider issues keys this short; replacing "1" would break "401"
_T = TypeVar("_T")
_KEPT_TRANSLATED_RESPONSE_HEADERS = frozenset({"retry-after", "retry-after-ms", "x-request-id", "request-id"})


@dataclass(frozen=True)
class ClientCall:
    """A call as the client made it. ``headers`` keys may be in any case; ``query`` is the URL's
    query string without ``?`` (a same-protocol route keeps the parameters the protocol defines)."""

    endpoint: str
    headers: Mapping[str, str]
    body: bytes
    query: str = ""
    # The body's JSON values, when the driver counted them as it arrived (shim/json_budget.py
    # JsonValueCount) and found them within the limit: planning need not count them again.
    json_values: Optional[int] = None
    # Where the body spells its model key, when the driver looked as it arrived (shim/model_key.py):
    # trusted, so it must describe exactly this body (a call made with another body drops it).
    model_keys: Optional[ModelKeys] = None


@dataclass(frozen=True)
class ClientResponse:
    status: int
    headers: Dict[str, str]
    body: bytes


@dataclass
class Plan:
    """Everything about one call that does not need I/O. See the module docstring."""

    client_protocol: str
    endpoint: str
    requested_model: str
    stream: bool
    route: Optional[Route]
    upstream_url: Optional[str] = None
    upstream_headers: Dict[str, str] = field(default_factory=dict)
    upstream_body: bytes = b""
    translated: bool = False
    notes: List[str] = field(default_factory=list)
    # Set when the router answers by itself (count_tokens on an OpenAI backend).
    local_response: Optional[ClientResponse] = None
    # Set when a routed call cannot be planned (bad or untranslatable input): the client's error.
    refusal: Optional[RouterError] = None
    context: Optional[ResponseContext] = None
    # The endpoint the backend is called on (chat, messages, responses…); None without a route.
    upstream_endpoint: Optional[str] = None
    _response_translator: Optional[ResponseTranslator] = None
    _stream_factory: Optional[StreamFactory] = None
    # Responses clients: the input to store with the output (None: no complete record possible).
    _replay_input: Optional[List[Any]] = None
    _replay_measure: JsonMeasure = _NOTHING_TO_REPLAY  # _replay_input's (see expand_chain)
    _store_response: bool = False
    _now: float = 0.0
    # The most of one answer a driver holds (its limit for an answer read whole): also the most a
    # streaming call's answer that came whole may be (docs/protocol-rules.md#whole-answers-to-streams).
    _max_held_bytes: int = MAX_HELD_BYTES
    # A Chat stream from upstream ends with a usage chunk: the request asked for one (translations always do).
    _usage_chunk: bool = True
    # What planning for another target of the route needs (routes with alternatives only).
    _source: "Optional[_PlanSource]" = None

    def for_target(self, target: RouteTarget) -> "Plan":
        """This call planned for ``target``, one of its route's targets (a fallback, or a balanced
        group's choice): the parsed body is reused, never parsed again. ``self`` for its own target."""
        route, source = self.route, self._source
        if route is None or (target.backend is route.backend and target.upstream_model == route.upstream_model):
            return self
        if source is None:
            raise InvalidRequestError("this call's route has no other target")  # a driver bug: never for users
        retargeted = route.to(target)
        plan = Plan(self.client_protocol, self.endpoint, self.requested_model, self.stream, retargeted,
                    _now=self._now, _max_held_bytes=self._max_held_bytes, _source=source)
        try:
            _plan_routed(plan, source.config, retargeted, source.call, source.body, source.context, source.chaining)
        except RouterError as error:
            plan.refuse(error)
        return plan

    def conversation(self) -> Optional[ConversationKey]:
        """The conversation this call belongs to, for sticky balanced groups (None: no alternatives)."""
        source = self._source
        return None if source is None else ConversationKey(_lower(source.call.headers), source.body)

    def forget_alternatives(self) -> None:
        """The call is committed to this plan: let the parsed body go (a stream may run for minutes)."""
        self._source = None

    @property
    def routed(self) -> bool:
        return self.route is not None

    @property
    def disposition(self) -> str:
        """:data:`UNTOUCHED`, :data:`REFUSED`, :data:`ANSWER_LOCALLY` or :data:`FORWARD` (module docstring)."""
        if self.route is None:
            return UNTOUCHED
        if self.refusal is not None:
            return REFUSED
        return FORWARD if self.local_response is None else ANSWER_LOCALLY

    def refuse(self, error: RouterError) -> None:
        """Turn this routed call into a refusal: nothing of a half-made upstream request is kept."""
        self.refusal = kept(error)  # its traceback holds the frame that planned this call: a cycle
        self.upstream_url, self.upstream_headers, self.upstream_body = None, {}, b""
        self.local_response, self.context = None, None
        self._response_translator = self._stream_factory = None
        self._store_response = False
        self.translated = self._crosses_formats()

    def _crosses_formats(self) -> bool:
        """Whether this call is translated: its endpoint differs from the upstream's (generation
        calls), or its protocol from the backend's (count_tokens, embeddings)."""
        route = self.route
        if route is None:
            return False
        if self.endpoint in GENERATION_ENDPOINTS:
            return upstream_endpoint(self.endpoint, route.backend, route.upstream_model) != self.endpoint
        return route.backend.protocol != self.client_protocol

    def refusal_response(self) -> ClientResponse:
        """The client's answer to a :data:`REFUSED` call."""
        assert self.refusal is not None
        return self.error_response(self.refusal)

    @property
    def upstream_protocol(self) -> str:
        return self.route.backend.protocol if self.route else self.client_protocol

    def translate_response(self, status: int, headers: Mapping[str, str], body: bytes, *,
                           json_values: Optional[int] = None) -> ClientResponse:
        """A whole upstream response (success or error) → the response for the client. ``json_values``:
        what a driver counted of ``body`` as it arrived (``AnswerValueCount``), not counted again."""
        if not 200 <= status < 300:
            return self._translate_error_response(status, headers, body)
        upstream = self._upstream_answer(headers, body, json_values)
        if upstream is None:
            return ClientResponse(status, client_headers(headers), body)
        return self._whole_answer(status, headers, upstream)

    def translate_response_with_usage(
        self, status: int, headers: Mapping[str, str], body: bytes, *, json_values: Optional[int] = None
    ) -> Tuple[ClientResponse, Optional[Usage]]:
        """:meth:`translate_response`, and the usage :meth:`usage_from_response` would read (None
        unless the upstream answered 2xx), from one parse of the body instead of two (``json_values``
        as both take it)."""
        if not 200 <= status < 300:
            return self._translate_error_response(status, headers, body), None
        upstream = self._upstream_answer(headers, body, json_values)
        if upstream is None:  # passed on as it came: the usage read from it, not written again
            return ClientResponse(status, client_headers(headers), body), self._passed_on_usage(body, json_values)
        usage = self._usage_of(upstream)  # first: the translator may reuse parts of ``upstream``
        return self._whole_answer(status, headers, upstream), usage

    def _passed_on_usage(self, body: bytes, json_values: Optional[int]) -> Optional[Usage]:
        """The usage of a 2xx body passed on as it came. On a route that can fall back, a body that is
        the backend's error after all (gateways answer 200 with ``{"error": {"code": 502, …}}`` when a
        model fails once it has begun) is raised, as the translators raise it: the attempt failed,
        and another target may answer (docs/routing.md#errors-an-answer-is). A lone route passes it
        on untouched, as without the router."""
        if self.route is None or not self.route.may_fall_back or _ERROR_KEY not in body:
            return self.usage_from_response(body, json_values=json_values)
        parsed = answer_object(body, json_values)
        if parsed is None:  # not one JSON object, or too much of it: passed on, its usage unknown
            return None
        upstream_object(parsed, self.upstream_protocol)
        return self._usage_of(parsed)

    def _upstream_answer(self, headers: Mapping[str, str], body: bytes,
                         json_values: Optional[int]) -> Optional[Dict[str, Any]]:
        """A 2xx whole answer as the object the client's answer is made of; None when ``body`` goes to
        the client as it came (a same-protocol JSON body). A stream sent to a call that asked for one
        body is put back together (docs/protocol-rules.md#streams-to-whole-answers), each event held
        to the JSON budget of one (the body as a whole to the answer's size): a long answer streams as
        many small events, whose envelopes alone would pass the budget of one whole body."""
        if self._answered_as_stream(headers, body):
            assert self.upstream_endpoint is not None
            return whole_from_events(self.upstream_endpoint, body)
        if self._response_translator is None or self.context is None:
            return None
        return _parse_upstream_json(body, json_values)

    def _answered_as_stream(self, headers: Mapping[str, str], body: bytes) -> bool:
        """A 2xx answer to a call that asked for one whole body, sent as an event stream
        (docs/protocol-rules.md#streams-to-whole-answers): so labelled, and not one JSON body after all."""
        return (not self.stream and self.upstream_endpoint in GENERATION_ENDPOINTS and is_event_stream(headers)
                and not starts_as_json(body))

    def _whole_answer(self, status: int, headers: Mapping[str, str], upstream: Dict[str, Any]) -> ClientResponse:
        """``upstream`` (a whole answer, parsed or assembled) as the client's answer: translated, or
        written as JSON in place of the stream it came as."""
        if self._response_translator is not None and self.context is not None:
            return self._translate_success(status, headers, upstream)
        answer_headers = client_headers(headers)
        answer_headers["content-type"] = "application/json"
        answer_headers.pop("cache-control", None)
        return ClientResponse(status, answer_headers, _encoded(upstream, from_backend=True))

    def _translate_success(self, status: int, headers: Mapping[str, str], upstream: Dict[str, Any]) -> ClientResponse:
        translator, context = self._response_translator, self.context
        assert translator is not None and context is not None
        translated = _guard_depth(lambda: translator(upstream, context))
        return ClientResponse(status, self._translated_headers(headers), _encoded(translated, from_backend=True))

    def stream_translator(self, upstream_headers: Mapping[str, str]) -> StreamTranslator:
        """A fresh incremental translator for this call's 2xx upstream stream, whose answer came
        with ``upstream_headers``: a body the backend sent whole (JSON) is gathered and then
        streamed (docs/protocol-rules.md#whole-answers-to-streams); on a route that can fall back,
        the stream's opening is held until its first content (docs/routing.md#errors-a-stream-opens-with)."""
        protocol = RESPONSES if self.endpoint == RESPONSES else self.client_protocol
        if self._stream_factory is None or self.context is None:
            translator: StreamTranslator = PassthroughStream(protocol)
        else:
            translator = self._stream_factory(self.context)
        endpoint = self.upstream_endpoint
        if endpoint is not None and endpoint in GENERATION_ENDPOINTS and is_whole_answer(upstream_headers):
            translator = WholeAnswerStream(translator, endpoint, limit=self._max_held_bytes,
                                           usage_chunk=self._usage_chunk)
        if self.route is not None and self.route.may_fall_back:
            translator = OpeningHold(translator, protocol)
        return translator

    def response_record(
        self, response: Union[bytes, Mapping[str, Any], None], *, now: Optional[float] = None,
        json_values: Optional[int] = None,
    ) -> Optional[StoredResponse]:
        """What a driver stores after a Responses call so that a later ``previous_response_id`` can
        continue it: give it the client's 2xx body (whole responses) or the stream translator's
        :attr:`~StreamTranslator.final_response` (streams). None when there is nothing to store:
        another endpoint, ``store: false``, a response that failed, or a chain the backend keeps
        (docs/responses-api.md#state-previous_response_id). ``now`` defaults to the call's start;
        ``json_values`` is as :meth:`translate_response` takes it, for a body passed on as it came."""
        if self.endpoint != RESPONSES or not self._store_response:
            return None
        return stored_response(response, self._replay_input, now=self._now if now is None else now,
                               replay_measure=self._replay_measure, json_values=json_values,
                               named_by_backend=not self.translated)

    def stream_headers(self, upstream_headers: Mapping[str, str]) -> Dict[str, str]:
        """Headers to send the client before a (2xx) stream's first byte: the backend's own on a
        same-protocol stream, an event stream's on one the router writes (translated, or answered whole)."""
        if not self.translated and not is_whole_answer(upstream_headers):
            return client_headers(upstream_headers)
        headers = self._translated_headers(upstream_headers) if self.translated else client_headers(upstream_headers)
        headers["content-type"] = "text/event-stream; charset=utf-8"
        headers["cache-control"] = "no-cache"
        return headers

    def error_response(self, error: RouterError) -> ClientResponse:
        """A router-side failure (bad input, dead host, timeout) in the client's protocol."""
        return render_error(self.client_protocol, error)

    def usage_from_response(self, body: bytes, *, json_values: Optional[int] = None) -> Optional[Usage]:
        """Usage reported by an upstream (non-streaming) 2xx body, for telemetry (``json_values`` as
        :meth:`translate_response` takes it)."""
        return self._usage_from(response_usage(body, json_values))

    def _usage_of(self, parsed: Any) -> Optional[Usage]:
        """The usage in a parsed upstream body (anything JSON: None when it has none)."""
        return self._usage_from(parsed.get("usage") if isinstance(parsed, dict) else None)

    def _usage_from(self, usage: Any) -> Optional[Usage]:
        """The upstream format's ``usage`` member (any JSON value) in canonical form."""
        if not isinstance(usage, dict):
            return None
        if self.upstream_protocol == ANTHROPIC:
            return usage_from_anthropic(usage)
        if (self.upstream_endpoint or self.endpoint) == RESPONSES:
            return usage_from_responses(usage)
        return usage_from_openai(usage)

    def _translate_error_response(self, status: int, headers: Mapping[str, str], body: bytes) -> ClientResponse:
        body = self._without_key(body)
        if not self.translated:
            return ClientResponse(status, client_headers(headers), body)
        error = error_from_upstream(self.upstream_protocol, status, body, _lower(headers))
        rendered = render_error(self.client_protocol, error)
        rendered.headers.update(self._translated_headers(headers))
        rendered.headers["content-type"] = "application/json"
        return rendered

    def _without_key(self, error_body: bytes) -> bytes:
        """A backend's error that quotes the key it refused (some echo the header) would hand the
        router's key to its client: a proxy's clients never get it (docs/secrets.md#the-proxy)."""
        key = self.route.backend.api_key if self.route is not None else None
        if not key or len(key) < _SHORTEST_KEY:  # a placeholder ("EMPTY", "ollama"), which text may hold
            return error_body
        return error_body.replace(key.encode(), _REDACTED_KEY)

    def _translated_headers(self, upstream_headers: Mapping[str, str]) -> Dict[str, str]:
        kept = {k.lower(): v for k, v in upstream_headers.items() if k.lower() in _KEPT_TRANSLATED_RESPONSE_HEADERS}
        kept["content-type"] = "application/json"
        return kept


@dataclass(frozen=True)
class _PlanSource:
    """The parsed call, kept by a plan whose route has other targets: what :meth:`Plan.for_target` needs."""

    config: RouterConfig
    call: ClientCall
    body: Dict[str, Any]
    context: ResponseContext
    chaining: "_Chaining"


class _Chaining:
    """What expanding a ``previous_response_id`` needs besides the body: where records are kept,
    and what the expanded request is held to (docs/proxy-limits.md#continued-conversations)."""

    def __init__(self, store: Optional[ResponseStore], body: bytes, json_values: Optional[int],
                 max_body_bytes: int) -> None:
        self.store = store
        self.max_body_bytes = max_body_bytes
        self._body = body
        self._json_values = json_values  # as the driver or the plan's own check counted them, if either did

    @functools.cached_property
    def body_measure(self) -> JsonMeasure:
        """The client's body's, counted here only when nothing counted it before (Responses calls only)."""
        values = count_json_values(self._body) if self._json_values is None else self._json_values
        return JsonMeasure(len(self._body), values)


def render_error(protocol: str, error: RouterError) -> ClientResponse:
    """``error`` as an HTTP response a ``protocol`` client understands."""
    return ClientResponse(error.status_for(protocol), error.headers_for(protocol), error.render(protocol))


def plan_call(
    config: RouterConfig,
    call: ClientCall,
    *,
    now: float,
    call_id: str,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_held_bytes: int = MAX_HELD_BYTES,
    responses: Optional[ResponseStore] = None,
) -> Plan:
    """Plan one call. A routed call that cannot be planned is a :data:`REFUSED` plan; raises
    :class:`RouterError` only when no route can be known (too large, not JSON, no model).

    ``responses`` is where the driver keeps the Responses calls it stored (see
    :meth:`Plan.response_record`); without it a ``previous_response_id`` can only go to a backend
    that keeps responses itself."""
    # before anything parses it: docs/proxy-limits.md#request-bodies
    json_values = call.json_values
    if json_values is None:
        json_values = check_json_work(call.body)
    else:
        check_json_values(json_values)
    client_protocol = ENDPOINT_PROTOCOL.get(call.endpoint)
    if client_protocol is None:
        raise InvalidRequestError(f"the router does not plan {call.endpoint!r} calls")
    if len(call.body) > max_body_bytes:
        raise RequestTooLargeError(f"request body is {len(call.body)} bytes; the limit is {max_body_bytes}")
    if call.model_keys is None:
        call = dataclasses.replace(call, model_keys=ModelKeys.of(call.body))  # once, for every target
    body = parse_request_body(call.body, call.model_keys)
    model = _required_model(body)
    stream = body.get("stream") is True
    route = resolve_route(config, model)
    plan = Plan(client_protocol, call.endpoint, model, stream, route, _now=now, _max_held_bytes=max_held_bytes)
    if route is None:
        return plan
    context = ResponseContext(client_model=model, created=int(now), call_id=call_id, max_held_bytes=max_held_bytes)
    chaining = _Chaining(responses, call.body, json_values, max_body_bytes)
    if route.has_alternatives:
        plan._source = _PlanSource(config, call, body, context, chaining)
    try:
        _plan_routed(plan, config, route, call, body, context, chaining)
    except RouterError as error:
        plan.refuse(error)
    return plan


def _plan_routed(
    plan: Plan,
    config: RouterConfig,
    route: Route,
    call: ClientCall,
    body: Dict[str, Any],
    context: ResponseContext,
    chaining: _Chaining,
) -> None:
    headers = _lower(call.headers)
    if call.endpoint not in GENERATION_ENDPOINTS:
        _plan_other_endpoint(plan, route, call, body, headers)
        return
    plan.upstream_endpoint = target = upstream_endpoint(call.endpoint, route.backend, route.upstream_model)
    raw = call.body
    if call.endpoint == RESPONSES:
        chain = _expand_chain(plan, body, chaining, native=target == RESPONSES)
        body, raw = chain.body, (_encoded(chain.body) if chain.expanded else raw)
    if target == call.endpoint:
        keys = call.model_keys if raw is call.body else None  # an expanded chain is another body
        _plan_same_protocol(plan, route, raw, keys, call.query, body, headers)
    else:
        _plan_translated(plan, config, route, body, headers, context)


def upstream_endpoint(client_endpoint: str, backend: Backend, upstream_model: str) -> str:
    """The endpoint a generation call is sent to (docs/responses-api.md#upstream-endpoint-choice):
    an Anthropic backend's Messages; an OpenAI-protocol backend's Responses for a model served only
    there, or for a Responses client when the backend serves Responses itself; else its Chat."""
    if backend.protocol == ANTHROPIC:
        return MESSAGES
    if backend.responses_only(upstream_model):
        return RESPONSES
    if client_endpoint == RESPONSES and backend.responses_api:
        return RESPONSES
    return CHAT


def _plan_other_endpoint(
    plan: Plan, route: Route, call: ClientCall, body: Dict[str, Any], headers: Dict[str, str]
) -> None:
    """count_tokens and embeddings: forwarded to a backend of their protocol, or answered here."""
    plan.upstream_endpoint = plan.endpoint
    if route.backend.protocol == plan.client_protocol:
        _plan_same_protocol(plan, route, call.body, call.model_keys, call.query, body, headers)
    elif plan.endpoint == COUNT_TOKENS:
        _plan_local_count_tokens(plan, body)
    else:  # embeddings: only OpenAI-protocol backends have them
        raise UnsupportedFeatureError(
            f"embeddings need an OpenAI-protocol backend; {route.backend.name!r} speaks {route.backend.protocol}"
        )


def _expand_chain(plan: Plan, body: Dict[str, Any], chaining: _Chaining, *, native: bool) -> Chain:
    chain = expand_chain(body, chaining.store, now=plan._now, native=native,
                         body_measure=chaining.body_measure, max_bytes=chaining.max_body_bytes)
    plan._replay_input = chain.replay_input
    plan._replay_measure = chain.replay_measure
    plan._store_response = chain.store
    if chain.expanded:
        plan.notes.append(f"expanded previous_response_id {body.get('previous_response_id')!r} from stored responses")
    return chain


def parse_json_object(raw: bytes) -> Dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what is wrong with it.

    ``NaN``/``Infinity`` (which Python's parser accepts) are not JSON and no API accepts them."""
    body = _decode(raw, _STRICT_JSON)
    if not isinstance(body, dict):
        raise InvalidRequestError(f"request body must be a JSON object, not {type(body).__name__}")
    return body


def parse_request_body(raw: bytes, keys: Optional[ModelKeys] = None) -> Dict[str, Any]:
    """:func:`parse_json_object`, refusing a body whose top level holds ``model`` more than once
    (docs/protocol-rules.md#one-model-per-request): the router would route on the last while a
    backend that reads the first would run another model, on the router's key. ``keys``: what
    :class:`~shim.model_key.ModelKeys` found in ``raw`` (looked for here when not given). Most
    bodies name ``model`` once and take the plain parse; Claude Code's (a tool's schema has a
    ``model`` property) take :class:`_TopLevelKeys`'s, ~25 % slower on its 50 KB bodies."""
    if not may_repeat_model(raw, keys or ModelKeys.of(raw)):
        return parse_json_object(raw)
    top_level = _TopLevelKeys()
    body = _decode(raw, top_level.decoder)
    if not isinstance(body, dict):
        raise InvalidRequestError(f"request body must be a JSON object, not {type(body).__name__}")
    repeats = top_level.count("model")
    if repeats > 1:
        raise InvalidRequestError(
            f"the request body has {repeats} top-level 'model' keys; send exactly one", param="model"
        )
    return body


def _decode(raw: bytes, decoder: json.JSONDecoder) -> Any:
    try:
        # json.loads(raw, parse_constant=...) would build a decoder per call; this is what it does
        # with bytes, on one decoder made once, UTF-8 only (docs/proxy-limits.md#request-bodies).
        return decoder.decode(json_text(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidRequestError("request body is nested too deeply") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


_STRICT_JSON = json.JSONDecoder(parse_constant=_reject_constant)


class _TopLevelKeys:
    """A decoder that remembers the key/value pairs of the last object it built: the JSON parser
    builds nested objects first, so for a body that is an object that is the top level, with every
    repeated key (a dict keeps only the last)."""

    __slots__ = ("decoder", "pairs")

    def __init__(self) -> None:
        self.pairs: List[Tuple[str, Any]] = []
        self.decoder = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=self._object)

    def _object(self, pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
        self.pairs = pairs
        return dict(pairs)

    def count(self, key: str) -> int:
        return sum(1 for name, _ in self.pairs if name == key)


def _guard_depth(translate: Callable[[], _T]) -> _T:
    """Run a translator or an encoder of what one made: :func:`~shim.errors.nested_too_deeply`."""
    try:
        return translate()
    except RecursionError:
        raise nested_too_deeply() from None


def _encoded(value: Any, *, from_backend: bool = False) -> bytes:
    """What the router wrote from a request (or, ``from_backend``, from an answer), as JSON to send on.
    Python writes a float it parsed from ``1e999``, or a ``NaN`` in a tool call's arguments, as the
    bare ``Infinity``/``NaN`` no JSON parser takes; that is refused here (docs/protocol-rules.md#numbers),
    as is nesting deeper than the encoder recurses (:func:`~shim.errors.nested_too_deeply`)."""
    try:
        return json.dumps(value, allow_nan=False).encode()
    except RecursionError:
        raise nested_too_deeply() from None
    except ValueError:
        if from_backend:
            raise UpstreamProtocolError(f"the backend's answer {NOT_A_JSON_NUMBER}") from None
        raise InvalidRequestError(f"the request {NOT_A_JSON_NUMBER}") from None


def _required_model(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("'model' is required and must be a non-empty string", param="model")
    return model


def _plan_same_protocol(
    plan: Plan, route: Route, raw: bytes, keys: Optional[ModelKeys], query: str, body: Dict[str, Any],
    headers: Dict[str, str],
) -> None:
    """Forward unchanged but for the model field and the credentials; of the client's headers and
    query, what the protocol and its clients need (docs/protocol-rules.md#forwarded-headers). A
    ``stream`` that is not a boolean is refused, as translations refuse it: the router reads only
    ``true`` as a stream, where a lenient backend may read ``"true"`` or ``1`` as one too."""
    if body.get("stream") is not None:
        expect_bool(body["stream"], "stream")
    plan.upstream_endpoint = plan.endpoint
    options = body.get("stream_options")
    plan._usage_chunk = isinstance(options, dict) and options.get("include_usage") is True
    protocol = route.backend.protocol
    path = upstream_path(protocol, plan.endpoint)
    assert path is not None  # every client endpoint exists on a backend of its own protocol
    kept_query = forwarded_query(protocol, query)
    plan.upstream_url = route.backend.url_for(f"{path}?{kept_query}" if kept_query else path)
    plan.upstream_body = replace_model(raw, body, route.upstream_model, keys)
    forwarded = forwarded_headers(protocol, headers)
    if protocol == ANTHROPIC:
        forwarded.setdefault("anthropic-version", TRANSLATED_ANTHROPIC_VERSION)
    forwarded["content-type"] = "application/json"
    plan.upstream_headers = {**forwarded, **credential_headers(route.backend)}


def _plan_local_count_tokens(plan: Plan, body: Dict[str, Any]) -> None:
    """OpenAI-protocol backends have no count_tokens endpoint: answer with a local estimate."""
    count = estimate_anthropic_input_tokens(body)
    plan.translated = True
    plan.notes.append("count_tokens answered locally with an estimate (the backend has no such endpoint)")
    answer = json.dumps({"input_tokens": count}).encode()
    plan.local_response = ClientResponse(200, {"content-type": "application/json"}, answer)


def _plan_translated(
    plan: Plan, config: RouterConfig, route: Route, body: Dict[str, Any], headers: Dict[str, str],
    context: ResponseContext,
) -> None:
    backend = route.backend
    assert plan.upstream_endpoint is not None
    translation = translation_for(plan.endpoint, plan.upstream_endpoint)
    options = _request_options(config, route)
    translated: TranslatedRequest = _guard_depth(lambda: translation.request(body, options))
    path = upstream_path(backend.protocol, plan.upstream_endpoint)
    assert path is not None
    plan.translated = True
    plan.upstream_url = backend.url_for(path)
    plan.upstream_body = _encoded(translated.body)
    plan.upstream_headers = _translated_request_headers(backend, headers, translated)
    plan.notes.extend(translated.notes)
    plan.context = _response_context(context, translated)
    plan._response_translator = translation.response
    plan._stream_factory = translation.stream


def _response_context(base: ResponseContext, translated: TranslatedRequest) -> ResponseContext:
    """The context of the client-side step; for a composed translation (``translated.hub``) it
    carries the upstream-side step's own as ``inner``."""
    own = ResponseContext(
        client_model=base.client_model,
        created=base.created,
        call_id=base.call_id,
        include_usage=translated.include_usage,
        tool_names=translated.tool_names,
        client_tools=translated.client_tools,
        response_echo=translated.response_echo,
        max_held_bytes=base.max_held_bytes,
        json_budget=base.json_budget,  # one per call, whichever step parses
    )
    if translated.hub is None:
        return own
    return dataclasses.replace(_response_context(base, translated.hub), inner=own)


def _request_options(config: RouterConfig, route: Route) -> RequestOptions:
    backend = route.backend
    return RequestOptions(
        upstream_model=route.upstream_model,
        default_max_tokens=config.default_max_tokens,
        max_output_tokens=output_limit(route.upstream_model, backend.max_output_tokens, config.model_max_output_tokens),
        max_tokens_field=backend.max_tokens_field,
        replay_reasoning=backend.replay_reasoning,
        mid_conversation_system=backend.mid_conversation_system,
        json_budget=JsonBudget.for_request(),  # a fresh one for each translation of the call
    )


def _translated_request_headers(
    backend: Backend, client_headers: Dict[str, str], translated: TranslatedRequest
) -> Dict[str, str]:
    """Only what the backend's protocol needs: the client's protocol-specific headers
    (anthropic-beta, x-stainless-*, openai-organization) mean nothing to the other vendor."""
    headers = {"content-type": "application/json"}
    if "user-agent" in client_headers:
        headers["user-agent"] = client_headers["user-agent"]
    if translated.stream:
        headers["accept"] = "text/event-stream"
    if backend.protocol == ANTHROPIC:
        headers["anthropic-version"] = TRANSLATED_ANTHROPIC_VERSION
    headers.update(translated.headers)
    headers.update(credential_headers(backend))
    return headers


def credential_headers(backend: Backend) -> Dict[str, str]:
    """The backend's own key in the header its protocol uses; nothing for keyless local servers.
    ``x-api-key`` works under both Anthropic API versions (docs/protocol-rules.md#credentials)."""
    if not backend.api_key:
        return {}
    if backend.protocol == ANTHROPIC:
        return {"x-api-key": backend.api_key}
    return {"authorization": f"Bearer {backend.api_key}"}


# Every error body names "error" (OpenAI's member, Anthropic's type): a body without these seven bytes
# is none, and its usage is read as any success's. Inside a JSON string a quote is escaped, so the
# bytes appear only as a key or as a string that is exactly "error" (OpenRouter's finish reason): a
# parse, never a miss. docs/routing.md#errors-an-answer-is
_ERROR_KEY = b'"error"'


def _parse_upstream_json(body: bytes, json_values: Optional[int] = None) -> Dict[str, Any]:
    """A backend's whole answer, parsed for translation: a 502 past the values the router parses
    (docs/proxy-limits.md#answers)."""
    try:
        parsed = loads_within_budget(body, json_values)
    except TooManyJsonValues as excess:
        raise UpstreamTransportError(f"the backend's answer {excess}") from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise UpstreamProtocolError("the upstream answered with a body that is not JSON") from None
    if not isinstance(parsed, dict):
        raise UpstreamProtocolError("the upstream answered with JSON that is not an object")
    return parsed


def client_headers(upstream_headers: Mapping[str, str]) -> Dict[str, str]:
    """Upstream response headers for the client, lower-cased, without those that are not the
    answer's (``_DROPPED_RESPONSE_HEADERS``, and the names the answer's Connection field lists)."""
    lowered = {k.lower(): v for k, v in upstream_headers.items()}
    options = lowered.get("connection")
    named = {name.strip() for name in options.lower().split(",")} if options else ()
    return {k: v for k, v in lowered.items() if k not in _DROPPED_RESPONSE_HEADERS and k not in named}


def _lower(headers: Mapping[str, str]) -> Dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
