"""One telemetry event per LLM call: the schema shared by the shim and the proxy.

One event per call, the same versioned schema from both drivers (docs/architecture.md#telemetry),
well under 2 KB (macOS caps AF_UNIX datagrams at 2048 bytes, docs/shim.md#telemetry-socket), never
bodies or keys. The driver fills an event from its :class:`~shim.plan.Plan`, its own clock and the
stream translator's usage; the host collector decodes it with :func:`decode_event`. Cost is not
here: the child knows no prices; the host computes it from the token counts when it stores the event.

Schema versions: 2 added ``fallbacks`` and ``attempts`` (a call that tried more than one target, or
one target more than once: docs/routing.md#telemetry). Readers take version 1 events too, with
those fields at their defaults; writers write version 2.
"""

import json
from dataclasses import MISSING, dataclass, fields
from json.encoder import encode_basestring_ascii
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, TypedDict

from .usage import Usage

# A call whose client left before its answer ended, in both drivers' events (docs/routing.md#telemetry):
# nginx's 499 "client closed request" as the status, whatever had been sent, and this error.
CLIENT_LEFT_STATUS = 499
CLIENT_DISCONNECTED = "client_disconnected"

__all__ = [
    "CLIENT_DISCONNECTED",
    "CLIENT_LEFT_STATUS",
    "MAX_EVENT_ATTEMPTS",
    "MAX_EVENT_BYTES",
    "READ_VERSIONS",
    "SCHEMA_VERSION",
    "TEXT_FIELDS",
    "TEXT_LIMIT",
    "CallEvent",
    "CallFields",
    "EventHead",
    "bounded_attempts",
    "bounded_event",
    "decode_event",
    "encode_event",
    "encode_fields",
    "event_from_message",
    "usage_fields",
    "utf8_text",
    "write_call_event",
]

SCHEMA_VERSION = 2
READ_VERSIONS = frozenset({1, SCHEMA_VERSION})  # 1: no fallbacks/attempts (they take their defaults)
MAX_EVENT_BYTES = 2048
TEXT_LIMIT = 200  # program paths, model names and error text are cut to keep events small
MAX_EVENT_ATTEMPTS = 8  # attempts an event lists: the first seven and the last (a policy allows 8 by default)
_ATTEMPT_TEXT_LIMIT = 60  # backend and model names inside an attempt


@dataclass(frozen=True)
class CallEvent:
    time: float  # unix seconds when the call started
    source: str  # "shim" | "proxy"
    pid: int
    ppid: int
    program: str  # script path or argv[0] of the calling process ("" for the proxy's clients)
    client_protocol: str  # "openai" | "anthropic"
    endpoint: str  # "chat" | "messages" | "responses" | "count_tokens" | "embeddings" | "models"
    backend: Optional[str]  # None: no route, the call went where the client sent it
    upstream_host: str
    requested_model: str
    upstream_model: str
    stream: bool
    translated: bool
    status: int  # HTTP status the client saw (0: no response, e.g. connection failed)
    error: Optional[str] = None  # error class/kind when the call failed, e.g. "overloaded"
    latency_ms: float = 0.0  # until the last byte reached the client
    ttfb_ms: Optional[float] = None  # until the first byte reached the client
    input_tokens: Optional[int] = None  # None: unknown (not zero)
    output_tokens: Optional[int] = None
    cache_read_tokens: Optional[int] = None
    cache_write_tokens: Optional[int] = None
    reasoning_tokens: Optional[int] = None
    request_id: Optional[str] = None
    dropped_before: int = 0  # events this process dropped since its last delivered one
    fallbacks: int = 0  # times the call moved to another target (v2)
    # Every attempt, when there was more than one (v2; None: the one attempt is the event itself):
    # {"backend", "model", "status" (0: no answer), "failure" (a class name or null), "ms", "wait_ms"}.
    attempts: Optional[List[Dict[str, Any]]] = None
    v: int = SCHEMA_VERSION


