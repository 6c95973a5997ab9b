"""A local input-token estimate for ``count_tokens`` when the backend cannot count.

OpenAI-protocol backends have no ``/v1/messages/count_tokens``; Claude Code uses it for context
accounting, so answering 404 would break it. Without a tokenizer (the engine is standard-library
only) the estimate is the usual ~4 characters per token over the text the model will read, plus a
fixed cost per image. It is deliberately simple and documented as an estimate.
"""

import json
from typing import Any, Mapping, Tuple

__all__ = ["estimate_anthropic_input_tokens"]

_CHARS_PER_TOKEN = 4
_TOKENS_PER_IMAGE = 1600  # Anthropic's documented ceiling for a ~1.15 megapixel image


def estimate_anthropic_input_tokens(body: Mapping[str, Any]) -> int:
    """Estimated input tokens of an Anthropic ``count_tokens`` / ``messages`` body."""
    chars, images = 0, 0
    for part in ("system", "messages", "tools"):
        part_chars, part_images = _measure(body.get(part))
        chars += part_chars
        images += part_images
    return max(1, chars // _CHARS_PER_TOKEN + images * _TOKENS_PER_IMAGE)


def _measure(value: Any) -> Tuple[int, int]:
    """(characters of text the model reads, number of images). Image and document payloads
    (base64) are counted as images, not as characters. Iterative: request bodies may nest deeper
    than Python's recursion limit allows a recursive walk to go."""
    chars, images = 0, 0
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            chars += len(item)
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, Mapping):
            if item.get("type") in ("image", "document"):
                images += 1
            else:
                pending.extend(item.values())
        elif item is not None:
            chars += len(json.dumps(item))
    return chars, images
