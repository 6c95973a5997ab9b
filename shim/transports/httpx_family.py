"""httpx and httpx2, sync and async, with one implementation (docs/shim.md#httpx-and-httpx2).

The seam is ``Client._transport_for_url`` / ``AsyncClient._transport_for_url``: the one place where
a client picks among ``transport=``, ``mounts=``, proxies and environment proxies, for every
request and redirect hop. For an LLM URL the patched method returns a :class:`RouterTransport`
wrapping what the client chose; that catches custom transports, mounts, proxies, ``http_client=``
and the SDKs' aiohttp-backed clients alike, and httpx still runs auth, hooks, cookies and
``stream=False`` reading around it.

A routed call goes upstream through the transport *the client itself* picks for the upstream URL
(the original, unpatched ``_transport_for_url``), so the program's proxy, TLS, timeout and mount
settings apply to the backend exactly as if the program had called it directly, and the shim
never sees its own request again (plus the context-variable bypass, for transports that call
another patched library). Responses are built from the same module's classes: httpx2 rejects
httpx's objects and the other way round (docs/shim.md#building-responses).

A routed call makes the attempts the engine decides (docs/routing.md#drivers): the decisions are
:class:`~.call_driver.LLMCall`'s; the sync and async transports below only wait and send.
"""

import time
from typing import Any, AsyncIterator, Callable, Dict, Iterator, Optional, Tuple, Union

from ..failures import report_failure
from ..runtime import current_runtime
from .body_observer import BodyObserver
from .bypass import bypassed, is_bypassed
from .call_driver import ANSWER, PASS, LLMCall, LowerCaseHeaders, UpstreamRequest, begin_call, first_output

TYPE_CHECKING = False
if TYPE_CHECKING:  # the engine is imported on the first LLM call (call_driver), not with httpx
    from ..plan import ClientResponse
    from ..upstream_failures import UpstreamFailure, WholeAnswer

__all__ = ["patch_httpx_module"]

Selector = Callable[[Any, Any], Any]  # the original _transport_for_url(client, url)
_IDENTITY = (b"Accept-Encoding", b"identity")
_UNKNOWN = object()


def patch_httpx_module(mod: Any, registry: Any) -> None:
    """Patch ``mod`` (httpx or httpx2): both clients' ``_transport_for_url``."""
    for client_name, is_async in (("Client", False), ("AsyncClient", True)):
        client_class = getattr(mod, client_name, None)
        if client_class is None or "_transport_for_url" not in vars(client_class):
            report_failure(f"{mod.__name__}.{client_name} has no _transport_for_url: not patched", once=True)
            continue
        registry.replace(
            client_class, "_transport_for_url", lambda original, a=is_async: _routing_selector(mod, original, a)
        )


def _routing_selector(mod: Any, original: Selector, is_async: bool) -> Selector:
    def _transport_for_url(self: Any, url: Any) -> Any:
        inner = original(self, url)
        endpoint = _llm_endpoint(url)
        if endpoint is None:
            return inner
        kinds = _kinds_for(mod)
        transport_class = kinds.async_transport if is_async else kinds.sync_transport
        return transport_class(kinds, self, inner, original, endpoint)

    return _transport_for_url


def _llm_endpoint(url: Any) -> Optional[str]:
    """The LLM endpoint ``url`` calls, or None. Every request of the program passes here; the answer
    is remembered by the URL's raw parts, since ``host`` and ``path`` decode them on every access."""
    try:
        if is_bypassed():
            return None
        hosts = current_runtime().llm_hosts
        key = (url.scheme, url.raw_host, url.port, url.raw_path)
        endpoint = hosts.known.get(key, _UNKNOWN)
        if endpoint is _UNKNOWN:
            endpoint = hosts.remember(key, hosts.endpoint(url.scheme, url.host, url.port, url.path))
        return endpoint  # type: ignore[return-value]
    except Exception as error:
        report_failure("httpx url check", error, once=True)
        return None


