"""``config``: the file, whether it loads, what it routes, and where each built-in family goes.

Loading goes through :func:`host.config_store.load_config`, the same code every command uses, so a
file the doctor accepts is a file ``router shim`` and ``router proxy`` accept. Its one-line error
names the file and the problem, never a value from the credentials file.
"""

from typing import Dict, List, Mapping, Optional, Tuple

from shim.routing import BUILTIN_FAMILIES
from shim.targets import describe_chain

from ..config_store import LoadedConfig, load_config
from ..credentials import has_loose_permissions
from ..paths import StateFileError, config_path, credentials_path, router_home
from .report import FAIL, INFO, OK, WARN, Section

__all__ = ["config_section"]


def config_section(environ: Mapping[str, str]) -> Tuple[Section, Optional[LoadedConfig]]:
    """The section, and the loaded configuration when it could be loaded."""
    section = Section("config")
    section.add(INFO, "home", f"{router_home()} (ROUTER_HOME)" if environ.get("ROUTER_HOME") else str(router_home()))
    path = config_path()
    try:
        loaded = load_config(environ)
    except StateFileError as problem:
        section.add(FAIL, "config", str(problem), fix=f"fix that line: $EDITOR '{problem.path}'")
        return section, None
    if not path.exists():
        section.add(FAIL, "config file", f"{path} does not exist, so nothing is routed",
                    fix="add a backend: router backend add openai (or anthropic, groq, ollama …)")
        return section, loaded
    _describe(section, loaded)
    _check_credentials_file(section)
    return section, loaded


def _describe(section: Section, loaded: LoadedConfig) -> None:
    config = loaded.config
    counts = f"{len(config.backends)} backends, {len(config.aliases)} aliases, {len(config.routes)} routes"
    section.add(OK, "config file", f"{loaded.path} parses ({counts})")
    if not config.backends:
        section.add(FAIL, "backends", "none configured, so nothing is routed",
                    fix="router backend add openai (or anthropic, groq, ollama …)")
    for rule in config.routes:
        section.add(INFO, f"route {rule.match!r}", f"→ {describe_chain(rule.chain)}")
    for alias, entries in config.aliases.items():
        section.add(INFO, f"alias {alias!r}", "→ " + " → ".join(map(str, entries)))
    if config.default_backend:
        section.add(INFO, "default backend", describe_chain(config.default_backend))
    for backend, patterns in _families().items():
        what = f"built-in {', '.join(patterns)}"
        if backend in config.backends:
            section.add(INFO, what, f"→ {backend}")
        else:
            section.add(INFO, what, f"not routed: no backend named {backend!r} (router backend add {backend})")


def _families() -> Dict[str, List[str]]:
    """Backend name → the built-in globs (and, for Anthropic, the shortcuts) that go to it."""
    families: Dict[str, List[str]] = {}
    for pattern, backend in BUILTIN_FAMILIES:
        families.setdefault(backend, []).append(pattern)
    families.setdefault("anthropic", []).append("opus/sonnet/haiku")
    return families


def _check_credentials_file(section: Section) -> None:
    path = credentials_path()
    if has_loose_permissions(path):
        section.add(WARN, "credentials file", f"{path} is readable by others", fix=f"chmod 600 '{path}'")
    elif path.exists():
        section.add(OK, "credentials file", f"{path} is private (0600)")
