"""``versions``: the router, the Python running it, the OS, and the client libraries installed beside it.

The libraries listed are the ones the shim patches or the SDKs built on them, read from package
metadata (nothing is imported), so the list is cheap and says what a bug report needs to know.
"""

import platform
import sys
from importlib import metadata
from typing import List, Optional, Tuple

from ..injection import router_version
from .report import INFO, OK, WARN, Section

__all__ = ["CLIENT_DISTRIBUTIONS", "installed_version", "versions_section"]

# Distributions whose version matters when a call is not routed as expected.
CLIENT_DISTRIBUTIONS: Tuple[str, ...] = (
    "openai", "anthropic", "httpx", "httpx2", "requests", "aiohttp", "litellm", "langchain-openai",
    "langchain-anthropic",
)
_MIN_PYTHON = (3, 10)


def installed_version(name: str) -> Optional[str]:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def versions_section() -> Section:
    section = Section("versions")
    section.add(OK, "router", router_version())
    python = f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"
    if sys.version_info[:2] < _MIN_PYTHON:
        section.add(WARN, "Python", python, fix="the router needs Python ≥ 3.10; reinstall it with a newer Python")
    else:
        section.add(OK, "Python", python)
    section.add(INFO, "OS", f"{platform.system()} {platform.release()} ({platform.machine()})")
    found: List[str] = [f"{name} {version}" for name in CLIENT_DISTRIBUTIONS
                        if (version := installed_version(name)) is not None]
    section.add(INFO, "client libraries beside the router", ", ".join(found) or "none")
    return section
