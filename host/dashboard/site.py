"""The dashboard's HTTP surface, as one function from a request to a response, so that
``router dashboard`` and ``router proxy`` serve exactly the same thing.

Paths::

    GET|HEAD /                          the page (static: it holds no data)
    GET /dashboard/static/NAME          its script and style sheet, from the package
    GET /dashboard/api/access           {"key_required": bool, "key_ok": bool}: never 401, so the page can
                                        ask for the key without a failed request in the browser's console
    GET /dashboard/api/summary?window=  totals, breakdowns, series, latency, process tree (``data.summary``)
    GET /dashboard/api/calls?after=ID   the live tail (``data.calls_after``)
    GET /dashboard/api/routing          the routing table (``host.routing_table``), read from $ROUTER_HOME

With ``ROUTER_API_KEY`` set, the API answers only requests carrying it (``x-api-key`` or a bearer
token, as the proxy's own endpoints); the page then asks for it once and keeps it in the tab's
``sessionStorage``. Without a key the dashboard is for this machine only, with the keyless proxy's
rules for web pages (``host/proxy/web_pages.py``, docs/secrets.md#web-pages): a ``Host`` that is a
domain name other than ``localhost`` is refused, so a page on another site cannot read it through
DNS rebinding, and so is a request another page made. Every answer forbids caching, framing and
loading anything from elsewhere (CSP).
"""

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable, Dict, FrozenSet, Mapping, Optional
from urllib.parse import parse_qs

from shim.plan import ClientResponse

from ..config_store import load_config
from ..paths import StateFileError
from ..proxy.auth import is_authorized
from ..proxy.web_pages import page_refusal
from ..routing_table import routing_table
from ..store_reads import InProcessReads, StoreReadFailed, StoreReads
from .data import DASHBOARD_WINDOWS

__all__ = ["API_PREFIX", "PAGE_PATHS", "SECURITY_HEADERS", "DashboardSite", "is_dashboard_path"]

API_PREFIX = "/dashboard/api/"
_NO_LISTED_ORIGINS: FrozenSet[str] = frozenset()  # its own page only: it has no --cors-origin
_STATIC_PREFIX = "/dashboard/static/"
PAGE_PATHS = ("/",)
_STATIC_FILES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS: Dict[str, str] = {
    "content-security-policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


def is_dashboard_path(path: str) -> bool:
    return path in PAGE_PATHS or path.startswith("/dashboard/")


@dataclass(frozen=True)
class DashboardSite:
    """``api_key``: the router's own key (None: loopback only). ``reads``: where the store is read
    (by default on the calling thread, from ``$ROUTER_HOME`` at each request; the proxy's run in a
    process of their own). ``before_read``: called before reading the store (the proxy hands its
    buffered events over, so the calls it just answered are counted)."""

    api_key: Optional[str] = None
    reads: StoreReads = field(default_factory=InProcessReads)
    before_read: Optional[Callable[[], None]] = None

    def answer(self, method: str, path: str, query: bytes, headers: Mapping[str, str]) -> ClientResponse:
        """The response for one request (blocking: SQLite reads; run it off an event loop)."""
        if not self.api_key and (refusal := page_refusal(path, headers, _NO_LISTED_ORIGINS)) is not None:
            return _json(403, {"error": refusal.message})
        if method not in ("GET", "HEAD"):
            return _json(405, {"error": f"{method} is not allowed here"})
        if path in PAGE_PATHS:
            return _static("index.html", "text/html; charset=utf-8")
        if path.startswith(_STATIC_PREFIX) and path[len(_STATIC_PREFIX):] in _STATIC_FILES:
            name = path[len(_STATIC_PREFIX):]
            return _static(name, _STATIC_FILES[name])
        if not path.startswith(API_PREFIX):
            return _json(404, {"error": f"no such page: {path}"})
        key_ok = is_authorized(headers, self.api_key)
        if path == API_PREFIX + "access":
            return _json(200, {"key_required": bool(self.api_key), "key_ok": key_ok})
        if not key_ok:
            return _json(401, {"error": "send the value of ROUTER_API_KEY as x-api-key or a bearer token"})
        return self._api(path[len(API_PREFIX):], parse_qs(query.decode("latin-1")))

    def _api(self, name: str, params: Dict[str, Any]) -> ClientResponse:
        if name == "summary":
            window = params.get("window", ["1h"])[-1]
            if window not in DASHBOARD_WINDOWS:
                return _json(400, {"error": f"window must be one of {', '.join(DASHBOARD_WINDOWS)}"})
            return self._read("summary", {"window": window})
        if name == "calls":
            after = params.get("after", [""])[-1]
            if after and not after.isdigit():
                return _json(400, {"error": "after must be a call id"})
            return self._read("calls", {"after": int(after) if after else None})
        if name == "routing":
            try:
                return _json(200, routing_table(load_config(os.environ)))
            except StateFileError as problem:
                return _json(200, {"problem": str(problem)})
        return _json(404, {"error": f"no such dashboard API: {name}"})

    def _read(self, name: str, params: Dict[str, Any]) -> ClientResponse:
        if self.before_read is not None:
            self.before_read()
        try:
            return _json(200, self.reads.read(name, params))
        except StoreReadFailed as failure:
            return _json(503, {"error": failure.client_message()})


def _static(name: str, content_type: str) -> ClientResponse:
    body = resources.files(__package__).joinpath("static", name).read_bytes()
    return ClientResponse(200, {**SECURITY_HEADERS, "content-type": content_type}, body)


def _json(status: int, payload: Any) -> ClientResponse:
    body = json.dumps(payload, allow_nan=False).encode()
    return ClientResponse(status, {**SECURITY_HEADERS, "content-type": "application/json"}, body)
