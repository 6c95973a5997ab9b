"""``previous_response_id`` on the way in, and the record to store on the way out.

On the way in (:func:`expand_chain`): a Responses request naming a previous response the router
stored gets that response's conversation put in front of its own input, and the id removed, so
any backend — stateless or not — sees the whole history. An id the store does not know is a clear
400 for a stateless backend; a native Responses backend gets the request unchanged, since the id
may be one it issued itself (docs/responses-api.md#state-previous_response_id). The expanded
request is one the client never sent, so it is held to a body's limits here, from the measures the
records carry, before anything builds it (docs/proxy-limits.md#continued-conversations).

On the way out (:func:`stored_response`): the Response the client received, with the input items
the call actually had, becomes the :class:`~shim.responses_store.StoredResponse` a driver keeps.
"""

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Union

from .errors import InvalidRequestError, RequestTooLargeError
from .json_budget import JsonMeasure, loads_within_budget
from .response_lookup import could_be_stored
from .responses_store import ResponseStore, StoredResponse, input_items
from .translate.request_checks import describe

__all__ = ["Chain", "expand_chain", "stored_response"]

# Statuses of a response a later call may continue (a failed one has nothing to continue).
_CONTINUABLE = ("completed", "incomplete")


@dataclass(frozen=True)
class Chain:
    """A Responses request after :func:`expand_chain`."""

    body: Dict[str, Any]  # the request to translate or forward (expanded when the id was known)
    expanded: bool  # ``body`` is not the client's: the stored conversation was put in
    # The whole input the call has, to store with its output; None when part of the history is
    # held by the backend alone (an id passed through), so no complete record can be made.
    replay_input: Optional[List[Any]]
    store: bool  # the client did not say ``store: false``
    replay_measure: JsonMeasure  # ``replay_input``'s: the stored conversation's and the body's


def expand_chain(
    body: Dict[str, Any], store: Optional[ResponseStore], *, now: float, native: bool,
    body_measure: JsonMeasure, max_bytes: int,
) -> Chain:
    """Expand ``previous_response_id`` from ``store`` (see the module docstring). ``body_measure``
    is the client's body's; ``max_bytes`` the driver's limit for a body, which the expanded request
    is held to as well (and to :data:`~shim.json_budget.MAX_JSON_VALUES`)."""
    keep = body.get("store") is not False
    previous = body.get("previous_response_id")
    if previous is None:
        return Chain(body, False, _input_or_none(body), keep, body_measure)
    if not isinstance(previous, str) or not previous:
        raise InvalidRequestError("'previous_response_id' must be a non-empty string", param="previous_response_id")
    stored = store.get(previous, now) if store is not None and could_be_stored(previous) else None
    if stored is None:
        if native:
            return Chain(body, False, None, keep, body_measure)
        raise InvalidRequestError(
            f"previous response {describe(previous)} is unknown or has expired: the router keeps the responses it "
            "returned for a limited time, and this backend keeps none, so send the whole conversation as input",
            param="previous_response_id",
        )
    measure = stored.measure + body_measure
    excess = measure.excess(max_bytes)
    if excess is not None:
        raise RequestTooLargeError(
            f"previous response {describe(previous)} continued with this input would be a request of {excess} "
            "(the limits of one request body): start a new conversation, or send a shorter one as input",
            param="previous_response_id",
        )
    conversation = list(stored.conversation) + input_items(body)
    expanded = {key: value for key, value in body.items() if key != "previous_response_id"}
    expanded["input"] = conversation
    return Chain(expanded, True, conversation, keep, measure)


def _input_or_none(body: Dict[str, Any]) -> Optional[List[Any]]:
    """The input to keep, or None for one that is not items (no record then): whether it is valid
    is for the translator — or, on the same-format path, the backend — to say."""
    try:
        return input_items(body)
    except InvalidRequestError:
        return None


def stored_response(
    response: Union[bytes, Mapping[str, Any], None], replay_input: Optional[List[Any]], *, now: float,
    replay_measure: JsonMeasure, json_values: Optional[int] = None, named_by_backend: bool = False,
) -> Optional[StoredResponse]:
    """The record for a Response the client received, or None when there is nothing to keep: no
    complete input (see :class:`Chain`), a body that is not a continuable Response object. Its
    measure is ``replay_measure`` and its output's (serialised here: an answer's size, not a
    conversation's). ``json_values``: what a driver counted of a ``response`` of bytes as it arrived."""
    if replay_input is None or response is None:
        return None
    parsed = _response_object(response, json_values)
    if parsed is None:
        return None
    response_id, output = parsed.get("id"), parsed.get("output")
    if not isinstance(response_id, str) or not response_id or not isinstance(output, list):
        return None
    if parsed.get("status", "completed") not in _CONTINUABLE:
        return None
    items = [item for item in list(replay_input) + output if isinstance(item, dict)]
    output_measure = JsonMeasure.of(json.dumps(output, separators=(",", ":")).encode())
    return StoredResponse(response_id, now, parsed, tuple(items), replay_measure + output_measure,
                          named_by_backend=named_by_backend)


def _response_object(response: Union[bytes, Mapping[str, Any]], json_values: Optional[int]) -> Optional[Dict[str, Any]]:
    if isinstance(response, (bytes, bytearray)):
        try:
            response = loads_within_budget(response, json_values)  # too much to parse: not kept
        except (ValueError, RecursionError):
            return None
    if not isinstance(response, dict) or response.get("object") != "response":
        return None
    return response
