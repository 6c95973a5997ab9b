"""Which translation serves a (client format, upstream format) pair.

Formats are the three generation endpoints (``shim/protocols.py``). Chat Completions is the hub:
Chat ⇄ Messages and Chat ⇄ Responses are translated directly, Responses ⇄ Messages by composing
the two through Chat (docs/responses-api.md#composition). A pair of equal formats is never
translated: the plan forwards it unchanged.
"""

from typing import Dict, Tuple

from ..errors import UnsupportedFeatureError
from ..protocols import CHAT, MESSAGES, RESPONSES
from .compose import Translation, compose
from .request_anthropic_to_openai import anthropic_request_to_openai
from .request_openai_to_anthropic import openai_request_to_anthropic
from .response_anthropic_to_openai import anthropic_response_to_openai
from .response_openai_to_anthropic import openai_response_to_anthropic
from .stream_anthropic_to_openai import AnthropicToOpenAIStream
from .stream_openai_to_anthropic import OpenAIToAnthropicStream

__all__ = ["TRANSLATIONS", "translation_for"]

CHAT_TO_MESSAGES = Translation(openai_request_to_anthropic, anthropic_response_to_openai, AnthropicToOpenAIStream)
MESSAGES_TO_CHAT = Translation(anthropic_request_to_openai, openai_response_to_anthropic, OpenAIToAnthropicStream)

TRANSLATIONS: Dict[Tuple[str, str], Translation] = {
    (CHAT, MESSAGES): CHAT_TO_MESSAGES,
    (MESSAGES, CHAT): MESSAGES_TO_CHAT,
}


def translation_for(client_format: str, upstream_format: str) -> Translation:
    """The translation for a client of ``client_format`` calling an ``upstream_format`` endpoint."""
    try:
        return TRANSLATIONS[(client_format, upstream_format)]
    except KeyError:
        raise UnsupportedFeatureError(
            f"the router cannot translate {client_format} calls to a {upstream_format} endpoint"
        ) from None


_ = (RESPONSES, compose)
