"""TEST-ONLY driver: a loopback HTTP server that runs the real engine between an SDK and the fake.

A loopback server written for the tests, so that the official SDKs can be pointed at the engine
over real sockets without the real proxy (docs/architecture.md#the-tests). It does exactly
what a driver must do and nothing more:

1. read the client request; ``endpoint_for_path`` (query removed); ``plan_call`` with the server's
   :class:`MemoryResponseStore`; a :class:`RouterError` → ``render_error`` in the client's protocol;
2. ``plan.refusal`` → its error; ``plan.local_response`` → send it; no route → 404 (tests only);
3. forward ``plan.upstream_url/headers/body`` with ``http.client`` (a real socket);
4. non-2xx or non-stream → ``plan.translate_response``; a 2xx stream → ``plan.stream_headers``, then
   every chunk read from upstream (``read1``: as it arrives, never the whole body) goes through
   ``translator.feed`` and out as one HTTP chunk; ``translator.close()`` at EOF; a connection error
   mid-stream → ``translator.abort(UpstreamProtocolError(...))``;
5. a Responses call that went well → ``plan.response_record(...)`` (the client body, or the stream
   translator's ``final_response``) into the store (docs/responses-api.md, "State").

Anything unexpected (a translator raising something outside the engine's hierarchy) is logged,
answered with 500 (or the stream is cut) and kept in :attr:`EngineServer.unexpected_errors`, which
the test fixtures turn into a test failure.
"""

import http.client
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Mapping, Optional
from urllib.parse import urlsplit

from host.demo.wire_server import WireServer
from shim.config import RouterConfig
from shim.errors import NotFoundError, RouterError, UpstreamProtocolError
from shim.plan import ClientCall, ClientResponse, Plan, plan_call, render_error
from shim.protocols import ANTHROPIC, ENDPOINT_PROTOCOL, OPENAI, endpoint_for_path
from shim.responses_store import MemoryResponseStore, StoredResponse

__all__ = ["BACKEND_KEYS", "EngineServer", "engine_config"]

BACKEND_KEYS = {"anthropic": "sk-ant-REAL", "openai": "sk-openai-REAL", "groq": "gsk-REAL"}
_HOP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "server", "date", "keep-alive"})
_READ_SIZE = 65536


def engine_config(provider_root: str) -> RouterConfig:
    """Three backends on the fake: ``anthropic`` (root), ``openai`` and ``groq`` (root + /v1).
    ``openai`` is set up as the ``openai`` preset sets it up: it serves Responses itself, and its
    ``*-pro`` and ``*codex*`` models only there."""
    root = provider_root.rstrip("/")
    return RouterConfig.from_dict(
        {
            "backends": {
                "anthropic": {"protocol": ANTHROPIC, "base_url": root, "api_key": BACKEND_KEYS["anthropic"]},
                "openai": {
                    "protocol": OPENAI,
                    "base_url": root + "/v1",
                    "api_key": BACKEND_KEYS["openai"],
                    "max_tokens_field": "max_completion_tokens",
                    "responses_api": True,
                    "responses_only_models": ["*-pro", "*codex*"],
                },
                "groq": {"protocol": OPENAI, "base_url": root + "/v1", "api_key": BACKEND_KEYS["groq"]},
            }
        }
    )



class EngineServer(WireServer):
    """The driver above, on 127.0.0.1 with an ephemeral port, in a background thread."""

    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self.unexpected_errors: List[str] = []
        self.plans: List[Plan] = []  # every plan made, in order (tests may inspect notes/routes)
        self.read_sizes: List[List[int]] = []  # per relayed stream: the size of each upstream read
        self.responses = MemoryResponseStore()  # what Responses clients may continue
        self.stored: List[StoredResponse] = []  # every record stored, in order
        self._lock = threading.Lock()
        super().__init__(_EngineHandler, "engine-server")
        self._server.engine = self  # type: ignore[attr-defined]  # how _EngineHandler reaches the engine

    @property
    def openai_base_url(self) -> str:
        return self.root_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.root_url

    def __enter__(self) -> "EngineServer":
        self.start()
        return self

    def take_unexpected_errors(self) -> List[str]:
        with self._lock:
            errors, self.unexpected_errors = self.unexpected_errors, []
            return errors

    def _note_unexpected(self, where: str) -> str:
        text = f"engine server: unexpected error {where}:\n{traceback.format_exc()}"
        with self._lock:
            self.unexpected_errors.append(text)
        return text

    def _note_plan(self, plan: Plan) -> None:
        with self._lock:
            self.plans.append(plan)

    def _store(self, record: Optional[StoredResponse]) -> None:
        if record is not None:
            self.responses.put(record)
            with self._lock:
                self.stored.append(record)


