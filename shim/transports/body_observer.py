"""Watching a response the program receives exactly as it came, for the call's event.

Two kinds of call hand the program the upstream's own bytes: one the router left untouched (no
route: it went where the program sent it) and a same-protocol call whose whole body the router kept
as it came (:meth:`LLMCall.keeps_body`). Their events still want the call's tokens, so an observer
sits on the body as the program reads it: it copies nothing into the program's bytes, decodes a
gzip/deflate body for itself (the program's library decodes its own copy), and reads the usage from
the whole JSON body, or from the stream's events as they pass (then the call is reported at the end
marker, as a routed stream is: SDKs stop reading there).

Observation never changes what the program gets: anything that goes wrong here only stops the
observing, and the call is reported without tokens.
"""

import zlib
from typing import List, Optional

from ..failures import report_failure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Iterator, Mapping

    from .call_driver import LLMCall

__all__ = ["MAX_OBSERVED_BYTES", "BodyObserver", "content_encoding", "observable_encoding"]

MAX_OBSERVED_BYTES = 32 * 1024 * 1024  # a whole body kept for its usage; beyond it, observing stops
_DECODED = {"gzip", "deflate", "x-gzip"}


def content_encoding(headers: "Mapping[str, str]") -> str:
    """The response's content-encoding, lower case; "identity" when it has none."""
    return (headers.get("content-encoding") or "identity").strip().lower()


def observable_encoding(headers: "Mapping[str, str]") -> Optional[str]:
    """"identity", or the content-encoding this module decodes; None when it cannot (br, zstd…)."""
    encoding = content_encoding(headers)
    if encoding == "identity" or encoding in _DECODED:
        return encoding
    return None


class BodyObserver:
    """Fed the raw bytes of one response as the program reads them (see the module docstring)."""

    def __init__(self, call: "LLMCall", status: int, encoding: str, stream: bool) -> None:
        self._call = call
        self._status = status
        self._stream = stream  # fed to the call's stream watcher as it passes, else kept whole
        # wbits 32 + MAX_WBITS: a zlib or a gzip header, detected (what servers mean by "deflate" too)
        self._decoder = None if encoding == "identity" else zlib.decompressobj(32 + zlib.MAX_WBITS)
        self._parts: List[bytes] = []
        self._size = 0
        self._watching = True
        self._ended = False

    def chunk(self, raw: bytes) -> None:
        """Bytes the program is about to get."""
        if not self._watching or not raw:
            return
        try:
            data = self._decoder.decompress(raw) if self._decoder is not None else raw
            self._size += len(data)
            if self._size > MAX_OBSERVED_BYTES:
                self.stop()
            elif self._stream:
                self._call.feed(data)
            else:
                self._parts.append(data)
        except Exception as error:
            report_failure("observe response", error, once=True)
            self.stop()

    def watch(self, chunks: "Iterable[bytes]") -> "Iterator[bytes]":
        """``chunks``, unchanged, observed on the way: a read error reaches the program as it is, and
        reaching the end reports the call. (The async transports do the same with ``async for``.)"""
        try:
            for chunk in chunks:
                self.chunk(chunk)
                yield chunk
        except Exception as error:
            self.failed(error)
            raise
        self.ended()

    def ended(self) -> None:
        """The body was read to its end: report the call with what it said."""
        if self._ended:
            return
        self._ended = True
        if not self._watching:
            self._call.passed_through(self._status)  # headers noted when it began
        elif self._stream:
            self._call.end()
        else:
            self._call.body_observed(self._status, b"".join(self._parts))
        self._parts = []

    def closed(self) -> None:
        """The program closed the response (possibly before its end)."""
        if self._ended:
            return
        self._ended = True
        self._parts = []
        if self._stream and self._watching:
            self._call.closed()
        else:
            self._call.passed_through(self._status)  # headers noted when it began

    def failed(self, error: BaseException) -> None:
        """Reading the body failed: the library's error reaches the program as it is."""
        self._ended = True
        self._parts = []
        self._call.upstream_failed(error)

    def stop(self) -> None:
        """Stop observing (the call is reported without tokens)."""
        self._watching = False
        self._parts = []
