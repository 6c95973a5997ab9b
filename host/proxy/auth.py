"""The router's own key check (``ROUTER_API_KEY``): ``x-api-key`` or ``Authorization: Bearer``."""

import hmac
from typing import List, Mapping, Optional

__all__ = ["is_authorized"]


def is_authorized(headers: Mapping[str, str], api_key: Optional[str]) -> bool:
    """True when no key is required, or the client presented exactly ``api_key`` (constant time).

    Both headers are tried: Anthropic SDKs send ``x-api-key``, OpenAI SDKs a bearer token, and
    some clients send both; the right key in either is enough."""
    if not api_key:
        return True
    expected = api_key.encode()
    matched = False
    for candidate in _presented_keys(headers):  # no early exit: timing does not say which matched
        matched |= hmac.compare_digest(candidate.encode(), expected)
    return matched


def _presented_keys(headers: Mapping[str, str]) -> List[str]:
    keys = [headers.get("x-api-key", "")]
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        keys.append(token.strip())
    return keys
