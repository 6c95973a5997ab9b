"""Anthropic ``metadata.user_id`` → OpenAI ``user``: bounded, stable, one user per user.

OpenAI documents ``user`` (and its successor ``safety_identifier``) as a stable end-user id of at
most 64 characters, and recommends a hash rather than anything identifying. Anthropic clients
send longer ids: Claude Code sends a JSON object as a string, about 150 characters —
``{"device_id": "<64 hex>", "account_uuid": "…", "session_id": "<uuid>"}`` — so passing it on
breaks the limit, and cutting it would keep the device and lose the user.

The rule (docs/clients/claude-code.md#metadata-user-id):

* an id of at most 64 characters that is not a JSON object is the client's own short id: passed on;
* a JSON object: the identity is its non-empty fields that do not name a session (a key
  ``session_id`` or ending in ``_session_id``), canonically encoded and hashed, so one user keeps
  one ``user`` across sessions; an object with no such field is hashed whole;
* any other id longer than 64 characters is hashed whole.

The hash is SHA-256 in hex: exactly 64 characters, the same for the same identity in every process.
"""

import hashlib
import json
from typing import Any, Dict, Optional

from ..json_budget import JsonBudget

__all__ = ["OPENAI_USER_MAX_CHARS", "openai_user_id"]

OPENAI_USER_MAX_CHARS = 64


def openai_user_id(user_id: str, json_budget: JsonBudget) -> str:
    """The OpenAI ``user`` for an Anthropic ``metadata.user_id`` (see the module docstring); a JSON
    id is parsed from the call's ``json_budget``."""
    identity = _identity_fields(user_id, json_budget)
    if identity is None:
        return user_id if len(user_id) <= OPENAI_USER_MAX_CHARS else _digest(user_id)
    return _digest(json.dumps(identity, sort_keys=True, separators=(",", ":"))) if identity else _digest(user_id)


def _identity_fields(user_id: str, json_budget: JsonBudget) -> Optional[Dict[str, Any]]:
    """The session-independent, non-empty fields of a JSON-object id; None when it is not one."""
    if not user_id.startswith("{"):
        return None
    try:
        parsed = json_budget.loads(user_id, "'metadata.user_id'")
    except (ValueError, RecursionError):
        return None
    if not isinstance(parsed, dict):
        return None
    return {key: value for key, value in parsed.items() if value not in ("", None) and not _names_a_session(key)}


def _names_a_session(key: str) -> bool:
    return key == "session_id" or key.endswith("_session_id")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
