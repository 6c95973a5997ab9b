"""Stored responses, so that Responses clients can chain calls with ``previous_response_id``.

The Responses API is stateful where the other two are not: a client may send only its new input
and name the response it continues (``previous_response_id``); the server replays that response's
conversation in front of it. Stateless backends (every Chat or Messages backend) know nothing of
earlier calls, so the router keeps what it returned and expands the chain itself
(docs/responses-api.md#state-previous_response_id).

The engine defines the record and the interface; drivers own the storage: the shim keeps a
:class:`MemoryResponseStore` in its process, the proxy a SQLite table. Every call is fast and
synchronous (a primary-key lookup), and the driver passes the time in (the engine reads no clock).
"""

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Protocol, Tuple

from .errors import InvalidRequestError
from .json_budget import JsonMeasure

__all__ = [
    "DEFAULT_MAX_AGE_SECONDS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ENTRIES",
    "PYTHON_BYTES_PER_VALUE",
    "MemoryResponseStore",
    "ResponseStore",
    "StoredResponse",
    "input_items",
]

DEFAULT_MAX_ENTRIES = 1000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_AGE_SECONDS = 24 * 3600.0
_UNMEASURED = JsonMeasure(-1, -1)
# What a JSON value parsed into Python holds beyond its text: the object's header and its slot in
# a dict or a list (46–87 bytes a value measured on conversation items; a record of 2-character
# messages held 10× its JSON: docs/response-store.md#router-shim-the-engines-in-process-store).
PYTHON_BYTES_PER_VALUE = 96


@dataclass(frozen=True)
class StoredResponse:
    """One response a client may continue.

    ``response`` is the Response object exactly as the client received it; ``conversation`` is what
    a later call continuing it replays: the request's input items (after its own chain was
    expanded) followed by the response's output items. ``instructions`` are not part of it: the
    Responses API does not carry them over to the next response.

    ``measure`` is how much JSON replaying ``conversation`` amounts to, as it arrived: the engine
    adds up the bodies and outputs that made it (:func:`~shim.responses_chain.stored_response`), a
    store that read the record from a file measures the record's bytes
    (docs/proxy-limits.md#continued-conversations). Left out, it is measured from :meth:`to_json`."""

    response_id: str
    created_at: float  # the driver's clock (unix seconds) when the call was made
    response: Dict[str, Any]
    conversation: Tuple[Dict[str, Any], ...]
    measure: JsonMeasure = field(default=_UNMEASURED, compare=False)  # derived: not part of what it is
    # The id is a backend's (one that serves Responses itself), so it may repeat; the router's own
    # ids are random and never do (docs/responses-api.md#one-id-one-conversation). Not kept in a file.
    named_by_backend: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if self.measure is _UNMEASURED:
            object.__setattr__(self, "measure", JsonMeasure.of(self.to_json()))

    def to_json(self) -> bytes:
        """The record as one JSON document (what a persistent store keeps)."""
        record = {
            "response_id": self.response_id,
            "created_at": self.created_at,
            "response": self.response,
            "conversation": list(self.conversation),
        }
        return json.dumps(record, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes, measure: Optional[JsonMeasure] = None) -> "StoredResponse":
        """The inverse of :meth:`to_json` (``measure``: ``raw``'s, when the caller has it);
        ``ValueError`` for anything it did not write."""
        record = json.loads(raw)
        if not isinstance(record, dict):
            raise ValueError("a stored response is a JSON object")
        response_id, created_at = record.get("response_id"), record.get("created_at")
        response, conversation = record.get("response"), record.get("conversation")
        if not isinstance(response_id, str) or not isinstance(created_at, (int, float)) or isinstance(created_at, bool):
            raise ValueError("a stored response needs response_id and created_at")
        if not isinstance(response, dict) or not isinstance(conversation, list):
            raise ValueError("a stored response needs response and conversation")
        if not all(isinstance(item, dict) for item in conversation):
            raise ValueError("a stored conversation holds JSON objects")
        return cls(response_id, float(created_at), response, tuple(conversation),
                   JsonMeasure.of(raw) if measure is None else measure)


