"""What a call cost, in US dollars, from the maintained ``genai-prices`` library (never a hand-typed table).

The provider is found, in this order, from the backend's upstream host (the library's own API URL
patterns: ``api.openai.com`` → ``openai``), from the backend's name when it is a provider id the
library knows (``anthropic``, ``groq`` …), and last from the model name alone. A model the library
does not know has no cost: ``None``, shown as "unknown" and never counted as 0.

Token semantics differ: our canonical ``input_tokens`` *excludes* cache reads and writes (Anthropic's
meaning, ``shim/usage.py``) while ``genai_prices.Usage.input_tokens`` *includes* them (it prices
``input - cache_read - cache_write`` at the input rate). So the library gets the total input.
Reasoning tokens are already part of ``output_tokens`` and are not passed again.

Lookups are cached per (host, backend, model), at most :data:`CACHE_LIMIT` of each kind (a full cache
starts again: model names are the client's choice, docs/telemetry-bounds.md). The library takes
60–130 µs per calculation (measured), too slow for the collector's 20,000 events/s, so per-token
rates are probed from it once per price tier (see :meth:`PriceBook._price`); a test checks them
against ``calc_price`` on many usages.
"""

import contextlib
import functools
import ipaddress
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Dict, List, Optional, Tuple

from shim.telemetry import CallEvent

__all__ = ["CACHE_LIMIT", "FREE_ENDPOINTS", "PriceBook", "event_cost", "load_library", "price_book"]

FREE_ENDPOINTS = frozenset({"count_tokens", "models"})  # these APIs are not billed per token
CACHE_LIMIT = 4096
_WARM_UP_MODEL = "gpt-4o"  # priced once at start-up (load_library): any model the library knows

Candidate = Tuple[Optional[str], Optional[str]]  # (provider_id, provider_api_url); (None, None): by model
Tokens = Tuple[int, int, int, int]  # total input (incl. cache), output, cache read, cache write


class PriceBook:
    """Finds each (host, backend, model)'s price record once and prices usages from it."""

    def __init__(self) -> None:
        self._resolved: Dict[Tuple[str, str, str], Optional[Candidate]] = {}
        self._rates: Dict[Tuple[Candidate, str, str, int], Optional[Rates]] = {}
        self._thresholds: Dict[Tuple[Candidate, str, str], Optional[Tuple[int, ...]]] = {}
        self._day: Optional[Tuple[int, str, datetime]] = None  # (days since 1970, ISO date, its midnight)

    def cost(self, event: CallEvent) -> Optional[float]:
        """USD for ``event``; None when the model's price or the call's token counts are unknown."""
        if event.endpoint in FREE_ENDPOINTS:
            return 0.0
        if event.input_tokens is None and event.output_tokens is None:
            return None
        model = event.upstream_model or event.requested_model
        candidate = self.resolve(event.upstream_host, event.backend or "", model)
        if candidate is None:
            return None
        day, when = self._day_of(event.time)
        return self._price(candidate, model.lower(), _tokens(event), day, when)

    def _day_of(self, unix_time: float) -> Tuple[str, datetime]:
        """The UTC day of ``unix_time`` (prices change by day), as text and as midnight; computed once
        per day rather than per event."""
        number = int(unix_time // 86400)
        if self._day is None or self._day[0] != number:
            midnight = datetime.fromtimestamp(number * 86400, timezone.utc)
            self._day = (number, midnight.date().isoformat(), midnight)
        return self._day[1], self._day[2]

    def resolve(self, host: str, backend: str, model: str) -> Optional[Candidate]:
        """Which provider prices ``model`` for this backend; None when none does."""
        key = (host, backend, model)
        if key not in self._resolved:
            _make_room(self._resolved)
            self._resolved[key] = _first_pricing_candidate(_candidates(host, backend), model)
        return self._resolved[key]

    def _price(self, candidate: Candidate, model: str, tokens: Tokens, day: str, when: datetime) -> Optional[float]:
        """Fast path: per-token rates of the call's price tier, probed once from the library (the
        library's own rule: a tier is chosen by the total input tokens and then applies to every token,
        so within a tier the price is linear). Slow path: the library for this exact usage."""
        thresholds = self._tier_thresholds(candidate, model, day, when)
        try:
            if thresholds is None:
                return float(_library_price(candidate, model, tokens, when))
            band = sum(1 for start in thresholds if tokens[0] > start)
            key = (candidate, model, day, band)
            if key not in self._rates:
                _make_room(self._rates)
                self._rates[key] = _probe_rates(candidate, model, when, thresholds, band)
            rates = self._rates[key]
            return float(_library_price(candidate, model, tokens, when) if rates is None else rates.price(tokens))
        except Exception:  # LookupError, or the library refusing a usage shape: unknown, never 0
            return None

    def _tier_thresholds(self, candidate: Candidate, model: str, day: str, when: datetime
                         ) -> Optional[Tuple[int, ...]]:
        key = (candidate, model, day)
        if key not in self._thresholds:
            _make_room(self._thresholds)
            self._thresholds[key] = _tier_starts(candidate, model, when)
        return self._thresholds[key]


def _make_room(cache: Dict[Any, Any]) -> None:
    if len(cache) >= CACHE_LIMIT:
        cache.clear()


@dataclass(frozen=True)
class Rates:
    """USD per call and per token of each kind, valid within one price tier."""

    per_call: Decimal
    uncached_input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal

    def price(self, tokens: Tokens) -> Decimal:
        total_input, output, cache_read, cache_write = tokens
        uncached = total_input - cache_read - cache_write
        return (self.per_call + self.uncached_input * uncached + self.output * output
                + self.cache_read * cache_read + self.cache_write * cache_write)


def _tier_starts(candidate: Candidate, model: str, when: datetime) -> Optional[Tuple[int, ...]]:
    """Every tier threshold of the model's prices on ``when``; None: the fast path does not apply."""
    try:
        from genai_prices import data_snapshot
        from genai_prices.types import ModelPrice, TieredPrices

        provider_id, api_url = candidate
        _, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider_id, api_url)
        prices = info.get_prices(when)
        if not isinstance(prices, ModelPrice):
            return None
        values = [getattr(prices, name, None) for name in ("input_mtok", "output_mtok", "cache_read_mtok",
                                                           "cache_write_mtok")]
    except Exception:  # the library's internals moved: always ask calc_price
        return None
    starts = sorted({tier.start for value in values if isinstance(value, TieredPrices) for tier in value.tiers})
    return None if any(start <= 0 for start in starts) else tuple(starts)


