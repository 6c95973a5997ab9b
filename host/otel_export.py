"""Optional export of every call as an OpenTelemetry span (the ``router[otel]`` extra).

On when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: the official SDK's ``BatchSpanProcessor`` sends the
spans over OTLP/HTTP (``opentelemetry-exporter-otlp-proto-http``, which also reads the standard
``OTEL_EXPORTER_OTLP_*`` variables for headers, timeouts…). The SDK is imported only then, so the CLI
works without it; when it is missing, one warning line says how to install it.

Attributes follow the OpenTelemetry GenAI semantic conventions (gen-ai-spans.md): span name
``"{gen_ai.operation.name} {gen_ai.request.model}"``, kind CLIENT, ``gen_ai.operation.name``,
``gen_ai.provider.name`` (and the older ``gen_ai.system``, still read by many back ends),
``gen_ai.request.model``, ``gen_ai.response.model``, ``gen_ai.usage.input_tokens`` — which the
conventions say includes cached tokens, so it is our input + cache reads + cache writes — and
``gen_ai.usage.output_tokens``, ``error.type`` on failures, ``server.address``; ``router.endpoint``
names the API the client called (``chat``, ``messages``, ``responses`` …: all three are "chat"
operations). Start and end times come from the event, not from the moment of export.
"""

import os
import sys
from typing import Any, Dict, Mapping, Optional, TextIO

from shim.telemetry import CallEvent

__all__ = ["ENDPOINT_ENV", "OtelExporter", "span_attributes", "span_name"]

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
_INSTRUMENTATION = "router"
# Our preset names → the conventions' well-known gen_ai.provider.name values (others pass through).
_PROVIDER_NAMES = {"mistral": "mistral_ai", "xai": "x_ai", "gemini": "gcp.gemini", "bedrock": "aws.bedrock"}
_OPERATIONS = {"embeddings": "embeddings"}  # chat completions and messages are both "chat"


def span_name(event: CallEvent) -> str:
    return f"{_operation(event)} {event.requested_model}".strip()


def span_attributes(event: CallEvent, cost: Optional[float]) -> Dict[str, Any]:
    """The span's attributes (None values are left out: OTel attributes cannot be null)."""
    provider = _PROVIDER_NAMES.get(event.backend or "", event.backend or event.upstream_host or "unknown")
    attributes: Dict[str, Any] = {
        "gen_ai.operation.name": _operation(event),
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,
        "gen_ai.request.model": event.requested_model,
        "gen_ai.response.model": event.upstream_model or None,
        "gen_ai.usage.input_tokens": _total_input(event),
        "gen_ai.usage.output_tokens": event.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": event.cache_read_tokens,
        "gen_ai.usage.cache_creation.input_tokens": event.cache_write_tokens,
        "error.type": event.error or (str(event.status) if event.status >= 400 or not event.status else None),
        "server.address": event.upstream_host or None,
        "http.response.status_code": event.status or None,
        "router.source": event.source,
        "router.endpoint": event.endpoint,
        "router.program": event.program or None,
        "router.stream": event.stream,
        "router.translated": event.translated,
        "router.cost_usd": cost,
        "process.pid": event.pid,
    }
    return {name: value for name, value in attributes.items() if value is not None}


def _operation(event: CallEvent) -> str:
    return _OPERATIONS.get(event.endpoint, "chat")


def _total_input(event: CallEvent) -> Optional[int]:
    if event.input_tokens is None:
        return None
    return event.input_tokens + (event.cache_read_tokens or 0) + (event.cache_write_tokens or 0)


class OtelExporter:
    """Turns events into spans on a private ``TracerProvider`` (never the global one)."""

    def __init__(self, span_processor: Any) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        self._provider = TracerProvider(resource=Resource.create({"service.name": "router"}))
        self._provider.add_span_processor(span_processor)
        self._tracer = self._provider.get_tracer(_INSTRUMENTATION)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ, warn: TextIO = sys.stderr
                         ) -> Optional["OtelExporter"]:
        """An OTLP/HTTP exporter when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set and the SDK is installed."""
        if not environ.get(ENDPOINT_ENV, "").strip():
            return None
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPSpanExporter,
            )
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            warn.write(f"router: warning: {ENDPOINT_ENV} is set but the OpenTelemetry SDK is not installed; "
                       f"spans are not exported (pip install 'router[otel]')\n")
            return None
        return cls(BatchSpanProcessor(OTLPSpanExporter()))

    def observe(self, event: CallEvent, cost: Optional[float]) -> None:
        """Export ``event`` as one finished span with the event's own start and end times."""
        from opentelemetry.trace import SpanKind, Status, StatusCode

        start = int(event.time * 1e9)
        span = self._tracer.start_span(
            span_name(event), kind=SpanKind.CLIENT, start_time=start, attributes=span_attributes(event, cost)
        )
        if event.error or event.status >= 400 or not event.status:
            span.set_status(Status(StatusCode.ERROR, event.error or f"HTTP {event.status}"))
        span.end(end_time=start + int(max(0.0, event.latency_ms) * 1e6))

    def close(self) -> None:
        """Flush what is buffered and stop the processor."""
        self._provider.shutdown()
