"""/metrics content (official parser) and the OpenTelemetry GenAI span export (in-memory exporter)."""

import io
from typing import Dict, Tuple

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client.parser import text_string_to_metric_families
from telemetry_support import call_event

from host.event_sink import EventSink
from host.otel_export import OtelExporter
from host.pricing import PriceBook
from host.proxy.metrics import ProxyMetrics
from shim.config import RouterConfig

Samples = Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]


def _samples(metrics: ProxyMetrics) -> Samples:
    families = text_string_to_metric_families(metrics.render().decode())
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in families for s in family.samples}


# The configuration names the model, so /metrics labels it by name (docs/telemetry-bounds.md#metrics).
CONFIG = RouterConfig.from_dict({"backends": {"anthropic": {
    "protocol": "anthropic", "base_url": "https://api.anthropic.com", "models": ["claude-sonnet-4-5"]}}})


def test_metrics_count_requests_tokens_latency_and_cost() -> None:
    metrics = ProxyMetrics(lambda: CONFIG)
    sink = EventSink(None, [metrics], PriceBook())
    for _ in range(3):
        sink.record(call_event(input_tokens=1000, output_tokens=200, cache_read_tokens=40, latency_ms=250.0))
    sink.record(call_event(status=529, error="overloaded", input_tokens=None, output_tokens=None))
    samples = _samples(metrics)
    labels = (("backend", "anthropic"), ("model", "claude-sonnet-4-5"))
    sink.record(call_event(endpoint="responses", input_tokens=None, output_tokens=None))
    samples = _samples(metrics)
    per_call = (labels[0], ("endpoint", "chat"), labels[1])
    assert samples[("router_requests_total", (*per_call, ("status", "200")))] == 3
    assert samples[("router_requests_total", (*per_call, ("status", "529")))] == 1
    assert samples[("router_requests_total", (labels[0], ("endpoint", "responses"), labels[1], ("status", "200")))] == 1
    assert samples[("router_tokens_total", (*labels[:1], ("kind", "input"), *labels[1:]))] == 3000
    assert samples[("router_tokens_total", (*labels[:1], ("kind", "output"), *labels[1:]))] == 600
    assert samples[("router_tokens_total", (("backend", "anthropic"), ("kind", "cache_read"),
                                            ("model", "claude-sonnet-4-5")))] == 120
    histogram = (*per_call, ("status", "200"))
    assert samples[("router_request_duration_seconds_count", histogram)] == 3
    assert samples[("router_request_duration_seconds_sum", histogram)] == pytest.approx(0.75)
    bucket = (*per_call[:2], ("le", "0.25"), per_call[2], ("status", "200"))
    assert samples[("router_request_duration_seconds_bucket", bucket)] == 3
    one = PriceBook().cost(call_event(input_tokens=1000, output_tokens=200, cache_read_tokens=40))
    assert samples[("router_cost_usd_total", labels)] == pytest.approx(3 * one)  # type: ignore[operator]
    assert samples[("router_unpriced_requests_total", labels)] == 2  # the failed call, the one without usage


def test_metrics_count_attempts_and_fallbacks_per_backend() -> None:
    two_backends = RouterConfig.from_dict({"backends": {
        "anthropic": {"protocol": "anthropic", "base_url": "https://api.anthropic.com"},
        "openai": {"protocol": "openai", "base_url": "https://api.openai.com/v1"}}})
    metrics = ProxyMetrics(lambda: two_backends)
    sink = EventSink(None, [metrics], PriceBook())
    attempts = [
        {"backend": "anthropic", "model": "m", "status": 529, "failure": None, "ms": 1.0, "wait_ms": 0.0},
        {"backend": "anthropic", "model": "m", "status": 0, "failure": "TimeoutError", "ms": 1.0, "wait_ms": 0.5},
        {"backend": "openai", "model": "g", "status": 200, "failure": None, "ms": 1.0, "wait_ms": 0.0},
    ]
    sink.record(call_event(backend="openai", fallbacks=1, attempts=attempts))
    sink.record(call_event())
    sink.record(call_event(backend=None, status=404))  # no route: no attempt of the router's
    samples = _samples(metrics)
    assert {labels: value for (name, labels), value in samples.items() if name == "router_attempts_total"} == {
        (("backend", "anthropic"), ("outcome", "529")): 1,
        (("backend", "anthropic"), ("outcome", "TimeoutError")): 1,
        (("backend", "anthropic"), ("outcome", "200")): 1,
        (("backend", "openai"), ("outcome", "200")): 1,
    }
    assert {labels: value for (name, labels), value in samples.items() if name == "router_fallbacks_total"} == {
        (("backend", "anthropic"),): 1}


