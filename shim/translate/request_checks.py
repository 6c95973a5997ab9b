"""Shape checks for the fields of a client's request, shared by both request translators.

Client bodies are parsed JSON of any shape. Each check either returns the value with its JSON type
confirmed or raises :class:`~shim.errors.InvalidRequestError` whose ``param`` is the path of the
offending value (``messages[2].content[0].source``), so that no ``KeyError``/``TypeError``
escapes the engine and the client sees a 400 that says what to fix.
"""

import math
from typing import Any, Dict, List, Optional

from ..errors import InvalidRequestError
from ..json_budget import JsonBudget

__all__ = [
    "add_note",
    "block_type",
    "decode_json_object",
    "describe",
    "expect_bool",
    "expect_list",
    "expect_number",
    "expect_object",
    "expect_positive_int",
    "expect_str",
    "json_type_name",
]

_JSON_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}


def json_type_name(value: Any) -> str:
    """The JSON name of ``value``'s type, for error messages ("must be a string, not array")."""
    if value is None:
        return "null"
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def describe(value: Any) -> str:
    """A short rendering of a client value for an error message: a string's (cut) repr, otherwise
    its JSON type (never a dump of a large object)."""
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:40] + "…")
    return json_type_name(value)


def _wrong_type(param: str, expected: str, value: Any) -> InvalidRequestError:
    return InvalidRequestError(f"'{param}' must be {expected}, not {json_type_name(value)}", param=param)


def expect_object(value: Any, param: str) -> Dict[str, Any]:
    """``value`` if it is a JSON object, else a 400 for ``param``."""
    if not isinstance(value, dict):
        raise _wrong_type(param, "an object", value)
    return value


def expect_list(value: Any, param: str) -> List[Any]:
    """``value`` if it is a JSON array, else a 400 for ``param``."""
    if not isinstance(value, list):
        raise _wrong_type(param, "an array", value)
    return value


def expect_str(value: Any, param: str, *, non_empty: bool = False) -> str:
    """``value`` if it is a string (non-empty when asked), else a 400 for ``param``."""
    if not isinstance(value, str):
        raise _wrong_type(param, "a string", value)
    if non_empty and not value:
        raise InvalidRequestError(f"'{param}' must not be empty", param=param)
    return value


def expect_bool(value: Any, param: str) -> bool:
    """``value`` if it is a boolean, else a 400 for ``param``."""
    if not isinstance(value, bool):
        raise _wrong_type(param, "a boolean", value)
    return value


def expect_number(value: Any, param: str) -> float:
    """A finite JSON number (``json.loads`` accepts ``NaN``/``Infinity``, which no upstream does)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _wrong_type(param, "a finite number", value)
    return float(value)


def expect_positive_int(value: Any, param: str) -> int:
    """A positive integer; ``2048.0`` is accepted as 2048 (JSON does not distinguish them)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        shown = value if isinstance(value, int) and not isinstance(value, bool) else json_type_name(value)
        raise InvalidRequestError(f"'{param}' must be a positive integer, not {shown}", param=param)
    return value


def decode_json_object(text: str, budget: JsonBudget, param: str) -> Optional[Dict[str, Any]]:
    """``text`` (the request's ``param``) parsed as a JSON object, or None when it is not one
    (RecursionError included: deeply nested input must not escape as a non-router error); a 413
    past the call's JSON budget (docs/proxy-limits.md#request-bodies)."""
    try:
        parsed = budget.loads(text, f"'{param}'")
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


MAX_NOTES = 32
NOTES_LEFT_OUT = f"left out further notes after the first {MAX_NOTES}"


def add_note(notes: List[str], note: str) -> None:
    """Record ``note`` once: the same dropped field on many messages deserves one line. At most
    ``MAX_NOTES`` lines, then one that says more were left out: some notes name an item (an unknown
    field, a tool), and a request of 100,000 such items made a scan of the list per item, a minute
    of the proxy's loop, and as many log lines (docs/proxy-limits.md#translation-work)."""
    if note in notes:  # a short list: at most MAX_NOTES, a few one-off notes and NOTES_LEFT_OUT
        return
    if len(notes) < MAX_NOTES:
        notes.append(note)
    elif NOTES_LEFT_OUT not in notes:
        notes.append(NOTES_LEFT_OUT)


def block_type(block: Any, param: str) -> str:
    """The ``type`` of a content block, which must be an object with a non-empty string type."""
    expect_object(block, param)
    if "type" not in block:
        raise InvalidRequestError(f"'{param}.type' is required: a content block needs a type", param=f"{param}.type")
    return expect_str(block["type"], f"{param}.type", non_empty=True)
