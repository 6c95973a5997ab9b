"""The fixed, realistic bodies of the bench: client requests and the fake provider's answers.

One place for every byte on the wire, so the checks know what text to expect and the fake can
pre-encode everything once. Answers come in the three wire formats (OpenAI Chat Completions,
Anthropic Messages, OpenAI Responses), each non-streaming and as a short SSE stream: ten content
chunks, a finish, usage, and the terminator, like a real short answer.
"""

import json
from typing import Any, Dict, List, Tuple

__all__ = [
    "ANSWER_PIECES",
    "ANSWER_TEXT",
    "ANTHROPIC_BACKEND_MODEL",
    "ANTHROPIC_MODEL",
    "OPENAI_MODEL",
    "anthropic_message",
    "anthropic_request",
    "anthropic_stream",
    "openai_completion",
    "openai_request",
    "openai_stream",
    "responses_object",
    "responses_request",
    "responses_stream",
]

OPENAI_MODEL = "gpt-4o-mini"
# What an Anthropic client (Claude Code, the anthropic SDK) asks for; the proxies route it to the
# OpenAI-protocol fake, so this exercises Anthropic-client → OpenAI-backend translation.
ANTHROPIC_MODEL = "claude-sonnet-4-5"
# The model the Anthropic-backend scenarios ask for: the proxies route it to the fake's Anthropic
# Messages endpoint, so Chat and Responses clients exercise the translation to Anthropic.
ANTHROPIC_BACKEND_MODEL = "claude-haiku-4-5"
ANSWER_PIECES = ("The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".")
ANSWER_TEXT = "".join(ANSWER_PIECES)
_SYSTEM = "You are a concise assistant. Answer in one short sentence."
_QUESTION = "Write one short sentence that uses every letter of the English alphabet."
_USAGE = {"prompt_tokens": 31, "completion_tokens": 10, "total_tokens": 41}
_CREATED = 1_700_000_000


def openai_request(stream: bool) -> Dict[str, Any]:
    """A typical small Chat Completions request (system + user, a limit, a temperature)."""
    body: Dict[str, Any] = {
        "model": OPENAI_MODEL,
        "messages": [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": _QUESTION}],
        "max_tokens": 64,
        "temperature": 0.2,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def anthropic_request(stream: bool) -> Dict[str, Any]:
    """The same question as an Anthropic Messages request."""
    body: Dict[str, Any] = {
        "model": ANTHROPIC_MODEL,
        "system": _SYSTEM,
        "messages": [{"role": "user", "content": _QUESTION}],
        "max_tokens": 64,
        "temperature": 0.2,
    }
    if stream:
        body["stream"] = True
    return body


def responses_request(stream: bool) -> Dict[str, Any]:
    """The same question as an OpenAI Responses request (instructions + a string input)."""
    body: Dict[str, Any] = {
        "model": ANTHROPIC_BACKEND_MODEL,
        "instructions": _SYSTEM,
        "input": _QUESTION,
        "max_output_tokens": 64,
        "temperature": 0.2,
    }
    if stream:
        body["stream"] = True
    return body


def openai_completion() -> Dict[str, Any]:
    """A non-streaming ``chat.completion`` carrying :data:`ANSWER_TEXT`."""
    return {
        "id": "chatcmpl-bench0000000000000000000001",
        "object": "chat.completion",
        "created": _CREATED,
        "model": OPENAI_MODEL,
        "system_fingerprint": "fp_bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER_TEXT, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": dict(_USAGE),
    }


def openai_stream() -> List[str]:
    """The ``data:`` payloads of a streamed answer: role, 10 pieces, finish, usage, ``[DONE]``."""
    chunks = [_openai_chunk({"role": "assistant", "content": ""}, None)]
    chunks += [_openai_chunk({"content": piece}, None) for piece in ANSWER_PIECES]
    chunks.append(_openai_chunk({}, "stop"))
    usage_chunk = _openai_chunk_shell([])
    usage_chunk["usage"] = dict(_USAGE)
    chunks.append(usage_chunk)
    return [json.dumps(chunk, separators=(",", ":")) for chunk in chunks] + ["[DONE]"]


def _openai_chunk(delta: Dict[str, Any], finish_reason: Any) -> Dict[str, Any]:
    return _openai_chunk_shell([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}])


def _openai_chunk_shell(choices: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {
        "id": "chatcmpl-bench0000000000000000000002",
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": OPENAI_MODEL,
        "system_fingerprint": "fp_bench",
        "choices": choices,
        "usage": None,
    }


def anthropic_message() -> Dict[str, Any]:
    """A non-streaming Anthropic ``message`` carrying :data:`ANSWER_TEXT`."""
    return {
        "id": "msg_bench00000000000000000001",
        "type": "message",
        "role": "assistant",
        "model": ANTHROPIC_MODEL,
        "content": [{"type": "text", "text": ANSWER_TEXT}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 31, "output_tokens": 10},
    }


def anthropic_stream() -> List[Tuple[str, str]]:
    """(event name, JSON data) pairs of a streamed Anthropic answer with 10 text deltas."""
    start = anthropic_message()
    start.update(content=[], stop_reason=None, usage={"input_tokens": 31, "output_tokens": 1})
    events: List[Dict[str, Any]] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    events += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
        for piece in ANSWER_PIECES
    ]
    events += [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 10},
        },
        {"type": "message_stop"},
    ]
    return [(event["type"], json.dumps(event, separators=(",", ":"))) for event in events]


_RESPONSE_USAGE = {"input_tokens": 31, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                   "output_tokens": 10,
                   "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 41}


def responses_object(status: str = "completed", text: str = ANSWER_TEXT) -> Dict[str, Any]:
    """A Responses ``response`` object carrying ``text`` (the whole answer, or a stream's shell)."""
    message = {"id": "msg_bench0001", "type": "message", "role": "assistant", "status": status,
               "content": [{"type": "output_text", "text": text, "annotations": []}]}
    return {
        "id": "resp_bench00000000000000000001", "object": "response", "created_at": _CREATED, "status": status,
        "model": ANTHROPIC_BACKEND_MODEL, "output": [message] if status == "completed" else [],
        "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "error": None, "incomplete_details": None,
        "usage": dict(_RESPONSE_USAGE) if status == "completed" else None,
    }


def responses_stream() -> List[Tuple[str, str]]:
    """(event type, JSON data) pairs of a streamed Responses answer with 10 text deltas."""
    item = {"id": "msg_bench0001", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    where = {"item_id": "msg_bench0001", "output_index": 0, "content_index": 0}
    events: List[Dict[str, Any]] = [
        {"type": "response.created", "response": responses_object("in_progress")},
        {"type": "response.in_progress", "response": responses_object("in_progress")},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.content_part.added", **where, "part": part},
    ]
    events += [
        {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []} for piece in ANSWER_PIECES
    ]
    done_part = {**part, "text": ANSWER_TEXT}
    events += [
        {"type": "response.output_text.done", **where, "text": ANSWER_TEXT, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": done_part},
        {"type": "response.output_item.done", "output_index": 0,
         "item": {**item, "status": "completed", "content": [done_part]}},
        {"type": "response.completed", "response": responses_object()},
    ]
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return [(event["type"], json.dumps(event, separators=(",", ":"))) for event in events]
