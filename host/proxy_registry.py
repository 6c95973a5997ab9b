"""The registry of running proxies: one small file per process under ``$ROUTER_HOME/proxies/``.

A ``router proxy`` (and a ``router shim`` run, for its own proxy and children) writes
``<pid>-<token>.json`` when it starts serving, rewrites it on every reload with the configuration
generation it serves, and removes it when it stops. The CLI reads the directory after an edit to
tell the user whether a running proxy picked the change up (docs/configuration.md#the-proxy-registry).

Liveness is an ``flock`` the owner holds on its file for as long as it runs, not the pid: the kernel
releases the lock when the process ends however it ends (``SIGKILL`` included), so a file nobody
holds a lock on is stale and any reader removes it; a recycled pid can never make a dead entry look
alive, and a pid read from a locked file is the live owner's (which makes signalling it safe). A
rewrite is a new file, locked *before* it is renamed over the old one, whose lock is released only
after: at no instant does the name point at an unlocked file.

The directory is 0700 and every file 0600, like the rest of the state directory. Where ``fcntl``
does not exist (Windows) nothing registers and the CLI sees no proxy.
"""

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from .paths import ensure_private_dir, router_home

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["REGISTRY_DIRNAME", "ProxyRecord", "Registration", "live_records", "read_record", "registry_dir"]

REGISTRY_DIRNAME = "proxies"
_FILE_MODE = 0o600
_SUFFIX = ".json"
_ABANDONED_TEMPORARY_SECONDS = 60.0  # a rewrite's temporary file older than this was left by a killed process
_REREADS = 3  # a file renamed over while it was being checked is looked at again


def registry_dir() -> Path:
    return router_home() / REGISTRY_DIRNAME


@dataclass(frozen=True)
class ProxyRecord:
    """What one registry file says. ``kind``: ``"proxy"`` (``router proxy``) or ``"shim"``."""

    path: Path
    kind: str
    pid: int
    port: int
    generation: int
    fingerprint: str  # of the files the serving generation was loaded from
    rejected_fingerprint: Optional[str] = None  # the newest files failed to load (the old generation serves)
    rejected_problem: Optional[str] = None  # why: the file and the problem, one line, never content
    reload_signal: bool = False  # the process takes SIGUSR1 as "look at the files now" (else: it polls)

    @classmethod
    def parse(cls, path: Path, data: Dict[str, Any]) -> "ProxyRecord":
        rejected = data.get("rejected") or {}
        return cls(
            path, str(data["kind"]), int(data["pid"]), int(data["port"]), int(data["generation"]),
            str(data["fingerprint"]), rejected.get("fingerprint"), rejected.get("problem"),
            data.get("reload_signal") is True,
        )


class Registration:
    """This process's entry. :meth:`publish` writes (or rewrites) it; :meth:`remove` deletes it."""

    def __init__(self, kind: str, port: int, directory: Optional[Path] = None) -> None:
        self._directory = directory or registry_dir()
        self._kind = kind
        self._port = port
        self.path = self._directory / f"{os.getpid()}-{secrets.token_hex(4)}{_SUFFIX}"
        self._held: Optional[int] = None  # the descriptor whose lock says "alive"

    def publish(
        self, generation: int, fingerprint: str, rejected: Optional[Dict[str, str]] = None, *, reload_signal: bool
    ) -> None:
        """Write the entry for ``generation``; ``rejected``: ``{"fingerprint", "problem"}`` of files
        that failed to load since; ``reload_signal``: this process handles ``SIGUSR1`` (never say so
        otherwise: its default action ends a process). Raises OSError (the caller decides how much
        that matters)."""
        if fcntl is None:  # pragma: no cover - Windows
            return
        data = {
            "kind": self._kind, "pid": os.getpid(), "port": self._port, "generation": generation,
            "fingerprint": fingerprint, "rejected": rejected, "reload_signal": reload_signal,
            "updated_at": time.time(),
        }
        ensure_private_dir(self._directory)
        temporary = self._directory / f".{self.path.name}.{secrets.token_hex(4)}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)  # locked before anyone can find it under its name
            os.write(descriptor, json.dumps(data).encode("utf-8"))
            os.replace(temporary, self.path)
        except BaseException:
            os.close(descriptor)
            temporary.unlink(missing_ok=True)
            raise
        previous, self._held = self._held, descriptor
        if previous is not None:
            os.close(previous)  # the old file is unlinked already: its lock no longer says anything

    def remove(self) -> None:
        """Delete the entry (then release the lock: never a moment where it exists unlocked)."""
        if self._held is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._held)
        self._held = None


def live_records(directory: Optional[Path] = None) -> List[ProxyRecord]:
    """The entries of running processes; removes those of processes that are gone."""
    folder = directory or registry_dir()
    if fcntl is None or not folder.is_dir():
        return []
    records = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            _remove_abandoned_temporary(path)
            continue
        if path.name.endswith(_SUFFIX):
            record = read_record(path)
            if record is not None:
                records.append(record)
    return records


def read_record(path: Path) -> Optional[ProxyRecord]:
    """The entry at ``path`` if its owner runs; None if it is gone (a stale file is removed)."""
    for _ in range(_REREADS):
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            state = _held_or_stale(path, descriptor)
            if state == "live":
                return _parse(path, _read_all(descriptor))
            if state == "stale":
                return None
        finally:
            os.close(descriptor)
    return None


def _held_or_stale(path: Path, descriptor: int) -> str:
    """``"live"``: the owner holds the lock; ``"stale"``: nobody does (removed now); ``"moved"``: the
    name was renamed over meanwhile (look again)."""
    assert fcntl is not None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return "live"
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return "stale"
    if current.st_ino != os.fstat(descriptor).st_ino:
        return "moved"  # a rewrite replaced the file we opened: its lock was released on purpose
    path.unlink(missing_ok=True)
    return "stale"


def _read_all(descriptor: int) -> bytes:
    chunks: List[bytes] = []
    while True:
        chunk = os.read(descriptor, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _parse(path: Path, raw: bytes) -> Optional[ProxyRecord]:
    try:
        return ProxyRecord.parse(path, json.loads(raw))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # not ours, or from another version: a live process we cannot talk about


def _remove_abandoned_temporary(path: Path) -> None:
    try:
        if time.time() - path.stat().st_mtime > _ABANDONED_TEMPORARY_SECONDS:
            path.unlink(missing_ok=True)
    except OSError:
        pass
