"""STUB — being written."""
from .context import ResponseContext
from .stream_base import StreamTranslator
__all__ = ["AnthropicToOpenAIStream"]
class AnthropicToOpenAIStream(StreamTranslator):
    def __init__(self, context: ResponseContext) -> None:
        super().__init__()
        self._context = context