class _ModuleKinds:
    """The shim's classes for one module, subclassing that module's own base classes."""

    def __init__(self, mod: Any) -> None:
        self.mod = mod
        self.sync_stream = type("RouterByteStream", (_SyncChunks, mod.SyncByteStream), {})
        self.async_stream = type("AsyncRouterByteStream", (_AsyncChunks, mod.AsyncByteStream), {})
        self.sync_transport = type("RouterTransport", (_SyncRouterTransport, mod.BaseTransport), {})
        self.async_transport = type("AsyncRouterTransport", (_AsyncRouterTransport, mod.AsyncBaseTransport), {})
        self.sync_observed = type("RouterObservedStream", (_SyncObserved, mod.SyncByteStream), {})
        self.async_observed = type("AsyncRouterObservedStream", (_AsyncObserved, mod.AsyncByteStream), {})
        self._urls: Dict[str, Any] = {}

    def url(self, text: str) -> Any:
        """``mod.URL(text)``, parsed once per upstream URL (a handful per process): parsing costs
        more than anything else in building the upstream request. URLs are immutable values."""
        url = self._urls.get(text)
        if url is None:
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
            url = self._urls[text] = self.mod.URL(text)
        return url


_KINDS: Dict[int, _ModuleKinds] = {}
_URL_CACHE_SIZE = 64  # upstream URLs come from the configuration: a bound that is never reached


def _kinds_for(mod: Any) -> _ModuleKinds:
    kinds = _KINDS.get(id(mod))
    if kinds is None or kinds.mod is not mod:
        kinds = _KINDS[id(mod)] = _ModuleKinds(mod)
    return kinds


# Response bodies ---------------------------------------------------------------------------
class _SyncChunks:
    """Client body of a routed stream; closing it closes the upstream response."""

    def __init__(self, chunks: Iterator[bytes], upstream: Any, call: LLMCall) -> None:
        self._chunks, self._upstream, self._call = chunks, upstream, call

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        try:
            self._chunks.close()  # type: ignore[attr-defined]
        finally:
            self._upstream.close()
            self._call.closed()


class _AsyncChunks:
    def __init__(self, chunks: AsyncIterator[bytes], upstream: Any, call: LLMCall) -> None:
        self._chunks, self._upstream, self._call = chunks, upstream, call

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks

    async def aclose(self) -> None:
        try:
            await self._chunks.aclose()  # type: ignore[attr-defined]
        finally:
            await self._upstream.aclose()
            self._call.closed()


class _ObservedBody:
    """A body the program gets exactly as the upstream sent it, watched on the way by a
    :class:`~.body_observer.BodyObserver` (a call left untouched, or a :meth:`LLMCall.keeps_body`
    one). httpx closes a non-streamed body right after reading it; a stream, when the program does."""

    def __init__(self, inner: Any, observer: BodyObserver) -> None:
        self._inner, self._observer = inner, observer


class _SyncObserved(_ObservedBody):
    def __iter__(self) -> Iterator[bytes]:
        return self._observer.watch(self._inner)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._observer.closed()


class _AsyncObserved(_ObservedBody):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                self._observer.chunk(chunk)
                yield chunk
        except Exception as error:
            self._observer.failed(error)
            raise
        self._observer.ended()

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._observer.closed()


def _sync_chunks(call: LLMCall, chunks: Iterator[bytes], first: bytes = b"", ended: bool = False) -> Iterator[bytes]:
    """Upstream bytes (decoded: ``iter_bytes`` undoes content-encoding) through the translator;
    ``first``: what reading ahead for a fallback already produced (``ended``: and that was all)."""
    if first:
        yield first
    if ended:
        return
    try:
        for chunk in chunks:
            out = call.feed(chunk)
            if out:
                yield out
        tail: Optional[bytes] = call.end()
    except Exception as error:  # the library's read error (connection lost, timeout)
        tail = call.interrupted(error)
        if tail is None:
            raise
    if tail:
        yield tail


async def _async_chunks(
    call: LLMCall, chunks: AsyncIterator[bytes], first: bytes = b"", ended: bool = False
) -> AsyncIterator[bytes]:
    if first:
        yield first
    if ended:
        return
    try:
        async for chunk in chunks:
            out = call.feed(chunk)
            if out:
                yield out
        tail: Optional[bytes] = call.end()
    except Exception as error:
        tail = call.interrupted(error)
        if tail is None:
            raise
    if tail:
        yield tail


async def _async_first_output(call: LLMCall, chunks: AsyncIterator[bytes]) -> Tuple[bytes, bool]:
    """:func:`~.call_driver.first_output` for an async stream."""
    async for chunk in chunks:
        out = call.feed(chunk)
        if out:
            return out, False
    return call.end(), True


