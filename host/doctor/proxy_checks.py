"""``proxy``: could ``router proxy`` start with these options, and is it protected where it must be?

The port is tried the way the proxy binds it (:func:`host.proxy.server.bind_socket`). A port in
use is fine when a router proxy is what listens there (its ``/health`` says so, and needs no key);
anything else is the "Address already in use" the proxy would stop on.
"""

import json
from typing import Mapping, Optional

import httpx

from ..cli_proxy import ROUTER_API_KEY_ENV
from ..proxy.server import BindRefused, bind_socket, check_bind_allowed, is_loopback
from ..router_key import RouterKeyRefused, router_key
from .key_hint import key_hint
from .report import FAIL, INFO, OK, Section

__all__ = ["HEALTH_TIMEOUT", "proxy_section"]

HEALTH_TIMEOUT = 2.0


def proxy_section(host: str, port: int, environ: Mapping[str, str]) -> Section:
    section = Section(f"proxy ({host}:{port})")
    try:
        api_key = router_key(environ.get(ROUTER_API_KEY_ENV))
    except RouterKeyRefused as problem:
        section.add(FAIL, ROUTER_API_KEY_ENV, f"{problem.reason}: the proxy refuses to start",
                    fix=f"export {ROUTER_API_KEY_ENV}=$(openssl rand -hex 16)")
    else:
        _key_check(section, host, api_key)
    _port_check(section, host, port)
    return section


def _key_check(section: Section, host: str, api_key: Optional[str]) -> None:
    try:
        check_bind_allowed(host, api_key)
    except BindRefused:
        section.add(FAIL, ROUTER_API_KEY_ENV,
                    f"unset, and {host} is not a loopback address: the proxy refuses to start",
                    fix=f"export {ROUTER_API_KEY_ENV}=$(openssl rand -hex 16), or listen on 127.0.0.1")
        return
    if api_key:
        section.add(OK, ROUTER_API_KEY_ENV, f"set ({key_hint(api_key)}): clients must send it")
    else:
        assert is_loopback(host)  # check_bind_allowed refused every other address without a key
        section.add(INFO, ROUTER_API_KEY_ENV, "unset: fine on loopback (any other address needs it)")


def _port_check(section: Section, host: str, port: int) -> None:
    if port == 0:
        section.add(INFO, "port", "0: the kernel picks a free one at start")
        return
    try:
        bind_socket(host, port).close()
    except BindRefused as refused:
        version = _router_proxy_version(host, port)
        if version is not None:
            section.add(OK, "port", f"{port} is served by a running router proxy (version {version})")
        else:
            section.add(FAIL, "port", f"{refused} (another program)",
                        fix=f"router proxy --port 0 picks a free port; or find the program: ss -ltnp 'sport = :{port}'")
        return
    section.add(OK, "port", f"{port} is free")


def _router_proxy_version(host: str, port: int) -> Optional[str]:
    """The version a router proxy on ``host:port`` reports at ``/health``; None for anything else."""
    shown = f"[{host}]" if ":" in host else host
    try:
        with httpx.Client(timeout=HEALTH_TIMEOUT, trust_env=False) as client:
            answer = client.get(f"http://{shown}:{port}/health")
        health = json.loads(answer.content)
    except (httpx.HTTPError, ValueError, UnicodeDecodeError):
        return None
    if isinstance(health, dict) and health.get("status") == "ok" and isinstance(health.get("version"), str):
        return str(health["version"])
    return None