class _EngineHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: ThreadingHTTPServer
    _headers_sent = False

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            pass  # the peer reset a keep-alive connection (e.g. an SDK raised mid-stream): not an error

    @property
    def engine(self) -> EngineServer:
        return self.server.engine  # type: ignore[attr-defined, no-any-return]

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        endpoint = endpoint_for_path(self.path.split("?")[0])
        protocol = ENDPOINT_PROTOCOL.get(endpoint or "", ANTHROPIC if "/messages" in self.path else OPENAI)
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            self._serve(endpoint, protocol, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (e.g. an SDK raised mid-stream)
        except Exception:  # test driver: anything outside the engine's hierarchy is a bug to show
            text = self.engine._note_unexpected(f"on {self.command} {self.path}")
            if not self._headers_sent:
                self._send(ClientResponse(500, {"content-type": "text/plain"}, text.encode()))
            else:
                self.close_connection = True  # cut the stream: the client must see it did not end well

    def _serve(self, endpoint: Optional[str], protocol: str, body: bytes) -> None:
        if endpoint is None:
            self._send(render_error(protocol, NotFoundError(f"no such endpoint: {self.path}")))
            return
        call = ClientCall(endpoint, dict(self.headers.items()), body, urlsplit(self.path).query)
        try:
            plan = plan_call(
                self.engine.config, call, now=time.time(), call_id=uuid.uuid4().hex, responses=self.engine.responses
            )
        except RouterError as error:
            self._send(render_error(protocol, error))
            return
        self.engine._note_plan(plan)
        if plan.refusal is not None:
            self._send(plan.refusal_response())
        elif plan.local_response is not None:
            self._send(plan.local_response)
        elif not plan.routed:
            no_route = NotFoundError(f"no route for model {plan.requested_model!r}")
            self._send(render_error(plan.client_protocol, no_route))
        else:
            self._forward(plan)

    def _forward(self, plan: Plan) -> None:
        assert plan.upstream_url is not None
        url = urlsplit(plan.upstream_url)
        connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=30)
        try:
            target = url.path + (f"?{url.query}" if url.query else "")
            connection.request("POST", target, body=plan.upstream_body, headers=plan.upstream_headers)
            upstream = connection.getresponse()
            headers = {name.lower(): value for name, value in upstream.getheaders()}
            if plan.stream and 200 <= upstream.status < 300:
                self._relay_stream(plan, upstream, headers)
            else:
                self._relay_whole(plan, upstream.status, headers, upstream.read())
        finally:
            connection.close()

    def _relay_whole(self, plan: Plan, status: int, headers: Mapping[str, str], body: bytes) -> None:
        try:
            response = plan.translate_response(status, headers, body)
        except RouterError as error:
            response = plan.error_response(error)
        if 200 <= response.status < 300:
            self.engine._store(plan.response_record(response.body))
        self._send(response)

    def _relay_stream(self, plan: Plan, upstream: http.client.HTTPResponse, headers: Mapping[str, str]) -> None:
        translator = plan.stream_translator(headers)
        self._start_chunked(plan.stream_headers(headers))
        read_sizes: List[int] = []
        self.engine.read_sizes.append(read_sizes)
        while True:
            try:
                chunk = upstream.read1(_READ_SIZE)
            except (http.client.HTTPException, OSError) as exc:
                self._write_chunk(translator.abort(UpstreamProtocolError(f"upstream connection lost: {exc!r}")))
                break
            if not chunk:
                self._write_chunk(translator.close())
                self.engine._store(plan.response_record(translator.final_response))
                break
            read_sizes.append(len(chunk))
            self._write_chunk(translator.feed(chunk))
        self.wfile.write(b"0\r\n\r\n")

    # Writing -------------------------------------------------------------------------------
    def _send(self, response: ClientResponse) -> None:
        self.send_response(response.status)
        for name, value in _without_hop_headers(response.headers).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        self.end_headers()
        self._headers_sent = True
        self.wfile.write(response.body)

    def _start_chunked(self, headers: Mapping[str, str]) -> None:
        self.send_response(200)
        for name, value in _without_hop_headers(headers).items():
            self.send_header(name, value)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self._headers_sent = True

    def _write_chunk(self, data: bytes) -> None:
        if data:  # an empty chunk would end the body
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


def _without_hop_headers(headers: Mapping[str, str]) -> Dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() not in _HOP_HEADERS}

