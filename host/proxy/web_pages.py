"""Which web pages a proxy without ``ROUTER_API_KEY`` serves (docs/secrets.md#web-pages).

A keyless proxy listens on loopback only, yet a page the user visits runs on this machine, in the
browser, and can reach it two ways:

* a **cross-origin request**. A ``POST`` with a ``text/plain`` body is a CORS "simple request"
  (https://fetch.spec.whatwg.org/#cors-safelisted-request-header): no preflight; the browser sends
  it and only hides the answer. The proxy parses any body as JSON, so the call is made and paid
  for. The browser names the page in ``Origin`` on every ``POST`` (``null`` when it hides it), so
  a web page (an ``http``/``https`` origin, or ``null``) neither listed with ``--cors-origin`` nor
  the proxy's own is refused. A ``GET`` in ``no-cors`` mode (``fetch``, an image, a frame) carries
  no ``Origin``; the browser's ``Sec-Fetch-Site`` says it came from elsewhere
  (https://www.w3.org/TR/fetch-metadata/), and it is refused too, as is a speculative load
  (``Sec-Purpose: prefetch``), unless it is a navigation to ``/`` or ``/health`` (a link to the
  dashboard). Browser extensions and desktop apps' web views
  (``chrome-extension://``, ``app://``, ``vscode-webview://``) are installed software, not pages:
  served;
* **DNS rebinding**: the page's host name is made to resolve to 127.0.0.1 after the page has loaded,
  and its requests to that name are then same-origin, answers readable. They carry that name in
  ``Host`` (RFC 9110, section 7.2). A page can put only a name it controls there, so a keyless proxy
  serves a ``Host`` that is an IP address, ``localhost`` or a name under ``.localhost`` (RFC 6761:
  loopback names no one can register) and nothing else.

Clients that are not browsers send no ``Origin`` and use the address they were given, so neither
rule touches them. With ``ROUTER_API_KEY`` the key is the protection (a page cannot send a key it
does not know) and these rules are not applied: a keyed proxy may be reached under any name.
"""

import ipaddress
from typing import FrozenSet, Mapping, Optional

from shim.errors import PermissionDeniedError

from ..log_text import printable
from .cors import is_listed_origin

__all__ = ["is_rebindable_host", "page_refusal"]

# Host and Origin values are the client's: quoted in an error, at most this many characters.
_QUOTED = 200
# What almost every request names, known without parsing an address.
_USUAL_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
_WEB_SCHEMES = ("http://", "https://")
# Sec-Fetch-Site values of a request a page at another origin made (https://www.w3.org/TR/fetch-metadata/).
_FROM_ELSEWHERE = frozenset({"cross-site", "same-site"})
# Where a link from elsewhere may lead: pages that hold no data and start nothing (the dashboard's
# page, liveness). A frame or a link to /v1/models, /stats or /metrics would make the proxy work.
_LINKABLE = frozenset({"/", "/health"})


def is_rebindable_host(host: Optional[str]) -> bool:
    """True when ``host`` (a ``Host`` header: ``name[:port]``, ``[v6]:port``) names a domain that DNS
    could point at this machine: any name but ``localhost`` and those under it. An IP address is not
    looked up (nor is ``127.1``: top-level domains hold letters), and a missing ``Host`` (HTTP/1.0)
    is no browser's."""
    name = _host_name(host or "").rstrip(".")
    if not name or name in _USUAL_NAMES or name.endswith(".localhost") or name.strip("0123456789.") == "":
        return False
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return True
    return False


def page_refusal(path: str, headers: Mapping[str, str],
                 listed_origins: FrozenSet[str]) -> Optional[PermissionDeniedError]:
    """Why a keyless proxy must not serve this request for ``path`` (None: it may). ``listed_origins``:
    the ``--cors-origin`` values (normalised; ``*`` for any origin)."""
    host = headers.get("host")
    if is_rebindable_host(host):
        return PermissionDeniedError(
            f"this router proxy has no ROUTER_API_KEY, so it answers only requests addressed to an IP address "
            f"or localhost, not to {_quoted(host or '')}: a web page could reach it under its own name through "
            f"DNS rebinding. Set ROUTER_API_KEY to serve other names")
    origin = headers.get("origin")
    if origin is None:
        return _unnamed_page_refusal(path, headers)
    if not _is_web_page(origin) or is_listed_origin(origin, listed_origins) or _is_own(origin, host):
        return None
    return PermissionDeniedError(
        f"this router proxy has no ROUTER_API_KEY, so it serves only web pages it was told about: the page at "
        f"{_quoted(origin)} could spend your provider keys. List it with --cors-origin, or set ROUTER_API_KEY")


def _unnamed_page_refusal(path: str, headers: Mapping[str, str]) -> Optional[PermissionDeniedError]:
    """A request without ``Origin`` (a ``GET``): one a page elsewhere made (an image, a frame, a
    ``no-cors`` fetch) or the browser made on speculation (``Sec-Purpose: prefetch``, which Chromium
    sends with ``Sec-Fetch-Site: none``, as for a typed address) is refused, unless it is a
    navigation to a page that starts nothing (a link to the dashboard)."""
    site = headers.get("sec-fetch-site")
    speculative = "prefetch" in headers.get("sec-purpose", "")
    if site not in _FROM_ELSEWHERE and not speculative:
        return None
    if headers.get("sec-fetch-mode") == "navigate" and path in _LINKABLE:
        return None
    why = "Sec-Purpose: prefetch" if speculative else f"Sec-Fetch-Site: {site}"
    return PermissionDeniedError(
        f"this router proxy has no ROUTER_API_KEY, so it serves no request a web page elsewhere made, nor one "
        f"the browser made on speculation ({why}); set ROUTER_API_KEY to serve them")


def _is_web_page(origin: str) -> bool:
    """An origin a page on the web can have: ``http``/``https``, or ``null`` (a sandboxed frame, a
    ``file:`` page, a redirect), which says nothing of where the page came from."""
    origin = origin.strip().lower()
    return origin == "null" or origin.startswith(_WEB_SCHEMES)


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_own(origin: str, host: Optional[str]) -> bool:
    """The page is the proxy's own (its dashboard): same scheme, name and port as the request. Sound
    only once ``host`` is known not to be rebindable: a rebound page's origin names its ``Host``."""
    return host is not None and origin.strip().lower() == "http://" + host.strip().lower()


def _quoted(value: str) -> str:
    return repr(printable(value, _QUOTED))
