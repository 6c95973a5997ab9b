"""Stored API keys: ``credentials.toml`` in the state directory, mode 0600, never in config.toml.

Layout::

    [keys]
    openai = "sk-…"

A backend's key comes either from here or from the environment variable its ``key_env`` names
(``config.toml``); the config store decides which. Nothing in this module ever puts a key into a
message: errors name the file and the problem only.
"""

import re
from pathlib import Path
from typing import Dict, Mapping, Optional

import tomli_w

from .paths import StateFileError, atomic_write, is_private_file, read_toml

__all__ = [
    "CREDENTIALS_MODE",
    "check_key",
    "has_loose_permissions",
    "load_keys",
    "remove_key",
    "store_key",
]

CREDENTIALS_MODE = 0o600

_HEADER = b"# router API keys. Private: keep this file mode 0600. Managed by `router backend add/remove`.\n"
# What an HTTP header value can carry: printable ASCII without spaces (keys never contain any).
_KEY_SHAPE = re.compile(r"[\x21-\x7e]+")


def load_keys(path: Path) -> Dict[str, str]:
    """Backend name → key. Missing file: no keys. Unreadable or malformed: :class:`StateFileError`."""
    data = read_toml(path)
    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        raise StateFileError(path, "[keys] must be a table of backend name = key")
    for name, key in keys.items():
        if not isinstance(key, str) or not key:
            raise StateFileError(path, f"keys.{name} must be a non-empty string")
    return dict(keys)


def store_key(path: Path, backend: str, key: str) -> None:
    """Save ``key`` for ``backend`` (replacing any earlier one), atomically and 0600."""
    keys = load_keys(path)
    keys[backend] = key
    _write(path, keys)


def remove_key(path: Path, backend: str) -> bool:
    """Forget ``backend``'s stored key; True when there was one."""
    keys = load_keys(path)
    if keys.pop(backend, None) is None:
        return False
    _write(path, keys)
    return True


def check_key(key: str) -> Optional[str]:
    """Why ``key`` cannot be an API key (a message without the key), or None when it can."""
    if not key:
        return "the key is empty"
    if not _KEY_SHAPE.fullmatch(key):
        return "the key contains spaces or characters that cannot go in an HTTP header"
    return None


def has_loose_permissions(path: Path) -> bool:
    """True when the credentials file exists and others may read or write it."""
    return path.exists() and not is_private_file(path)


def _write(path: Path, keys: Mapping[str, str]) -> None:
    try:
        atomic_write(path, _HEADER + tomli_w.dumps({"keys": dict(keys)}).encode("utf-8"), CREDENTIALS_MODE)
    except OSError as exc:
        raise StateFileError(path, f"cannot be written: {exc.strerror or exc}") from None