async def _async_sleep(seconds: float) -> None:
    """Wait without blocking the event loop, whichever runs the client (httpx also runs on trio)."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        import trio  # type: ignore[import-not-found]

        await trio.sleep(seconds)
        return
    await asyncio.sleep(seconds)


def _plain_headers(headers: Any) -> Dict[str, str]:
    """An httpx ``Headers`` as a plain dict, lower-case names, repeated ones joined as httpx joins them.

    Read once from the raw bytes: the engine looks headers up several times, and every lookup or
    ``items()`` on ``Headers`` decodes every header again. Latin-1 maps bytes to text one to one, so
    the upstream request (which encodes with it, :meth:`_RouterTransportBase._upstream`) carries the
    client's bytes exactly, whatever they are."""
    plain = LowerCaseHeaders()
    for key, value in headers.raw:
        name, text = key.decode("latin-1").lower(), value.decode("latin-1")
        plain[name] = text if name not in plain else f"{plain[name]}, {text}"
    return plain


# Transports ----------------------------------------------------------------------------------
class _RouterTransportBase:
    """What the sync and async transports share: everything except waiting for I/O."""

    def __init__(self, kinds: _ModuleKinds, client: Any, inner: Any, select: Selector, endpoint: str) -> None:
        self._kinds = kinds
        self._client = client
        self._inner = inner
        self._select = select
        self._endpoint = endpoint

    def _begin(self, request: Any, body: bytes) -> Optional[LLMCall]:
        return begin_call(request.method, str(request.url), self._endpoint, _plain_headers(request.headers), body,
                          self._failure)

    def _upstream(self, attempt: UpstreamRequest, request: Any) -> Tuple[Any, Any]:
        """The upstream request, and the transport the client itself picks for its URL.

        Built from a body stream and complete raw headers, as httpx itself copies requests: with
        ``content=`` httpx would re-derive Host and Content-Length through its case-insensitive
        header lookups, a third of the shim's own work on a same-protocol call. The headers are
        exactly those ``Request(content=...)`` sends: Host first, then ours, then Content-Length —
        and, when ours have none (a routed call's never do; a call with no route keeps the
        program's), ``Accept-Encoding: identity``, as the proxy asks (docs/proxy-limits.md#answers):
        with no such field a server may use any encoding, and one httpx does not know reached the
        program as the body."""
        url_text, headers, body = attempt.url, attempt.headers, attempt.body
        timeout = request.extensions.get("timeout")
        extensions = {} if timeout is None else {"timeout": timeout}
        mod, url = self._kinds.mod, self._kinds.url(url_text)
        raw = [(b"Host", url.netloc)]
        raw += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        raw.append((b"Content-Length", b"%d" % len(body)))
        if "accept-encoding" not in headers:  # lower-case: the plan's, or the program's read by _plain_headers
            raw.append(_IDENTITY)
        upstream = mod.Request(
            attempt.method, url, headers=raw, stream=mod.ByteStream(body), extensions=extensions
        )
        upstream.read()  # what content= does: the body is in memory, and hooks or retries may read it
        return upstream, self._select(self._client, url)

    def _response(self, request: Any, answer: "ClientResponse") -> Any:
        headers = list(answer.headers.items())
        return self._kinds.mod.Response(answer.status, headers=headers, content=answer.body, request=request)

    def _stream_response(self, request: Any, upstream: Any, headers: Dict[str, str], stream: Any) -> Any:
        extensions = {"http_version": upstream.extensions.get("http_version", b"HTTP/1.1")}
        return self._kinds.mod.Response(
            upstream.status_code, headers=list(headers.items()), stream=stream, request=request, extensions=extensions
        )

    def _whole(self, request: Any, call: LLMCall, upstream: Any, headers: Dict[str, str], body: bytes) -> Any:
        """The program's response for an answer read whole, or the next attempt's request."""
        answer = call.whole_response(upstream.status_code, headers, body)
        return answer if isinstance(answer, UpstreamRequest) else self._response(request, answer)

    def _observed(
        self, request: Any, call: LLMCall, upstream: Any, headers: Dict[str, str], observed_class: Any
    ) -> Any:
        """The upstream response itself, for the client, its body watched for the call's event (a call
        left untouched, or see :meth:`LLMCall.keeps_body`). ``headers``: its headers, :func:`_plain_headers`."""
        status = upstream.status_code
        if upstream.is_stream_consumed:  # read already (a mock or caching transport built it with content=):
            # its stream will never be iterated or closed again, so the call is reported now
            observer = call.body_observer(status, headers, decoded=True)
            if observer is not None:
                observer.chunk(upstream.content)
                observer.ended()
        else:
            observer = call.body_observer(status, headers)
            if observer is not None:
                upstream.stream = observed_class(upstream.stream, observer)
        if observer is None:
            call.passed_through(status, headers)
        upstream.request = request  # never the upstream request: it carries the backend's key
        return upstream

    def _failure(self, error: BaseException, answered: bool) -> "UpstreamFailure":
        """The library's ``error``, typed for the routing policy (imported on the first failure: rare)."""
        from .library_failures import httpx_failure

        return httpx_failure(self._kinds.mod, error, answered)

    def _after_failure(
        self, request: Any, call: LLMCall, error: Exception, following: Optional[UpstreamRequest]
    ) -> Any:
        """The next attempt's request; or the call's answer (its attempts spent); or the library's
        ``error`` raised again (the route offered no other try)."""
        if following is None and call.answer is None:
            raise error
        return self._instead(request, call, following)

    def _instead(self, request: Any, call: LLMCall, following: Optional[UpstreamRequest]) -> Any:
        """In place of an upstream answer: the next attempt's request, or the call's answer."""
        if following is not None:
            return following
        assert call.answer is not None
        return self._response(request, call.answered(call.answer))

    def close(self) -> None:
        """The client owns the wrapped transports; nothing here holds resources."""

    async def aclose(self) -> None:
        """See :meth:`close`."""


