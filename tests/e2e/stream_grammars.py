"""The stream grammar checkers of the engine's unit tests, reused on what the engine server sends.

They live in ``tests/shim/{openai,anthropic,responses}_stream_grammar.py``. ``tests/shim`` is not a package
and is on ``sys.path`` only when pytest collects it, so they are loaded here by file path.
"""

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict

__all__ = ["anthropic_final_usage", "check_anthropic_stream", "check_openai_stream", "check_responses_stream"]

_SHIM_TESTS = Path(__file__).resolve().parent.parent / "shim"


def _load(name: str) -> ModuleType:
    path = _SHIM_TESTS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_e2e_{name}", path)
    assert spec is not None and spec.loader is not None, f"{path} is missing"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_openai_stream: Callable[..., Any] = _load("openai_stream_grammar").check_openai_stream
check_anthropic_stream: Callable[..., Any] = _load("anthropic_stream_grammar").check_anthropic_stream
check_responses_stream: Callable[..., Any] = _load("responses_stream_grammar").check_responses_stream


def anthropic_final_usage(events: Any) -> Dict[str, Any]:
    """The usage a client ends up with: ``message_start`` usage overwritten by each
    ``message_delta``'s fields (cumulative, docs/protocol-rules.md#usage)."""
    usage: Dict[str, Any] = {}
    for event in events:
        if event["type"] == "message_start":
            usage.update(event["message"]["usage"])
        elif event["type"] == "message_delta":
            usage.update(event["usage"])
    return usage
