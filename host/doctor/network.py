"""The network steps of a backend check, one function each: DNS, TCP, TLS.

Each step has its own timeout and returns a small result instead of raising, so the caller can
write one line per step and stop at the first that failed (no TCP without an address). Reasons
are short texts without URLs or headers: nothing here ever sees a key.
"""

import concurrent.futures
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import List, Optional, Tuple

__all__ = ["STEP_TIMEOUT", "Connected", "StepFailed", "connect_tcp", "handshake_tls", "resolve"]

STEP_TIMEOUT = 5.0  # seconds each step may take; a doctor must answer even when the network does not

Address = Tuple[int, Tuple[object, ...]]  # (family, sockaddr)


@dataclass(frozen=True)
class StepFailed:
    """A step that did not work: why (one line), the elapsed milliseconds, and whether the host
    answered with a refusal (nothing listening: the fix differs from a silent or unreachable host)."""

    reason: str
    elapsed_ms: float
    refused: bool = False


@dataclass
class Connected:
    """An open TCP connection (the TLS step takes it over) and how long connecting took."""

    sock: socket.socket
    address: str
    elapsed_ms: float


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def resolve(host: str, port: int, timeout: float = STEP_TIMEOUT) -> "List[Address] | StepFailed":
    """The addresses ``host`` resolves to. ``getaddrinfo`` has no timeout of its own, so it runs on a
    worker thread that is abandoned (not joined) when it takes too long."""
    started = time.perf_counter()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="router-doctor-dns")
    try:
        found = pool.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM).result(timeout)
    except concurrent.futures.TimeoutError:
        return StepFailed(f"no answer within {timeout:g} s", _ms_since(started))
    except socket.gaierror as exc:
        return StepFailed(f"host name not found ({exc.strerror or exc})", _ms_since(started))
    except OSError as exc:
        return StepFailed(exc.strerror or type(exc).__name__, _ms_since(started))
    finally:
        pool.shutdown(wait=False)
    return [(family, sockaddr) for family, _, _, _, sockaddr in found]


def connect_tcp(addresses: List[Address], timeout: float = STEP_TIMEOUT) -> "Connected | StepFailed":
    """A connection to the first address that accepts one (in resolver order, like the clients)."""
    started = time.perf_counter()
    reason, refused = "no address", False
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
        except TimeoutError:
            reason, refused = f"no answer within {timeout:g} s (a firewall, or a wrong port)", False
        except ConnectionRefusedError:
            reason, refused = "connection refused (nothing listening on that port)", True
        except OSError as exc:
            reason, refused = exc.strerror or type(exc).__name__, False
        else:
            return Connected(sock, _address_text(sockaddr), _ms_since(started))
        sock.close()
    return StepFailed(reason, _ms_since(started), refused)


def handshake_tls(connected: Connected, host: str, timeout: float = STEP_TIMEOUT) -> "Tuple[str, float] | StepFailed":
    """TLS over ``connected`` with the trust store the proxy uses (``ssl.create_default_context``:
    the system's, or ``SSL_CERT_FILE``); a description of the session and the elapsed milliseconds.
    The connection is closed either way."""
    started = time.perf_counter()
    context = ssl.create_default_context()
    connected.sock.settimeout(timeout)
    try:
        with context.wrap_socket(connected.sock, server_hostname=host) as tls:
            description = _session_text(tls)
    except ssl.SSLCertVerificationError as exc:
        return StepFailed(f"certificate not trusted: {exc.verify_message}", _ms_since(started))
    except (ssl.SSLError, OSError) as exc:
        return StepFailed(f"handshake failed: {getattr(exc, 'reason', None) or exc.strerror or type(exc).__name__}",
                          _ms_since(started))
    finally:
        connected.sock.close()
    return description, _ms_since(started)


def _session_text(tls: ssl.SSLSocket) -> str:
    parts = [tls.version() or "TLS"]
    certificate = tls.getpeercert() or {}
    expires = _expiry(certificate.get("notAfter"))
    if expires is not None:
        parts.append(f"certificate valid until {expires:%Y-%m-%d}")
    return ", ".join(parts)


def _expiry(not_after: object) -> Optional[datetime]:
    if not isinstance(not_after, str):
        return None
    try:
        return datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), timezone.utc)
    except ValueError:
        return None


def _address_text(sockaddr: Tuple[object, ...]) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
