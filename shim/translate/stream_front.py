"""A stream translator that stands in front of another: what it adds happens in ``feed``, ``close``
and ``abort``; the stream's state (usage, error, completion, the final Response) is the other's.

:class:`~.stream_whole_answer.WholeAnswerStream` (a body that came whole, streamed at its end),
:class:`~.stream_opening.OpeningHold` (a stream's opening held back until its first content) and
:class:`~.compose.ComposedStream` (two translations through the Chat hub, in front of the client
side's) are such fronts; the event hooks of :class:`~.stream_base.StreamTranslator` are never
called on one, since the translator behind it decodes the events.
"""

from ..errors import RouterError
from ..sse import SSEEvent
from .stream_base import StreamTranslator

__all__ = ["StreamFront"]


class StreamFront(StreamTranslator):
    """See the module docstring; ``behind``: the translator behind this one."""

    def __init__(self, behind: StreamTranslator) -> None:
        super().__init__()
        self._behind = behind

    def abort(self, error: RouterError) -> bytes:
        if self.finished:
            return b""
        return self._synced(self._behind.abort(error))

    def _synced(self, out: bytes) -> bytes:
        """``out``, once this front's state is that of the translator behind it again."""
        behind = self._behind
        self.usage, self.error, self.finished = behind.usage, behind.error, behind.finished
        self._end_seen, self.final_response = behind.complete, behind.final_response
        return out

    def _on_event(self, event: SSEEvent) -> bytes:  # feed/close are overridden: never called
        raise NotImplementedError

    def _on_eof(self) -> bytes:
        raise NotImplementedError

    def _render_error(self, error: RouterError) -> bytes:
        raise NotImplementedError
