"""The official ``openai`` SDK calling a Claude model: sync, async, streaming and tools.

Run it (no base URL, no key in the code; the router routes claude-* to your `anthropic` backend):
    router shim -- python examples/openai_sdk.py
Or against a running `router proxy`:
    OPENAI_BASE_URL=http://127.0.0.1:3456/v1 OPENAI_API_KEY=unused python examples/openai_sdk.py
Try it with no backend at all: `router demo` shows the same calls against a local demo provider.
"""

import asyncio
import json
import os

import openai

MODEL = os.environ.get("EXAMPLE_MODEL", "claude-sonnet-4-6")
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def sync_call() -> None:
    reply = openai.OpenAI().chat.completions.create(model=MODEL, messages=QUESTION)
    print("sync:", reply.choices[0].message.content)


async def async_call() -> None:
    reply = await openai.AsyncOpenAI().chat.completions.create(model=MODEL, messages=QUESTION)
    print("async:", reply.choices[0].message.content)


def streaming_call() -> None:
    stream = openai.OpenAI().chat.completions.create(model=MODEL, messages=QUESTION, stream=True)
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    print(f"streaming ({len(pieces)} chunks):", "".join(pieces))


def tool_call() -> None:
    reply = openai.OpenAI().chat.completions.create(model=MODEL, messages=QUESTION, tools=[WEATHER_TOOL])
    call = reply.choices[0].message.tool_calls[0]
    print(f"tools: {call.function.name}({json.loads(call.function.arguments)}) "
          f"finish_reason={reply.choices[0].finish_reason}")


if __name__ == "__main__":
    sync_call()
    asyncio.run(async_call())
    streaming_call()
    tool_call()
