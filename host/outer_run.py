"""A router started inside a ``router shim`` run: where it finds the keys the run withheld.

``router shim`` gives its child a placeholder in every variable a backend reads its key from
(docs/secrets.md#what-a-shimmed-program-gets). A router the child starts — a nested ``router
shim``, a ``router proxy`` — loads the same configuration and would take that placeholder for the
key. It takes the outer run's key instead, from the snapshot the outer run hands its tree
(``ROUTER_SHIM_CONFIG``), for the backend of the same name *and* base URL only: a key never goes to
a URL other than the one it was configured for.
"""

import json
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from shim.env_names import CONFIG_SNAPSHOT, PLACEHOLDER_API_KEY, SNAPSHOT_VERSION

__all__ = ["OuterRunKeys"]


class OuterRunKeys:
    """The outer run's backends, read once on first use (most loads never need them)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._path = environ.get(CONFIG_SNAPSHOT) or ""
        self._backends: Optional[Dict[str, Any]] = None

    @staticmethod
    def withheld(value: Optional[str]) -> bool:
        """Is ``value`` (a key variable's) the placeholder an outer run put there?"""
        return value == PLACEHOLDER_API_KEY

    def key_for(self, backend: str, base_url: Any) -> Optional[str]:
        """The outer run's key for ``backend`` at ``base_url``; None when it has none for exactly that."""
        table = self._tables().get(backend)
        if not isinstance(table, dict) or table.get("base_url") != base_url:
            return None
        key = table.get("api_key")
        return key if isinstance(key, str) and key and not self.withheld(key) else None

    def _tables(self) -> Dict[str, Any]:
        if self._backends is None:
            self._backends = _snapshot_backends(self._path)
        return self._backends


def _snapshot_backends(path: str) -> Dict[str, Any]:
    if not path:
        return {}
    try:
        document = json.loads(Path(path).read_bytes())
    except (OSError, ValueError):  # the outer run has ended, or this is not its snapshot
        return {}
    if not isinstance(document, dict) or document.get("version") != SNAPSHOT_VERSION:
        return {}
    config = document.get("config")
    backends = config.get("backends") if isinstance(config, dict) else None
    return backends if isinstance(backends, dict) else {}
