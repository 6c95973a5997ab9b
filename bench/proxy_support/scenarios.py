"""The scenarios and the correctness check each target must pass before it is timed.

Scenarios, each non-streaming and streaming: an OpenAI Chat client calling an OpenAI backend
(pass-through), an Anthropic client calling the same OpenAI backend (translated), and a Chat client
and a Responses client calling an Anthropic backend (translated; Responses goes through the Chat
hub). Direct-to-fake answers each client in its own protocol, which is the baseline "added
latency" is measured against.

A check sends one real request and parses the answer: a non-streaming body must be a valid
``chat.completion`` / Anthropic ``message`` / Responses ``response`` (validated with the official
SDKs' models when they are importable) carrying the expected text; a stream must decode as SSE,
carry the expected text in its deltas, and end properly (``[DONE]`` / ``message_stop`` /
``response.completed``).
"""

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from .wire_bodies import ANSWER_TEXT, ANTHROPIC_BACKEND_MODEL, anthropic_request, openai_request, responses_request

__all__ = ["SCENARIOS", "CheckFailed", "Scenario", "check_scenario", "request_headers"]


class CheckFailed(Exception):
    """The target answered, but not with the right status or body."""


@dataclass(frozen=True)
class Scenario:
    """One client request shape: which protocol the client speaks, streaming or not."""

    name: str
    client: str  # "openai" (Chat Completions) | "anthropic" | "responses"
    stream: bool
    translated: bool  # the client's format differs from the backend's
    backend: str = "openai"  # the protocol of the backend the model is routed to

    @property
    def path(self) -> str:
        return _PATHS[self.client]

    def body(self, model: Optional[str] = None) -> str:
        """The JSON request body; ``model`` replaces the default model name (a peer's own syntax)."""
        request = _REQUESTS[self.client](self.stream)
        if self.backend == "anthropic" and self.client != "anthropic":
            request["model"] = ANTHROPIC_BACKEND_MODEL
        if model is not None:
            request["model"] = model
        return json.dumps(request, separators=(",", ":"))


_PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages", "responses": "/v1/responses"}
_REQUESTS: Dict[str, Callable[[bool], Dict[str, Any]]] = {
    "openai": openai_request, "anthropic": anthropic_request, "responses": responses_request,
}


SCENARIOS: Tuple[Scenario, ...] = (
    Scenario("openai→openai", "openai", stream=False, translated=False),
    Scenario("openai→openai stream", "openai", stream=True, translated=False),
    Scenario("anthropic→openai", "anthropic", stream=False, translated=True),
    Scenario("anthropic→openai stream", "anthropic", stream=True, translated=True),
    Scenario("chat→anthropic", "openai", stream=False, translated=True, backend="anthropic"),
    Scenario("chat→anthropic stream", "openai", stream=True, translated=True, backend="anthropic"),
    Scenario("responses→anthropic", "responses", stream=False, translated=True, backend="anthropic"),
    Scenario("responses→anthropic stream", "responses", stream=True, translated=True, backend="anthropic"),
)


def request_headers(scenario: Scenario, api_key: str) -> Dict[str, str]:
    """The headers the scenario's client sends (its usual auth header, JSON content type)."""
    if scenario.client in ("openai", "responses"):
        return {"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"}
    return {"Content-Type": "application/json", "x-api-key": api_key, "anthropic-version": "2023-06-01"}


def _post(url: str, body: str, headers: Dict[str, str], timeout: float) -> Tuple[int, bytes]:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def _sse_events(raw: bytes) -> List[Tuple[str, str]]:
    """(event name, data) pairs of an SSE body (blank-line separated; CRLF tolerated)."""
    events = []
    text = raw.decode("utf-8").replace("\r\n", "\n")
    for block in text.split("\n\n"):
        name, data = "", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if data:
            events.append((name, "\n".join(data)))
    return events


def _validate(kind: str, payload: Any) -> None:
    """Strict validation with the official SDK models, when they are installed."""
    try:
        if kind == "openai":
            from openai.types.chat import ChatCompletion

            ChatCompletion.model_validate(payload)
        elif kind == "openai_chunk":
            from openai.types.chat import ChatCompletionChunk

            ChatCompletionChunk.model_validate(payload)
        elif kind == "anthropic":
            from anthropic.types import Message

            Message.model_validate(payload)
        elif kind == "anthropic_event":
            from anthropic.types import RawMessageStreamEvent
            from pydantic import TypeAdapter

            TypeAdapter(RawMessageStreamEvent).validate_python(payload)
        elif kind == "responses":
            from openai.types.responses import Response

            Response.model_validate(payload)
        elif kind == "responses_event":
            from openai.types.responses import ResponseStreamEvent
            from pydantic import TypeAdapter

            TypeAdapter(ResponseStreamEvent).validate_python(payload)
    except ImportError:
        return
    except Exception as exc:  # pydantic.ValidationError, without importing pydantic when absent
        raise CheckFailed(f"{kind} does not validate: {str(exc).splitlines()[0:3]}") from None


