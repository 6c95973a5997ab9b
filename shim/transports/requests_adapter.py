"""requests: ``Session.get_adapter`` returns a :class:`RouterAdapter` for LLM URLs (docs/shim.md#requests).

The same idea as httpx's ``_transport_for_url``: it covers every mounted adapter (custom
``HTTPAdapter`` subclasses with retries, proxies) and redirects. A routed call goes upstream
through the adapter the session itself picks for the upstream URL (the original, unpatched
``get_adapter``), with the caller's timeout, TLS and proxy arguments.

The program's response is built by ``HTTPAdapter.build_response`` on a urllib3 ``HTTPResponse``
subclass whose ``stream()`` yields each piece as it arrives: a stock urllib3 response over a file
buffers a whole SSE stream (docs/shim.md#requests). Closing it closes the upstream response.

A routed call makes the attempts the engine decides (docs/routing.md#drivers); the decisions are
:class:`~.call_driver.LLMCall`'s, this adapter waits and sends.
"""

import io
import time
from http.client import responses as reason_phrases
from typing import Any, Callable, Dict, Generator, Iterator, Mapping, Optional, Tuple, Union

from ..failures import report_failure
from ..runtime import current_runtime
from .body_observer import content_encoding
from .bypass import bypassed, is_bypassed
from .call_driver import ANSWER, PASS, LLMCall, UpstreamRequest, begin_call, first_output

TYPE_CHECKING = False
if TYPE_CHECKING:  # the engine is imported on the first LLM call (call_driver), not with requests
    from ..plan import ClientResponse
    from ..upstream_failures import UpstreamFailure, WholeAnswer

__all__ = ["RouterAdapter", "patch_requests"]

_READ_SIZE = 65536
AdapterSelector = Callable[[Any, str], Any]  # the original Session.get_adapter(session, url)


def patch_requests(mod: Any, registry: Any) -> None:
    """Patch ``requests.Session.get_adapter``."""
    registry.replace(mod.Session, "get_adapter", lambda original: _routing_get_adapter(mod, original))


def _routing_get_adapter(mod: Any, original: AdapterSelector) -> AdapterSelector:
    def get_adapter(self: Any, url: str) -> Any:
        inner = original(self, url)
        endpoint = _llm_endpoint(url)
        if endpoint is None:
            return inner
        return RouterAdapter(mod, self, inner, original, endpoint)

    return get_adapter


def _llm_endpoint(url: Any) -> Optional[str]:
    try:
        if is_bypassed():
            return None
        text = url.decode() if isinstance(url, bytes) else str(url)
        return current_runtime().llm_hosts.endpoint_for_url(text)
    except Exception as error:
        report_failure("requests url check", error, once=True)
        return None


