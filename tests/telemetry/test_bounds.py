"""Nothing a client sends can grow telemetry without bound (docs/telemetry-bounds.md): /metrics label
values come from the configuration, and every text field of an event is cut, on both drivers, in
the collector and in the store."""

import json
import sqlite3
import tracemalloc
from pathlib import Path
from typing import Any, Dict, List

import pytest
from prometheus_client.parser import text_string_to_metric_families
from telemetry_support import call_event

from host.proxy.call_trace import CallTrace
from host.proxy.metric_labels import OTHER
from host.proxy.metrics import ProxyMetrics
from host.telemetry_store import DB_FILENAME, TelemetryStore
from shim.config import RouterConfig
from shim.plan import ClientCall, plan_call
from shim.targets import chain_data
from shim.telemetry import TEXT_FIELDS, TEXT_LIMIT, CallEvent, bounded_event, decode_event, encode_event

CONFIG = RouterConfig.from_dict({
    "backends": {
        "anthropic": {"protocol": "anthropic", "base_url": "https://api.anthropic.com",
                      "models": ["claude-sonnet-4-5"]},
        "groq": {"protocol": "openai", "base_url": "https://api.groq.com/openai/v1"},
    },
    "routes": [{"match": "llama-*", "backend": "groq"}],
    "aliases": {"fast": "groq:llama-3.1-8b-instant"},
})
LONG = "x" * 1_000_000


def _label_sets(metrics: ProxyMetrics) -> List[Dict[str, str]]:
    families = text_string_to_metric_families(metrics.render().decode())
    return [sample.labels for family in families for sample in family.samples if family.name == "router_requests"]


def _labels_of(metrics: ProxyMetrics) -> List[tuple]:  # type: ignore[type-arg]
    return sorted((labels["backend"], labels["model"], labels["status"]) for labels in _label_sets(metrics))


@pytest.mark.parametrize(
    ("backend", "model", "expected"),
    [
        ("anthropic", "claude-sonnet-4-5", ("anthropic", "claude-sonnet-4-5")),  # a backend's models entry
        ("anthropic", "claude-made-up-7", ("anthropic", "claude-*")),  # covered by the built-in family
        ("groq", "llama-3.1-8b-instant", ("groq", "llama-3.1-8b-instant")),  # the alias's target
        ("groq", "llama-99", ("groq", "llama-*")),  # covered by a route
        (None, "something-else", ("none", OTHER)),  # no route
        ("gone", "claude-sonnet-4-5", (OTHER, "claude-sonnet-4-5")),  # a backend this configuration lacks
    ],
)
def test_label_values_are_the_configurations_names(backend: Any, model: str, expected: tuple) -> None:  # type: ignore[type-arg]
    metrics = ProxyMetrics(lambda: CONFIG)
    metrics.observe(call_event(backend=backend, requested_model=model, upstream_model=model), None)
    assert _labels_of(metrics) == [(*expected, "200")]


def test_twenty_thousand_made_up_model_names_add_no_series() -> None:
    """The proxy's /metrics once grew by one series per name a client made up (80 MB for 20,000)."""
    metrics = ProxyMetrics(lambda: CONFIG)
    for number in range(20_000):
        name = f"made-up-{number}-" + "y" * 200
        metrics.observe(call_event(backend=None, requested_model=name, upstream_model="", status=404), None)
        if number == 99:
            after_hundred = metrics.render()
    assert _labels_of(metrics) == [("none", OTHER, "404")]
    assert len(metrics.render()) / len(after_hundred) < 1.01  # the counts' digits grow, nothing else


