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
from .request_chat_to_responses import chat_request_to_responses
from .request_openai_to_anthropic import openai_request_to_anthropic
from .request_responses_to_chat import responses_request_to_chat
from .response_anthropic_to_openai import anthropic_response_to_openai
from .response_chat_to_responses import chat_response_to_responses
from .response_openai_to_anthropic import openai_response_to_anthropic
from .response_responses_to_chat import responses_response_to_chat
from .stream_anthropic_to_openai import AnthropicToOpenAIStream
from .stream_chat_to_responses import ChatToResponsesStream
from .stream_openai_to_anthropic import OpenAIToAnthropicStream
from .stream_responses_to_chat import ResponsesToChatStream

__all__ = ["TRANSLATIONS", "translation_for"]

CHAT_TO_MESSAGES = Translation(openai_request_to_anthropic, anthropic_response_to_openai, AnthropicToOpenAIStream)
MESSAGES_TO_CHAT = Translation(anthropic_request_to_openai, openai_response_to_anthropic, OpenAIToAnthropicStream)
RESPONSES_TO_CHAT = Translation(responses_request_to_chat, chat_response_to_responses, ChatToResponsesStream)
CHAT_TO_RESPONSES = Translation(chat_request_to_responses, responses_response_to_chat, ResponsesToChatStream)

TRANSLATIONS: Dict[Tuple[str, str], Translation] = {
    (CHAT, MESSAGES): CHAT_TO_MESSAGES,
    (MESSAGES, CHAT): MESSAGES_TO_CHAT,
    (RESPONSES, CHAT): RESPONSES_TO_CHAT,
    (CHAT, RESPONSES): CHAT_TO_RESPONSES,
    (RESPONSES, MESSAGES): compose(RESPONSES_TO_CHAT, CHAT_TO_MESSAGES),
    (MESSAGES, RESPONSES): compose(MESSAGES_TO_CHAT, CHAT_TO_RESPONSES),
}


def translation_for(client_format: str, upstream_format: str) -> Translation:
    """The translation for a client of ``client_format`` calling an ``upstream_format`` endpoint."""
    try:
        return TRANSLATIONS[(client_format, upstream_format)]
    except KeyError:
        raise UnsupportedFeatureError(
            f"the router cannot translate {client_format} calls to a {upstream_format} endpoint"
        ) from None