class RouterAdapter:
    """A requests transport adapter for one LLM call; see the module docstring."""

    def __init__(self, mod: Any, session: Any, inner: Any, select: AdapterSelector, endpoint: str) -> None:
        self._mod = mod
        self._session = session
        self._inner = inner
        self._select = select
        self._endpoint = endpoint

    def send(self, request: Any, stream: bool = False, **kwargs: Any) -> Any:
        """``kwargs``: timeout, verify, cert, proxies — passed on to the adapter that sends."""
        call = self._begin(request)
        if call is None or call.action == PASS:
            return self._pass_through(request, call, stream, kwargs)
        if call.action == ANSWER:
            assert call.answer is not None
            return self._response(request, call.answered(call.answer), stream)
        try:
            attempt = call.first_request()
        except Exception as error:
            answer = call.fallback(error)
            if answer is None:
                return self._pass_through(request, call, stream, kwargs)
            return self._response(request, answer, stream)
        while attempt is not None:
            result = self._attempt(request, call, attempt, stream, kwargs)
            if not isinstance(result, UpstreamRequest):
                return result
            attempt = result
        assert call.answer is not None  # no target could take it: the refusal (or a local answer)
        return self._response(request, call.answered(call.answer), stream)

    def close(self) -> None:
        """The session owns the wrapped adapters; nothing here holds resources."""

    # Steps ----------------------------------------------------------------------------------
    def _attempt(
        self, request: Any, call: LLMCall, attempt: UpstreamRequest, stream: bool, kwargs: Dict[str, Any]
    ) -> Union[Any, UpstreamRequest]:
        """One attempt: the program's response, or the next attempt's request."""
        try:
            upstream_request, adapter = self._upstream(attempt)
        except Exception as error:
            answer = call.fallback(error)
            if answer is None:
                return self._pass_through(request, call, stream, kwargs)
            return self._response(request, answer, stream)
        if attempt.wait > 0:
            time.sleep(attempt.wait)
        call.sending()
        try:
            with bypassed():
                upstream = adapter.send(upstream_request, stream=True, **kwargs)
        except Exception as error:
            following = call.send_failed(error)
            return self._after_failure(request, call, error, following, stream)
        except BaseException as error:
            call.upstream_failed(error)
            raise
        following = call.response_arrived(upstream.status_code, upstream.headers)
        if following is not None or call.answer is not None:
            upstream.close()  # an answer that falls back, or that no program can be given, goes nowhere
            return self._instead(request, call, following, stream)
        if call.streams(upstream.status_code):
            return self._streamed(request, call, upstream, stream)
        whole = call.whole_answer()
        try:
            complete = self._read(upstream, whole)
        except Exception as error:
            return self._read_failed(request, call, error, stream)
        if not complete:
            return self._instead(request, call, call.answer_too_large(whole), stream)
        whole_answer = call.whole_response(upstream.status_code, upstream.headers, whole.body())
        if isinstance(whole_answer, UpstreamRequest):
            return whole_answer
        return self._response(request, whole_answer, stream)

    def _instead(self, request: Any, call: LLMCall, following: Optional[UpstreamRequest], stream: bool) -> Any:
        """In place of an upstream answer: the next attempt's request, or the call's answer."""
        if following is not None:
            return following
        assert call.answer is not None
        return self._response(request, call.answered(call.answer), stream)

    def _failure(self, error: BaseException, answered: bool) -> "UpstreamFailure":
        """The library's ``error``, typed for the routing policy (imported on the first failure: rare)."""
        from .library_failures import requests_failure

        return requests_failure(self._mod, error, answered)

    def _after_failure(
        self, request: Any, call: LLMCall, error: Exception, following: Optional[UpstreamRequest], stream: bool
    ) -> Any:
        """The next attempt's request; or the call's answer (its attempts spent); or the library's
        ``error`` raised again (the route offered no other try)."""
        if following is None and call.answer is None:
            raise _with_request(error, request)
        return self._instead(request, call, following, stream)

    def _read_failed(self, request: Any, call: LLMCall, error: Exception, stream: bool) -> Any:
        if not call.may_fall_back:
            call.upstream_failed(error)
            raise _with_request(error, request)
        following = call.failed_before_first_byte(error)
        return self._after_failure(request, call, error, following, stream)

    def _begin(self, request: Any) -> Optional[LLMCall]:
        body = request.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body is None:
            body = b""
        if not isinstance(body, bytes):
            return None  # a file or generator body: not an SDK call, and reading it would consume it
        return begin_call(request.method or "", str(request.url), self._endpoint, request.headers, body, self._failure)

    def _upstream(self, attempt: UpstreamRequest) -> Tuple[Any, Any]:
        url, headers, body = attempt.url, attempt.headers, attempt.body
        prepared = self._mod.Request(attempt.method, url, headers=headers, data=body).prepare()
        return prepared, self._select(self._session, url)

    def _pass_through(self, request: Any, call: Optional[LLMCall], stream: bool, kwargs: Dict[str, Any]) -> Any:
        try:
            with bypassed():
                response = self._inner.send(request, stream=stream, **kwargs)
        except BaseException as error:
            if call is not None:
                call.passed_through_failed(error)
            raise
        if call is not None:
            _observe(call, response)
        return response

    def _read(self, upstream: Any, whole: "WholeAnswer") -> bool:
        """Read ``upstream`` into ``whole``, decoded, in pieces of :data:`_READ_SIZE` (``content``
        takes 10 KiB ones): False when it stopped at the limit."""
        try:
            return all(whole.add(chunk) for chunk in upstream.iter_content(_READ_SIZE))
        finally:
            upstream.close()

    def _streamed(self, request: Any, call: LLMCall, upstream: Any, stream: bool) -> Any:
        try:
            headers = call.stream_headers(upstream.status_code, upstream.headers)
        except Exception as error:
            answer = call.fallback(error)
            if answer is None:
                return upstream
            upstream.close()
            return self._response(request, answer, stream)
        pieces, first, ended = _upstream_pieces(upstream.raw), b"", False
        if call.may_fall_back:  # read ahead to the first bytes: a stream that breaks before them falls back
            try:
                first, ended = first_output(call, pieces)
            except Exception as error:
                upstream.close()
                return self._read_failed(request, call, error, stream)
        call.committed()
        chunks = _translated_chunks(call, pieces, first, ended)
        raw = _raw_response(chunks, headers, upstream.status_code, request.method, lambda: _close(call, upstream))
        return self._built(request, raw, stream)

    def _response(self, request: Any, answer: "ClientResponse", stream: bool) -> Any:
        raw = _raw_response(iter((answer.body,)), answer.headers, answer.status, request.method, None)
        return self._built(request, raw, stream)

    def _built(self, request: Any, raw: Any, stream: bool) -> Any:
        # build_response only sets attributes (connection=self lets digest auth re-send through us).
        response = self._mod.adapters.HTTPAdapter.build_response(self, request, raw)
        if not stream:
            response.content  # noqa: B018 - honour stream=False: read now, as HTTPAdapter would
        return response


