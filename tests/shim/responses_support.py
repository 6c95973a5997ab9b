"""What the Responses translator tests share: upstream stream builders in both formats, feeding a
translator under every chunking, and the official ``openai`` SDK (strict validation) reading the
produced bytes through a mock transport."""

import json
from typing import Any, Callable, Dict, List, Optional, Tuple

import httpx2
import openai
import pydantic
from openai.types.responses import Response, ResponseStreamEvent

from shim.translate.context import ClientTool, ResponseContext
from shim.translate.stream_base import StreamTranslator

__all__ = [
    "CHUNKINGS",
    "RESPONSE_ADAPTER",
    "chat_chunk",
    "chat_sse",
    "feed",
    "openai_client",
    "responses_event",
    "responses_sse",
    "sdk_final_response",
    "split_upstream",
    "validate_events",
]

CHUNKINGS = ("whole", "per_event", "bytes")
EVENT_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)
RESPONSE_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(Response)
CODEX_TOOLS = {
    "mcp__fs__read": ClientTool("read", "mcp__fs"),
    "apply_patch": ClientTool("apply_patch", None, custom=True),
}
CONTEXT = ResponseContext(
    client_model="gpt-5.1-codex", created=1_730_000_000, call_id="c0ffee", client_tools=CODEX_TOOLS
)


# --- Chat upstream -------------------------------------------------------------------------------

def chat_chunk(delta: Optional[Dict[str, Any]] = None, finish: Optional[str] = None, **top: Any) -> Dict[str, Any]:
    """One ``chat.completion.chunk`` as OpenAI sends it with include_usage (usage: null)."""
    body: Dict[str, Any] = {
        "id": "chatcmpl-B9MBs8Cjcv", "object": "chat.completion.chunk", "created": 1_730_000_000,
        "model": "llama-3.3-70b", "choices": [{"index": 0, "delta": delta or {}, "logprobs": None,
                                               "finish_reason": finish}], "usage": None,
    }
    body.update(top)
    return body


def chat_sse(*items: Any, done: bool = True) -> bytes:
    out = b""
    for item in items:
        out += item if isinstance(item, bytes) else b"data: " + json.dumps(item).encode() + b"\n\n"
    return out + (b"data: [DONE]\n\n" if done else b"")


# --- Responses upstream --------------------------------------------------------------------------

def responses_event(kind: str, **fields: Any) -> Tuple[str, Dict[str, Any]]:
    return kind, fields


def responses_sse(*events: Any) -> bytes:
    """``event:``/``data:`` pairs numbered from 0; bytes are inserted verbatim."""
    out = b""
    number = 0
    for event in events:
        if isinstance(event, bytes):
            out += event
            continue
        kind, fields = event
        data = {"type": kind, "sequence_number": number, **fields}
        number += 1
        out += f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()
    return out


# --- Running translators -------------------------------------------------------------------------

def split_upstream(raw: bytes, chunking: str) -> List[bytes]:
    if chunking == "whole":
        return [raw]
    if chunking == "bytes":
        return [raw[i:i + 1] for i in range(len(raw))]
    parts = raw.split(b"\n\n")
    return [part + b"\n\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def feed(make: Callable[[], StreamTranslator], raw: bytes, chunking: str = "whole") -> Tuple[bytes, StreamTranslator]:
    translator = make()
    out = b"".join(translator.feed(piece) for piece in split_upstream(raw, chunking))
    return out + translator.close(), translator


def feed_all_chunkings(make: Callable[[], StreamTranslator], raw: bytes) -> Tuple[bytes, StreamTranslator]:
    """The output, after checking every chunking of the upstream gives the same bytes."""
    outputs = [feed(make, raw, chunking) for chunking in CHUNKINGS]
    first = outputs[0][0]
    for (out, _), chunking in zip(outputs[1:], CHUNKINGS[1:], strict=True):
        assert out == first, f"chunking {chunking!r} changed the client bytes"
    return outputs[0]


# --- The official SDK ----------------------------------------------------------------------------

def openai_client(body: bytes, content_type: str = "text/event-stream", status: int = 200) -> openai.OpenAI:
    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, headers={"content-type": content_type}, content=body)

    return openai.OpenAI(
        api_key="sk-test", base_url="http://router.invalid/v1", max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(answer)), _strict_response_validation=True,
    )


def sdk_final_response(produced: bytes) -> Any:
    """What ``responses.stream(...).get_final_response()`` returns for ``produced``."""
    with openai_client(produced).responses.stream(model=CONTEXT.client_model, input="hi") as stream:
        return stream.get_final_response()


def validate_events(produced: bytes) -> List[Any]:
    """Every event against the SDK's own types, strictly; returns them."""
    events = []
    for block in produced.decode().split("\n\n"):
        if block:
            data = json.loads(block.split("\n", 1)[1][len("data: "):])
            events.append(EVENT_ADAPTER.validate_python(data, strict=True))
    return events
