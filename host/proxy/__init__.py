"""``router proxy``: one local HTTP endpoint for every non-Python client, on the same engine as the shim.

Modules: :mod:`.app` (raw ASGI app: routing, auth, limits, disconnect watch), :mod:`.forward` (the
per-call driver), :mod:`.upstream` (the upstream client interface, the httpx client, per-backend limits),
:mod:`.upstream_httptools` (the default client: asyncio connections, httptools parsing),
:mod:`.upstream_aiohttp` (aiohttp, also for backends behind an HTTP proxy), :mod:`.store_batch`
(telemetry to the store in batches), :mod:`.models` (``GET /v1/models``), :mod:`.generation` (one
configuration generation: what is swapped on reload), :mod:`.live_config` (following the files),
:mod:`.server` (bind checks, banner, uvicorn, signals), :mod:`.stats`.
"""

from .app import ProxyApp
from .server import BindRefused, run_proxy
from .settings import DEFAULT_HOST, DEFAULT_PORT, ProxySettings

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "BindRefused", "ProxyApp", "ProxySettings", "run_proxy"]