class _SyncRouterTransport(_RouterTransportBase):
    def handle_request(self, request: Any) -> Any:
        call = self._begin(request, request.read())
        if call is None or call.action == PASS:
            return self._pass_through(request, call)
        if call.action == ANSWER:
            assert call.answer is not None
            return self._response(request, call.answered(call.answer))
        try:
            attempt = call.first_request()
        except Exception as error:
            answer = call.fallback(error)
            return self._pass_through(request, call) if answer is None else self._response(request, answer)
        while attempt is not None:
            result = self._attempt(request, call, attempt)
            if not isinstance(result, UpstreamRequest):
                return result
            attempt = result
        assert call.answer is not None  # no target could take it: the refusal (or a local answer)
        return self._response(request, call.answered(call.answer))

    def _attempt(self, request: Any, call: LLMCall, attempt: UpstreamRequest) -> Union[Any, UpstreamRequest]:
        """One attempt: the program's response, or the next attempt's request."""
        try:
            upstream_request, transport = self._upstream(attempt, request)
        except Exception as error:
            answer = call.fallback(error)
            return self._pass_through(request, call) if answer is None else self._response(request, answer)
        if attempt.wait > 0:
            time.sleep(attempt.wait)
        call.sending()
        try:
            with bypassed():
                upstream = transport.handle_request(upstream_request)
        except Exception as error:
            following = call.send_failed(error)
            return self._after_failure(request, call, error, following)
        except BaseException as error:
            call.upstream_failed(error)
            raise
        headers = _plain_headers(upstream.headers)
        following = call.response_arrived(upstream.status_code, headers)
        if following is not None or call.answer is not None:
            upstream.close()  # an answer that falls back, or that no program can be given, goes nowhere
            return self._instead(request, call, following)
        if call.keeps_body(upstream.status_code, headers):
            call.committed()
            return self._observed(request, call, upstream, headers, self._kinds.sync_observed)
        if call.streams(upstream.status_code):
            return self._streamed(request, call, upstream, headers)
        whole = call.whole_answer()
        try:
            complete = self._read(upstream, whole)
        except Exception as error:
            return self._read_failed(request, call, error)
        if not complete:
            return self._instead(request, call, call.answer_too_large(whole))
        return self._whole(request, call, upstream, headers, whole.body())

    def _read_failed(self, request: Any, call: LLMCall, error: Exception) -> Any:
        if not call.may_fall_back:
            call.upstream_failed(error)
            raise error
        following = call.failed_before_first_byte(error)
        return self._after_failure(request, call, error, following)

    def _pass_through(self, request: Any, call: Optional[LLMCall]) -> Any:
        try:
            with bypassed():
                response = self._inner.handle_request(request)
        except BaseException as error:
            if call is not None:
                call.passed_through_failed(error)
            raise
        if call is None:
            return response
        return self._observed(request, call, response, _plain_headers(response.headers), self._kinds.sync_observed)

    def _read(self, upstream: Any, whole: "WholeAnswer") -> bool:
        """Read ``upstream`` into ``whole``, decoded: False when it stopped at the limit."""
        try:
            return all(whole.add(chunk) for chunk in upstream.iter_bytes())
        finally:
            upstream.close()

    def _streamed(self, request: Any, call: LLMCall, upstream: Any, headers: Dict[str, str]) -> Any:
        try:
            client_headers = call.stream_headers(upstream.status_code, headers)
        except Exception as error:
            answer = call.fallback(error)
            if answer is None:
                return upstream  # untranslated: the upstream response is the right answer as it is
            upstream.close()
            return self._response(request, answer)
        chunks, first, ended = upstream.iter_bytes(), b"", False
        if call.may_fall_back:  # read ahead to the first bytes: a stream that breaks before them falls back
            try:
                first, ended = first_output(call, chunks)
            except Exception as error:
                upstream.close()
                return self._read_failed(request, call, error)
        call.committed()
        stream = self._kinds.sync_stream(_sync_chunks(call, chunks, first, ended), upstream, call)
        return self._stream_response(request, upstream, client_headers, stream)


