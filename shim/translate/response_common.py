"""What both non-streaming response translators share: ids, tool names, checked field access.

Upstream bodies are untrusted: a backend may answer ``200`` with something that is not its
protocol. Every field a translator reads goes through :func:`required_field` or
:func:`optional_field`, so a missing or mistyped field becomes an :class:`UpstreamProtocolError`
that names the field, never a ``KeyError``/``TypeError`` (docs/architecture.md#errors).

The id helpers are public so the stream translators can derive the same ids: a client must see
the same shapes whether it streamed or not.
"""

import json
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..errors import NOT_A_JSON_NUMBER, UpstreamProtocolError, error_from_stream_payload, nested_too_deeply
from ..protocols import ANTHROPIC, OPENAI
from .context import ResponseContext

__all__ = [
    "ANTHROPIC_ID_PREFIX",
    "OPENAI_ID_PREFIX",
    "anthropic_message_id",
    "arguments_json",
    "array_items",
    "client_tool_name",
    "fallback_tool_id",
    "object_or_empty",
    "objects_in",
    "openai_completion_id",
    "optional_field",
    "required_field",
    "sanitize_tool_id",
    "upstream_object",
    "usage_object",
]

OPENAI_ID_PREFIX = "chatcmpl-"
ANTHROPIC_ID_PREFIX = "msg_"

# Anthropic rejects tool ids outside this alphabet when they come back in a later request
# (docs/protocol-rules.md#tool-ids, P11 in docs/pitfalls.md: Kimi-style ids such as ``functions.Bash:0``).
_TOOL_ID_ILLEGAL = re.compile(r"[^a-zA-Z0-9_-]")

_TYPE_NAMES: Dict[type, str] = {str: "a string", list: "an array", dict: "an object"}


def arguments_json(arguments: Any, separators: Optional[Tuple[str, str]] = None) -> str:
    """A tool call's arguments, parsed from a backend's answer, as the JSON text the client's protocol
    carries them in. ``1e999`` parses to infinity, which Python writes as the bare ``Infinity`` no JSON
    parser in JavaScript or Rust takes: such an answer is the backend's broken one, as it is anywhere
    else in an answer the router writes (docs/protocol-rules.md#numbers)."""
    try:
        return json.dumps(arguments, allow_nan=False, separators=separators)
    except ValueError:
        raise UpstreamProtocolError(f"the backend's answer {NOT_A_JSON_NUMBER}") from None
    except RecursionError:
        raise nested_too_deeply() from None


def openai_completion_id(anthropic_id: Any, call_id: str) -> str:
    """``chatcmpl-`` + the Anthropic message id (or the call id when the backend gave none)."""
    return OPENAI_ID_PREFIX + _non_empty_str(anthropic_id, call_id)


def anthropic_message_id(openai_id: Any, call_id: str) -> str:
    """``msg_`` + the OpenAI completion id without its ``chatcmpl-`` prefix (or the call id)."""
    base = _non_empty_str(openai_id, "")
    if base.startswith(OPENAI_ID_PREFIX):
        base = base[len(OPENAI_ID_PREFIX):]
    return ANTHROPIC_ID_PREFIX + (base or call_id)


def fallback_tool_id(call_id: str, position: int) -> str:
    """A deterministic id for the ``position``-th tool call of a response whose backend gave none
    (some OpenAI-compatible servers omit it; the engine has no randomness)."""
    return sanitize_tool_id(f"toolu_{call_id}_{position}")


def sanitize_tool_id(tool_id: str) -> str:
    """Replace characters Anthropic rejects in tool ids (P11). Deterministic, so the same upstream
    id always maps to the same client id, in responses and streams alike."""
    return _TOOL_ID_ILLEGAL.sub("_", tool_id)


def client_tool_name(name: str, context: ResponseContext) -> str:
    """The client's original name for a tool the request translator had to rename (P18)."""
    return context.tool_names.get(name, name)


def upstream_object(body: Any, protocol: str) -> Dict[str, Any]:
    """Check a 2xx upstream body is a JSON object that is not an error in disguise.

    Some backends answer ``200`` with an error body; that is an upstream *error* (translated with
    its kind, docs/protocol-rules.md#errors), not a malformed response.
    """
    if not isinstance(body, dict):
        raise UpstreamProtocolError("upstream response is not a JSON object")
    if _is_error_body(body, protocol):
        raise error_from_stream_payload(protocol, body)
    return body


def required_field(obj: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    """``obj[key]``, which must be present, non-null and of type ``kind``."""
    value = optional_field(obj, key, kind, where)
    if value is None:
        raise UpstreamProtocolError(f"upstream response has no `{_path(where, key)}`")
    return value


def optional_field(obj: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    """``obj[key]`` if present and non-null (then it must be of type ``kind``), else None."""
    value = obj.get(key)
    if value is not None and not isinstance(value, kind):
        raise UpstreamProtocolError(
            f"upstream response field `{_path(where, key)}` should be {_TYPE_NAMES.get(kind, kind.__name__)}"
            f" or null, got {type(value).__name__}"
        )
    return value


def object_or_empty(value: Any) -> Dict[str, Any]:
    """``value`` if it is an object, else ``{}``: for readers that take what they can of an untrusted
    answer and leave the rest to the translator that checks it (translate/whole_answer_events.py)."""
    return value if isinstance(value, dict) else {}


def objects_in(value: Any) -> List[Dict[str, Any]]:
    """The objects of ``value`` if it is an array (nothing for anything else), as :func:`object_or_empty` reads."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def usage_object(body: Mapping[str, Any]) -> Dict[str, Any]:
    """The body's ``usage`` object; ``{}`` (all zeros) when absent — a response always carries usage
    for the client, even when the backend did not report it (docs/protocol-rules.md#usage: usage is
    required)."""
    usage = optional_field(body, "usage", dict, "")
    return usage if usage is not None else {}


def array_items(values: List[Any], where: str) -> List[Dict[str, Any]]:
    """Check every element of an upstream array is an object."""
    for index, value in enumerate(values):
        if not isinstance(value, dict):
            raise UpstreamProtocolError(f"upstream response field `{where}[{index}]` should be an object")
    return values


def _is_error_body(body: Mapping[str, Any], protocol: str) -> bool:
    if protocol == ANTHROPIC:
        return body.get("type") == "error"
    # The OpenAI SDK treats any truthy top-level "error" as an error (docs/protocol-rules.md#in-band-errors).
    return protocol == OPENAI and bool(body.get("error"))


def _non_empty_str(value: Any, default: str) -> str:
    # A missing or non-string id is harmless: the router has its own call id to fall back on.
    return value if isinstance(value, str) and value else default


def _path(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
