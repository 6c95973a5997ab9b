"""The fake provider's agent-loop mode: it plays a model that runs one tool, then answers.

A real coding agent (Claude Code, Codex, Qwen Code …) makes as many calls as the conversation
needs, each one deciding from what came back, so a queue of replies scripted in advance cannot
drive it. :class:`AgentLoop` decides per request instead, from the request alone and in any
protocol (:func:`host.demo.conversation.read_conversation`):

* the request offers the named tool and holds no tool result yet → a call of that tool with the
  given input (the agent runs it for real);
* it holds a tool result → the final text (the agent prints it and stops);
* it offers tools, but not the named one → a 400 in the request's protocol naming the tool and the
  ones offered: a clear failure, not a loop that quietly answers something else;
* it offers no tool at all → ``side_text``: agents make side calls without tools (a title for the
  session, a quota check), and a loop that failed those would fail the agent for the wrong reason.

The test reads the round trip back from :attr:`FakeProvider.exchanges`.
"""

from dataclasses import dataclass
from typing import Any, Dict, Mapping

from host.demo.conversation import read_conversation
from host.demo.reply import Reply
from host.demo.wire_server import error_body

__all__ = ["AgentLoop"]


@dataclass(frozen=True)
class AgentLoop:
    """See the module docstring. Callable as a responder: ``loop(protocol, body) -> Reply``."""

    tool: str
    arguments: Mapping[str, Any]
    final_text: str
    side_text: str = "ok"
    text_before_call: str = ""  # text the model writes before its tool call, if any

    def __call__(self, protocol: str, body: Dict[str, Any]) -> Reply:
        conversation = read_conversation(protocol, body)
        if not conversation.tool_names:
            return Reply(text=self.side_text)
        if self.tool not in conversation.tool_names:
            offered = ", ".join(conversation.tool_names)
            message = f"fake provider agent loop: tool {self.tool!r} is not among the request's tools ({offered})"
            return Reply(error=(400, error_body(protocol, 400, message)))
        if conversation.has_tool_result:
            return Reply(text=self.final_text)
        return Reply.build(text=self.text_before_call or None, tool_calls=[(self.tool, dict(self.arguments))])
