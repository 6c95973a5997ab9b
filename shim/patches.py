"""Symmetric attribute patching: every replacement is recorded so that it can be undone.

Wrappers keep ``__wrapped__`` (like ``functools.wraps``) and carry a marker, so patching twice is a
no-op and :meth:`PatchRegistry.restore_all` puts back exactly what was there — including the case
where the patched class only inherited the attribute (the override is then deleted again).
"""

from typing import Any, Callable, List, NamedTuple

__all__ = ["PATCH_MARKER", "PatchRegistry", "is_shim_wrapper"]

PATCH_MARKER = "_router_shim_wrapper"
_MISSING = object()


class _Patch(NamedTuple):
    owner: Any
    name: str
    previous: Any  # the owner's own attribute before patching, or _MISSING when it was inherited
    wrapper: Callable[..., Any]


def is_shim_wrapper(value: Any) -> bool:
    return bool(getattr(value, PATCH_MARKER, False))


class PatchRegistry:
    """Every attribute the shim replaced, in order."""

    def __init__(self) -> None:
        self._patches: List[_Patch] = []

    def replace(self, owner: Any, name: str, make_wrapper: Callable[[Any], Callable[..., Any]]) -> bool:
        """Set ``owner.name`` to ``make_wrapper(current)``; False when it is already ours."""
        current = getattr(owner, name)
        if is_shim_wrapper(current):
            return False
        previous = vars(owner).get(name, _MISSING)
        wrapper = make_wrapper(current)
        wrapper.__wrapped__ = current  # type: ignore[attr-defined]
        setattr(wrapper, PATCH_MARKER, True)
        setattr(owner, name, wrapper)
        self._patches.append(_Patch(owner, name, previous, wrapper))
        return True

    def restore_all(self) -> int:
        """Undo every patch, newest first; returns how many were undone. A patch that someone else
        has since wrapped again is left alone (removing it would drop their wrapper too)."""
        restored = 0
        while self._patches:
            patch = self._patches.pop()
            if vars(patch.owner).get(patch.name) is not patch.wrapper:
                continue
            if patch.previous is _MISSING:
                delattr(patch.owner, patch.name)
            else:
                setattr(patch.owner, patch.name, patch.previous)
            restored += 1
        return restored

    def targets(self) -> List[str]:
        """``package.Class.attribute`` of every patch in place, oldest first (``router doctor`` shows them)."""
        return [f"{_package_of(patch.owner)}.{getattr(patch.owner, '__qualname__', '?')}.{patch.name}"
                for patch in self._patches]

    def __len__(self) -> int:
        return len(self._patches)


def _package_of(owner: Any) -> str:
    """``httpx`` for ``httpx._client.Client``: the name a user imports, not the private module."""
    return str(getattr(owner, "__module__", "?")).partition(".")[0]
