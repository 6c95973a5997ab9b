"""The private per-run state of ``router shim``: the config snapshot and the telemetry socket.

Where it lives, and why no key outlives the run (docs/secrets.md#the-run-directory):

* The **snapshot** holds the backends' keys. On Linux it is not a file at all: an anonymous memory
  file (``memfd_create``) the host holds open, which the tree's processes read through
  ``/proc/<host pid>/fd/<n>`` (same user only, like the 0600 file it replaces). It disappears with
  the host, however the host ends — a ``SIGKILL`` included — so nothing is left on disk. Every
  Python process of the tree reads it once at start-up (``shim/bootstrap.py``), so a process
  already running when the host dies keeps its routes. Elsewhere (macOS) it is a 0600 file in the
  run directory.
* The **run directory** (0700) holds the telemetry socket (an ``AF_UNIX`` path: ``sun_path`` is at
  most 104 bytes on macOS, 108 on Linux — docs/shim.md#telemetry-socket), and the snapshot where
  there is no memory file. It is made under ``$XDG_RUNTIME_DIR`` when that is a private directory
  of this user (a ``tmpfs`` the system empties at logout), else under ``/tmp``. Its name carries
  the host's pid (and pid namespace), so a later run removes the directories of hosts that died
  without removing theirs (:func:`sweep_stale_run_dirs`). A normal exit removes it at once.
"""

import json
import os
import re
import secrets
import shutil
import stat
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Dict, List, Mapping, Optional, Type

from shim.config import RouterConfig, RouteRule
from shim.env_names import SNAPSHOT_VERSION
from shim.targets import alias_entries_data, chain_data

__all__ = [
    "SNAPSHOT_FILENAME",
    "SOCKET_FILENAME",
    "RunDir",
    "run_base",
    "snapshot_document",
    "sweep_stale_run_dirs",
]

SNAPSHOT_FILENAME = "config.json"
SOCKET_FILENAME = "t.sock"
_SHORT_BASE = "/tmp"
_SNAPSHOT_MODE = 0o600
_PRIVATE_DIR_MODE = 0o700
_SUN_PATH_BUDGET = 100  # bytes a socket path may take (macOS allows 104, with its terminating NUL)
_LONGEST_NAME = len("/router-4294967295-4194304-") + 8 + len(f"/{SOCKET_FILENAME}")  # mkdtemp adds 8 characters
_RUN_DIR_NAME = re.compile(r"router-(\d+)-(\d+)-[A-Za-z0-9_]+")


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
    if config.model_override is not None:
        engine["model_override"] = chain_data(config.model_override)
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
    """A private directory and a snapshot for one run; a context manager that removes both on exit.

    ``in_memory``: the snapshot as a memory file (default: wherever the system has them)."""

    def __init__(self, base: Optional[str] = None, *, in_memory: Optional[bool] = None) -> None:
        base = base or run_base(os.environ)
        sweep_stale_run_dirs(base)
        prefix = f"router-{_pid_namespace()}-{os.getpid()}-"
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
        use_memory = _has_memory_files() if in_memory is None else in_memory
        self._snapshot: _Snapshot = _MemorySnapshot() if use_memory else _FileSnapshot(self.path / SNAPSHOT_FILENAME)

    @property
    def snapshot_path(self) -> Path:
        """What the tree's processes open to read the snapshot (``ROUTER_SHIM_CONFIG``)."""
        return self._snapshot.path

    @property
    def socket_path(self) -> Path:
        return self.path / SOCKET_FILENAME

    def write_snapshot(self, config: RouterConfig) -> Path:
        """The first snapshot, private from its first byte."""
        self._snapshot.write(_encoded(config))
        return self.snapshot_path

    def replace_snapshot(self, config: RouterConfig) -> None:
        """Replace the snapshot with ``config`` atomically: a child reads the old one or the new one,
        never half of one, and no second copy of the keys is left."""
        self._snapshot.replace(_encoded(config))

    def remove(self) -> None:
        self._snapshot.close()
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> "RunDir":
        return self

    def __exit__(
        self, kind: Optional[Type[BaseException]], value: Optional[BaseException], trace: Optional[TracebackType]
    ) -> None:
        self.remove()


def _encoded(config: RouterConfig) -> bytes:
    return json.dumps(snapshot_document(config), separators=(",", ":")).encode("utf-8")


class _Snapshot:
    path: Path

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def replace(self, data: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Forget the keys (the run directory itself is removed by the owner)."""


class _MemorySnapshot(_Snapshot):
    """A memory file per version, always at the same descriptor number of this process: a new version
    is written whole into a new memory file, then ``dup2``-ed over that number, so a reader that
    opens ``/proc/<pid>/fd/<n>`` gets one complete version (and a new inode for a new one)."""

    def __init__(self) -> None:
        self._descriptor = _memory_file(b"")
        self.path = Path(f"/proc/{os.getpid()}/fd/{self._descriptor}")

    def write(self, data: bytes) -> None:
        self.replace(data)

    def replace(self, data: bytes) -> None:
        fresh = _memory_file(data)
        try:
            os.dup2(fresh, self._descriptor, inheritable=False)
        finally:
            os.close(fresh)

    def close(self) -> None:
        if self._descriptor >= 0:
            os.close(self._descriptor)
            self._descriptor = -1


def _memory_file(data: bytes) -> int:
    descriptor = os.memfd_create("router-config", os.MFD_CLOEXEC)
    try:
        os.fchmod(descriptor, _SNAPSHOT_MODE)
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view):]
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


class _FileSnapshot(_Snapshot):
    """A 0600 file in the 0700 run directory (systems without memory files)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, data: bytes) -> None:
        _write_private(self.path, data)

    def replace(self, data: bytes) -> None:
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
        try:
            _write_private(temporary, data)
            os.replace(temporary, self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


def _write_private(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _SNAPSHOT_MODE)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _has_memory_files() -> bool:
    return hasattr(os, "memfd_create") and os.path.isdir(f"/proc/{os.getpid()}/fd")


# Where run directories go, and which of them are stale -----------------------------------------
def run_base(environ: Mapping[str, str]) -> str:
    """``$XDG_RUNTIME_DIR`` when it is this user's private directory and short enough for a socket
    path; else ``/tmp`` where it exists (short paths), else the platform's temporary directory."""
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime) and _is_private_dir(runtime) and _fits(runtime):
        return runtime
    if os.path.isdir(_SHORT_BASE) and os.access(_SHORT_BASE, os.W_OK):
        return _SHORT_BASE
    return tempfile.gettempdir()


def _is_private_dir(path: str) -> bool:
    """A real directory (not a link to one) of this user that nobody else can enter."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


def _fits(base: str) -> bool:
    return len(os.fsencode(base.rstrip("/"))) + _LONGEST_NAME <= _SUN_PATH_BUDGET


def sweep_stale_run_dirs(base: str) -> List[Path]:
    """Remove the run directories in ``base`` whose host has died (a ``SIGKILL``, a crash, a power
    cut does not run the host's clean-up); the removed paths. Only directories of this user, named
    by a host of this pid namespace that no longer exists: a live host's, another user's, or one
    whose pid cannot be judged from here (another container's) is left alone."""
    removed: List[Path] = []
    namespace = _pid_namespace()
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        match = _RUN_DIR_NAME.fullmatch(entry.name)
        if match is None or int(match.group(1)) != namespace or _alive(int(match.group(2))):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: a process exists (another user's, after pid reuse): not ours to judge
        return True
    return True


def _pid_namespace() -> int:
    """The inode of this process's pid namespace (Linux); 0 where there is none to tell."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0
