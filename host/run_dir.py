"""The private per-run directory of ``router shim``: the config snapshot and the telemetry socket.

``mkdtemp`` creates it 0700 under ``/tmp`` (a short base: an AF_UNIX ``sun_path`` holds at most
104 bytes on macOS and 108 on Linux, and macOS's ``$TMPDIR`` is long — docs/shim.md#telemetry-socket). Only this user
can read the snapshot (it holds the backends' keys; the file is 0600 too) or connect to the socket.
The directory is removed when the run ends.
"""

import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Dict, Optional, Type

from shim.config import RouterConfig, RouteRule
from shim.env_names import SNAPSHOT_VERSION
from shim.targets import alias_entries_data, chain_data

__all__ = ["SNAPSHOT_FILENAME", "SOCKET_FILENAME", "RunDir", "snapshot_document"]

SNAPSHOT_FILENAME = "config.json"
SOCKET_FILENAME = "t.sock"
_SHORT_BASE = "/tmp"
_SNAPSHOT_MODE = 0o600


def snapshot_document(config: RouterConfig) -> Dict[str, Any]:
    """``{"version": 1, "config": …}`` where ``config`` is :meth:`RouterConfig.from_dict` input,
    keys included, so the child rebuilds exactly the host's configuration."""
    engine: Dict[str, Any] = {
        "backends": {name: _backend_table(config, name) for name in config.backends},
        "aliases": {name: alias_entries_data(entries) for name, entries in config.aliases.items()},
        "routes": [_route_table(rule) for rule in config.routes],
        "shortcuts": dict(config.shortcuts),
        "default_max_tokens": config.default_max_tokens,
        "model_max_output_tokens": dict(config.model_max_output_tokens),
        "fallback": config.fallback.as_data(),
        "cooldown": config.cooldown.as_data(),
    }
    if config.default_backend is not None:
        engine["default_backend"] = chain_data(config.default_backend)
    return {"version": SNAPSHOT_VERSION, "config": engine}


def _route_table(rule: RouteRule) -> Dict[str, Any]:
    table: Dict[str, Any] = {"match": rule.match, "backend": chain_data(rule.chain)}
    if rule.policy is not None:
        table["fallback"] = rule.policy.as_data()
    return table


def _backend_table(config: RouterConfig, name: str) -> Dict[str, Any]:
    backend = config.backends[name]
    table: Dict[str, Any] = {
        "protocol": backend.protocol,
        "base_url": backend.base_url,
        "models": list(backend.models),
        "max_tokens_field": backend.max_tokens_field,
        "mid_conversation_system": backend.mid_conversation_system,
    }
    if backend.api_key is not None:
        table["api_key"] = backend.api_key
    if backend.max_output_tokens is not None:
        table["max_output_tokens"] = backend.max_output_tokens
    if backend.replay_reasoning:
        table["replay_reasoning"] = True
    if backend.responses_api:
        table["responses_api"] = True
    if backend.responses_only_models:
        table["responses_only_models"] = list(backend.responses_only_models)
    return table


class RunDir:
    """A private directory for one run; a context manager that removes it on exit."""

    def __init__(self, base: Optional[str] = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="router-", dir=base or _short_base()))

    @property
    def snapshot_path(self) -> Path:
        return self.path / SNAPSHOT_FILENAME

    @property
    def socket_path(self) -> Path:
        return self.path / SOCKET_FILENAME

    def write_snapshot(self, config: RouterConfig) -> Path:
        """Write the snapshot 0600 from its first byte (``O_EXCL`` + mode; never widened)."""
        _write_private(self.snapshot_path, config)
        return self.snapshot_path

    def replace_snapshot(self, config: RouterConfig) -> None:
        """Replace the snapshot with ``config`` atomically: a child reads the old file or the new one,
        never half of one, and no second copy of the keys is left (the temporary file is renamed)."""
        temporary = self.path / f".{SNAPSHOT_FILENAME}.{secrets.token_hex(4)}"
        try:
            _write_private(temporary, config)
            os.replace(temporary, self.snapshot_path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> "RunDir":
        return self

    def __exit__(
        self, kind: Optional[Type[BaseException]], value: Optional[BaseException], trace: Optional[TracebackType]
    ) -> None:
        self.remove()


def _write_private(path: Path, config: RouterConfig) -> None:
    data = json.dumps(snapshot_document(config), separators=(",", ":")).encode("utf-8")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _SNAPSHOT_MODE)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _short_base() -> str:
    """``/tmp`` where it exists (short paths for AF_UNIX), else the platform's temp directory."""
    return _SHORT_BASE if os.path.isdir(_SHORT_BASE) and os.access(_SHORT_BASE, os.W_OK) else tempfile.gettempdir()