def _exporter() -> Tuple[OtelExporter, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    return OtelExporter(SimpleSpanProcessor(memory)), memory


def test_span_follows_genai_conventions() -> None:
    exporter, memory = _exporter()
    event = call_event(time=1_700_000_000.5, latency_ms=1500.0, input_tokens=100, output_tokens=20,
                       cache_read_tokens=30, cache_write_tokens=5, requested_model="sonnet")
    exporter.observe(event, 0.25)
    (span,) = memory.get_finished_spans()
    assert span.name == "chat sonnet" and span.kind == SpanKind.CLIENT
    assert span.start_time == 1_700_000_000_500_000_000 and span.end_time == 1_700_000_002_000_000_000
    attributes = dict(span.attributes or {})
    assert {key: attributes[key] for key in (
        "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model",
        "gen_ai.response.model", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
        "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_creation.input_tokens", "server.address",
        "router.cost_usd")} == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.system": "anthropic",
        "gen_ai.request.model": "sonnet", "gen_ai.response.model": "claude-sonnet-4-5",
        "gen_ai.usage.input_tokens": 135, "gen_ai.usage.output_tokens": 20,
        "gen_ai.usage.cache_read.input_tokens": 30, "gen_ai.usage.cache_creation.input_tokens": 5,
        "server.address": "api.anthropic.com", "router.cost_usd": 0.25,
    }
    assert "error.type" not in attributes and span.status.status_code == StatusCode.UNSET
    assert attributes["router.endpoint"] == "chat"


def test_a_responses_call_is_a_chat_operation_with_its_endpoint_named() -> None:
    exporter, memory = _exporter()
    exporter.observe(call_event(endpoint="responses", requested_model="gpt-5.1"), None)
    (span,) = memory.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert span.name == "chat gpt-5.1" and attributes["gen_ai.operation.name"] == "chat"
    assert attributes["router.endpoint"] == "responses"


def test_failed_call_span_has_error_type_and_no_unknown_attributes() -> None:
    exporter, memory = _exporter()
    exporter.observe(call_event(status=529, error="overloaded", input_tokens=None, output_tokens=None), None)
    (span,) = memory.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == "overloaded" and span.status.status_code == StatusCode.ERROR
    assert "gen_ai.usage.input_tokens" not in attributes and "router.cost_usd" not in attributes


def test_sink_sends_each_event_to_every_observer() -> None:
    exporter, memory = _exporter()
    metrics = ProxyMetrics()
    sink = EventSink(None, [metrics, exporter], PriceBook())
    for _ in range(4):
        sink.record(call_event())
    assert len(memory.get_finished_spans()) == 4
    assert sum(v for (name, _), v in _samples(metrics).items() if name == "router_requests_total") == 4


def test_a_broken_observer_never_reaches_the_caller() -> None:
    class Broken:
        def observe(self, event: object, cost: object) -> None:
            raise RuntimeError("exporter down")

    sink = EventSink(None, [Broken()], PriceBook())
    sink.record(call_event())
    assert sink.failures == 1


def test_no_endpoint_no_exporter() -> None:
    assert OtelExporter.from_environment({}, io.StringIO()) is None


def test_endpoint_without_the_otlp_exporter_package_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_otlp(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("opentelemetry.exporter"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_otlp)
    warnings = io.StringIO()
    assert OtelExporter.from_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, warnings) is None
    assert warnings.getvalue().count("\n") == 1 and "router[otel]" in warnings.getvalue()
