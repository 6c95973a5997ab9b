"""STUB — being written. Contract: see shim/translate/context.py."""
from typing import Any, Dict
from .context import RequestOptions, TranslatedRequest
__all__ = ["anthropic_request_to_openai"]
def anthropic_request_to_openai(body: Dict[str, Any], options: RequestOptions) -> TranslatedRequest:
    raise NotImplementedError
