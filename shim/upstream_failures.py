"""Why a backend gave no (whole) answer: small classes both drivers raise and the routing policy reads.

A driver's HTTP library says "it failed" in its own words (httpx, requests, aiohttp, or the
proxy's own client); the driver turns that into one of these, once, where the library is called
(``shim/transports/library_failures.py`` for the libraries, ``host/proxy/upstream_httptools.py``
for the proxy's own client). Everything after that — the fallback policy (``shim/fallback.py``),
the error the client sees, the call's event — reads the class, never a message::

    UpstreamFailure                      may have been acted on?   the client sees
    ├── ConnectFailed                    no                        502  refused, unreachable, DNS
    ├── TLSFailed                        no                        502  handshake or certificate
    ├── UpstreamTimeout                                            504
    │   ├── ConnectTimeout               no                             connecting
    │   ├── AnswerTimeout                yes                            waiting for the answer to begin
    │   └── ReadTimeout                  yes                            silence between two reads
    ├── ConnectionCut                    yes                       502  closed or reset before the answer ended
    ├── ProtocolBroken                   yes                       502  not HTTP, bad framing, corrupt encoding,
    │                                                                   a status a call cannot be answered with
    └── AnswerTooLarge                   yes                       502  headers or body over the proxy's limit

"May have been acted on": the request reached the backend, which may have started (and billed)
the work. Failures that say no can be repeated at no cost; the others cost a second answer if
the first one was produced after all (docs/errors.md#upstream-failures).

Messages are short texts with no URL and no header (a URL may carry a key, a header always can):
the error the client sees names the backend and its host, which the driver adds
(:meth:`UpstreamFailure.client_error`).
"""

from typing import List, Optional

from .errors import UpstreamTransportError

__all__ = [
    "MAX_ANSWER_BYTES",
    "AnswerTimeout",
    "AnswerTooLarge",
    "ConnectFailed",
    "ConnectTimeout",
    "ConnectionCut",
    "ProtocolBroken",
    "ReadTimeout",
    "TLSFailed",
    "UpstreamFailure",
    "UpstreamTimeout",
    "WholeAnswer",
    "undecodable_encoding",
    "unusable_status",
]


class UpstreamFailure(Exception):
    """The backend could not be reached or stopped answering. ``reason``: what happened, in a few
    words (never a URL or a header)."""

    may_have_acted = True
    kind_name = "bad_gateway"  # shim/errors.py KINDS: 502 in both protocols
    default_reason = "the connection to the backend failed"

    def __init__(self, reason: str = "") -> None:
        self.reason = reason or self.default_reason
        super().__init__(self.reason)

    def client_error(self, where: str, *, limit: Optional[float] = None,
                     should_retry: Optional[bool] = None) -> UpstreamTransportError:
        """The error the client sees: ``where`` names the backend (``backend 'x' (host)``); ``limit``:
        the timeout that expired, in seconds; ``should_retry``: False once the router gave up on it."""
        text = f"{where}: {self.reason}"
        if limit is not None:
            text += f" (limit {limit:g}s)"
        return UpstreamTransportError(text, kind_name=self.kind_name, should_retry=should_retry)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r})"


class ConnectFailed(UpstreamFailure):
    """No connection: nothing listening, host unreachable, name not found."""

    may_have_acted = False
    default_reason = "could not be reached"


class TLSFailed(UpstreamFailure):
    """The TLS handshake failed (certificate not trusted, protocol mismatch)."""

    may_have_acted = False
    default_reason = "TLS handshake failed"


class UpstreamTimeout(UpstreamFailure):
    """A timeout; the subclass says which phase (and so which limit) it was."""

    kind_name = "timeout"  # 504 in both protocols
    default_reason = "timed out"


class ConnectTimeout(UpstreamTimeout):
    may_have_acted = False
    default_reason = "timed out connecting"


class AnswerTimeout(UpstreamTimeout):
    """The request was sent; the answer's status line did not come in time."""

    default_reason = "timed out waiting for the answer"


class ReadTimeout(UpstreamTimeout):
    """The answer began, then went silent for longer than the read timeout."""

    default_reason = "timed out waiting for data"


class ConnectionCut(UpstreamFailure):
    """The connection closed or was reset before the answer was complete."""

    default_reason = "connection lost (the backend closed it)"


class ProtocolBroken(UpstreamFailure):
    """What came back is not a readable HTTP answer: not HTTP, bad framing, a corrupt or unknown encoding."""

    default_reason = "the backend's answer is not valid HTTP/1.1"


class AnswerTooLarge(UpstreamFailure):
    """The answer's headers or decoded body went over the proxy's limit; the rest was not read."""

    default_reason = "the backend's answer is too large"


# How much of one answer, decoded, a driver reads whole (the proxy's ``--max-response-mib`` default).
MAX_ANSWER_BYTES = 128 * 1024 * 1024


class WholeAnswer:
    """An answer's decoded bytes, gathered as they are read and refused as soon as they grow past
    ``limit`` (docs/proxy-limits.md#answers): a body that decompresses to gigabytes, or a backend
    that does not stop, is stopped there instead of filling the memory of the process reading it
    (the proxy's, or under ``router shim`` the program's)."""

    __slots__ = ("_parts", "_size", "limit")

    def __init__(self, limit: int = MAX_ANSWER_BYTES) -> None:
        self._parts: List[bytes] = []
        self._size = 0
        self.limit = limit

    def add(self, chunk: bytes) -> bool:
        """Keep ``chunk``; False (and nothing kept) once the answer is over the limit: stop reading."""
        self._size += len(chunk)
        if self._size > self.limit:
            self._parts.clear()
            return False
        self._parts.append(chunk)
        return True

    def body(self) -> bytes:
        parts = self._parts
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def too_large(self) -> AnswerTooLarge:
        return AnswerTooLarge(f"the backend's answer is over the limit of {self.limit} bytes")


def unusable_status(status: int) -> Optional[ProtocolBroken]:
    """A broken answer when a call's backend answered with ``status``, which no client can be given
    (docs/proxy-limits.md#answers): one HTTP does not define (llhttp reads any three digits); a
    redirect, which the router does not follow, and which passed on would have the client's SDK
    follow it, sending the conversation (and, with some clients, the key) where the backend says,
    past the router; or no content, where every endpoint a call goes to answers with a body."""
    if not 200 <= status <= 599:
        return ProtocolBroken(f"the backend answered with status {status}, which HTTP does not define")
    if 300 <= status < 400:
        return ProtocolBroken(f"the backend answered {status}, a redirect, which the router does not follow "
                              "(is the backend's base_url the one its documentation gives?)")
    if status in (204, 205):
        return ProtocolBroken(f"the backend answered {status}, with no content")
    return None


# What the router reads of a body it asked for as identity: a backend may compress anyway, as
# servers do, with gzip or deflate, which both drivers' libraries decode (docs/proxy-limits.md#answers).
DECODED_ENCODINGS = frozenset({"identity", "gzip", "x-gzip", "deflate"})


def undecodable_encoding(encoding: str) -> Optional[ProtocolBroken]:
    """A broken answer when a call's backend encoded its body with ``encoding`` (its
    ``content-encoding``, stripped and lower case), which the router does not decode: a library
    that does not know it either (httpx, requests) hands the compressed bytes on as if they were
    the body — a success of garbage, or a traceback inside the SDK's stream reader."""
    if encoding in DECODED_ENCODINGS:
        return None
    return ProtocolBroken(f"the backend answered with content-encoding {encoding!r}, which the router "
                          "cannot decode (it asks for identity)")
