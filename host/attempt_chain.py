"""A call's attempts as one short text, for the ``-v`` lines of the proxy and of ``router shim``.

``anthropic 529 → openai ✓``: each attempt's backend and what it got (a status, or the class of
its failure), the last one's ✓ when it answered 2xx (docs/routing.md#telemetry).
"""

from typing import Any, Dict, List, Optional

__all__ = ["attempt_text", "chain_text"]


def attempt_text(attempt: Dict[str, Any], last: bool = False) -> str:
    status, failure = attempt.get("status") or 0, attempt.get("failure")
    if last and 200 <= status < 300 and not failure:
        return f"{attempt.get('backend')} ✓"
    outcome = failure or (str(status) if status else "no answer")
    return f"{attempt.get('backend')} {outcome}"


def chain_text(attempts: Optional[List[Dict[str, Any]]]) -> Optional[str]:
    """The chain a call took; None for a call with a single attempt (its line says it already)."""
    if not attempts or len(attempts) < 2:
        return None
    return " → ".join(attempt_text(attempt, last=index == len(attempts) - 1) for index, attempt in enumerate(attempts))
