"""How a key may appear in the doctor's report: its last four characters at most, and only for keys
long enough that four characters give nothing useful away."""

from typing import Optional

__all__ = ["HINT_CHARS", "key_hint", "shows_part_of"]

HINT_CHARS = 4
_MIN_KEY_FOR_HINT = 16  # shorter keys (local servers' passwords) show nothing at all


def key_hint(key: Optional[str]) -> str:
    """``ending …wxyz`` for a long key; a neutral phrase for a short one or none."""
    if not key:
        return "no key"
    if len(key) < _MIN_KEY_FOR_HINT:
        return "a short key (not shown)"
    return f"ending …{key[-HINT_CHARS:]}"


def shows_part_of(text: str, key: Optional[str]) -> bool:
    """True when ``text`` holds more than :data:`HINT_CHARS` consecutive characters of ``key``."""
    if not key:
        return False
    width = HINT_CHARS + 1
    return any(key[start:start + width] in text for start in range(len(key) - width + 1))
