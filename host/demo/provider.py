"""``router demo``'s provider: a loopback stand-in for both vendors, answering a weather agent.

It speaks the real wire formats (:mod:`.wire_anthropic` on ``/v1/messages``, :mod:`.wire_openai`
on ``/v1/chat/completions``) and answers by a fixed rule, so the demo needs no keys and no network:

* a request offering tools, with no tool result in it yet → a call of the first tool
  (``{"city": "Paris"}``), the way a model starts an agent loop;
* anything else → a short text naming the model and the wire format that answered.

Each backend's fake key must arrive in that protocol's own header (``x-api-key`` for Anthropic,
``Authorization: Bearer`` for OpenAI), else the answer is that protocol's 401: the demo then shows
the router injected the right credentials. :attr:`DemoProvider.calls` counts answers per protocol.
"""

import json
import threading
from typing import Any, Dict

from .conversation import read_conversation
from .reply import Reply
from .wire_server import ANTHROPIC, OPENAI, WireHandler, WireServer, error_body, model_list, wire_for

__all__ = ["DEMO_KEYS", "PROTOCOL_LABELS", "DemoProvider", "demo_reply"]

DEMO_KEYS = {ANTHROPIC: "sk-ant-demo-not-a-real-key", OPENAI: "sk-demo-not-a-real-key"}
PROTOCOL_LABELS = {ANTHROPIC: "Anthropic Messages", OPENAI: "OpenAI Chat Completions"}
_PATHS = {"/v1/messages": ANTHROPIC, "/v1/chat/completions": OPENAI}
TOOL_ARGUMENTS = {"city": "Paris"}


class DemoProvider(WireServer):
    """See the module docstring. ``with DemoProvider() as provider: provider.root_url``."""

    def __init__(self) -> None:
        super().__init__(_DemoHandler, "router-demo-provider")
        self._lock = threading.Lock()
        self.calls: Dict[str, int] = {ANTHROPIC: 0, OPENAI: 0}

    def __enter__(self) -> "DemoProvider":
        self.start()
        return self

    def count(self, protocol: str) -> int:
        """Numbers ids per call and counts answers per protocol."""
        with self._lock:
            self.calls[protocol] += 1
            return sum(self.calls.values())


def demo_reply(protocol: str, body: Dict[str, Any]) -> Reply:
    """What the demo "model" answers to ``body`` (see the module docstring)."""
    conversation = read_conversation(protocol, body)
    if conversation.first_tool is not None and not conversation.has_tool_result:
        return Reply.build(text="Let me check the weather.", tool_calls=[(conversation.first_tool, TOOL_ARGUMENTS)])
    model = body.get("model")
    return Reply.build(text=f"It is 18 degrees and sunny in Paris. ({model} answered in the "
                            f"{PROTOCOL_LABELS[protocol]} format.)")


def _authorized(protocol: str, headers: Any) -> bool:
    if protocol == ANTHROPIC:
        return bool(headers.get("x-api-key") == DEMO_KEYS[ANTHROPIC])
    return bool(headers.get("authorization") == f"Bearer {DEMO_KEYS[OPENAI]}")


class _DemoHandler(WireHandler):
    @property
    def provider(self) -> DemoProvider:
        return self.server.owner  # type: ignore[attr-defined, no-any-return]

    def do_GET(self) -> None:
        if self.route_path() != "/v1/models":
            self.send_json(404, error_body(OPENAI, 404, f"no such path {self.path}"))
            return
        self.send_json(200, model_list("anthropic-version" in self.headers))

    def do_POST(self) -> None:
        raw = self.read_body()
        path = self.route_path()
        if path == "/v1/messages/count_tokens":
            self.send_json(200, {"input_tokens": max(1, len(raw) // 4)})
            return
        protocol = _PATHS.get(path)
        if protocol is None:
            self.send_json(404, error_body(OPENAI, 404, f"no such path {self.path}"))
            return
        self._answer(protocol, raw)

    def _answer(self, protocol: str, raw: bytes) -> None:
        if not _authorized(protocol, self.headers):
            self.send_json(401, error_body(protocol, 401, "router demo: this backend's key did not arrive"))
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self.send_json(400, error_body(protocol, 400, "the body is not a JSON object"))
            return
        wire = wire_for(protocol, demo_reply(protocol, body), body, self.provider.count(protocol))
        if body.get("stream") is True:
            self.send_stream(wire.stream_events())
        else:
            self.send_json(200, wire.body())
