"""Cost from genai-prices: provider resolution, cache tokens, unknown models are unknown (never 0)."""

from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price
from telemetry_support import call_event

from host.pricing import PriceBook

# claude-sonnet-4-5 list prices per million tokens (input / output / cache read / cache write 5m).
SONNET = {"input": Decimal(3), "output": Decimal(15), "cache_read": Decimal("0.3"), "cache_write": Decimal("3.75")}


def _dollars(**tokens: int) -> float:
    return float(sum(SONNET[kind] * count for kind, count in tokens.items()) / 1_000_000)


def test_cost_is_the_libraries_price_for_the_tokens() -> None:
    event = call_event(input_tokens=1000, output_tokens=200)
    expected = calc_price(Usage(input_tokens=1000, output_tokens=200), "claude-sonnet-4-5", provider_id="anthropic")
    assert PriceBook().cost(event) == pytest.approx(float(expected.total_price), rel=1e-12)
    assert PriceBook().cost(event) == pytest.approx(_dollars(input=1000, output=200), rel=1e-12)


def test_cache_reads_and_writes_are_priced_at_their_own_rates() -> None:
    # Our input_tokens exclude the cache (Anthropic semantics); each kind has its own price.
    event = call_event(input_tokens=1000, output_tokens=200, cache_read_tokens=5000, cache_write_tokens=2000)
    assert PriceBook().cost(event) == pytest.approx(
        _dollars(input=1000, output=200, cache_read=5000, cache_write=2000), rel=1e-12
    )


@pytest.mark.parametrize(
    ("backend", "host"),
    [("anthropic", "api.anthropic.com"), ("anthropic", "127.0.0.1:8080"), ("my-gateway", "127.0.0.1:9"),
     ("my-gateway", "gateway.example.internal")],
    ids=["by-host", "by-backend-name", "by-model-only", "unknown-host-falls-back-to-model"],
)
def test_provider_is_found_from_host_backend_name_or_model(backend: str, host: str) -> None:
    event = call_event(backend=backend, upstream_host=host, input_tokens=1000, output_tokens=200)
    assert PriceBook().cost(event) == pytest.approx(_dollars(input=1000, output=200), rel=1e-12)


def test_openai_host_prices_openai_models() -> None:
    event = call_event(backend="openai", upstream_host="api.openai.com", upstream_model="gpt-4o",
                       requested_model="gpt-4o", input_tokens=1000, output_tokens=100)
    expected = calc_price(Usage(input_tokens=1000, output_tokens=100), "gpt-4o", provider_id="openai")
    assert PriceBook().cost(event) == pytest.approx(float(expected.total_price), rel=1e-12)


@pytest.mark.parametrize(
    "overrides",
    [dict(upstream_model="my-local-model", requested_model="my-local-model", backend="ollama",
          upstream_host="127.0.0.1:11434"),
     dict(input_tokens=None, output_tokens=None)],
    ids=["unknown-model", "unknown-tokens"],
)
def test_unknown_price_is_none_not_zero(overrides: dict) -> None:  # type: ignore[type-arg]
    assert PriceBook().cost(call_event(**overrides)) is None


def test_count_tokens_is_free() -> None:
    assert PriceBook().cost(call_event(endpoint="count_tokens", input_tokens=500, output_tokens=None)) == 0.0


@pytest.mark.parametrize(
    ("model", "provider", "host"),
    [("claude-sonnet-4-5", "anthropic", "api.anthropic.com"), ("gpt-4o", "openai", "api.openai.com"),
     ("gemini-2.5-pro", "google", "generativelanguage.googleapis.com")],
)
def test_tier_rates_equal_the_library_on_many_usages(model: str, provider: str, host: str) -> None:
    # Includes usages on both sides of the 200k-token tiers (the whole call then pays the tier price).
    book = PriceBook()
    for total_input in (0, 1, 999, 150_000, 199_999, 200_000, 200_001, 250_000, 1_000_000):
        cache_read, cache_write, output = total_input // 3, total_input // 7, 17 + total_input // 11
        event = call_event(backend=provider, upstream_host=host, upstream_model=model, requested_model=model,
                           input_tokens=total_input - cache_read - cache_write, output_tokens=output,
                           cache_read_tokens=cache_read, cache_write_tokens=cache_write)
        usage = Usage(input_tokens=total_input, output_tokens=output, cache_read_tokens=cache_read,
                      cache_write_tokens=cache_write)
        expected = calc_price(usage, model, provider_id=provider).total_price
        assert book.cost(event) == pytest.approx(float(expected), rel=1e-9, abs=1e-15), total_input
