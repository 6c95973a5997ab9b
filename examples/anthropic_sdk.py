"""The official ``anthropic`` SDK calling an OpenAI model: a message, a stream, and a tool call.

Run it (no base URL, no key in the code; the router routes gpt-* to your `openai` backend):
    router shim -- python examples/anthropic_sdk.py
Or against a running `router proxy`:
    ANTHROPIC_BASE_URL=http://127.0.0.1:3456 ANTHROPIC_API_KEY=unused python examples/anthropic_sdk.py
"""

import os

import anthropic

MODEL = os.environ.get("EXAMPLE_MODEL", "gpt-5.1")
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def message() -> None:
    reply = anthropic.Anthropic().messages.create(model=MODEL, max_tokens=300, messages=QUESTION)
    print("message:", reply.content[0].text)


def streaming() -> None:
    with anthropic.Anthropic().messages.stream(model=MODEL, max_tokens=300, messages=QUESTION) as stream:
        pieces = list(stream.text_stream)
    print(f"streaming ({len(pieces)} pieces):", "".join(pieces))


def tool_use() -> None:
    reply = anthropic.Anthropic().messages.create(model=MODEL, max_tokens=300, messages=QUESTION,
                                                  tools=[WEATHER_TOOL])
    use = next(block for block in reply.content if block.type == "tool_use")
    print(f"tools: {use.name}({use.input}) stop_reason={reply.stop_reason}")


if __name__ == "__main__":
    message()
    streaming()
    tool_use()
