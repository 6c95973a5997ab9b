"""The configuration files as a running process follows them: a fingerprint, a consistent load, a watcher.

A *fingerprint* names one version of ``config.toml`` + ``credentials.toml`` from their ``stat`` alone
(inode, size, modification and change times): every write the CLI makes is an atomic rename (a new
inode), and an editor saving in place changes the times. It is derived from metadata only, never
from content, so it can be shown anywhere (``/health``, the proxy registry) without saying anything
about a key. Two processes that look at the same files compute the same fingerprint: that is how
``router route add`` knows a running proxy serves its change (docs/configuration.md#live-reload).

:class:`ConfigWatcher` is what a long-running process polls (the proxy once a second on its event
loop, ``router shim`` on a thread): two ``stat`` calls when nothing changed, a full load when
something did. A load that fails keeps the previous configuration and is reported once per
version of the files, not once per poll.
"""

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Tuple, Union

from .config_store import LoadedConfig, load_config
from .paths import StateFileError, config_path, credentials_path

__all__ = ["ConfigRejected", "ConfigReloaded", "ConfigWatcher", "current_fingerprint", "load_fingerprinted"]

Paths = Tuple[Path, Path]  # config.toml, credentials.toml
_LOAD_ATTEMPTS = 3  # a file replaced while it was read is read again (then the next poll tries)


def current_fingerprint(paths: Optional[Paths] = None) -> str:
    """The fingerprint of the configuration files as they are now (12 hex digits)."""
    files = paths or (config_path(), credentials_path())
    described = "|".join(_describe(path) for path in files)
    return hashlib.sha256(described.encode("ascii")).hexdigest()[:12]


def _describe(path: Path) -> str:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "-"
    except OSError as exc:  # unreadable: still a state of its own, which the load then reports
        return f"error {exc.errno}"
    return f"{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}"


@dataclass(frozen=True)
class ConfigReloaded:
    """The files changed and loaded: ``loaded`` is what they say now."""

    loaded: LoadedConfig
    fingerprint: str


@dataclass(frozen=True)
class ConfigRejected:
    """The files changed but do not load; the previous configuration stays. ``problem`` is the
    one-line :class:`StateFileError` text (the file and the problem, never file content)."""

    problem: str
    fingerprint: str


ReloadOutcome = Union[ConfigReloaded, ConfigRejected]


def load_fingerprinted(
    environ: Mapping[str, str], paths: Optional[Paths] = None, model_override: Optional[str] = None
) -> Tuple[LoadedConfig, str]:
    """The configuration and the fingerprint of exactly the files it was read from.

    The fingerprint is taken before and after reading; when they differ (a write landed in between)
    the files are read again. Raises :class:`StateFileError` like :func:`load_config`.
    """
    for _ in range(_LOAD_ATTEMPTS - 1):
        before = current_fingerprint(paths)
        loaded = load_config(environ, model_override)
        if current_fingerprint(paths) == before:
            return loaded, before
    before = current_fingerprint(paths)
    return load_config(environ, model_override), before  # still moving: the next poll sees the newer fingerprint


class ConfigWatcher:
    """Polled by one owner; :meth:`poll` says what changed since the last poll (or the start)."""

    def __init__(self, environ: Mapping[str, str], fingerprint: str, model_override: Optional[str] = None) -> None:
        self._environ = environ
        self._model_override = model_override  # --model: kept across every reload
        self._paths = (config_path(), credentials_path())  # fixed at start: ROUTER_HOME does not move
        self.fingerprint = fingerprint  # the version of the files last looked at (loaded or not)

    def poll(self) -> Optional[ReloadOutcome]:
        """None when the files are as last seen; else the new configuration or why it was refused."""
        if current_fingerprint(self._paths) == self.fingerprint:
            return None
        try:
            loaded, fingerprint = load_fingerprinted(self._environ, self._paths, self._model_override)
        except StateFileError as exc:
            self.fingerprint = current_fingerprint(self._paths)
            return ConfigRejected(str(exc), self.fingerprint)
        except Exception as exc:  # a running server must outlive any surprise in a file: report, keep serving
            self.fingerprint = current_fingerprint(self._paths)
            return ConfigRejected(f"{self._paths[0]}: cannot be loaded ({type(exc).__name__})", self.fingerprint)
        self.fingerprint = fingerprint
        return ConfigReloaded(loaded, fingerprint)
