"""Official-SDK clients pointed at the test engine server (docs/protocol-rules.md#sdk-conformance).

Every client validates strictly (``_strict_response_validation=True``: responses and every stream
chunk/event go through pydantic), never retries (a retried 529 would consume the next scripted
reply and slow the suite), and authenticates with the placeholder key ``router`` — which must
never reach the provider.
"""

import anthropic
import openai
from fakes import EngineServer

__all__ = [
    "PLACEHOLDER_KEY",
    "TIMEOUT",
    "anthropic_client",
    "async_anthropic_client",
    "async_openai_client",
    "openai_client",
]

PLACEHOLDER_KEY = "router"
TIMEOUT = 20.0


def openai_client(engine: EngineServer) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=PLACEHOLDER_KEY, base_url=engine.openai_base_url, max_retries=0, timeout=TIMEOUT,
        _strict_response_validation=True,
    )


def async_openai_client(engine: EngineServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key=PLACEHOLDER_KEY, base_url=engine.openai_base_url, max_retries=0, timeout=TIMEOUT,
        _strict_response_validation=True,
    )


def anthropic_client(engine: EngineServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=PLACEHOLDER_KEY, base_url=engine.anthropic_base_url, max_retries=0, timeout=TIMEOUT,
        _strict_response_validation=True,
    )


def async_anthropic_client(engine: EngineServer) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key=PLACEHOLDER_KEY, base_url=engine.anthropic_base_url, max_retries=0, timeout=TIMEOUT,
        _strict_response_validation=True,
    )


