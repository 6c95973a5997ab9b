"""Test doubles at the network edge: a fake provider speaking both wire formats, and a
test-only engine driver (loopback HTTP server) the official SDKs can be pointed at."""

from .agent_loop import AgentLoop
from .engine_server import BACKEND_KEYS, EngineServer, engine_config
from .fake_provider import Exchange, FakeProvider, RecordedRequest
from .scenario import Reply, ToolCall, UsageSpec

__all__ = [
    "BACKEND_KEYS",
    "AgentLoop",
    "EngineServer",
    "Exchange",
    "FakeProvider",
    "RecordedRequest",
    "Reply",
    "ToolCall",
    "UsageSpec",
    "engine_config",
]
