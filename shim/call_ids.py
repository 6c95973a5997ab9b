"""Unique ids for calls, that no one can guess: translated responses are named after them.

An id is random (``os.urandom``: ~0.35 µs, one ``getrandom`` call; ``uuid4()`` was 4–7 % of the
proxy's time under load, most of it the ``UUID`` object). Random, not a random prefix and a counter
as before: a Responses API id is the key to a stored conversation (``GET /v1/responses/{id}``,
``previous_response_id``), and with a counter the id before one's own was the previous client's
(docs/responses-api.md#state-previous_response_id). Nothing is shared between calls, so a process
that forks needs no new instance.
"""

import os

__all__ = ["CallIds"]


class CallIds:
    """``hex_digits`` random hex digits (an even number) per id."""

    def __init__(self, hex_digits: int) -> None:
        if hex_digits <= 0 or hex_digits % 2:
            raise ValueError(f"hex_digits must be a positive even number, not {hex_digits}")
        self._bytes = hex_digits // 2

    def next(self) -> str:
        return os.urandom(self._bytes).hex()
