"""STUB — being written. Contract: see shim/translate/context.py."""
from typing import Any, Dict
from .context import RequestOptions, TranslatedRequest
__all__ = ["openai_request_to_anthropic"]
def openai_request_to_anthropic(body: Dict[str, Any], options: RequestOptions) -> TranslatedRequest:
    raise NotImplementedError
