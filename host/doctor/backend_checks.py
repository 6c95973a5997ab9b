"""``backend NAME``: can the router reach this backend, and does it accept the key?

Steps, each one line: where the key comes from (its last four characters at most), DNS, TCP, TLS
(``https`` only), then one authenticated ``GET`` of the backend's model list — the cheapest call
that proves the key, and free on every provider — and what that list holds. A generation call,
which spends tokens, is made only with ``--spend``. When an ``HTTP(S)_PROXY`` variable applies to
the backend, the network steps are left to that proxy and only the request is made (through it,
as the shim's and the proxy's clients do).

The backend's answer is shown as a status and the error's type or code only: providers echo part
of a rejected key in their messages, so their text never reaches the report.
"""

import json
import ssl
import time
import urllib.request
from typing import Any, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

import httpx

from shim.config import Backend
from shim.plan import TRANSLATED_ANTHROPIC_VERSION, credential_headers
from shim.protocols import ANTHROPIC, CHAT, MESSAGES, MODELS, upstream_path
from shim.transports.library_failures import connect_failure

from ..config_store import KeySource
from .key_hint import key_hint, shows_part_of
from .network import Connected, StepFailed, connect_tcp, handshake_tls, resolve
from .report import FAIL, INFO, OK, SKIP, WARN, Section

__all__ = ["REQUEST_TIMEOUT", "SPEND_MAX_TOKENS", "backend_section"]

REQUEST_TIMEOUT = 10.0
SPEND_MAX_TOKENS = 5  # --spend: the smallest answer every server accepts (some refuse 1)
_LISTED_SHOWN = 8
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SAFE_ERROR_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def backend_section(backend: Backend, source: KeySource, spend: bool = False) -> Section:
    """Every step for one backend (see the module docstring)."""
    section = Section(f"backend {backend.name} ({backend.protocol}, {backend.base_url})")
    _key_line(section, backend, source)
    if _network_steps(section, backend):
        listed = _model_list(section, backend, source)
        if spend:
            _spend(section, backend, source, listed)
    return section


# Key ------------------------------------------------------------------------------------------
def _key_line(section: Section, backend: Backend, source: KeySource) -> None:
    hint = f", {key_hint(backend.api_key)}" if backend.api_key else ""
    if source.kind == "env" and not source.present:
        section.add(WARN, "key", f"{source.describe()}: calls go without a key",
                    fix=f"export {source.env}=… (or store one: router backend add {backend.name} --key -)")
    else:
        section.add(INFO, "key", source.describe() + hint)


def _key_fix(backend: Backend, source: KeySource) -> str:
    if source.kind == "env":
        state = "is unset" if not source.present else "holds a key the backend rejects"
        return (f"${source.env} {state}: export the right key, or store one with: "
                f"router backend add {backend.name} --key -")
    if source.kind == "stored":
        return f"the stored key is rejected: store the right one with: router backend add {backend.name} --key -"
    return f"this backend has no key: router backend add {backend.name} --key - (or --key-env VAR)"


# Network --------------------------------------------------------------------------------------
def _network_steps(section: Section, backend: Backend) -> bool:
    """DNS, TCP and TLS lines; False when one failed (the request would only fail the same way)."""
    parts = urlsplit(backend.base_url)
    host = parts.hostname or ""
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    proxy = _env_proxy(backend.base_url)
    if proxy is not None:
        section.add(INFO, "network", f"through the HTTP proxy {proxy} (from the environment); DNS/TCP/TLS are its job")
        return True
    addresses = resolve(host, port)
    if isinstance(addresses, StepFailed):
        section.add(FAIL, "DNS", f"{host}: {addresses.reason}",
                    fix="check the host in the base URL (router backend list), or your network/DNS")
        _skip(section, "TCP", "TLS", "request")
        return False
    shown = sorted({str(sockaddr[0]) for _, sockaddr in addresses})
    section.add(OK, "DNS", f"{host} → {', '.join(shown[:3])}{' …' if len(shown) > 3 else ''}")
    connected = connect_tcp(addresses)
    if isinstance(connected, StepFailed):
        section.add(FAIL, "TCP", f"port {port}: {connected.reason}", fix=_tcp_fix(backend, connected))
        _skip(section, "TLS", "request")
        return False
    section.add(OK, "TCP", f"{connected.address} connected in {connected.elapsed_ms:.0f} ms")
    return _tls_step(section, parts.scheme, host, connected)


def _tls_step(section: Section, scheme: str, host: str, connected: Connected) -> bool:
    if scheme != "https":
        connected.sock.close()
        section.add(INFO, "TLS", "not used (http://)")
        return True
    outcome = handshake_tls(connected, host)
    if isinstance(outcome, StepFailed):
        section.add(FAIL, "TLS", outcome.reason,
                    fix="a proxy or firewall that re-signs TLS needs its CA: export SSL_CERT_FILE=/path/to/ca.pem")
        _skip(section, "request")
        return False
    description, elapsed = outcome
    section.add(OK, "TLS", f"{description} ({elapsed:.0f} ms)")
    return True


def _tcp_fix(backend: Backend, failed: StepFailed) -> str:
    if failed.refused:
        return (f"start the server behind {backend.base_url}, or fix the port: "
                f"router backend add {backend.name} --base-url URL")
    return "check the base URL (router backend list), a firewall, or whether you need HTTPS_PROXY"


def _skip(section: Section, *steps: str) -> None:
    for step in steps:
        section.add(SKIP, step, "not tried (the step above failed)")


