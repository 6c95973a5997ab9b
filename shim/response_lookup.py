"""``GET`` and ``DELETE /v1/responses/{id}`` for the responses a driver stored, as OpenAI answers them.

Both drivers keep the Responses calls they answered (docs/responses-api.md#state-previous_response_id):
the proxy in SQLite, the shim in its process. A client may read one back or delete it, as it could
at OpenAI (the SDK's ``client.responses.retrieve(id)`` / ``.delete(id)``). The bodies follow
OpenAI's API reference for these two operations: the Response object itself; a deletion
``{"id", "object": "response", "deleted": true}``; an unknown id a 404 with OpenAI's error body.

The proxy answers every id (it holds the only copy of what it served); the shim answers only ids
it holds and lets the others go where the program sent them (OpenAI may hold those).
"""

import json
import re

from .errors import NotFoundError, RequestTooLargeError
from .protocols import OPENAI

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from .plan import ClientResponse
    from .responses_store import ResponseStore

__all__ = [
    "STORED_RESPONSE",
    "could_be_stored",
    "deleted_response",
    "missing_response",
    "stored_response_answer",
    "stored_response_id",
]

STORED_RESPONSE = "stored_response"  # GET/DELETE …/v1/responses/{id} (a driver endpoint, never planned)
# What a response id may be: the router's own and the backends' fit; nothing else is looked up (a
# lone surrogate could not even be encoded to ask the store: docs/responses-api.md#state-previous_response_id).
_ID = r"[A-Za-z0-9_.:-]{1,200}"
_BY_ID = re.compile(rf"/v1/responses/({_ID})/?")
_WHOLE_ID = re.compile(_ID)
_JSON = {"content-type": "application/json"}


def could_be_stored(response_id: str) -> bool:
    """Whether ``response_id`` is shaped like an id a store could hold."""
    return _WHOLE_ID.fullmatch(response_id) is not None


def stored_response_id(path: str) -> "Optional[str]":
    """The id in a ``…/v1/responses/{id}`` path (query removed), or None for any other path."""
    match = _BY_ID.search(path)
    return match.group(1) if match is not None and match.end() == len(path) else None


def stored_response_answer(store: "ResponseStore", response_id: str, now: float) -> "Optional[ClientResponse]":
    """``GET``: the stored Response object as the client first received it; None when unknown or
    expired; the store's refusal of a record too large to read (docs/proxy-limits.md#continued-conversations)."""
    from .plan import render_error

    try:
        stored = store.get(response_id, now)
    except RequestTooLargeError as error:
        return render_error(OPENAI, error)
    if stored is None:
        return None
    return _response(200, stored.response)


def deleted_response(response_id: str) -> "ClientResponse":
    """The answer to a ``DELETE`` that removed ``response_id``."""
    return _response(200, {"id": response_id, "object": "response", "deleted": True})


def missing_response(response_id: str) -> "ClientResponse":
    """404 for an id the driver does not hold, in OpenAI's error shape."""
    from .plan import render_error

    return render_error(OPENAI, NotFoundError(f"Response with id '{response_id}' not found."))


def _response(status: int, payload: object) -> "ClientResponse":
    from .plan import ClientResponse

    return ClientResponse(status, dict(_JSON), json.dumps(payload).encode())