_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps would rebuild it per call
_FIELD_NAMES = frozenset(f.name for f in fields(CallEvent))
_DEFAULTS = {f.name: f.default for f in fields(CallEvent) if f.default is not MISSING}
# Every text field of an event: each is cut to TEXT_LIMIT characters wherever an event is made or
# read (docs/telemetry-bounds.md): a client chooses the model name, an upstream the request id.
TEXT_FIELDS = ("program", "requested_model", "upstream_model", "error", "upstream_host", "request_id", "backend",
               "source", "client_protocol", "endpoint")
_TRUNCATED_FIELDS = TEXT_FIELDS


def _compact_encoder() -> Callable[[Any], str]:
    """``_COMPACT_JSON.encode`` without its per-call cost: ``JSONEncoder.encode`` builds a C encoder
    (and a circular-reference memo) for every object; an event is a flat dict of scalars, so one C
    encoder without the memo serves every event (~1 µs of the child's per-event budget). Used only
    when it writes exactly what ``_COMPACT_JSON`` writes (another Python, no ``_json``: the plain one)."""
    try:
        from json.encoder import c_make_encoder  # type: ignore[attr-defined]

        chunks = c_make_encoder(None, _COMPACT_JSON.default, encode_basestring_ascii, None, ":", ",",
                                False, False, True)
        sample = {"t": 1.5, "s": "é\"", "n": None, "b": True, "i": -3, "x": float("nan")}
        if "".join(chunks(sample, 0)) == _COMPACT_JSON.encode(sample):
            return lambda data: "".join(chunks(data, 0))
    except Exception:
        pass
    return _COMPACT_JSON.encode


_encode_json = _compact_encoder()


def usage_fields(usage: Optional[Usage]) -> Dict[str, Optional[int]]:
    """Keyword arguments for :class:`CallEvent` from a call's usage (all None when unknown)."""
    if usage is None:
        return {}
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
    }


def encode_event(event: CallEvent) -> bytes:
    """Compact JSON, guaranteed ≤ MAX_EVENT_BYTES (long text fields are cut)."""
    return _encode_data(vars(event))  # every field is a plain value: no copy unless a text is cut


def encode_fields(event_fields: Mapping[str, Any]) -> bytes:
    """``encode_event(CallEvent(**event_fields))`` without building the event (~3 µs per call saved).

    Fields left out take their defaults; a missing required field or an unknown one raises the
    ``TypeError`` the :class:`CallEvent` constructor raises. The key order may differ from
    :func:`encode_event`'s: a JSON object's order means nothing to the decoders."""
    data = {**_DEFAULTS, **event_fields}
    if data.keys() != _FIELD_NAMES:
        data = dict(vars(CallEvent(**event_fields)))  # raises for a missing or unknown field
    return _encode_data(data)


class CallFields(TypedDict):
    """What a driver knows about one call: a :class:`CallEvent` without the process's fields
    (:class:`EventHead`), the tokens (a :class:`~shim.usage.Usage`) and the sender's drop count.
    ``latency_ms``/``ttfb_ms`` are raw clock differences: :func:`write_call_event` rounds them."""

    time: float
    client_protocol: str
    endpoint: str
    backend: Optional[str]
    upstream_host: str
    requested_model: str
    upstream_model: str
    stream: bool
    translated: bool
    status: int
    error: Optional[str]
    latency_ms: float
    ttfb_ms: Optional[float]
    request_id: Optional[str]
    fallbacks: int
    attempts: Optional[List[Dict[str, Any]]]


class EventHead:
    """The fields every event of one process carries (source, pid, ppid, program), with the start of
    the event's JSON text written once for all its events."""

    __slots__ = ("fields", "text")

    def __init__(self, source: str, pid: int, ppid: int, program: str) -> None:
        self.fields: Dict[str, Any] = {"source": source, "pid": pid, "ppid": ppid, "program": program}
        self.text = (f'{{"v":{SCHEMA_VERSION},"source":{_text(source)},"pid":{pid:d},"ppid":{ppid:d},'
                     f'"program":{_text(program)},')


