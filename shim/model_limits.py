"""How many tokens a model may write in one answer, for the model families the router routes to.

A translated request carries the client's ``max_tokens`` to another vendor's model, and clients
size it for their own: Claude Code asks for 128000, which most OpenAI-compatible models reject
with a 400 ("max_tokens is too large"), and an OpenAI client's large value is rejected by an older
Claude. So a translated request is clamped to the upstream model's output limit, with a note.

The limit for one call (:func:`output_limit`) is the smaller of

* the backend's ``max_output_tokens`` (a ceiling for everything that backend serves: a local
  server started with a small context, a proxy with its own cap), and
* the model's limit: the first glob of the configuration's ``model_max_output_tokens`` that
  matches the upstream model, else the first row of :data:`MODEL_OUTPUT_LIMITS` that does.

None means no known limit: the client's value is sent as it is. The table is deliberately short —
vendors' own published figures only, each row with its source — and the configuration overrides
it, because model ids move faster than releases of this tool. Rows are matched case-insensitively
against the model id with any ``provider/`` prefix removed (``openai/gpt-4o`` on OpenRouter is
``gpt-4o``), first match wins, so a narrower glob comes before a wider one.

What the router does with the limit, and the sources, in words: docs/clients/claude-code.md#max_tokens.
"""

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Dict, Mapping, Optional, Tuple

__all__ = ["MODEL_OUTPUT_LIMITS", "ModelLimit", "model_output_limit", "output_limit"]


@dataclass(frozen=True)
class ModelLimit:
    """One row: a glob over model ids, its output limit in tokens, and where the figure is published."""

    glob: str
    max_output_tokens: int
    source: str


_CLAUDE = "https://platform.claude.com/docs/en/models"
_OPENAI = "https://developers.openai.com/api/docs/models"
_DEEPSEEK = "https://api-docs.deepseek.com/quick_start/pricing"
_GROQ = "https://console.groq.com/docs/models"

# Checked 2026-12-04. Keep narrower globs above wider ones.
MODEL_OUTPUT_LIMITS: Tuple[ModelLimit, ...] = (
    # Anthropic: each model's page lists "Max output".
    ModelLimit("claude-haiku-4-5*", 64000, f"{_CLAUDE}/haiku-4-5/overview"),
    ModelLimit("claude-sonnet-4-5*", 64000, f"{_CLAUDE}/sonnet-4-5/overview"),
    ModelLimit("claude-opus-4-5*", 64000, f"{_CLAUDE}/opus-4-5/overview"),
    ModelLimit("claude-sonnet-4-6*", 128000, f"{_CLAUDE}/sonnet-4-6/overview"),
    ModelLimit("claude-opus-4-6*", 128000, f"{_CLAUDE}/opus-4-6/overview"),
    ModelLimit("claude-opus-4-7*", 128000, f"{_CLAUDE}/opus-4-7/overview"),
    ModelLimit("claude-opus-4-8*", 128000, f"{_CLAUDE}/opus-4-8/overview"),
    ModelLimit("claude-opus-4-1*", 32000, f"{_CLAUDE}/opus-4-1/overview"),
    ModelLimit("claude-opus-4*", 32000, f"{_CLAUDE}/opus-4/overview"),
    ModelLimit("claude-sonnet-4*", 64000, f"{_CLAUDE}/sonnet-4/overview"),
    ModelLimit("claude-3-7-sonnet*", 64000, f"{_CLAUDE}/sonnet-3-7/overview"),
    ModelLimit("claude-3-5-*", 8192, f"{_CLAUDE}/haiku-3-5/overview"),
    ModelLimit("claude-3-*", 4096, f"{_CLAUDE}/haiku-3/overview"),
    # The Claude 5 family (Fable, Opus, Sonnet, Haiku): 128K on every model page.
    ModelLimit("claude-fable-5*", 128000, f"{_CLAUDE}/fable-5-2/overview"),
    ModelLimit("claude-opus-5*", 128000, f"{_CLAUDE}/opus-5-5/overview"),
    ModelLimit("claude-sonnet-5*", 128000, f"{_CLAUDE}/sonnet-5-5/overview"),
    ModelLimit("claude-haiku-5*", 128000, f"{_CLAUDE}/haiku-5-5/overview"),
    # OpenAI: each model's page lists "Max output tokens".
    ModelLimit("gpt-4o*", 16384, f"{_OPENAI}/gpt-4o"),
    ModelLimit("chatgpt-4o*", 16384, f"{_OPENAI}/chatgpt-4o-latest"),
    ModelLimit("gpt-4.1*", 32768, f"{_OPENAI}/gpt-4.1"),
    ModelLimit("gpt-5*", 128000, f"{_OPENAI}/gpt-5"),
    ModelLimit("o1*", 100000, f"{_OPENAI}/o1"),
    ModelLimit("o3*", 100000, f"{_OPENAI}/o3"),
    ModelLimit("o4-mini*", 100000, f"{_OPENAI}/o4-mini"),
    # DeepSeek: the pricing page's "MAX OUTPUT" column.
    ModelLimit("deepseek-chat", 8192, _DEEPSEEK),
    ModelLimit("deepseek-reasoner", 65536, _DEEPSEEK),
    # Groq: the models page's "Max completion tokens" column.
    ModelLimit("llama-3.3-70b-versatile", 32768, _GROQ),
)


class _LimitCache:
    """Limits already looked up, for the most recent ``overrides`` mapping (the configuration's, which
    is not changed once it routes calls): a lookup is a glob match per row, on every translated call.
    Replaced as a whole, like the route cache, so threads racing on two configurations can lose
    entries but never read another configuration's limit."""

    _LIMIT = 256  # model names remembered for one configuration; a full cache starts again

    def __init__(self) -> None:
        self.entry: Tuple[Optional[Mapping[str, int]], Dict[str, Optional[int]]] = (None, {})

    def limits_for(self, overrides: Mapping[str, int]) -> Dict[str, Optional[int]]:
        entry = self.entry
        if entry[0] is not overrides or len(entry[1]) >= self._LIMIT:
            entry = self.entry = (overrides, {})
        return entry[1]


_cache = _LimitCache()
_CACHED_NAME_LIMIT = 256  # longer names are looked up, never kept: bounded in bytes (docs/telemetry-bounds.md)


def model_output_limit(
    model: str, overrides: Mapping[str, int], table: Tuple[ModelLimit, ...] = MODEL_OUTPUT_LIMITS
) -> Optional[int]:
    """The output limit of ``model``: the first matching ``overrides`` glob (the user's), else the
    first matching row of ``table``; None when neither knows the model."""
    if table is not MODEL_OUTPUT_LIMITS or len(model) > _CACHED_NAME_LIMIT:
        return _lookup(model, overrides, table)
    limits = _cache.limits_for(overrides)
    if model not in limits:
        limits[model] = _lookup(model, overrides, table)
    return limits[model]


def _lookup(model: str, overrides: Mapping[str, int], table: Tuple[ModelLimit, ...]) -> Optional[int]:
    base = model.rsplit("/", 1)[-1].lower()
    for glob, limit in overrides.items():
        if fnmatchcase(base, glob.lower()) or fnmatchcase(model.lower(), glob.lower()):
            return limit
    for row in table:
        if fnmatchcase(base, row.glob):
            return row.max_output_tokens
    return None


def output_limit(model: str, backend_limit: Optional[int], overrides: Mapping[str, int]) -> Optional[int]:
    """The clamp for one translated call: the smaller of the backend's ceiling and the model's limit."""
    limits = [limit for limit in (backend_limit, model_output_limit(model, overrides)) if limit is not None]
    return min(limits) if limits else None
