"""The example agent ``router demo`` runs under ``router shim``: a one-tool weather agent, twice.

* the official ``openai`` SDK asks ``claude-sonnet-4-6`` (an Anthropic model);
* the official ``anthropic`` SDK asks ``gpt-5.1`` (an OpenAI model).

Each turn streams; the model calls the ``get_weather`` tool, the agent runs it and sends the
result back, and the model answers. Nothing here knows about the router: no base URL, no key.
``router shim`` routes each call by model name and translates it in this process.

Run it yourself against your real backends: ``router shim -- python -m host.demo.agent``.
With ``ROUTER_DEMO_LOOPBACK_ONLY=1`` (set by ``router demo``) any attempt to resolve a host other
than loopback fails, so the demo provably never leaves the machine.
"""

import json
import os
import socket
import sys
from typing import Any, Callable, Dict, List, Tuple

__all__ = ["main"]

CLAUDE_MODEL = "claude-sonnet-4-6"
GPT_MODEL = "gpt-5.1"
QUESTION = "What is the weather in Paris?"
_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
OPENAI_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
                                                "parameters": _SCHEMA}}
ANTHROPIC_TOOL = {"name": "get_weather", "description": "Current weather in a city", "input_schema": _SCHEMA}


def get_weather(city: str) -> str:
    """The agent's one tool."""
    return f"18 degrees and sunny in {city}"


def say(line: str) -> None:
    # One write per line: ``router shim -v`` writes its own lines to the same terminal meanwhile.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# openai SDK → claude-* -----------------------------------------------------------------------
def openai_turn(client: Any, messages: List[Dict[str, Any]]) -> Tuple[str, List[Dict[str, Any]], int]:
    """One streamed turn: (text, tool calls as OpenAI message items, chunks received)."""
    stream = client.chat.completions.create(model=CLAUDE_MODEL, messages=messages, tools=[OPENAI_TOOL], stream=True)
    text, chunks = "", 0
    calls: Dict[int, Dict[str, Any]] = {}
    for chunk in stream:
        chunks += 1
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta is not None:
            text += delta.content or ""
            for call in delta.tool_calls or []:
                _merge_tool_delta(calls, call)
    return text, [calls[index] for index in sorted(calls)], chunks


def _merge_tool_delta(calls: Dict[int, Dict[str, Any]], call: Any) -> None:
    """Tool calls stream as deltas keyed by index: id and name first, then argument fragments."""
    entry = calls.setdefault(call.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
    entry["id"] = call.id or entry["id"]
    if call.function is not None:
        entry["function"]["name"] += call.function.name or ""
        entry["function"]["arguments"] += call.function.arguments or ""


def openai_agent() -> str:
    import openai

    client = openai.OpenAI()
    messages: List[Dict[str, Any]] = [{"role": "user", "content": QUESTION}]
    text, calls, chunks = openai_turn(client, messages)
    if not calls:
        raise SystemExit(f"expected a tool call from {CLAUDE_MODEL}, got only text: {text!r}")
    call = calls[0]["function"]
    say(f"  openai SDK -> {CLAUDE_MODEL}: {chunks} stream chunks, text {text!r}, "
        f"tool call {call['name']}({call['arguments']})")
    messages.append({"role": "assistant", "content": text or None, "tool_calls": calls})
    for item in calls:
        result = get_weather(**json.loads(item["function"]["arguments"]))
        messages.append({"role": "tool", "tool_call_id": item["id"], "content": result})
    answer, _, chunks = openai_turn(client, messages)
    say(f"  openai SDK -> {CLAUDE_MODEL}: tool result sent back; {chunks} stream chunks: {answer!r}")
    return answer


# anthropic SDK → gpt-* -----------------------------------------------------------------------
def anthropic_turn(client: Any, messages: List[Dict[str, Any]]) -> Tuple[Any, int]:
    """One streamed turn: (the final message, text pieces received)."""
    with client.messages.stream(model=GPT_MODEL, max_tokens=400, messages=messages, tools=[ANTHROPIC_TOOL]) as stream:
        pieces = sum(1 for _ in stream.text_stream)
        return stream.get_final_message(), pieces


def anthropic_agent() -> str:
    import anthropic

    client = anthropic.Anthropic()
    messages: List[Dict[str, Any]] = [{"role": "user", "content": QUESTION}]
    message, pieces = anthropic_turn(client, messages)
    uses = [block for block in message.content if block.type == "tool_use"]
    text = "".join(block.text for block in message.content if block.type == "text")
    if not uses:
        raise SystemExit(f"expected a tool_use block from {GPT_MODEL}, got: {message.content!r}")
    say(f"  anthropic SDK -> {GPT_MODEL}: {pieces} streamed text pieces, text {text!r}, "
        f"tool_use {uses[0].name}({json.dumps(uses[0].input)}), stop_reason {message.stop_reason}")
    assistant = [{"type": "text", "text": text}] if text else []
    assistant += [{"type": "tool_use", "id": u.id, "name": u.name, "input": u.input} for u in uses]
    results = [{"type": "tool_result", "tool_use_id": u.id, "content": get_weather(**u.input)} for u in uses]
    messages += [{"role": "assistant", "content": assistant}, {"role": "user", "content": results}]
    final, pieces = anthropic_turn(client, messages)
    answer = "".join(block.text for block in final.content if block.type == "text")
    say(f"  anthropic SDK -> {GPT_MODEL}: tool result sent back; {pieces} streamed text pieces: {answer!r}")
    return answer


def _loopback_only() -> None:
    """Refuse to resolve anything but loopback: a call the router failed to route errors out here."""
    real: Callable[..., Any] = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost", "::1", None, b"127.0.0.1", b"localhost"):
            raise OSError(f"router demo: refusing to resolve {host!r} (this call was not routed)")
        return real(host, *args, **kwargs)

    socket.getaddrinfo = guarded


def main() -> int:
    if os.environ.get("ROUTER_DEMO_LOOPBACK_ONLY") == "1":
        _loopback_only()
    answers = [openai_agent(), anthropic_agent()]
    say("  agent: done" if all(answers) else "  agent: an answer was empty")
    return 0 if all(answers) else 1


if __name__ == "__main__":
    sys.exit(main())