def write_call_event(head: EventHead, call: CallFields, usage: Optional[Usage], dropped_before: int) -> bytes:
    """The encoded event (:func:`encode_fields` of the same fields, times rounded to the µs), on
    the child's per-call path: a literal template costs ~3 µs where the JSON encoder on a merged dict
    costs ~8 (it escapes all 25 keys and dispatches on every value's type). The values have the types
    :class:`CallFields` gives them (mypy checks the drivers); a text is cut like :func:`encode_event`
    cuts it, and anything the template cannot write exactly (an oversize event, a non-finite latency)
    takes the general path. One template: ``tests/shim/test_per_call_fast_paths.py`` checks it
    writes every field of :class:`CallEvent`, as :func:`encode_event` writes it."""
    try:
        encoded = _write(head, call, usage, dropped_before).encode()
    except _UnusualValue:
        encoded = b""
    if 0 < len(encoded) <= MAX_EVENT_BYTES:
        return encoded
    return encode_fields({**head.fields, **call, **usage_fields(usage), "dropped_before": dropped_before,
                          "time": round(call["time"], 6), "latency_ms": _rounded(call["latency_ms"]),
                          "ttfb_ms": _rounded(call["ttfb_ms"]), "attempts": bounded_attempts(call["attempts"])})


def _write(head: EventHead, call: CallFields, usage: Optional[Usage], dropped_before: int) -> str:
    started, latency, ttfb = call["time"], call["latency_ms"], call["ttfb_ms"]
    if started - started or latency - latency or (ttfb is not None and ttfb - ttfb):
        raise _UnusualValue  # inf or nan (x - x is nan, which is true): JSON has no literal for them
    tokens = _NO_TOKENS if usage is None else (
        f'"input_tokens":{usage.input_tokens:d},"output_tokens":{usage.output_tokens:d},'
        f'"cache_read_tokens":{usage.cache_read_tokens:d},"cache_write_tokens":{usage.cache_write_tokens:d},'
        f'"reasoning_tokens":{_optional_int(usage.reasoning_tokens)},'
    )
    # Times to the µs, latencies to the µs in ms: round() + repr() written by one format each (cheaper,
    # and the same numbers: both round the binary value correctly).
    return (
        f'{head.text}"time":{started:.6f},{_route_text(call)}"status":{call["status"]:d},'
        f'"error":{_text(call["error"])},"latency_ms":{latency:.3f},'
        f'"ttfb_ms":{"null" if ttfb is None else f"{ttfb:.3f}"},{tokens}"request_id":{_text(call["request_id"])},'
        f'"dropped_before":{dropped_before:d},"fallbacks":{call["fallbacks"]:d},'
        f'"attempts":{"null" if call["attempts"] is None else _attempts_text(call["attempts"])}}}'
    )


def _attempts_text(attempts: List[Dict[str, Any]]) -> str:
    for attempt in attempts:
        if attempt["ms"] - attempt["ms"] or attempt["wait_ms"] - attempt["wait_ms"]:
            raise _UnusualValue  # inf or nan: the general path writes them
    return _encode_json(bounded_attempts(attempts))


def bounded_attempts(attempts: Optional[List[Dict[str, Any]]]) -> Optional[List[Dict[str, Any]]]:
    """``attempts`` as an event carries them: at most :data:`MAX_EVENT_ATTEMPTS` (the first ones and the
    last), names cut, times rounded to the µs. ``attempts`` itself is left alone."""
    if attempts is None:
        return None
    kept = attempts if len(attempts) <= MAX_EVENT_ATTEMPTS else [*attempts[: MAX_EVENT_ATTEMPTS - 1], attempts[-1]]
    return [
        {"backend": _cut(attempt["backend"]), "model": _cut(attempt["model"]), "status": attempt["status"],
         "failure": _cut(attempt["failure"]), "ms": round(attempt["ms"], 3), "wait_ms": round(attempt["wait_ms"], 3)}
        for attempt in kept
    ]