class ResponseStore(Protocol):
    """Where a driver keeps :class:`StoredResponse` records. Calls are fast and synchronous."""

    def get(self, response_id: str, now: float) -> Optional[StoredResponse]:
        """The record, or None when it is unknown or has expired at ``now``. A store that reads
        records from outside the process may refuse one too large to read with
        :class:`~shim.errors.RequestTooLargeError` rather than parse it."""
        ...

    def put(self, stored: StoredResponse) -> None:
        """Keep ``stored``. An id already kept names two conversations: a backend reused it (the
        router's own ids are random). Then neither is served from here on — the id becomes unknown,
        so a continuation never picks up another's conversation (docs/responses-api.md#one-id-one-conversation)."""
        ...

    def delete(self, response_id: str) -> bool:
        """Forget a record; True when there was one."""
        ...


class MemoryResponseStore:
    """An in-process :class:`ResponseStore` bounded by entries, total bytes and age.

    The oldest records go first when a bound is reached; a record larger than the byte bound is not
    kept at all; an id put twice, or with such a record, is a tombstone: unknown
    (:meth:`ResponseStore.put`) for as long as a record would be kept. A record's bytes are its
    :attr:`~StoredResponse.measure` — its JSON's bytes and :data:`PYTHON_BYTES_PER_VALUE` for each
    value, what the parsed objects hold besides — which the engine made by
    adding up the bodies and outputs behind it: serialising a long conversation again to count it
    took ~9 ms a call for a 1 MiB one, on the caller's thread (the event loop of the proxy
    ``router shim`` runs for non-Python children). Thread-safe: a shimmed program may call from
    many threads."""

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_age_seconds = max_age_seconds
        self._records: OrderedDict[str, Tuple[StoredResponse, int]] = OrderedDict()
        # Ids put twice, or with a record too large to keep → when; bounded like records.
        self._tombstones: OrderedDict[str, float] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._records)

    @property
    def total_bytes(self) -> int:
        return self._bytes

    def get(self, response_id: str, now: float) -> Optional[StoredResponse]:
        with self._lock:
            entry = self._records.get(response_id)
            if entry is None:
                return None
            if self._expired(entry[0], now):
                self._remove(response_id)
                return None
            return entry[0]

    def put(self, stored: StoredResponse) -> None:
        measure = stored.measure
        size = measure.size + PYTHON_BYTES_PER_VALUE * measure.values  # what it holds in memory, about
        response_id, now = stored.response_id, stored.created_at
        with self._lock:
            self._forget_if_aged_out(response_id, now)  # an aged-out one is as good as gone
            if response_id in self._records or response_id in self._tombstones or size > self.max_bytes:
                if response_id in self._records:
                    self._remove(response_id)
                self._tombstones[response_id] = now
                self._tombstones.move_to_end(response_id)
            else:
                self._records[response_id] = (stored, size)
                self._bytes += size
            self._evict(now)

    def delete(self, response_id: str) -> bool:
        with self._lock:
            was_tombstone = self._tombstones.pop(response_id, None) is not None
            if response_id not in self._records:
                return was_tombstone
            self._remove(response_id)
            return True

    def _expired(self, stored: StoredResponse, now: float) -> bool:
        return self._aged_out(stored.created_at, now)

    def _aged_out(self, since: float, now: float) -> bool:
        return now - since >= self.max_age_seconds

    def _forget_if_aged_out(self, response_id: str, now: float) -> None:
        entry = self._records.get(response_id)
        if entry is not None and self._expired(entry[0], now):
            self._remove(response_id)
        since = self._tombstones.get(response_id)
        if since is not None and self._aged_out(since, now):
            del self._tombstones[response_id]

    def _evict(self, now: float) -> None:
        """Oldest first: past the age limit, then until both size bounds hold (tombstones by age and
        count alike)."""
        while self._tombstones:
            oldest_id, since = next(iter(self._tombstones.items()))
            if len(self._tombstones) <= self.max_entries and not self._aged_out(since, now):
                break
            del self._tombstones[oldest_id]
        while self._records:
            oldest_id, (oldest, _) = next(iter(self._records.items()))
            over = len(self._records) > self.max_entries or self._bytes > self.max_bytes
            if not over and not self._expired(oldest, now):
                return
            self._remove(oldest_id)

    def _remove(self, response_id: str) -> None:
        _, size = self._records.pop(response_id)
        self._bytes -= size


def input_items(body: Mapping[str, Any]) -> List[Any]:
    """A Responses request's ``input`` as a list of items: a string is one user message, a missing
    or null input none. The items themselves are checked by whoever translates them."""
    raw = body.get("input")
    if raw is None:
        return []
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    if isinstance(raw, list):
        return raw
    raise InvalidRequestError("'input' must be a string or an array of input items", param="input")
