"""aiohttp: routed LLM calls are handed to the host's proxy by rewriting the URL (docs/shim.md#aiohttp).

``ClientSession._request`` is wrapped. Fabricating aiohttp ``ClientResponse`` objects broke
aioresponses on four aiohttp releases, so the shim never builds one: a call whose model has a
route is sent, unchanged but for its URL, to ``ROUTER_SHIM_PROXY_URL`` + the original path and
query, and aiohttp's own machinery streams the proxy's answer (which is already translated and
reported by the proxy). A call with no route goes where it was going and is reported here — except
one aimed at the host's proxy itself (its base URL came from ``router shim``), which goes where it
would have gone without the router (``LLMCall.unrouted_url``, docs/shim-process-tree.md). A routed
call aimed at the proxy is handed to it like any other: the same URL, one hop, no loop (the proxy
runs in the host, which is not shimmed). With no proxy URL, routed calls are left untouched too and
the host gets one ``shim_error``.

aiohttp used *inside* an httpx transport (the SDKs' ``DefaultAioHttpClient``) is routed at the
httpx layer, which sets the bypass before calling down, so such calls are not seen twice.
"""

import json
from typing import Any, Awaitable, Callable, Dict, Mapping, Optional, Tuple

from ..env_names import CALLER_HEADER
from ..failures import report_failure
from ..platform_calls import PLATFORM_ENDPOINTS
from ..runtime import current_runtime
from .bypass import is_bypassed
from .call_driver import LLMCall, begin_call

__all__ = ["patch_aiohttp", "proxy_target"]

RequestMethod = Callable[..., Awaitable[Any]]  # ClientSession._request(self, method, str_or_url, **kwargs)


def patch_aiohttp(mod: Any, registry: Any) -> None:
    """Patch ``aiohttp.ClientSession._request``."""
    registry.replace(mod.ClientSession, "_request", _routing_request)


def _routing_request(original: RequestMethod) -> RequestMethod:
    async def _request(self: Any, method: str, str_or_url: Any, **kwargs: Any) -> Any:
        call, target = _route(method, _absolute_url(self, str_or_url), kwargs)
        if target is not None:
            return await original(self, method, target, **_with_caller(kwargs))
        if call is not None and call.unrouted_url is not None:
            str_or_url = call.unrouted_url
        try:
            response = await original(self, method, str_or_url, **kwargs)
        except BaseException as error:
            if call is not None:
                call.passed_through_failed(error)
            raise
        if call is not None:
            call.passed_through(response.status, response.headers)
        return response

    return _request


def _absolute_url(session: Any, str_or_url: Any) -> str:
    """The URL the session will really call. A session built with ``base_url=`` (aiohttp >= 3.8)
    joins relative paths to it inside ``_request``; judged as given, ``"chat/completions"`` has no
    host and such a call would escape the shim. The proxy URL the shim substitutes is absolute,
    which ``_build_url`` leaves alone. Never raises."""
    if not getattr(session, "_base_url", None):
        return str(str_or_url)
    try:
        return str(session._build_url(str_or_url))
    except Exception:  # let aiohttp raise its own error for a bad URL, below
        return str(str_or_url)


def _route(method: str, url: str, kwargs: Mapping[str, Any]) -> Tuple[Optional[LLMCall], Optional[str]]:
    """(the call to report, or None; the proxy URL to send it to instead, or None). Never raises."""
    try:
        if is_bypassed():
            return None, None
        runtime = current_runtime()
        endpoint = runtime.llm_hosts.endpoint_for_url(url)
        if endpoint in PLATFORM_ENDPOINTS:
            return None, None  # answered or re-keyed only on the httpx/requests seams: the proxy has no such path
        body = _body_of(kwargs) if endpoint is not None else None
        if endpoint is None or body is None:
            return None, None
        call = begin_call(method, url, endpoint, {}, body)
        if call is None or not call.routed:
            return call, None
        return None, _handoff(runtime.proxy_url, url)
    except Exception as error:
        report_failure("aiohttp routing", error, once=True)
        return None, None


def _with_caller(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The request's keyword arguments plus ``CALLER_HEADER``, so the proxy reports the call as this
    process's. The program's own headers (any form aiohttp takes) are kept, repeated names too."""
    try:
        headers = kwargs.get("headers")
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or ())
        return {**kwargs, "headers": [*pairs, (CALLER_HEADER, current_runtime().caller)]}
    except Exception as error:  # the call still goes to the proxy, reported as the host's
        report_failure("aiohttp caller header", error, once=True)
        return kwargs


def _handoff(proxy_url: Optional[str], url: str) -> Optional[str]:
    if not proxy_url:
        report_failure("aiohttp call to a routed model, but the host gave no proxy URL: left untouched", once=True)
        return None
    return proxy_target(proxy_url, url)


def proxy_target(proxy_url: str, url: str) -> str:
    """``proxy_url`` + the path and query of ``url``."""
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    path_and_query = rest[slash:] if slash >= 0 else "/"
    return proxy_url.rstrip("/") + path_and_query


def _body_of(kwargs: Mapping[str, Any]) -> Optional[bytes]:
    """The request body as bytes when it can be known without consuming it (json= or bytes/str data=)."""
    if kwargs.get("json") is not None:
        return json.dumps(kwargs["json"]).encode()
    data = kwargs.get("data")
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    return None
