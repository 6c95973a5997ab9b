"""The directory ``router shim`` puts first on a child's ``PYTHONPATH``.

It holds exactly two things (docs/shim.md#name-collisions: nothing with a generic top-level name):

* ``sitecustomize.py`` — rendered from ``sitecustomize_template/sitecustomize.py`` by replacing the
  placeholder :data:`PACKAGE_PLACEHOLDER` with the private package name;
* ``_router_shim_<version>_<hash8>/`` — a copy of the ``shim`` package (``.py`` files and
  ``py.typed`` only) under that private name. The shim's imports are relative, so it works renamed.

One directory per router version and shim source hash, in the user cache directory. It is built in
a temporary sibling and renamed into place, so a reader sees a complete directory or none, and two
``router shim`` starting at once both end up using the same complete one.
"""

import compileall
import errno
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Iterator, List, Optional

import platformdirs

import shim

__all__ = [
    "PACKAGE_PLACEHOLDER",
    "InjectionDir",
    "ShimSources",
    "ensure_injection_dir",
    "find_sources",
    "router_version",
]

PACKAGE_PLACEHOLDER = "__ROUTER_SHIM_PACKAGE__"
_TEMPLATE_DIR = "sitecustomize_template"
_TEMPLATE_FILE = "sitecustomize.py"
_COPIED_SUFFIXES = (".py",)
_COPIED_NAMES = ("py.typed",)


@dataclass(frozen=True)
class ShimSources:
    """Where the files the injected directory is built from live (checkout or installed wheel)."""

    package_dir: Path  # the ``shim`` package
    template: Path  # sitecustomize_template/sitecustomize.py


@dataclass(frozen=True)
class InjectionDir:
    path: Path  # goes first on PYTHONPATH
    package_name: str  # the private name the shim package has in there


def router_version() -> str:
    """The installed router version ("0.0.0" when running from an uninstalled checkout)."""
    try:
        return metadata.version("router")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def find_sources() -> ShimSources:
    """The shim package and the sitecustomize template.

    Both are top-level packages of this distribution, so they sit side by side whether the project
    is a source checkout, an editable install or a wheel in site-packages.
    """
    package_dir = Path(shim.__file__).resolve().parent
    template = package_dir.parent / _TEMPLATE_DIR / _TEMPLATE_FILE
    if not template.is_file():
        raise FileNotFoundError(errno.ENOENT, "the shim's sitecustomize template is missing", str(template))
    return ShimSources(package_dir, template)


def ensure_injection_dir(cache_root: Optional[Path] = None, sources: Optional[ShimSources] = None) -> InjectionDir:
    """The injected directory for this version and shim source, built on first use."""
    sources = sources or find_sources()
    root = cache_root if cache_root is not None else Path(platformdirs.user_cache_dir("router"))
    files = _source_files(sources.package_dir)
    package_name = _package_name(router_version(), _source_hash(sources, files))
    target = root / f"shim-{package_name}"
    if not target.is_dir():
        _build_atomically(target, sources, files, package_name)
    return InjectionDir(target, package_name)


def _package_name(version: str, source_hash: str) -> str:
    """``_router_shim_0_1_0_1a2b3c4d``: an identifier nobody else will use."""
    return f"_router_shim_{re.sub(r'[^0-9A-Za-z]+', '_', version)}_{source_hash[:8]}"


def _source_files(package_dir: Path) -> List[Path]:
    """The files to copy, relative to the package, in a stable order (no __pycache__, no tool configs)."""
    return sorted(path.relative_to(package_dir) for path in _walk(package_dir))


def _walk(package_dir: Path) -> Iterator[Path]:
    for path in package_dir.rglob("*"):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        if path.suffix in _COPIED_SUFFIXES or path.name in _COPIED_NAMES:
            yield path


def _source_hash(sources: ShimSources, files: List[Path]) -> str:
    digest = hashlib.sha256()
    for relative, data in [(Path(_TEMPLATE_FILE), sources.template.read_bytes())] + [
        (relative, (sources.package_dir / relative).read_bytes()) for relative in files
    ]:
        digest.update(relative.as_posix().encode() + b"\0" + data + b"\0")
    return digest.hexdigest()


def _build_atomically(target: Path, sources: ShimSources, files: List[Path], package_name: str) -> None:
    """Build in a temporary sibling, then rename; losing a race to another builder is fine."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _fill(staging, sources, files, package_name)
        staging.chmod(0o755)  # mkdtemp made it 0700; the cache is the user's own anyway
        os.rename(staging, target)
    except OSError:
        if not target.is_dir():  # a real failure, not "someone else renamed first"
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fill(staging: Path, sources: ShimSources, files: List[Path], package_name: str) -> None:
    template = sources.template.read_text(encoding="utf-8")
    (staging / _TEMPLATE_FILE).write_text(template.replace(PACKAGE_PLACEHOLDER, package_name), encoding="utf-8")
    for relative in files:
        destination = staging / package_name / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sources.package_dir / relative, destination)
    # Children often run with PYTHONDONTWRITEBYTECODE (containers, CI): without bytecode shipped
    # here every child would compile the shim from source, about +8 ms at start-up and tens of ms
    # at its first LLM call. This covers the host's Python; other versions compile their own once
    # (unless they may not write), and the import system corrects the file names after the rename.
    compileall.compile_dir(str(staging), quiet=2)