def _env_proxy(url: str) -> Optional[str]:
    """The HTTP proxy the environment sets for ``url`` (without any credentials in it), or None."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    shown = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return f"{shown.scheme}://{shown.hostname}" + (f":{shown.port}" if shown.port else "")


# Requests -------------------------------------------------------------------------------------
def _headers(backend: Backend) -> dict[str, str]:
    headers = credential_headers(backend)
    if backend.protocol == ANTHROPIC:
        headers["anthropic-version"] = TRANSLATED_ANTHROPIC_VERSION
    return headers


def _request(method: str, url: str, headers: Mapping[str, str], body: Optional[bytes] = None
             ) -> "Tuple[int, bytes, float] | str":
    """(status, body, elapsed ms), or why no answer came (a reason without URL or key)."""
    started = time.perf_counter()
    try:
        # The proxy's trust store (ssl.create_default_context: the system's, or SSL_CERT_FILE), as the TLS step.
        with httpx.Client(timeout=REQUEST_TIMEOUT, trust_env=True, verify=ssl.create_default_context()) as client:
            response = client.request(method, url, headers=dict(headers), content=body)
            return response.status_code, response.content, (time.perf_counter() - started) * 1000
    except httpx.TimeoutException:
        return f"no answer within {REQUEST_TIMEOUT:g} s"
    except httpx.HTTPError as exc:
        if isinstance(exc, httpx.ConnectError):
            return connect_failure(exc).reason
        return f"connection lost ({type(exc).__name__})"


def _model_list(section: Section, backend: Backend, source: KeySource) -> List[str]:
    """The authenticated ``GET …/models`` line and what the list holds; the listed ids."""
    url = backend.url_for(upstream_path(backend.protocol, MODELS) or "/models")
    what = f"GET {urlsplit(url).path}"
    answer = _request("GET", url, _headers(backend))
    if isinstance(answer, str):
        section.add(FAIL, what, answer, fix="check the base URL (router backend list) and that the server is up")
        return []
    status, body, elapsed = answer
    if status in (404, 405):
        section.add(WARN, what, f"{status}: this server lists no models, so the key was not checked",
                    fix="router doctor --spend makes one tiny generation call that does check it")
        return []
    if status >= 400:
        _failed_answer(section, what, status, body, backend, source)
        return []
    listed = _listed_ids(body)
    keyed = "key accepted" if backend.api_key else "no key needed"
    section.add(OK, what, f"{status} in {elapsed:.0f} ms, {keyed}")
    more = f" … (+{len(listed) - _LISTED_SHOWN})" if len(listed) > _LISTED_SHOWN else ""
    shown = f"{len(listed)}: {', '.join(listed[:_LISTED_SHOWN])}{more}" if listed else "none"
    section.add(INFO, "models listed", shown)
    return listed


def _failed_answer(section: Section, what: str, status: int, body: bytes, backend: Backend, source: KeySource) -> None:
    """One line for an error status: a rejected key names its fix; a busy server is a warning."""
    kind = _error_kind(body, backend.api_key)
    shown = f"{status} {kind}" if kind else str(status)
    if status in (401, 403):
        section.add(FAIL, what, f"{shown}: the key was rejected", fix=_key_fix(backend, source))
    elif status == 429:
        section.add(WARN, what, f"{shown}: rate limited or out of quota", fix="see the provider's usage page")
    else:
        section.add(FAIL, what, shown, fix="see the provider's docs for that error, or its status page")


def _spend(section: Section, backend: Backend, source: KeySource, listed: List[str]) -> None:
    """``--spend``: one generation call of :data:`SPEND_MAX_TOKENS` tokens at most."""
    model = _model_to_try(backend, listed)
    if model is None:
        section.add(WARN, "generation call", "no model name known for this backend (its list was empty)",
                    fix=f"name one: router backend add {backend.name} --models MODEL")
        return
    endpoint = MESSAGES if backend.protocol == ANTHROPIC else CHAT
    limit_field = "max_tokens" if backend.protocol == ANTHROPIC else backend.max_tokens_field
    body = {"model": model, "messages": [{"role": "user", "content": "Say OK."}], limit_field: SPEND_MAX_TOKENS}
    headers = {**_headers(backend), "content-type": "application/json"}
    url = backend.url_for(upstream_path(backend.protocol, endpoint) or "")
    answer = _request("POST", url, headers, json.dumps(body).encode())
    what = f"generation call ({model}, ≤ {SPEND_MAX_TOKENS} tokens)"
    if isinstance(answer, str):
        section.add(FAIL, what, answer)
    elif answer[0] >= 400:
        _failed_answer(section, what, answer[0], answer[1], backend, source)
    else:
        section.add(OK, what, f"{answer[0]} in {answer[2]:.0f} ms")


def _model_to_try(backend: Backend, listed: List[str]) -> Optional[str]:
    """A model name the backend serves: its first plain ``models`` entry, else the first it lists."""
    plain = [glob for glob in backend.models if not set("*?[") & set(glob)]
    candidates = plain or listed
    return candidates[0] if candidates else None


def _listed_ids(body: bytes) -> List[str]:
    try:
        data = json.loads(body).get("data")
    except (ValueError, AttributeError, UnicodeDecodeError, RecursionError):
        return []
    if not isinstance(data, list):
        return []
    return [str(item["id"]) for item in data if isinstance(item, dict) and isinstance(item.get("id"), str)]


def _error_kind(body: bytes, key: Optional[str]) -> str:
    """The error's ``type``/``code`` (short identifiers), never its message: providers quote the
    rejected key in it (``Incorrect API key provided: sk-proj-****abcd``)."""
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return ""
    kinds = [value for value in (error.get("type"), error.get("code"))
             if isinstance(value, str) and 0 < len(value) <= 40 and set(value) <= _SAFE_ERROR_CHARS]
    text = " / ".join(dict.fromkeys(kinds))
    return "" if shows_part_of(text, key) else text