def _observe(call: LLMCall, response: Any) -> None:
    """Watch an untouched response's body for the call's tokens as the program reads it; else report
    the call now. requests reads through ``raw.stream(…, decode_content=True)``: that method alone is
    wrapped, on this one urllib3 response (its type, and every other attribute, stay as they are).
    The bytes it yields are decoded, so the observer sees plain JSON or SSE."""
    raw = response.raw
    observer = call.body_observer(response.status_code, response.headers, decoded=True)
    original = getattr(raw, "stream", None)
    if observer is None or original is None:
        call.passed_through(response.status_code, response.headers)
        return
    encoded = content_encoding(response.headers) != "identity"

    def stream(*args: Any, **kwargs: Any) -> Iterator[bytes]:
        decoded = kwargs.get("decode_content", args[1] if len(args) > 1 else None)
        if encoded and not (decoded or (decoded is None and getattr(raw, "decode_content", False))):
            observer.stop()  # the program asked for the encoded bytes: nothing to read usage from
        return observer.watch(original(*args, **kwargs))

    raw.stream = stream
    # requests closes raw when the program closes a response it did not read to the end. (Not
    # release_conn: urllib3 calls that itself at the body's end, before the last chunk is yielded.)
    raw.close = _then(raw.close, observer.closed)


def _then(method: Callable[[], Any], after: Callable[[], None]) -> Callable[[], Any]:
    def wrapped() -> Any:
        try:
            return method()
        finally:
            after()

    return wrapped


def _close(call: LLMCall, upstream: Any) -> None:
    try:
        upstream.close()
    finally:
        call.closed()


def _upstream_pieces(raw: Any) -> Iterator[bytes]:
    """The upstream body, decoded, piece by piece as it arrives (``read1`` on urllib3 2.x;
    ``stream`` on 1.x, which yields per HTTP chunk for chunked responses)."""
    if hasattr(raw, "read1"):
        while True:
            piece = raw.read1(_READ_SIZE, decode_content=True)
            if not piece:
                return
            yield piece
    else:  # pragma: no cover - urllib3 1.x
        yield from raw.stream(_READ_SIZE, decode_content=True)


def _translated_chunks(call: LLMCall, pieces: Iterator[bytes], first: bytes, ended: bool) -> Iterator[bytes]:
    """The upstream pieces through the translator; ``first``: what reading ahead already produced
    (``ended``: and that was all)."""
    if first:
        yield first
    if ended:
        return
    try:
        for chunk in pieces:
            out = call.feed(chunk)
            if out:
                yield out
        tail: Optional[bytes] = call.end()
    except Exception as error:  # urllib3/requests read errors
        tail = call.interrupted(error)
        if tail is None:
            raise
    if tail:
        yield tail


class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte strings: ``read`` returns what is available."""

    def __init__(self, chunks: Iterator[bytes], on_close: Optional[Callable[[], None]]) -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = b""
        self._on_close = on_close

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        if self.closed:
            return
        try:
            close_chunks = getattr(self._chunks, "close", None)
            if close_chunks is not None:
                close_chunks()  # GeneratorExit in the producer: stop reading upstream
            if self._on_close is not None:
                self._on_close()
        finally:
            super().close()


_RAW_CLASS: Dict[int, Any] = {}


def _raw_class() -> Any:
    """urllib3 ``HTTPResponse`` with a ``stream()`` that yields as data arrives (docs/shim.md#requests)."""
    from urllib3.response import HTTPResponse

    cls = _RAW_CLASS.get(id(HTTPResponse))
    if cls is None:

        class StreamingHTTPResponse(HTTPResponse):
            def stream(
                self, amt: Optional[int] = None, decode_content: Optional[bool] = None
            ) -> Generator[bytes, None, None]:
                while self._fp is not None and not self._fp.closed:
                    chunk = self._fp.read1(_READ_SIZE)
                    if not chunk:
                        break
                    yield chunk

        cls = _RAW_CLASS[id(HTTPResponse)] = StreamingHTTPResponse
    return cls


def _raw_response(
    chunks: Iterator[bytes], headers: Mapping[str, str], status: int, method: Optional[str],
    on_close: Optional[Callable[[], None]],
) -> Any:
    body = io.BufferedReader(_ChunkReader(chunks, on_close))
    return _raw_class()(
        body=body, headers=dict(headers), status=status, reason=reason_phrases.get(status, ""),
        preload_content=False, decode_content=False, request_method=method,
    )


def _with_request(error: Exception, request: Any) -> Exception:
    """``error``, raised again to the program, naming the program's ``request`` where requests put the
    one the shim sent upstream, whose headers hold the backend's key: an error reporter that records
    ``error.request`` (or its response's) would keep it (docs/secrets.md#what-a-shimmed-program-gets)."""
    if getattr(error, "request", None) is not None:
        error.request = request  # type: ignore[attr-defined]
    response = getattr(error, "response", None)
    if response is not None:
        response.request = request
    return error