def test_made_up_model_names_are_not_kept() -> None:
    """Labelling a name nothing covers keeps no reference to it: names a client makes up must not
    outlive their calls (kept, a few per arena hold memory the allocator could give back)."""
    metrics = ProxyMetrics(lambda: CONFIG)
    tracemalloc.start()
    try:
        for number in range(2_000):
            name = f"made-up-{number}-" + "z" * 200  # the line whose allocations are counted below
            metrics.observe(call_event(backend=None, requested_model=name, upstream_model="", status=404), None)
        del name
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    here = snapshot.filter_traces([tracemalloc.Filter(True, __file__)])
    kept = sum(stat.size for stat in here.statistics("filename") if stat.traceback[0].filename == __file__)
    assert kept < 50 * 250, f"{kept} bytes of made-up names still referenced"  # a name is ~260 bytes


def test_labels_follow_the_configuration_the_proxy_serves() -> None:
    serving = [CONFIG]
    metrics = ProxyMetrics(lambda: serving[0])
    metrics.observe(call_event(backend="anthropic", upstream_model="claude-opus-9"), None)
    serving[0] = RouterConfig.from_dict({**_document(CONFIG), "aliases": {"best": "anthropic:claude-opus-9"}})
    metrics.observe(call_event(backend="anthropic", upstream_model="claude-opus-9"), None)
    assert _labels_of(metrics) == [("anthropic", "claude-*", "200"), ("anthropic", "claude-opus-9", "200")]


def _document(config: RouterConfig) -> Dict[str, Any]:
    return {
        "backends": {name: {"protocol": b.protocol, "base_url": b.base_url, "models": list(b.models)}
                     for name, b in config.backends.items()},
        "routes": [{"match": rule.match, "backend": chain_data(rule.chain)} for rule in config.routes],
    }


# Every text field, everywhere an event is made, read or kept ---------------------------------------
def test_the_proxy_cuts_every_text_of_its_events() -> None:
    trace = CallTrace.begin("POST", "/v1/chat/completions", "chat")
    body = json.dumps({"model": "llama-" + LONG, "messages": []}).encode()
    trace.plan = plan_call(CONFIG, ClientCall("chat", {}, body), now=0.0, call_id="c")
    trace.request_id, trace.error = LONG, LONG
    event = trace.event(now=trace.started + 0.1)
    assert {name: len(getattr(event, name)) for name in ("requested_model", "upstream_model", "request_id", "error")} \
        == dict.fromkeys(("requested_model", "upstream_model", "request_id", "error"), TEXT_LIMIT)


def test_bounded_event_cuts_every_text_field() -> None:
    event = bounded_event(call_event(**dict.fromkeys(TEXT_FIELDS, LONG)))
    assert {name: len(getattr(event, name)) for name in TEXT_FIELDS} == dict.fromkeys(TEXT_FIELDS, TEXT_LIMIT)
    short = call_event()
    assert bounded_event(short) is short


def test_every_event_holds_only_text_utf8_can_hold() -> None:
    """A lone surrogate (JSON's "\\udc80" decoded) is mended wherever an event is made or read: the
    proxy's own, and whatever arrives on the collector's socket; a surrogate pair is its character."""
    trace = CallTrace.begin("POST", "/v1/chat/completions", "chat")
    body = b'{"model": "llama-\\udc80", "messages": []}'
    trace.plan = plan_call(CONFIG, ClientCall("chat", {}, body), now=0.0, call_id="c")
    trace.error = "refused \ud800"
    event = trace.event(now=trace.started + 0.1)
    assert (event.requested_model, event.error) == ("llama-\ufffd", "refused \ufffd")
    fields = json.loads(encode_event(call_event()))
    read = decode_event(json.dumps({**fields, "program": "a\ud83d\ude00b\udfff", "backend": "é"}).encode())
    assert read is not None and (read.program, read.backend) == ("a\U0001f600b\ufffd", "é")
    short = call_event(requested_model="naïve")
    assert bounded_event(short) is short


