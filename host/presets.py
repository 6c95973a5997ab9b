"""Well-known backends (``router backend add groq`` needs nothing else) and base-URL conventions.

Base URLs follow each SDK's convention (``shim/protocols.py``): an OpenAI-protocol base URL ends in
``/v1`` and the router appends ``/chat/completions``; an Anthropic base URL is the host root and
the router appends ``/v1/messages``. Users paste whatever their provider's docs show, so
:func:`normalize_base_url` strips endpoint paths and an Anthropic ``/v1`` and explains the change.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from shim.protocols import ANTHROPIC, OPENAI

__all__ = [
    "OPENAI_RESPONSES_ONLY_MODELS", "PRESETS", "BackendSpecError", "Preset", "backend_table", "normalize_base_url"
]


@dataclass(frozen=True)
class Preset:
    """Defaults for one well-known provider or local server."""

    name: str
    protocol: str
    base_url: str
    key_env: Optional[str] = None  # where the key usually lives; None: a keyless local server
    key_required: bool = True  # False: the key is optional (litellm) or unused (ollama)
    max_tokens_field: Optional[str] = None  # None: the engine's default, "max_tokens"
    replay_reasoning: bool = False  # the server wants earlier thinking back (shim/config.py Backend)
    responses_api: bool = False  # the server has POST /responses itself (shim/config.py Backend)
    responses_only_models: Tuple[str, ...] = ()  # models it serves only there


def _local(name: str, base_url: str, key_env: Optional[str] = None) -> Preset:
    return Preset(name, OPENAI, base_url, key_env, key_required=False)


# OpenAI models served only by /v1/responses (docs/responses-api.md#upstream-endpoint-choice): the
# *-pro models (o1-pro, o3-pro, gpt-5-pro, gpt-5.2-pro and dated versions), the codex models
# (gpt-5-codex, gpt-5.1-codex-max, codex-mini-latest…), the deep-research models and the
# computer-use preview.
OPENAI_RESPONSES_ONLY_MODELS = ("*-pro", "*-pro-*", "*codex*", "*deep-research*", "computer-use-preview*")

PRESETS: Dict[str, Preset] = {
    preset.name: preset
    for preset in (
        # OpenAI reasoning models reject "max_tokens" (shim/config.py MAX_TOKENS_FIELDS).
        Preset("openai", OPENAI, "https://api.openai.com/v1", "OPENAI_API_KEY",
               max_tokens_field="max_completion_tokens", responses_api=True,
               responses_only_models=OPENAI_RESPONSES_ONLY_MODELS),
        Preset("anthropic", ANTHROPIC, "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
        Preset("groq", OPENAI, "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
        Preset("openrouter", OPENAI, "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
        # DeepSeek's thinking mode requires reasoning_content on later turns
        # (docs/protocol-rules.md#reasoning-history).
        Preset("deepseek", OPENAI, "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", replay_reasoning=True),
        Preset("mistral", OPENAI, "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
        Preset("together", OPENAI, "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
        Preset("fireworks", OPENAI, "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
        Preset("xai", OPENAI, "https://api.x.ai/v1", "XAI_API_KEY"),
        _local("ollama", "http://127.0.0.1:11434/v1"),
        _local("lmstudio", "http://127.0.0.1:1234/v1"),
        _local("vllm", "http://127.0.0.1:8000/v1"),
        _local("litellm", "http://127.0.0.1:4000/v1", key_env="LITELLM_API_KEY"),
    )
}

# Endpoint paths people copy from curl examples, per protocol, longest first.
_ENDPOINT_SUFFIXES: Dict[str, Tuple[str, ...]] = {
    OPENAI: ("/chat/completions",),
    ANTHROPIC: ("/v1/messages", "/v1"),
}


class BackendSpecError(ValueError):
    """The options cannot describe a backend; ``option`` names the culprit (None: a missing option)."""

    def __init__(self, message: str, option: Optional[str]) -> None:
        super().__init__(message)
        self.option = option


def backend_table(
    name: str,
    *,
    base_url: Optional[str] = None,
    protocol: Optional[str] = None,
    models: Sequence[str] = (),
    max_tokens_field: Optional[str] = None,
    max_output_tokens: Optional[int] = None,
) -> Tuple[Dict[str, Any], List[str]]:
    """The ``[backends.NAME]`` table (without any key setting) and notes for the user.

    A preset fills what the options leave out; any other name needs ``base_url``. ``models``
    entries may also be comma-separated lists of globs.
    """
    preset = PRESETS.get(name)
    if preset is None and base_url is None:
        raise BackendSpecError(
            f"{name!r} is not a preset ({', '.join(PRESETS)}); give --base-url URL (and --protocol if not openai)",
            None,
        )
    chosen = protocol or (preset.protocol if preset else OPENAI)
    url = base_url if base_url is not None else preset.base_url  # type: ignore[union-attr]  # checked above
    normalized, notes = normalize_base_url(chosen, url)
    table: Dict[str, Any] = {"protocol": chosen, "base_url": normalized}
    globs = [glob.strip() for entry in models for glob in entry.split(",") if glob.strip()]
    if globs:
        table["models"] = globs
    field = max_tokens_field or (preset.max_tokens_field if preset else None)
    if field:
        table["max_tokens_field"] = field
    if max_output_tokens is not None:
        table["max_output_tokens"] = max_output_tokens
    if preset is not None and preset.replay_reasoning:
        table["replay_reasoning"] = True
    if preset is not None and preset.responses_api and chosen == OPENAI:
        table["responses_api"] = True
    if preset is not None and preset.responses_only_models and chosen == OPENAI:
        table["responses_only_models"] = list(preset.responses_only_models)
    return table, notes


def normalize_base_url(protocol: str, url: str) -> Tuple[str, List[str]]:
    """``url`` in the SDK convention for ``protocol``, plus notes explaining any change made."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BackendSpecError(
            "the base URL must be an http:// or https:// URL with a host, e.g. https://api.example.com/v1", "--base-url"
        )
    if parts.query or parts.fragment:
        raise BackendSpecError("the base URL must not contain a query string or fragment", "--base-url")
    if "@" in parts.netloc:
        # config.toml never holds secrets; the message must not echo them either.
        raise BackendSpecError(
            "the base URL must not contain credentials (user:password@); pass the key with --key -", "--base-url"
        )
    base = url.strip().rstrip("/")
    notes: List[str] = []
    for suffix in _ENDPOINT_SUFFIXES[protocol]:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            notes.append(_stripped_note(protocol, suffix, base))
            break
    if protocol == OPENAI and not base.endswith("/v1"):
        notes.append("note: OpenAI-protocol base URLs usually end in /v1 (the router appends /chat/completions)")
    return base, notes


def _stripped_note(protocol: str, suffix: str, base: str) -> str:
    appended = "/chat/completions" if protocol == OPENAI else "/v1/messages"
    return f"note: removed {suffix!r} from the base URL: the router appends {appended} itself; using {base}"
