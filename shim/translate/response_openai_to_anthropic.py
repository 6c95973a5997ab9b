"""STUB — being written. Contract: see shim/translate/context.py."""
from typing import Any, Dict
from .context import ResponseContext
__all__ = ["openai_response_to_anthropic"]
def openai_response_to_anthropic(body: Dict[str, Any], context: ResponseContext) -> Dict[str, Any]:
    raise NotImplementedError
