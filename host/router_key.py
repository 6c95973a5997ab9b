"""``ROUTER_API_KEY``, the router's own key, checked once at start (docs/proxy-limits.md#the-router-key).

A key that is set but cannot work is refused instead of served: one made of spaces is accepted by
nothing a client can send (clients and the bearer-token parser trim it), so a proxy listening on
a network with it would lock everyone out while looking protected; a short one can be guessed.
Unset (or empty) means no key: fine on loopback, refused on any other address (``check_bind_allowed``).
"""

from typing import Optional

__all__ = ["MIN_KEY_LENGTH", "RouterKeyRefused", "router_key"]

MIN_KEY_LENGTH = 16  # `openssl rand -hex 16` gives 32; 16 characters of a random key are beyond guessing


class RouterKeyRefused(ValueError):
    """``ROUTER_API_KEY`` is set to something that cannot serve as a key. ``reason`` says why (never the
    value); ``str()`` adds what to do."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"ROUTER_API_KEY {reason}; set it to a random value: export ROUTER_API_KEY=$(openssl rand -hex 16)")


def router_key(value: Optional[str]) -> Optional[str]:
    """The key to require, None when unset or empty; :class:`RouterKeyRefused` for a weak one."""
    if not value:
        return None
    if any(character.isspace() or not character.isprintable() for character in value):
        raise RouterKeyRefused("holds spaces or control characters, which no client can send in a header")
    if len(value) < MIN_KEY_LENGTH:
        raise RouterKeyRefused(f"is {len(value)} characters long; the router wants at least {MIN_KEY_LENGTH}")
    return value