def _cut(text: Optional[str]) -> Optional[str]:
    return text if text is None or len(text) <= _ATTEMPT_TEXT_LIMIT else text[:_ATTEMPT_TEXT_LIMIT]


def _route_text(call: CallFields) -> str:
    """The eight fields a route decides, as JSON text: written once per route, then looked up (a program
    calls few models; writing them every time was a third of the template's cost)."""
    key = (call["client_protocol"], call["endpoint"], call["backend"], call["upstream_host"],
           call["requested_model"], call["upstream_model"], call["stream"], call["translated"])
    text = _ROUTE_TEXTS.get(key)
    if text is None:
        if len(_ROUTE_TEXTS) >= _ROUTE_TEXTS_LIMIT:
            _ROUTE_TEXTS.clear()
        text = (
            f'"client_protocol":{_text(call["client_protocol"])},"endpoint":{_text(call["endpoint"])},'
            f'"backend":{_text(call["backend"])},"upstream_host":{_text(call["upstream_host"])},'
            f'"requested_model":{_text(call["requested_model"])},"upstream_model":{_text(call["upstream_model"])},'
            f'"stream":{_JSON_BOOL[call["stream"]]},"translated":{_JSON_BOOL[call["translated"]]},'
        )
        if len(call["requested_model"]) + len(call["upstream_model"]) <= 2 * TEXT_LIMIT:
            _ROUTE_TEXTS[key] = text  # a key of megabytes is never kept (docs/telemetry-bounds.md)
    return text


_ROUTE_TEXTS: Dict[Any, str] = {}
_ROUTE_TEXTS_LIMIT = 256


class _UnusualValue(Exception):
    """A value the template would not write as valid JSON (the general path writes it)."""


_JSON_BOOL = {True: "true", False: "false"}
_NO_TOKENS = ('"input_tokens":null,"output_tokens":null,"cache_read_tokens":null,"cache_write_tokens":null,'
              '"reasoning_tokens":null,')


def _text(value: Optional[str]) -> str:
    if value is None:
        return "null"
    return encode_basestring_ascii(value if len(value) <= TEXT_LIMIT else value[:TEXT_LIMIT])


def _optional_int(value: Optional[int]) -> str:
    return "null" if value is None else f"{value:d}"


def _rounded(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 3)


def _encode_data(data: Dict[str, Any]) -> bytes:
    """``data`` (not modified) as compact JSON ≤ MAX_EVENT_BYTES."""
    if _needs_bounding(data):
        data = _cut_texts(data, TEXT_LIMIT)
    encoded = _encode_json(data).encode()
    if len(encoded) > MAX_EVENT_BYTES:  # only possible with pathological unicode; cut harder
        encoded = _encode_json(_cut_texts(data, 40)).encode()
    if len(encoded) > MAX_EVENT_BYTES and data.get("attempts"):  # the attempts go before the event does
        encoded = _encode_json({**_cut_texts(data, 40), "attempts": None}).encode()
    return encoded


def _needs_bounding(data: Mapping[str, Any]) -> bool:
    """Whether a text field is longer than the limit or holds what UTF-8 cannot (see :func:`utf8_text`)."""
    for name in _TRUNCATED_FIELDS:
        value = data.get(name)
        if isinstance(value, str) and (len(value) > TEXT_LIMIT or not (value.isascii() or _encodes(value))):
            return True
    return False


def _cut_texts(data: Dict[str, Any], limit: int) -> Dict[str, Any]:
    """A copy of ``data`` with every text field cut to ``limit`` characters, as UTF-8 can hold it."""
    cut = dict(data)
    for name in _TRUNCATED_FIELDS:
        value = cut.get(name)
        if isinstance(value, str):
            cut[name] = utf8_text(value[:limit])
    return cut