class _AsyncRouterTransport(_RouterTransportBase):
    async def handle_async_request(self, request: Any) -> Any:
        call = self._begin(request, await request.aread())
        if call is None or call.action == PASS:
            return await self._pass_through(request, call)
        if call.action == ANSWER:
            assert call.answer is not None
            return self._response(request, call.answered(call.answer))
        try:
            attempt = call.first_request()
        except Exception as error:
            answer = call.fallback(error)
            return await self._pass_through(request, call) if answer is None else self._response(request, answer)
        while attempt is not None:
            result = await self._attempt(request, call, attempt)
            if not isinstance(result, UpstreamRequest):
                return result
            attempt = result
        assert call.answer is not None
        return self._response(request, call.answered(call.answer))

    async def _attempt(self, request: Any, call: LLMCall, attempt: UpstreamRequest) -> Union[Any, UpstreamRequest]:
        try:
            upstream_request, transport = self._upstream(attempt, request)
        except Exception as error:
            answer = call.fallback(error)
            return await self._pass_through(request, call) if answer is None else self._response(request, answer)
        if attempt.wait > 0:
            await _async_sleep(attempt.wait)
        call.sending()
        try:
            with bypassed():
                upstream = await transport.handle_async_request(upstream_request)
        except Exception as error:
            following = call.send_failed(error)
            return self._after_failure(request, call, error, following)
        except BaseException as error:
            call.upstream_failed(error)
            raise
        headers = _plain_headers(upstream.headers)
        following = call.response_arrived(upstream.status_code, headers)
        if following is not None or call.answer is not None:
            await upstream.aclose()
            return self._instead(request, call, following)
        if call.keeps_body(upstream.status_code, headers):
            call.committed()
            return self._observed(request, call, upstream, headers, self._kinds.async_observed)
        if call.streams(upstream.status_code):
            return await self._streamed(request, call, upstream, headers)
        whole = call.whole_answer()
        try:
            complete = await self._read(upstream, whole)
        except Exception as error:
            return self._read_failed(request, call, error)
        if not complete:
            return self._instead(request, call, call.answer_too_large(whole))
        return self._whole(request, call, upstream, headers, whole.body())

    def _read_failed(self, request: Any, call: LLMCall, error: Exception) -> Any:
        if not call.may_fall_back:
            call.upstream_failed(error)
            raise error
        following = call.failed_before_first_byte(error)
        return self._after_failure(request, call, error, following)

    async def _pass_through(self, request: Any, call: Optional[LLMCall]) -> Any:
        try:
            with bypassed():
                response = await self._inner.handle_async_request(request)
        except BaseException as error:
            if call is not None:
                call.passed_through_failed(error)
            raise
        if call is None:
            return response
        return self._observed(request, call, response, _plain_headers(response.headers), self._kinds.async_observed)

    async def _read(self, upstream: Any, whole: "WholeAnswer") -> bool:
        try:
            async for chunk in upstream.aiter_bytes():
                if not whole.add(chunk):
                    return False
            return True
        finally:
            await upstream.aclose()

    async def _streamed(self, request: Any, call: LLMCall, upstream: Any, headers: Dict[str, str]) -> Any:
        try:
            client_headers = call.stream_headers(upstream.status_code, headers)
        except Exception as error:
            answer = call.fallback(error)
            if answer is None:
                return upstream
            await upstream.aclose()
            return self._response(request, answer)
        chunks, first, ended = upstream.aiter_bytes(), b"", False
        if call.may_fall_back:
            try:
                first, ended = await _async_first_output(call, chunks)
            except Exception as error:
                await upstream.aclose()
                return self._read_failed(request, call, error)
        call.committed()
        stream = self._kinds.async_stream(_async_chunks(call, chunks, first, ended), upstream, call)
        return self._stream_response(request, upstream, client_headers, stream)