def test_the_collector_reads_a_message_as_if_anyone_wrote_it() -> None:
    """A shimmed process sends events ≤ 2 KB; the socket accepts 64 KB messages from any process of
    the user: what it decodes is cut, and a field of the wrong type makes the message malformed."""
    fields = json.loads(encode_event(call_event()))
    long_texts = decode_event(json.dumps({**fields, **dict.fromkeys(TEXT_FIELDS, "z" * 30_000)}).encode())
    assert long_texts is not None
    assert {name: len(getattr(long_texts, name)) for name in TEXT_FIELDS} == dict.fromkeys(TEXT_FIELDS, TEXT_LIMIT)
    for name, wrong in [("status", "9" * 30_000), ("requested_model", ["x"] * 5000), ("stream", 1),
                        ("input_tokens", 1.5), ("pid", True), ("error", {"a": 1})]:
        assert decode_event(json.dumps({**fields, name: wrong}).encode()) is None, name


def test_the_store_keeps_only_bounded_texts_and_numbers(tmp_path: Path) -> None:
    """The last guard: whatever a producer hands it, a row holds texts ≤ TEXT_LIMIT and numbers."""
    store = TelemetryStore(tmp_path).start()
    try:
        oversized = call_event(requested_model=LONG, program=LONG)
        object.__setattr__(oversized, "error", ["not", "a", "text"])  # a producer's bug, simulated
        store.submit(oversized, 0.5)
        assert store.flush()
    finally:
        store.close()
    connection = sqlite3.connect(tmp_path / DB_FILENAME)
    try:
        model, program, error = connection.execute("SELECT requested_model, program, error FROM events").fetchone()
    finally:
        connection.close()
    assert (len(model), len(program), error) == (TEXT_LIMIT, TEXT_LIMIT, None)
    assert (tmp_path / DB_FILENAME).stat().st_size < 200_000


def test_call_event_keeps_its_schema() -> None:
    """TEXT_FIELDS names every text field of the schema (a new one must be bounded too)."""
    hints = {name: kind for name, kind in CallEvent.__annotations__.items()}
    texts = {name for name, kind in hints.items() if kind in (str, "str") or str(kind) == "typing.Optional[str]"}
    assert texts == set(TEXT_FIELDS)


# The attempts of an event: read as any process could have written them, kept whole in the store ------
ATTEMPT = {"backend": "anthropic", "model": "m", "status": 529, "failure": None, "ms": 1.0, "wait_ms": 0.0}


@pytest.mark.parametrize("attempts", [
    [ATTEMPT] * 9,  # more than an event lists
    [{**ATTEMPT, "status": "529"}],
    [{**ATTEMPT, "extra": 1}],
    ["anthropic"],
    {"backend": "anthropic"},
])
def test_an_event_with_malformed_attempts_is_not_read(attempts: Any) -> None:
    raw = json.loads(encode_event(call_event(fallbacks=1)))
    assert decode_event(json.dumps({**raw, "attempts": [ATTEMPT, ATTEMPT]}).encode()) is not None
    assert decode_event(json.dumps({**raw, "attempts": attempts}).encode()) is None


def test_attempt_names_are_cut_on_read() -> None:
    raw = json.loads(encode_event(call_event(fallbacks=1)))
    event = decode_event(json.dumps({**raw, "attempts": [{**ATTEMPT, "backend": LONG, "model": LONG}] * 2}).encode())
    assert event is not None and event.attempts is not None
    assert max(len(attempt[name]) for attempt in event.attempts for name in ("backend", "model")) <= TEXT_LIMIT


def test_the_store_keeps_a_long_attempt_list_whole(tmp_path: Path) -> None:
    attempts = [{**ATTEMPT, "backend": f"backend-{index}", "model": "m" * 60} for index in range(8)]
    store = TelemetryStore(tmp_path).start()
    store.submit(call_event(fallbacks=7, attempts=attempts))
    store.close()
    with sqlite3.connect(tmp_path / DB_FILENAME) as connection:
        (stored,) = connection.execute("SELECT attempts FROM events").fetchone()
    assert [attempt["backend"] for attempt in json.loads(stored)] == [f"backend-{index}" for index in range(8)]
