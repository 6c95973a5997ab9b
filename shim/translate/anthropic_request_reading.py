"""Reading an Anthropic Messages request safely: type checks with a JSON path, and drop notes.

Client bodies are parsed JSON of any shape. Every accessor here either returns a value of the
promised type or raises :class:`InvalidRequestError` whose ``param`` is the path of the offending
value (``messages[2].content[0].source``), so that no ``KeyError``/``TypeError`` escapes the
engine and the client learns exactly what to fix.
"""

import math
from typing import Any, Dict, List

from ..errors import InvalidRequestError

__all__ = [
    "add_note",
    "block_type",
    "expect_bool",
    "expect_list",
    "expect_number",
    "expect_object",
    "expect_positive_int",
    "expect_str",
    "json_type_name",
]


def add_note(notes: List[str], note: str) -> None:
    """Record ``note`` once: a field dropped in every message of a long history is one note."""
    if note not in notes:
        notes.append(note)


def json_type_name(value: Any) -> str:
    """The JSON name of ``value``'s type, for error messages the client can relate to."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _wrong_type(param: str, expected: str, value: Any) -> InvalidRequestError:
    return InvalidRequestError(f"{param}: expected {expected}, got {json_type_name(value)}", param=param)


def expect_object(value: Any, param: str) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise _wrong_type(param, "an object", value)
    return value


def expect_list(value: Any, param: str) -> List[Any]:
    if not isinstance(value, list):
        raise _wrong_type(param, "an array", value)
    return value


def expect_str(value: Any, param: str, *, non_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise _wrong_type(param, "a string", value)
    if non_empty and not value:
        raise InvalidRequestError(f"{param}: must not be empty", param=param)
    return value


def expect_bool(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise _wrong_type(param, "a boolean", value)
    return value


def expect_number(value: Any, param: str) -> float:
    """A finite JSON number (``json.loads`` accepts NaN/Infinity, which no backend does)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _wrong_type(param, "a number", value)
    if not math.isfinite(value):
        raise InvalidRequestError(f"{param}: must be a finite number", param=param)
    return value


def expect_positive_int(value: Any, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong_type(param, "an integer", value)
    if value < 1:
        raise InvalidRequestError(f"{param}: must be a positive integer, got {value}", param=param)
    return value


def block_type(block: Any, param: str) -> str:
    """The ``type`` of a content block, which must be an object with a non-empty string type."""
    expect_object(block, param)
    if "type" not in block:
        raise InvalidRequestError(f"{param}.type: a content block needs a 'type'", param=f"{param}.type")
    return expect_str(block["type"], f"{param}.type", non_empty=True)