def _probe_rates(candidate: Candidate, model: str, when: datetime, thresholds: Tuple[int, ...],
                 band: int) -> Optional[Rates]:
    """Per-token rates from the library's prices of a few usages whose total input lies in ``band``."""
    size = 1 if band == 0 else thresholds[band - 1] + 1

    def price(total: int, output: int = 0, cache_read: int = 0, cache_write: int = 0) -> Decimal:
        return Decimal(str(_library_price(candidate, model, (total, output, cache_read, cache_write), when)))

    try:
        per_call, base = price(0), price(size)
        return Rates(
            per_call=per_call,
            uncached_input=(base - per_call) / size,
            output=(price(size, output=size) - base) / size,
            cache_read=(price(size, cache_read=size) - per_call) / size,
            cache_write=(price(size, cache_write=size) - per_call) / size,
        )
    except Exception:
        return None


def _tokens(event: CallEvent) -> Tokens:
    cache_read, cache_write = event.cache_read_tokens or 0, event.cache_write_tokens or 0
    return (event.input_tokens or 0) + cache_read + cache_write, event.output_tokens or 0, cache_read, cache_write


def _library_price(candidate: Candidate, model: str, tokens: Tokens, when: Optional[datetime]) -> Decimal:
    from genai_prices import Usage, calc_price  # heavy: loaded by the first price (the proxy: at start, load_library)

    total_input, output, cache_read, cache_write = tokens
    usage = Usage(
        input_tokens=total_input, output_tokens=output, cache_read_tokens=cache_read, cache_write_tokens=cache_write
    )
    provider_id, api_url = candidate
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the library warns about old snapshots; a price is still a price
        if api_url is not None:
            result = calc_price(usage, model, provider_api_url=api_url, genai_request_timestamp=when)
        else:
            result = calc_price(usage, model, provider_id=provider_id, genai_request_timestamp=when)
    return result.total_price


def _candidates(host: str, backend: str) -> List[Candidate]:
    out: List[Candidate] = []
    if host and not _is_local(host):
        out.append((None, f"https://{host}"))
    if backend:
        out.append((backend, None))
    out.append((None, None))
    return out


def _first_pricing_candidate(candidates: List[Candidate], model: str) -> Optional[Candidate]:
    for candidate in candidates:
        try:
            _library_price(candidate, model.lower(), (1, 1, 0, 0), None)
        except Exception:
            continue
        return candidate
    return None


def _is_local(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or host.startswith("[") else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback or ipaddress.ip_address(name).is_private
    except ValueError:
        return False


@functools.lru_cache(maxsize=1)
def price_book() -> PriceBook:
    """The process's shared price book."""
    return PriceBook()


def load_library() -> None:
    """Import genai-prices and read its bundled snapshot now, not when the first call is priced.

    Both take ~0.2 s of CPU once per process (measured). The proxy prices each call on its event
    loop as the call ends, so the first priced call held every other call for that long; the proxy
    calls this while it starts, before it serves (docs/telemetry-bounds.md#prices)."""
    with contextlib.suppress(Exception):  # a snapshot without the model still loads; what is left costs ~2 ms
        _library_price((None, None), _WARM_UP_MODEL, (1, 1, 0, 0), None)  # the modules a price needs, too


def event_cost(event: CallEvent) -> Optional[float]:
    """USD for ``event`` from the shared price book (None: unknown)."""
    return price_book().cost(event)
