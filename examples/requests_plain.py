"""Plain ``requests`` against the vendors' own URLs: the router routes them by model name.

Run it (the URLs below are the real APIs; under the shim the calls go to your backends instead):
    router shim -- python examples/requests_plain.py
"""

import os

import requests

QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


def openai_format(model: str = "claude-sonnet-4-6") -> None:
    reply = requests.post(
        "https://api.openai.com/v1/chat/completions",
        headers={"Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY', '')}"},
        json={"model": model, "messages": QUESTION},
        timeout=60,
    )
    reply.raise_for_status()
    print("openai format:", reply.json()["choices"][0]["message"]["content"])


def anthropic_format(model: str = "gpt-5.1") -> None:
    reply = requests.post(
        "https://api.anthropic.com/v1/messages",
        headers={"x-api-key": os.environ.get("ANTHROPIC_API_KEY", ""), "anthropic-version": "2023-06-01"},
        json={"model": model, "max_tokens": 300, "messages": QUESTION},
        timeout=60,
    )
    reply.raise_for_status()
    print("anthropic format:", reply.json()["content"][0]["text"])


if __name__ == "__main__":
    openai_format()
    anthropic_format()
