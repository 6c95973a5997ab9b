"""Helpers for the host tests (a uniquely named module: tests/ directories are not packages)."""

import os
import sys
from pathlib import Path
from typing import Any, Dict

from host.presets import PRESETS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SECRET = "sk-test-SECRET123"
KEY_ENV_VARS = sorted({preset.key_env for preset in PRESETS.values() if preset.key_env})


def write_config(home: Path, text: str) -> Path:
    """Write a hand-made config.toml into ``home`` (as a user with an editor would)."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def mode_of(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def load_toml(path: Path) -> Dict[str, Any]:
    """Parse a TOML file the test wants to inspect."""
    return tomllib.loads(path.read_text(encoding="utf-8"))
