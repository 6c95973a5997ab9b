"""router shim bootstrap: Python's ``site`` module imports this because ``router shim`` put its
directory first on PYTHONPATH.

1. Activate the shim: import the private package (rendered below; never a generic top-level
   name, so nothing here can shadow or be shadowed by the program's modules) and call
   ``activate()``, which only installs lazy import hooks and says hello to the host.
2. Chain the ``sitecustomize`` this file hides (a venv's, Debian's apport hook, ddtrace's…):
   find the next one with our directory removed from ``sys.path`` and execute it under the name
   ``sitecustomize`` (docs/shim.md#chaining-sitecustomize). Its own errors propagate, so ``site``
   reports them exactly as it would without the shim.

Our own failures are swallowed (printed with ROUTER_SHIM_DEBUG=1). Standard library only and
old syntax on purpose: this file runs in whatever Python the program uses.
"""

import os
import sys

_PACKAGE = "__ROUTER_SHIM_PACKAGE__"
_GUARD = "_router_shim_package"  # set on sys: one active shim per process, whatever its version
_HERE = os.path.dirname(os.path.abspath(__file__))


def _debug(message):
    if os.environ.get("ROUTER_SHIM_DEBUG") == "1":
        import traceback

        sys.stderr.write("[router shim] " + message + "\n")
        traceback.print_exc()


def _activate():
    if sys.version_info < (3, 9) or getattr(sys, _GUARD, None):
        return  # too old for the shim, or a shim (maybe of another router version) is already active
    setattr(sys, _GUARD, _PACKAGE)
    try:
        __import__(_PACKAGE + ".bootstrap", fromlist=["activate"]).activate()
    except Exception:
        _debug("activation failed")


def _is_here(entry):
    try:
        return os.path.abspath(entry or os.curdir) == _HERE
    except Exception:
        return False


def _next_sitecustomize_spec():
    try:
        # The import system's own frozen modules, always loaded: importing importlib.machinery
        # (or importlib.util) here would cost the start-up budget a package or two.
        import _frozen_importlib_external

        return _frozen_importlib_external.PathFinder.find_spec("sitecustomize", sys.path)
    except Exception:
        _debug("looking for the next sitecustomize failed")
        return None


def _chain():
    saved = list(sys.path)
    # Hidden for the whole chain, so that a chained chainer (ddtrace's) cannot find us again.
    sys.path[:] = [entry for entry in sys.path if not _is_here(entry)]
    try:
        spec = _next_sitecustomize_spec()
        if spec is None or spec.loader is None:
            _free_the_name_later()
            return
        from _frozen_importlib import module_from_spec  # importlib.util would cost ~4 ms

        ours = sys.modules.get("sitecustomize")
        module = module_from_spec(spec)
        sys.modules["sitecustomize"] = module  # `import sitecustomize` now finds the program's module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules["sitecustomize"] = ours
            raise
    finally:
        sys.path[:] = saved + [entry for entry in sys.path if entry not in saved]


class _NameReleaser:
    """Without the shim, `site` finds no sitecustomize and leaves the name free, so a later
    `import sitecustomize` (a script directory's own module) finds the program's. We cannot leave
    sys.modules while `site` is still importing us (it reads the entry back), so this one-shot
    finder frees the name at the next import of anything, then removes itself.

    Removing itself shifts sys.meta_path under importlib's loop, which would skip the next finder
    (the shim's own import hook) for this one import; so it finishes that lookup itself."""

    def find_spec(self, name, path=None, target=None):
        try:
            sys.meta_path.remove(self)
            if getattr(sys.modules.get("sitecustomize"), "__file__", None) == __file__:
                del sys.modules["sitecustomize"]
        except Exception:
            _debug("freeing the sitecustomize name failed")
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                return spec
        return None


def _free_the_name_later():
    sys.meta_path.insert(0, _NameReleaser())


_activate()
_chain()