def utf8_text(text: str) -> str:
    """``text`` as UTF-8 can hold it. JSON's ``"\\ud800"`` decodes to a lone surrogate, and a client
    chooses its model name: such a text stopped the SQLite writer, and every consumer of an event
    that encodes it as UTF-8 would fail the same way. A lone surrogate becomes U+FFFD; a surrogate
    pair becomes the character it encodes (docs/telemetry-bounds.md#events)."""
    if text.isascii() or _encodes(text):  # isascii is a flag lookup: no scan
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def bounded_event(event: CallEvent) -> CallEvent:
    """``event`` with every text field cut to :data:`TEXT_LIMIT` (the same object when none is longer):
    for a driver that builds its events itself (the proxy), as the encoders cut the shim's."""
    data = vars(event)
    if not _needs_bounding(data):
        return event
    return CallEvent(**_cut_texts(data, TEXT_LIMIT))


def decode_event(raw: bytes) -> Optional[CallEvent]:
    """The event in ``raw``, or None when it is not a valid event of a version we read."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return event_from_message(data)


def event_from_message(message: Any) -> Optional[CallEvent]:
    """The event in an already parsed message (what :func:`decode_event` does after ``json.loads``), or
    None. Fields of a newer schema minor are ignored and missing optional ones defaulted.

    Built without ``CallEvent.__init__`` when the class allows it: a frozen dataclass's ``__init__``
    costs 3–15 µs for 25 fields (one ``object.__setattr__`` each), a large part of the collector's
    budget per event at 20,000 events/s. ``CallEvent`` has no ``__post_init__`` and no slots, so
    giving it its ``__dict__`` makes the very same object. A message with every field and nothing
    else (what our senders send) becomes that ``__dict__`` itself."""
    if not isinstance(message, Mapping):
        return None
    version = message.get("v")
    if type(version) is not int or version not in READ_VERSIONS:
        return None
    if type(message) is dict and message.keys() == _FIELD_NAMES:
        data = message
    else:
        data = {**_DEFAULTS, **{name: value for name, value in message.items() if name in _FIELD_NAMES}}
        if not _REQUIRED_FIELDS <= data.keys():
            return None
    # Our senders write well-typed events with cut texts; a message is read as if any process wrote it.
    if not _well_typed(data):
        return None
    if _needs_bounding(data):
        data = _cut_texts(data, TEXT_LIMIT)
    if data["attempts"] is not None:
        data = {**data, "attempts": bounded_attempts(data["attempts"])}
    if _NEEDS_INIT:
        return CallEvent(**data)
    event = object.__new__(CallEvent)
    object.__setattr__(event, "__dict__", data)
    return event


_REQUIRED_FIELDS = frozenset(f.name for f in fields(CallEvent) if f.default is MISSING)


def _value_types(hint: Any) -> Tuple[type, ...]:
    """The types a field's JSON value may have (a float field may hold an integer; a ``List[…]`` field
    a ``list``)."""
    kinds = tuple(getattr(kind, "__origin__", kind) for kind in getattr(hint, "__args__", (hint,)))
    return (*kinds, int) if float in kinds else kinds


_ATTEMPT_TYPES = (("backend", (str,)), ("model", (str, type(None))), ("status", (int,)),
                  ("failure", (str, type(None))), ("ms", (float, int)), ("wait_ms", (float, int)))


_FIELD_TYPES = tuple((f.name, _value_types(f.type)) for f in fields(CallEvent))


def _well_typed(data: Mapping[str, Any]) -> bool:
    """Every field holds a value of its type (``type()``, not isinstance: a bool is not a count)."""
    for name, kinds in _FIELD_TYPES:
        if type(data[name]) not in kinds:
            return False
    attempts = data["attempts"]
    return attempts is None or (len(attempts) <= MAX_EVENT_ATTEMPTS and all(map(_well_typed_attempt, attempts)))


def _well_typed_attempt(attempt: Any) -> bool:
    """One entry of ``attempts`` as :func:`bounded_attempts` writes it (texts are cut on read)."""
    if type(attempt) is not dict or len(attempt) != len(_ATTEMPT_TYPES):
        return False
    return all(type(attempt.get(name)) in kinds for name, kinds in _ATTEMPT_TYPES)
_NEEDS_INIT = hasattr(CallEvent, "__post_init__") or hasattr(CallEvent, "__slots__")
