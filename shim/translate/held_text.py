"""What a stream translator keeps of an answer until its stream ends, counted and bounded.

Most of a translated stream goes to the client as it arrives and is forgotten. Some text must be
kept until the end: a Responses stream closes with the whole Response (every item's text, in
``response.output_item.done`` and ``response.completed``); a tool call that arrives while another is
open is held until it can be sent whole; refusal text decides an Anthropic client's stop details.
That text — and the tool calls, open blocks and items a translator tracks — grows for as long as
the backend streams, so a backend that never stops (a local model
caught in a loop without an output limit) would grow it for good. It is held to the size of a
whole answer instead — ``router proxy``'s ``--max-response-mib`` — and past it the stream ends with
an in-band 502 in the client's protocol, as an answer read whole does
(docs/proxy-limits.md#answers).
"""

from ..errors import UpstreamTransportError

__all__ = ["MAX_HELD_BYTES", "PIECE_COST", "HeldText"]

MAX_HELD_BYTES = 128 * 1024 * 1024
# What CPython spends on one kept piece beside its characters: a str's header (49 bytes for ASCII
# text) and its slot in a list. Counted so that a stream of one-character deltas is bounded in the
# memory it takes, not only in its characters.
PIECE_COST = 64


class HeldText:
    """The running size of the text one stream translator keeps; :meth:`keep` raises past the limit."""

    __slots__ = ("_held", "_limit")

    def __init__(self, limit: int = MAX_HELD_BYTES) -> None:
        self._limit = limit
        self._held = 0

    def keep_item(self) -> None:
        """Count one item the caller keeps until the stream ends (a tool call, an open block, an
        item's id): a backend that opens them by the million grew the translator's tables without
        bound, each kept piece of them below a text's cost (docs/proxy-limits.md#answers)."""
        self.keep("")

    def keep(self, text: str) -> str:
        """Count ``text`` (one piece the caller is about to keep) and return it."""
        self._held += len(text) + PIECE_COST
        if self._held > self._limit:
            raise UpstreamTransportError(
                f"the backend's answer is over the limit of {self._limit} bytes the router holds for one answer"
            )
        return text
