"""Is a translated request body one the official SDK itself could send? Shared by the request
translator tests and the Claude Code golden tests.

Each check validates against the SDK's request TypedDicts with pydantic, walking every lazily
validated iterable, so a nested shape the SDK would not send fails the test.
"""

import json
from typing import Any, Dict

import pydantic
from anthropic.types import message_create_params
from openai.types.chat import completion_create_params

__all__ = ["assert_valid_anthropic_request", "assert_valid_openai_request"]

_OPENAI_TYPES = {
    False: pydantic.TypeAdapter(completion_create_params.CompletionCreateParamsNonStreaming),
    True: pydantic.TypeAdapter(completion_create_params.CompletionCreateParamsStreaming),
}
_ANTHROPIC_TYPES = {
    False: pydantic.TypeAdapter(message_create_params.MessageCreateParamsNonStreaming),
    True: pydantic.TypeAdapter(message_create_params.MessageCreateParamsStreaming),
}


def _consume(value: Any) -> Any:
    """Iterate every lazily validated iterable pydantic returns, so nested parts are validated too."""
    if isinstance(value, dict):
        return {k: _consume(v) for k, v in value.items()}
    if isinstance(value, (str, bytes, int, float, bool, type(None))):
        return value
    return [_consume(v) for v in value]


def assert_valid_openai_request(body: Dict[str, Any]) -> None:
    """``body`` is an OpenAI Chat Completions request the openai SDK accepts (after a JSON round trip)."""
    _consume(_OPENAI_TYPES[bool(body.get("stream"))].validate_python(json.loads(json.dumps(body))))


def assert_valid_anthropic_request(body: Dict[str, Any]) -> None:
    """``body`` is strict JSON and a Messages request the anthropic SDK accepts."""
    json.dumps(body, allow_nan=False)
    _consume(_ANTHROPIC_TYPES[body.get("stream") is True].validate_python(body, strict=True))
