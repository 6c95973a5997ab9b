"""One question asked by each client protocol's official SDK, streamed or not, reduced to what the
answer says: shared by the proxy's and the shim's tests of a backend that answers a streaming call
with a whole JSON body (docs/protocol-rules.md#whole-answers-to-streams).

Each SDK's own stream helper assembles the streamed answer (``get_final_completion``,
``get_final_message``, ``get_final_response``), so a stream that an SDK reads differently from
the whole answer, or cannot read, fails the comparison.
"""

import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, Tuple

import anthropic
import openai
from fakes import FakeProvider, UsageSpec

__all__ = [
    "CLIENTS", "MODELS", "QUOTA_ERROR", "REPLY", "STREAM_ERRORS", "Clients", "ResponsesStreamError", "Said",
    "assert_the_form_not_asked_for_says_what_the_whole_answer_says",
]

# (model a client asks for, the upstream format it is answered in): the routes of the tests' configurations
MODELS = {"claude-sonnet-4-6": "messages", "gpt-5.1": "chat", "native-1": "responses"}

TEXT = "Checking the weather in Oslo."
TOOL_CALL = ("get_weather", {"city": "Oslo"})
REPLY: Dict[str, Any] = {"text": TEXT, "tool_calls": [TOOL_CALL],
                         "usage": UsageSpec(input=120, output=30, cache_read=40)}
# A 200 whose JSON is an error, as some servers send one (its message is what the client must see)
QUOTA_ERROR = {"error": {"message": "quota exceeded for this key", "type": "insufficient_quota"}}
PROMPT = "What is the weather in Oslo?"
_PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


class ResponsesStreamError(Exception):
    """The ``error`` event a Responses stream ended with (its message)."""


@dataclass(frozen=True)
class Said:
    """What an answer says, as its client reads it: text, tool calls (name, arguments), how it
    ended, and its usage (input, output tokens)."""

    text: str
    tools: Tuple[Tuple[str, Dict[str, Any]], ...]
    stop: str
    usage: Tuple[int, int]


@dataclass(frozen=True)
class Clients:
    openai: openai.OpenAI
    anthropic: anthropic.Anthropic


def chat_said(clients: Clients, model: str, *, stream: bool) -> Said:
    kwargs: Dict[str, Any] = {
        "model": model, "messages": [{"role": "user", "content": PROMPT}],
        "tools": [{"type": "function", "function": {"name": TOOL_CALL[0], "parameters": _PARAMETERS}}],
    }
    if stream:
        with clients.openai.chat.completions.stream(**kwargs, stream_options={"include_usage": True}) as events:
            completion: Any = events.get_final_completion()
    else:
        completion = clients.openai.chat.completions.create(**kwargs)
    [choice] = completion.choices
    calls = tuple((c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls or ())
    tokens = (completion.usage.prompt_tokens, completion.usage.completion_tokens)
    return Said(choice.message.content or "", calls, choice.finish_reason, tokens)


def messages_said(clients: Clients, model: str, *, stream: bool) -> Said:
    kwargs: Dict[str, Any] = {
        "model": model, "max_tokens": 1024, "messages": [{"role": "user", "content": PROMPT}],
        "tools": [{"name": TOOL_CALL[0], "input_schema": _PARAMETERS}],
    }
    if stream:
        with clients.anthropic.messages.stream(**kwargs) as events:
            message: Any = events.get_final_message()
    else:
        message = clients.anthropic.messages.create(**kwargs)
    text = "".join(block.text for block in message.content if block.type == "text")
    calls = tuple((block.name, block.input) for block in message.content if block.type == "tool_use")
    return Said(text, calls, message.stop_reason, (message.usage.input_tokens, message.usage.output_tokens))


def responses_said(clients: Clients, model: str, *, stream: bool) -> Said:
    kwargs: Dict[str, Any] = {
        "model": model, "input": PROMPT,
        "tools": [{"type": "function", "name": TOOL_CALL[0], "parameters": _PARAMETERS, "strict": False}],
    }
    if stream:
        with clients.openai.responses.stream(**kwargs) as events:
            for event in events:
                if event.type == "error":  # the SDK yields it; get_final_response() then only says none completed
                    raise ResponsesStreamError(event.message)
            response: Any = events.get_final_response()
    else:
        response = clients.openai.responses.create(**kwargs)
    calls = tuple((item.name, json.loads(item.arguments)) for item in response.output if item.type == "function_call")
    usage = response.usage
    return Said(response.output_text, calls, response.status, (usage.input_tokens, usage.output_tokens))


# What each SDK raises for an error a stream carries
STREAM_ERRORS = (openai.APIError, anthropic.APIError, ResponsesStreamError)
CLIENTS: Dict[str, Callable[..., Said]] = {"chat": chat_said, "messages": messages_said, "responses": responses_said}


def assert_the_form_not_asked_for_says_what_the_whole_answer_says(
        provider: FakeProvider, clients: Clients, client: str, model: str, *, stream: bool) -> None:
    """``client`` asks ``model`` for :data:`REPLY` whole, then again (``stream``: streamed) of a backend
    that answers in the other form — a stream with one JSON body, a whole call with a stream: the
    same is said, and the backend was asked as the client asked and answered the other way."""
    said = CLIENTS[client]
    provider.reply(**REPLY)
    whole = said(clients, model, stream=False)
    if stream:
        provider.answers_streams_whole = True
    else:
        provider.streams_every_answer = True
    provider.reply(**REPLY)
    again = said(clients, model, stream=stream)
    assert again == whole
    assert (whole.text, whole.tools) == (TEXT, (TOOL_CALL,))
    asked = provider.last
    assert (asked.request.json.get("stream") is True, asked.stream) == (stream, not stream)
