"""STUB — being written. Contract: see shim/translate/context.py."""
from typing import Any, Dict
from .context import ResponseContext
__all__ = ["anthropic_response_to_openai"]
def anthropic_response_to_openai(body: Dict[str, Any], context: ResponseContext) -> Dict[str, Any]:
    raise NotImplementedError
