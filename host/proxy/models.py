"""``GET /v1/models``: every model name a client can send through this proxy.

The union, in this order, without duplicates: each backend's model globs that are plain names,
each backend's own ``/models`` list (when it answers within a short timeout; cached briefly, and
asked for once however many clients want it meanwhile: a thousand clients asking at once were a
thousand requests to each backend),
then the aliases and the shortcuts that route somewhere. A name a backend listed that would route
elsewhere (an earlier route rule catches it) is listed as ``backend:name``, so that every id in
the list reaches the backend it came from. The shape follows the asking client: Anthropic's list
when the request has an ``anthropic-version`` header, else OpenAI's.
"""

import asyncio
import json
import time
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional, Tuple

from shim.config import Backend, RouterConfig
from shim.json_budget import loads_within_budget
from shim.plan import TRANSLATED_ANTHROPIC_VERSION, credential_headers
from shim.protocols import ANTHROPIC, MODELS, upstream_path
from shim.routing import resolve_route
from shim.upstream_failures import UpstreamFailure

from .upstream import UpstreamClient

__all__ = ["ModelCatalog", "render_model_list"]

_GLOB_CHARS = frozenset("*?[")
LISTING_TIMEOUT = 2.0  # seconds a backend's /models may take before the list goes without it
LISTING_TTL = 60.0  # seconds a backend's answer (or its silence) is reused

Entry = Tuple[str, str]  # (model id as the client should send it, owner: backend name or "router")


class ModelCatalog:
    """Builds the model list of one configuration; remembers each backend's own list for
    :data:`LISTING_TTL`. A new configuration gets a new catalog (its backends' lists may differ)."""

    def __init__(self, config: RouterConfig, created: float) -> None:
        self._config = config
        self._created = created
        self._cache: Dict[str, Tuple[float, List[str]]] = {}
        self._asking: Dict[str, asyncio.Future[List[str]]] = {}  # a backend's list on its way

    async def body(self, upstream: UpstreamClient, anthropic_shape: bool) -> bytes:
        entries = await self.entries(upstream)
        return json.dumps(render_model_list(entries, anthropic_shape, self._created)).encode()

    async def entries(self, upstream: UpstreamClient) -> List[Entry]:
        backends = list(self._config.backends.values())
        listed = await asyncio.gather(*(self._backend_models(upstream, backend) for backend in backends))
        entries: List[Entry] = []
        for backend, names in zip(backends, listed, strict=True):
            entries.extend(self._routable(backend, name) for name in _plain_globs(backend) + names)
        entries.extend(self._named_entries())
        return _unique(entries)

    def _routable(self, backend: Backend, name: str) -> Entry:
        route = resolve_route(self._config, name)
        if route is not None and route.backend.name == backend.name:
            return name, backend.name
        return f"{backend.name}:{name}", backend.name

    def _named_entries(self) -> List[Entry]:
        """Aliases and shortcuts, when they route somewhere, owned by the backend they reach."""
        out: List[Entry] = []
        for name in list(self._config.aliases) + list(self._config.shortcuts):
            route = resolve_route(self._config, name)
            if route is not None:
                out.append((name, route.backend.name))
        return out

    async def _backend_models(self, upstream: UpstreamClient, backend: Backend) -> List[str]:
        cached = self._cache.get(backend.name)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        asking = self._asking.get(backend.name)
        if asking is None:
            asking = self._asking[backend.name] = asyncio.ensure_future(self._fetch_and_keep(upstream, backend))
        # Shielded: a client that leaves does not cancel the request the others wait on.
        return await asyncio.shield(asking)

    async def _fetch_and_keep(self, upstream: UpstreamClient, backend: Backend) -> List[str]:
        try:
            names = await self._fetch(upstream, backend)
            self._cache[backend.name] = (time.monotonic() + LISTING_TTL, names)
            return names
        finally:
            del self._asking[backend.name]

    async def _fetch(self, upstream: UpstreamClient, backend: Backend) -> List[str]:
        path = upstream_path(backend.protocol, MODELS)
        if path is None:
            return []
        headers = credential_headers(backend)
        if backend.protocol == ANTHROPIC:
            headers["anthropic-version"] = TRANSLATED_ANTHROPIC_VERSION
        try:
            status, body = await upstream.get(backend.url_for(path), headers, LISTING_TIMEOUT)
        except UpstreamFailure:
            return []
        return _listed_ids(body) if status == 200 else []


def _plain_globs(backend: Backend) -> List[str]:
    return [glob for glob in backend.models if not _GLOB_CHARS & set(glob)]


def _listed_ids(body: bytes) -> List[str]:
    """Model ids from either vendor's list shape (both put them under ``data[*].id``); a list too
    large to parse on the event loop is no list (docs/proxy-limits.md#answers)."""
    try:
        data = loads_within_budget(body).get("data")
    except (ValueError, AttributeError, UnicodeDecodeError, RecursionError):
        return []
    if not isinstance(data, list):
        return []
    return [item["id"] for item in data if isinstance(item, Mapping) and isinstance(item.get("id"), str)]


def _unique(entries: List[Entry]) -> List[Entry]:
    seen: Dict[str, str] = {}
    for model_id, owner in entries:
        seen.setdefault(model_id, owner)
    return list(seen.items())


def render_model_list(entries: List[Entry], anthropic_shape: bool, created: float) -> Dict[str, Any]:
    """The list in Anthropic's or OpenAI's shape (what each SDK's ``models.list()`` parses)."""
    if anthropic_shape:
        stamp = datetime.fromtimestamp(int(created), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        data: List[Dict[str, Any]] = [
            {"type": "model", "id": i, "display_name": i, "created_at": stamp} for i, _ in entries
        ]
        first: Optional[str] = entries[0][0] if entries else None
        last: Optional[str] = entries[-1][0] if entries else None
        return {"data": data, "has_more": False, "first_id": first, "last_id": last}
    data = [{"id": i, "object": "model", "created": int(created), "owned_by": owner} for i, owner in entries]
    return {"object": "list", "data": data}
