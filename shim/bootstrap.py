"""Turn the shim on and off in this process: ``activate()`` / ``deactivate()``.

``activate`` reads the host's config snapshot into memory (a few kilobytes, not parsed: a process
running when the host ends keeps its routes, docs/secrets.md#the-run-directory), installs the
post-import finder for ``httpx``, ``httpx2``, ``requests`` and ``aiohttp`` (patching at once any
that is already imported), says hello to the host, and arranges a hello from forked children. It
imports no HTTP library, ``ssl``, ``asyncio``, ``json`` or ``typing``: it runs inside
``sitecustomize``, before the program, in every Python process the program starts
(docs/shim.md#lazy-import-hooks, docs/shim.md#start-up-budget). The patch modules are imported only
when their library is.

Both functions are idempotent and never raise; ``deactivate`` restores every patched attribute.
"""

import os
import sys

from .env_names import CONFIG_SNAPSHOT
from .import_hooks import PostImportFinder
from .lifecycle_events import report_drops_at_exit, send_hello

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~20 modules on 3.9 and this module loads during start-up
    from types import ModuleType
    from typing import Any, Callable, Optional

    from .patches import PatchRegistry

__all__ = ["TARGET_MODULES", "activate", "deactivate", "early_snapshot", "is_active", "patched_targets"]

TARGET_MODULES = ("httpx", "httpx2", "requests", "aiohttp")


class _State:
    active = False
    finder: "Optional[PostImportFinder]" = None
    registry: "Optional[PatchRegistry]" = None
    fork_hook_installed = False
    exit_hook_installed = False
    # (path, bytes, (inode, size, mtime_ns)) of the snapshot as this process found it at start-up.
    snapshot: "Optional[tuple[str, bytes, tuple[int, int, int]]]" = None


def is_active() -> bool:
    return _State.active


def patched_targets() -> "list[str]":
    """Every attribute the shim has replaced in this process (``httpx.Client._transport_for_url`` …)."""
    return _State.registry.targets() if _State.registry is not None else []


def activate() -> bool:
    """Start routing this process's LLM calls; False when it already was (or activation failed)."""
    if _State.active:
        return False
    try:
        _capture_snapshot()
        _State.finder = PostImportFinder(TARGET_MODULES, _on_import)
        sys.meta_path.insert(0, _State.finder)
        _State.active = True
        send_hello()
        _install_fork_hook()
        _install_exit_hook()
        for name in TARGET_MODULES:
            module = sys.modules.get(name)
            if module is not None:
                _on_import(module)
        return True
    except Exception as error:
        _report_failure("activate", error)
        return False


def early_snapshot(path: str) -> "Optional[tuple[bytes, tuple[int, int, int]]]":
    """The bytes and version of the snapshot at ``path`` as this process read it when it started, if it did."""
    captured = _State.snapshot
    return (captured[1], captured[2]) if captured is not None and captured[0] == path else None


def _capture_snapshot() -> None:
    """Read the host's snapshot now, while the host surely runs: ~20 µs, no parsing, no import. The
    runtime parses it at the first call, from a fresh read when the host is still there."""
    path = os.environ.get(CONFIG_SNAPSHOT)
    if not path or _State.snapshot is not None:
        return
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return
    try:
        info = os.fstat(descriptor)
        chunks = []
        while True:
            chunk = os.read(descriptor, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        _State.snapshot = (path, b"".join(chunks), (info.st_ino, info.st_size, info.st_mtime_ns))
    except OSError:
        pass
    finally:
        os.close(descriptor)


def deactivate() -> bool:
    """Undo :func:`activate`: remove the finder, restore every patched attribute, forget the
    per-process state. False when the shim was not active."""
    if not _State.active:
        return False
    _State.active = False
    try:
        if _State.finder in sys.meta_path:
            sys.meta_path.remove(_State.finder)
        _State.finder = None
        if _State.registry is not None:
            _State.registry.restore_all()
        if "runtime" in _loaded_submodules():
            from .runtime import reset_runtime

            reset_runtime()
    except Exception as error:
        _report_failure("deactivate", error)
    return True


def _on_import(module: "ModuleType") -> None:
    """Patch ``module`` (one of TARGET_MODULES), now that its body has run."""
    if not _State.active:
        return
    try:
        patch = _patcher_for(module.__name__)
        if _State.registry is None:
            from .patches import PatchRegistry

            _State.registry = PatchRegistry()
        patch(module, _State.registry)
    except Exception as error:
        _report_failure(f"patch {module.__name__}", error)


def _report_failure(where: str, error: BaseException) -> None:
    """``failures.report_failure``, imported only when something failed (one module less at start-up)."""
    try:
        from .failures import report_failure

        report_failure(where, error)
    except Exception:
        pass  # never into the program: _on_import runs inside its `import httpx`


def _patcher_for(name: str) -> "Callable[[Any, PatchRegistry], None]":
    if name in ("httpx", "httpx2"):
        from .transports.httpx_family import patch_httpx_module

        return patch_httpx_module
    if name == "requests":
        from .transports.requests_adapter import patch_requests

        return patch_requests
    from .transports.aiohttp_session import patch_aiohttp

    return patch_aiohttp


def _loaded_submodules() -> "set[str]":
    prefix = __name__.rpartition(".")[0] + "."
    return {name[len(prefix):] for name in sys.modules if name.startswith(prefix)}


def _install_fork_hook() -> None:
    """A forked child is a new process for the host: it says hello
    (docs/shim.md#subprocesses-and-fork). The hook cannot be unregistered, so it checks whether
    the shim is still active."""
    if _State.fork_hook_installed or not hasattr(os, "register_at_fork"):
        return
    os.register_at_fork(after_in_child=_after_fork_in_child)
    _State.fork_hook_installed = True


def _install_exit_hook() -> None:
    """Events dropped since the last delivered one are reported at exit (forked children inherit the
    hook, and it reports their own count). Once per process: atexit hooks cannot be removed either."""
    if _State.exit_hook_installed:
        return
    import atexit  # built in: no file to read at start-up

    atexit.register(report_drops_at_exit)
    _State.exit_hook_installed = True


def _after_fork_in_child() -> None:
    if _State.active:
        send_hello()
