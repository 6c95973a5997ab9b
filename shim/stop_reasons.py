"""Anthropic ``stop_reason`` ⇄ OpenAI ``finish_reason`` (docs/protocol-rules.md#stop-reasons).

Two rules other translators got wrong (pitfall P7, docs/pitfalls.md#p7): a response that called a tool is *always*
``tool_use``/``tool_calls``, whatever the backend said (Ollama, Gemini and others say ``stop``);
and a stop sequence is reported as ``stop_sequence`` with the matched string when the backend
tells us which one matched (vLLM ``stop_reason``, SGLang ``matched_stop``, both strings).
"""

from typing import Any, Mapping, Optional, Tuple

__all__ = ["finish_reason_from_anthropic", "matched_stop_from_openai_choice", "stop_reason_from_openai"]

_FINISH_FROM_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
}

_STOP_FROM_FINISH = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def finish_reason_from_anthropic(stop_reason: Optional[str], called_tool: bool) -> str:
    """OpenAI ``finish_reason`` for an Anthropic stop reason. Unknown values become ``stop``
    (the OpenAI SDK rejects values outside its enum in strict mode)."""
    if called_tool:
        return "tool_calls"
    return _FINISH_FROM_STOP.get(stop_reason or "end_turn", "stop")


def stop_reason_from_openai(
    finish_reason: Optional[str], called_tool: bool, matched_stop: Optional[str]
) -> Tuple[str, Optional[str]]:
    """Anthropic ``(stop_reason, stop_sequence)`` for an OpenAI finish reason."""
    if called_tool:
        return "tool_use", None
    if finish_reason == "stop" and matched_stop:
        return "stop_sequence", matched_stop
    return _STOP_FROM_FINISH.get(finish_reason or "stop", "end_turn"), None


def matched_stop_from_openai_choice(choice: Mapping[str, Any]) -> Optional[str]:
    """The stop string an OpenAI-compatible server reports, if any. Integers are EOS token ids,
    not stop sequences, and are ignored."""
    for key in ("stop_reason", "matched_stop"):
        value = choice.get(key)
        if isinstance(value, str) and value:
            return value
    return None
