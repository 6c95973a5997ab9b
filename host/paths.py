"""Where router keeps its state, and how files there are written.

Everything lives in one directory: ``$ROUTER_HOME`` when set, else the platform's user config
directory (``platformdirs.user_config_dir("router")``, e.g. ``~/.config/router`` on Linux). The
directory is private (0700) because it holds the credentials file. Every write goes through
:func:`atomic_write`: a reader (another router process, the shim) sees the old file or the new
one, never half of one, and a secret file is never visible with a wider mode, even for an instant.
"""

import os
import secrets
import stat
from pathlib import Path
from typing import Any, Dict

import platformdirs
import tomllib

__all__ = [
    "CONFIG_FILENAME",
    "CREDENTIALS_FILENAME",
    "ROUTER_HOME_ENV",
    "StateFileError",
    "atomic_write",
    "config_path",
    "credentials_path",
    "ensure_private_dir",
    "is_private_file",
    "read_toml",
    "router_home",
]

ROUTER_HOME_ENV = "ROUTER_HOME"
CONFIG_FILENAME = "config.toml"
CREDENTIALS_FILENAME = "credentials.toml"

_PRIVATE_DIR_MODE = 0o700
_GROUP_OTHER_BITS = stat.S_IRWXG | stat.S_IRWXO


class StateFileError(Exception):
    """A state file cannot be read or is invalid. ``str()`` is one line naming the file; it never
    contains file content (the credentials file holds secrets)."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = " ".join(problem.split())  # one line, whatever the underlying message
        super().__init__(f"{path}: {self.problem}")


def router_home() -> Path:
    """The state directory. Read on every call (not at import) so tests and children can move it."""
    override = os.environ.get(ROUTER_HOME_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir("router"))


def config_path() -> Path:
    """``config.toml``: backends, aliases, routes and defaults. Never secrets."""
    return router_home() / CONFIG_FILENAME


def credentials_path() -> Path:
    """``credentials.toml``: stored API keys, one per backend (mode 0600)."""
    return router_home() / CREDENTIALS_FILENAME


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` as 0700, or tighten it to 0700 when it already exists more open.

    ``mkdir(mode=0o700)`` creates it private from the first instant (umask can only remove
    bits); an existing directory is chmod-ed because it is about to hold a secret.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir(mode=_PRIVATE_DIR_MODE)
    except FileExistsError:
        if not directory.is_dir():
            raise
    if directory.stat().st_mode & _GROUP_OTHER_BITS:
        directory.chmod(_PRIVATE_DIR_MODE)


def atomic_write(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` with ``data`` atomically; the new file has exactly ``mode``.

    The temporary file is created with ``O_EXCL`` and ``mode`` (so a secret is never readable by
    others, not even between create and chmod), fsync-ed, then renamed over the target with
    ``os.replace`` (atomic on POSIX and Windows). ``fchmod`` undoes whatever the umask removed.
    """
    ensure_private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def is_private_file(path: Path) -> bool:
    """True when nobody but the owner can read or write ``path`` (always true on Windows)."""
    if os.name == "nt":
        return True
    return not path.stat().st_mode & _GROUP_OTHER_BITS


def read_toml(path: Path) -> Dict[str, Any]:
    """The parsed file, ``{}`` when it does not exist, :class:`StateFileError` otherwise.

    tomllib's messages carry only a position ("… (at line 3, column 7)"), never the text, so they
    are safe to show even for the credentials file.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise StateFileError(path, f"cannot be read: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise StateFileError(path, "is not valid UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise StateFileError(path, f"is not valid TOML: {exc}") from None
