"""A streaming call the backend answered whole: gather the JSON body, then stream it.

Some OpenAI-compatible servers ignore ``stream: true``, or ignore it for some calls (with tools,
with a model that cannot stream), and answer ``200`` with one ``application/json`` body. Passed
on as a stream it was nothing: an SDK's SSE reader finds no event in JSON, so a same-protocol call
ended with no chunk and no error, and a translated one with "the stream ended before it was
complete". :class:`WholeAnswerStream` stands in front of the call's own stream translator: it keeps
the body (up to the limit of an answer read whole), and at its end writes it as the backend's own
stream (:mod:`.whole_answer_events`) for that translator to take as if it had been streamed
(docs/protocol-rules.md#whole-answers-to-streams). A body that is an error in disguise is that
error, in-band; one that is not JSON, or over the limits, is a broken answer, in-band too. A body
labelled JSON whose first byte that is not space begins an event stream's line is handed to that
translator as it comes: a stream mislabelled, which the SDKs read as one.
"""

from typing import Optional

from ..answer_kinds import EVENT_STREAM_FIRST_BYTES, first_byte
from ..errors import NOT_A_JSON_NUMBER, RouterError, UpstreamProtocolError, UpstreamTransportError, nested_too_deeply
from ..json_budget import TooManyJsonValues, loads_within_budget
from ..protocols import ENDPOINT_PROTOCOL, MESSAGES, RESPONSES
from ..upstream_failures import WholeAnswer
from ..usage import Usage, usage_from_openai
from .response_common import upstream_object
from .stream_base import StreamTranslator
from .stream_front import StreamFront
from .whole_answer_events import anthropic_events, chat_events, responses_events

__all__ = ["WholeAnswerStream"]


class WholeAnswerStream(StreamFront):
    """Stands in front of ``inner`` (the call's stream translator, reading ``upstream_endpoint``'s
    stream) for a body that came whole. Its state (usage, errors, completion, the final Response) is
    ``inner``'s, as :class:`~.compose.ComposedStream` keeps its outer translator's."""

    def __init__(self, inner: StreamTranslator, upstream_endpoint: str, *, limit: int, usage_chunk: bool) -> None:
        super().__init__(inner)
        self._endpoint = upstream_endpoint
        self._answer = WholeAnswer(limit)
        self._usage_chunk = usage_chunk  # a Chat request's stream_options.include_usage
        # The usage of a Chat answer whose stream would not have carried it: the call's event still has it.
        self._withheld_usage: Optional[Usage] = None
        # What the body turned out to be: None until its first byte that is not space; then False for
        # an event stream labelled JSON (handed to ``inner`` as it comes), True for anything else:
        # one JSON value, or a body that is neither, which the JSON parse then refuses.
        self._whole: Optional[bool] = None

    def feed(self, chunk: bytes) -> bytes:
        """Nothing goes out before a JSON body is whole: a stream of it can only be written then."""
        if self.finished:
            return b""
        if self._whole is False:
            return self._synced(self._behind.feed(chunk))
        if not self._answer.add(chunk):
            return self.abort(UpstreamTransportError(self._answer.too_large().reason))
        if self._whole is None:
            first = first_byte(chunk)
            if first is not None:
                self._whole = first not in EVENT_STREAM_FIRST_BYTES
                if not self._whole:  # events after all: the SDKs read them whatever the label says
                    held, self._answer = self._answer.body(), WholeAnswer(0)
                    return self._synced(self._behind.feed(held))
        return b""

    def close(self) -> bytes:
        if self.finished:
            return b""
        if not self._whole:  # events, or nothing at all: as the stream it was
            return self._synced(self._behind.feed(self._answer.body()) + self._behind.close())
        try:
            events = self._events(self._answer.body())
        except RouterError as error:
            return self.abort(error)
        except ValueError:  # a number JSON cannot carry (1e999 parses to infinity): docs/protocol-rules.md#numbers
            return self.abort(UpstreamProtocolError(f"the backend's answer {NOT_A_JSON_NUMBER}"))
        except RecursionError:
            return self.abort(nested_too_deeply())
        finally:
            self._answer = WholeAnswer(0)  # the body is not needed past this point
        return self._synced(self._behind.feed(events) + self._behind.close())

    def _events(self, body: bytes) -> bytes:
        protocol = ENDPOINT_PROTOCOL[self._endpoint]
        try:
            parsed = loads_within_budget(body)
        except TooManyJsonValues as excess:
            raise UpstreamTransportError(f"the backend's answer {excess}") from None
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise UpstreamProtocolError("the backend answered a streaming call with a JSON content-type "
                                        "and a body that is not JSON") from None
        answer = upstream_object(parsed, protocol)
        if self._endpoint == MESSAGES:
            return anthropic_events(answer)
        if self._endpoint == RESPONSES:
            return responses_events(answer)
        if not self._usage_chunk and isinstance(answer.get("usage"), dict):
            self._withheld_usage = usage_from_openai(answer["usage"])
        return chat_events(answer, usage_chunk=self._usage_chunk)

    def _synced(self, out: bytes) -> bytes:
        super()._synced(out)
        self.usage = self.usage or self._withheld_usage
        return out