def _expect_text(found: str) -> None:
    if found != ANSWER_TEXT:
        raise CheckFailed(f"expected text {ANSWER_TEXT!r}, got {found[:120]!r}")


def _check_openai(raw: bytes) -> None:
    body = json.loads(raw)
    _validate("openai", body)
    _expect_text(body["choices"][0]["message"]["content"] or "")


def _check_openai_stream(raw: bytes) -> None:
    events = _sse_events(raw)
    if not events or events[-1][1] != "[DONE]":
        raise CheckFailed("OpenAI stream does not end with data: [DONE]")
    text = ""
    for _, data in events[:-1]:
        chunk = json.loads(data)
        if "error" in chunk:
            raise CheckFailed(f"in-band error: {data[:200]}")
        _validate("openai_chunk", chunk)
        text += "".join(choice.get("delta", {}).get("content") or "" for choice in chunk.get("choices", []))
    _expect_text(text)


def _check_anthropic(raw: bytes) -> None:
    body = json.loads(raw)
    _validate("anthropic", body)
    if body.get("type") != "message":
        raise CheckFailed(f"not an Anthropic message: {raw[:200]!r}")
    _expect_text("".join(block.get("text", "") for block in body["content"] if block.get("type") == "text"))


def _check_anthropic_stream(raw: bytes) -> None:
    events = _sse_events(raw)
    text = ""
    for name, data in events:
        event = json.loads(data)
        if name != event.get("type"):
            raise CheckFailed(f"event name {name!r} differs from its data type {event.get('type')!r}")
        _validate("anthropic_event", event)
        delta = event.get("delta", {}) if event["type"] == "content_block_delta" else {}
        text += delta.get("text", "") if delta.get("type") == "text_delta" else ""
    if not events or events[-1][0] != "message_stop":
        raise CheckFailed("Anthropic stream does not end with message_stop")
    _expect_text(text)


def _output_text(response: Dict[str, Any]) -> str:
    return "".join(part.get("text", "") for item in response.get("output", []) if item.get("type") == "message"
                   for part in item.get("content", []) if part.get("type") == "output_text")


def _check_responses(raw: bytes) -> None:
    body = json.loads(raw)
    _validate("responses", body)
    if body.get("object") != "response" or body.get("status") != "completed":
        raise CheckFailed(f"not a completed response: {raw[:200]!r}")
    _expect_text(_output_text(body))


def _check_responses_stream(raw: bytes) -> None:
    events = _sse_events(raw)
    text, sequence = "", -1
    for name, data in events:
        event = json.loads(data)
        if name and name != event.get("type"):
            raise CheckFailed(f"event name {name!r} differs from its data type {event.get('type')!r}")
        if event.get("sequence_number", -1) <= sequence:
            raise CheckFailed("sequence_number does not increase")
        sequence = event["sequence_number"]
        _validate("responses_event", event)
        text += event.get("delta", "") if event["type"] == "response.output_text.delta" else ""
    if not events or json.loads(events[-1][1]).get("type") != "response.completed":
        raise CheckFailed("Responses stream does not end with response.completed")
    _expect_text(text)
    _expect_text(_output_text(json.loads(events[-1][1])["response"]))


_CHECKERS: Dict[Tuple[str, bool], Callable[[bytes], None]] = {
    ("openai", False): _check_openai,
    ("openai", True): _check_openai_stream,
    ("anthropic", False): _check_anthropic,
    ("anthropic", True): _check_anthropic_stream,
    ("responses", False): _check_responses,
    ("responses", True): _check_responses_stream,
}


def check_scenario(base_url: str, scenario: Scenario, body: str, api_key: str, timeout: float = 30.0) -> None:
    """Send ``body`` once; raise :class:`CheckFailed` unless the answer is 200 and right."""
    status, raw = _post(base_url + scenario.path, body, request_headers(scenario, api_key), timeout)
    if status != 200:
        raise CheckFailed(f"HTTP {status}: {raw[:300]!r}")
    try:
        _CHECKERS[(scenario.client, scenario.stream)](raw)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise CheckFailed(f"malformed body ({type(exc).__name__}: {exc}): {raw[:300]!r}") from None
