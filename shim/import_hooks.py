"""A post-import hook finder: run a callback once a target module has finished executing.

The stdlib equivalent of ``wrapt.when_imported`` (docs/shim.md#lazy-import-hooks; wrapt itself is not
available in foreign venvs: docs/shim.md#foreign-interpreters). Installed at ``sys.meta_path[0]``, it asks the other
finders for the target's spec and wraps the loader: after the real ``exec_module`` the module is
complete (``httpx.Client`` exists) and the callback runs. The real loader is put back on the module
and its spec first, so ``inspect.getsource`` and ``importlib.resources`` keep working.
"""

import sys
from types import ModuleType

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~20 modules on 3.9 and this module loads during start-up
    from typing import Any, Callable, Iterable, Optional, Set

    ImportCallback = Callable[[ModuleType], None]

__all__ = ["PostImportFinder"]


class PostImportFinder:
    """``sys.meta_path`` finder that calls ``callback(module)`` after each target is imported."""

    def __init__(self, targets: "Iterable[str]", callback: "ImportCallback") -> None:
        self.targets = frozenset(targets)
        self._callback = callback
        self._searching: Set[str] = set()  # guards against finders that re-enter the import system

    def find_spec(self, fullname: str, path: "Any" = None, target: "Optional[ModuleType]" = None) -> "Any":
        if fullname not in self.targets or fullname in self._searching:
            return None
        self._searching.add(fullname)
        try:
            spec = self._spec_from_other_finders(fullname, path, target)
        finally:
            self._searching.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None  # let the import system proceed as if we were not here
        spec.loader = _HookedLoader(spec.loader, self._callback)
        return spec

    def invalidate_caches(self) -> None:
        """Part of the finder protocol; nothing is cached here."""

    def _spec_from_other_finders(self, fullname: str, path: "Any", target: "Optional[ModuleType]") -> "Any":
        for finder in list(sys.meta_path):
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                return spec
        return None


class _HookedLoader:
    """Delegates to the real loader; runs the callback after the module body has executed."""

    def __init__(self, loader: "Any", callback: "ImportCallback") -> None:
        self._loader = loader
        self._callback = callback

    def create_module(self, spec: "Any") -> "Optional[ModuleType]":
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader
        spec = getattr(module, "__spec__", None)
        if spec is not None:
            spec.loader = self._loader
        self._loader.exec_module(module)
        self._callback(module)

    def __getattr__(self, name: str) -> "Any":
        return getattr(self._loader, name)
