"""The stickiness check both drivers run (docs/routing.md#prompt-cache-stickiness): one conversation,
named by Claude Code's session header, interleaved with a new conversation on every turn."""

from typing import Any, Set, Tuple

__all__ = ["conversation_answers"]


def conversation_answers(client: Any, model: str, turns: int = 24) -> Tuple[Set[str], Set[str]]:
    """(the answers the kept conversation got, the answers the one-turn conversations got), from
    ``client`` (an ``anthropic.Anthropic``) asking ``model`` whose backends answer with their name."""
    kept: Set[str] = set()
    others: Set[str] = set()
    for turn in range(turns):
        for session, answers in (("conversation-7", kept), (f"other-{turn}", others)):
            message = client.messages.create(
                model=model, max_tokens=64, messages=[{"role": "user", "content": f"turn {turn}"}],
                extra_headers={"X-Claude-Code-Session-Id": session})
            answers.add(message.content[0].text)
    return kept, others
