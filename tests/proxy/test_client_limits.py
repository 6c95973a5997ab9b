"""Clients that hold connections without finishing a request, send endless headers, or send
what is not HTTP at all, seen on raw sockets (an HTTP client would never do it): the proxy closes
what it does not need, answers what it refuses in the client's protocol, and keeps a slot for real
clients (host/proxy/connections.py, docs/proxy-limits.md#connections)."""

import contextlib
import http.client
import json
import os
import select
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Iterator

import httpx
import pytest
from fakes import FakeProvider
from proxy_clients import USER
from proxy_process import ProxyProcess
from raw_sockets import DEADLINE, address, closed_by_server, endless_header, read_until_closed, whole_response

from host.proxy.connections import LINGER_MAX_BYTES, MAX_READ_AHEAD

LIMIT_ARGS = ["--idle-timeout", "1", "--header-timeout", "1", "--body-timeout", "1", "--send-timeout", "1",
              "--max-header-kib", "8"]
HEADER_LIMIT = 8 * 1024
_ANTHROPIC = {"type", "error"}
_OPENAI = {"error"}


@pytest.fixture(scope="module")
def limited(proxy_home: Path) -> Iterator[ProxyProcess]:
    proxy = ProxyProcess(proxy_home, LIMIT_ARGS).wait_ready()
    yield proxy
    proxy.stop()


def _connect(proxy: ProxyProcess, first: bytes = b"") -> socket.socket:
    """A connection; ``first``: bytes sent at once (a connection that has sent nothing is not even
    accepted yet where the kernel defers accepting: Linux, docs/proxy-limits.md#connections)."""
    sock = socket.create_connection(address(proxy.url), timeout=DEADLINE)
    if first:
        sock.sendall(first)
    return sock


def _open_descriptors(proxy: ProxyProcess) -> int:
    return len(os.listdir(f"/proc/{proxy.process.pid}/fd"))


def _shape(body: bytes) -> str:
    parsed = json.loads(body)
    if parsed.get("type") == "error" and set(parsed["error"]) == {"type", "message"}:
        return "anthropic"
    assert set(parsed["error"]) == {"message", "type", "param", "code"}, parsed
    return "openai"


# Idle and half-sent connections -----------------------------------------------------------------
def test_a_connection_that_sends_nothing_is_closed(limited: ProxyProcess) -> None:
    with _connect(limited) as sock:
        assert closed_by_server(sock)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_DEFER_ACCEPT and /proc are Linux's")
def test_connections_that_send_nothing_cost_the_proxy_nothing(proxy: ProxyProcess) -> None:
    """The kernel keeps a silent connection until it speaks (for about the idle timeout): a flood of
    them takes no descriptor and no place ahead of a real client. One that speaks is served at once."""
    before = _open_descriptors(proxy)
    silent = [_connect(proxy) for _ in range(200)]
    try:
        with _connect(proxy, first=b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n") as speaking:
            status, _, _ = whole_response(speaking)  # accepted after the 200 silent ones, had they been accepted
        assert status == 200
        assert _open_descriptors(proxy) < before + 20, "the silent connections were accepted"
        silent[0].sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        assert whole_response(silent[0])[0] == 200  # speaking late is speaking: served
    finally:
        for sock in silent:
            sock.close()


def test_stray_line_breaks_do_not_keep_a_connection_open(limited: ProxyProcess) -> None:
    """llhttp skips line breaks before a request: they start no request, and do not reset the idle clock."""
    with _connect(limited) as sock:
        assert closed_by_server(sock, poke=b"\r\n")


def test_half_sent_headers_are_closed(limited: ProxyProcess) -> None:
    """Slowloris: a header that never ends, one byte at a time, is cut at the header timeout."""
    with _connect(limited) as sock:
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ")
        assert closed_by_server(sock, poke=b"a")


def test_a_body_that_stops_short_is_closed(limited: ProxyProcess) -> None:
    """A body that stops before its declared end is closed at the body timeout. Before, nothing timed
    a body: such a connection, and what it had sent, stayed for good."""
    with _connect(limited) as sock:
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                     b"content-length: 100\r\n\r\n{\"model\": ")
        assert closed_by_server(sock)


def test_a_connection_answered_before_its_body_ended_is_idle_after(limited: ProxyProcess) -> None:
    """An answer that needs no body (404 here) goes out before the body is in; the rest of the body,
    sent after it, is skipped, and the connection is then idle: the idle timeout closes it."""
    with _connect(limited) as sock:
        sock.sendall(b"POST /nothing HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 100\r\n\r\n" + b"x" * 50)
        sock.settimeout(DEADLINE)
        assert sock.recv(65536).startswith(b"HTTP/1.1 404 ")
        sock.sendall(b"x" * 50)
        assert closed_by_server(sock)


def test_a_body_that_keeps_coming_is_not_cut(limited: ProxyProcess, provider: FakeProvider) -> None:
    """The timeout is between pieces: a body trickled over 3 s, a piece every 0.2 s (each pause
    under the 1 s limit), is read whole and the call answered."""
    provider.reply(text="slow upload, served")
    body = json.dumps({"model": "gpt-5.1", "messages": USER}).encode()
    with _connect(limited) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                     b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(body))
        step = max(1, len(body) // 15)
        for start in range(0, len(body), step):
            sock.sendall(body[start:start + step])
            time.sleep(0.2)  # the pace of the client under test, not a wait for the proxy
        status, _, answer = whole_response(sock)
    assert status == 200 and json.loads(answer)["choices"][0]["message"]["content"] == "slow upload, served"


# Answers the client does not take ---------------------------------------------------------------
_ESTABLISHED = 1  # tcpi_state in TCP_INFO (include/net/tcp_states.h)


def _small_window(proxy: ProxyProcess, request: bytes) -> socket.socket:
    """A connection with a receive buffer of a few KiB (set before connecting: it fixes the window),
    so that an answer of megabytes waits in the proxy: its transport stops taking writes."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(DEADLINE)
    sock.connect(address(proxy.url))
    sock.sendall(request)
    return sock


def _stream_request(model: str = "claude-sonnet-4-6") -> bytes:
    body = json.dumps({"model": model, "max_tokens": 64, "stream": True, "messages": USER}).encode()
    return (b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            b"anthropic-version: 2023-06-01\r\ncontent-length: %d\r\n\r\n" % len(body)) + body


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_INFO is Linux's")
def test_a_client_that_takes_nothing_of_its_answer_is_cut_off(limited: ProxyProcess, provider: FakeProvider) -> None:
    """It held its connection slot, its upstream connection and its body's room for as long as it
    liked (the proxy waited on the write for good); now a send timeout without progress resets it."""
    provider.reply(text="x" * (8 << 20))  # far more than the kernel's buffers and the transport's mark
    with _small_window(limited, _stream_request("claude-stalled-reader")) as sock:
        ended = limited.wait_for_stderr(lambda line: "claude-stalled-reader" in line, timeout=DEADLINE)
        assert " 499 " in ended and "client_stopped_reading" in ended  # the call is over, upstream closed
        deadline = time.monotonic() + DEADLINE
        # The reset, seen without reading (reading is what this client must not do): TCP_INFO's state.
        while sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == _ESTABLISHED:
            assert time.monotonic() < deadline, "the connection was closed, not reset: the kernel keeps its bytes"
            time.sleep(0.01)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the receive buffer's size is Linux's to keep")
def test_a_client_that_reads_slowly_is_not_cut_off(limited: ProxyProcess, provider: FakeProvider) -> None:
    """It takes a few KiB at a time, the transport paused for seconds on end (the send timeout is
    1 s here): progress is what counts, not pauses."""
    text = "y" * (1 << 20)
    provider.reply(text=text)
    started = time.monotonic()
    with _small_window(limited, _stream_request()) as sock:
        received = bytearray()
        while not received.endswith(b"0\r\n\r\n"):  # the chunked answer's end
            piece = sock.recv(4096)
            assert piece, "the connection was cut"
            received += piece
            time.sleep(0.01)  # some 400 KiB a second: the proxy holds the rest for seconds
    assert time.monotonic() - started > 2, "the answer never waited in the proxy: nothing was tested"
    body = received.split(b"\r\n\r\n", 1)[1]
    assert _streamed_text(_dechunked(body)) == text


def _whole_request(model: str) -> bytes:
    body = json.dumps({"model": model, "messages": USER}).encode()
    return (b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n" % len(body)) + body


def _reset(sock: socket.socket) -> bool:
    """Whether the proxy has reset ``sock``, seen without reading from it (TCP_INFO's state)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] != _ESTABLISHED


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_INFO is Linux's")
def test_a_client_that_takes_nothing_of_its_last_answer_is_cut_off(limited: ProxyProcess,
                                                                   provider: FakeProvider) -> None:
    """With ``connection: close`` the proxy closes the connection once the answer is written: the
    transport waits to send it before it closes, and the send timer looked only at open ones."""
    provider.reply(text="x" * (8 << 20))
    request = _whole_request("gpt-last-answer").replace(b"host: 127.0.0.1\r\n",
                                                        b"host: 127.0.0.1\r\nconnection: close\r\n")
    with _small_window(limited, request) as sock:
        deadline = time.monotonic() + DEADLINE
        while not _reset(sock):
            assert time.monotonic() < deadline, "the answer waits in the proxy for good"
            time.sleep(0.01)


@pytest.fixture(scope="module")
def idle_first(proxy_home: Path) -> Iterator[ProxyProcess]:
    """The idle timeout shorter than the send timeout, as the defaults are (30 s, 60 s)."""
    proxy = ProxyProcess(proxy_home, ["--idle-timeout", "1", "--send-timeout", "3"]).wait_ready()
    yield proxy
    proxy.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_INFO is Linux's")
@pytest.mark.parametrize("then", [b"\r\n", b"\x16\x03\x01 not http\r\n\r\n"], ids=["line-break", "not-http"])
def test_a_connection_the_proxy_closes_with_an_answer_unread_is_still_cut_off(idle_first: ProxyProcess,
                                                                                provider: FakeProvider,
                                                                                then: bytes) -> None:
    """The proxy's own closes (idle, a refusal) cancelled the send timer with the others, and the closed
    transport then waited to send the unread answer for good (docs/proxy-limits.md#connections)."""
    provider.reply(text="x" * (8 << 20))
    with _small_window(idle_first, _whole_request("gpt-closed-unread")) as sock:
        idle_first.wait_for_stderr(lambda line: "gpt-closed-unread" in line, timeout=DEADLINE)
        sock.sendall(then)  # a line break restarts nothing but the proxy's idle check; bytes not HTTP are refused
        deadline = time.monotonic() + 2 * DEADLINE
        while not _reset(sock):
            assert time.monotonic() < deadline, "the closed connection waits to send its answer for good"
            time.sleep(0.01)


_SLOW_CALL = json.dumps({"model": "slow-model", "max_tokens": 8, "messages": USER}).encode()
_SLOW_REQUEST = (b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                 b"anthropic-version: 2023-06-01\r\ncontent-length: %d\r\n\r\n" % len(_SLOW_CALL)) + _SLOW_CALL


@pytest.mark.parametrize("refused", ["upgrade-with-chunked-body", "a-chunk-that-is-not-http"])
def test_a_request_refused_behind_an_unanswered_one_lets_that_answer_out_then_closes(proxy: ProxyProcess,
                                                                                   refused: str) -> None:
    """Pipelined behind a call whose backend is slow: the refusal of an upgrade's head was written
    before the call's answer (lost), and a queued request's refused body left the call's answer
    kept alive while the connection waited for a body it would never read (docs/proxy-limits.md#body-framing)."""
    second = _chunked_head() + _chunk(_ONE_CALL)
    if refused == "upgrade-with-chunked-body":
        second = second.replace(b"transfer-encoding", _H2C + b"transfer-encoding") + b"0\r\n\r\n"
    else:
        second += b"zz\r\n"  # not a chunk size: the parser's error, inside the queued request's body
    with _connect(proxy, _SLOW_REQUEST + second) as sock:
        answers = read_until_closed(sock)
    head = answers.partition(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 504") and b"connection: close" in head  # the slow call's, and last
    assert answers.count(b"HTTP/1.1 ") == 1


@pytest.fixture(scope="module")
def answers_budget(proxy_home: Path) -> Iterator[ProxyProcess]:
    """Answers of at most 8 MiB, so that 16 MiB of answers may wait for clients; a send timeout long
    enough that only that budget can cut a client off within a test."""
    proxy = ProxyProcess(proxy_home, ["--max-response-mib", "8", "--send-timeout", "600"]).wait_ready()
    yield proxy
    proxy.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_INFO is Linux's")
def test_answers_waiting_for_clients_that_take_none_are_held_to_a_budget(answers_budget: ProxyProcess,
                                                                          provider: FakeProvider) -> None:
    """Each client that asked for a large answer and read none of it pinned the whole answer for up to
    two send timeouts: 200 of them took the proxy from 43 to 1,810 MiB. The answers waiting for such
    clients are held to two of the largest; past that, the client that stopped first is cut off
    (docs/proxy-limits.md#connections)."""
    clients = []
    try:
        for number in range(5):
            provider.reply(text="z" * (7 << 20))
            clients.append(_small_window(answers_budget, _whole_request(f"gpt-unread-{number}")))
            answers_budget.wait_for_stderr(lambda line, n=number: f"gpt-unread-{n}" in line, timeout=DEADLINE)
        deadline = time.monotonic() + DEADLINE
        while not _reset(clients[0]):
            assert time.monotonic() < deadline, "five unread answers of 7 MiB are held at once"
            time.sleep(0.01)
        assert not _reset(clients[-1])  # the newest waits on: its answer is within the budget
    finally:
        for sock in clients:
            sock.close()


def _dechunked(body: bytes) -> bytes:
    out, rest = bytearray(), body
    while True:
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            return bytes(out)
        out += rest[:size]
        rest = rest[size + 2:]


def test_an_answer_before_a_body_it_was_asked_leave_for_closes_the_connection(proxy: ProxyProcess) -> None:
    """``Expect: 100-continue``, then an answer without the 100 (an unknown path): the client may then
    not send its body, and the proxy went on waiting for it, reading the client's next request as
    that body (its rest then a 400 for a request never made)."""
    with _connect(proxy, b"POST /v1/nope HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                         b"expect: 100-continue\r\ncontent-length: 50\r\n\r\n") as sock:
        head = b""
        while b"\r\n\r\n" not in head:
            piece = sock.recv(65536)
            assert piece, "closed without an answer"
            head += piece
        assert head.startswith(b"HTTP/1.1 404")
        with contextlib.suppress(OSError):  # closed already: what the fix does
            sock.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-padding: " + b"p" * 40 + b"\r\n\r\n")
        assert b"HTTP/1.1" not in head.partition(b"\r\n\r\n")[2] + read_until_closed(sock)


def test_a_kept_alive_connection_closes_once_idle(limited: ProxyProcess) -> None:
    with _connect(limited) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        sock.settimeout(DEADLINE)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        assert closed_by_server(sock)


def test_a_real_client_is_served_meanwhile(limited: ProxyProcess, provider: FakeProvider) -> None:
    idle = [_connect(limited) for _ in range(20)]
    try:
        provider.reply(text="still served")
        response = httpx.post(limited.url + "/v1/messages", headers={"anthropic-version": "2023-06-01"},
                              json={"model": "claude-sonnet-4-6", "max_tokens": 8, "messages": USER}, timeout=10)
        assert response.status_code == 200 and response.json()["content"][0]["text"] == "still served"
    finally:
        for sock in idle:
            sock.close()


# Requests read ahead (pipelining) ------------------------------------------------------------------
_HEALTH = b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"


def test_requests_read_ahead_past_the_limit_are_answered_then_the_connection_closes(limited: ProxyProcess) -> None:
    """100 requests in one write: the one being answered and the MAX_READ_AHEAD queued behind it
    are answered in order, the last saying ``connection: close``, and the connection closes (the
    client retries the rest elsewhere, RFC 9112 section 9.3.2). Before, all 100 were queued."""
    with _connect(limited, first=_HEALTH * 100) as sock:
        answers = read_until_closed(sock).split(b"HTTP/1.1 ")[1:]
    assert len(answers) == MAX_READ_AHEAD + 1
    assert all(answer.startswith(b"200 OK\r\n") for answer in answers)
    assert [b"connection: close" in answer.lower() for answer in answers] == [False] * MAX_READ_AHEAD + [True]


def test_a_pipelining_flood_costs_the_proxy_less_memory_than_it_sends(proxy_home: Path) -> None:
    """20 connections each write 2 MiB of requests (~60,000 apiece) and read no answer. Each is
    answered what it may have read ahead and closed, and the proxy's high-water mark grows by less
    than the 40 MiB sent. Before, uvicorn queued every request a read held, again after each answer:
    100 such connections of 4 MiB took the proxy from 42 MiB to over 1 GiB, and /health then went
    unanswered for 30 s."""
    proxy = ProxyProcess(proxy_home).wait_ready()  # its own: its high-water mark is this test's
    flood = _HEALTH * (2 * 1024 * 1024 // len(_HEALTH))
    try:
        with _connect(proxy, first=_HEALTH * 100) as warm:  # the paths a flood takes, warmed once
            assert read_until_closed(warm).count(b"HTTP/1.1 200") == MAX_READ_AHEAD + 1
        peak_before = proxy.peak_resident_bytes()
        connections = [_connect(proxy) for _ in range(20)]
        try:
            for sock in connections:
                try:
                    sock.sendall(flood)
                except OSError:
                    pass  # the proxy closed it before it had all: what this test expects
            assert all(closed_by_server(sock) for sock in connections)
        finally:
            for sock in connections:
                sock.close()
        assert httpx.get(proxy.url + "/health", timeout=DEADLINE).status_code == 200
        grown = proxy.peak_resident_bytes() - peak_before
        assert grown < 20 * len(flood), f"{grown >> 20} MiB more at the peak"
    finally:
        proxy.stop()


# Heads too large ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("path", "shape"), [("/v1/messages", "anthropic"), ("/v1/chat/completions", "openai"),
                                             ("/v1/responses", "openai")])
def test_an_endless_header_is_refused_before_it_ends(limited: ProxyProcess, path: str, shape: str) -> None:
    """64 MiB of one header, sent as fast as the proxy reads: 431 in the path's protocol once the head
    passes the limit, and the connection closes long before the header ends (a 64 MiB header cost 8.5 s
    of CPU, and a 128 MiB one 42 s, before the limit)."""
    with _connect(limited) as sock:
        head = f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-endless: ".encode()
        status, headers, body, sent = endless_header(sock, head)
    assert status == 431 and headers["content-type"] == "application/json"
    assert _shape(body) == shape and str(HEADER_LIMIT) in json.loads(body)["error"]["message"]
    assert sent < 64 * 1024 * 1024  # refused, not read to the end


def test_a_whole_head_over_the_limit_in_one_write(limited: ProxyProcess) -> None:
    """Head and body arriving together (the head complete within one read) are measured too."""
    body = json.dumps({"model": "gpt-5.1", "messages": USER}).encode()
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
               + b"".join(b"x-filler-%d: %s\r\n" % (i, b"y" * 1000) for i in range(12))
               + b"content-length: %d\r\n\r\n" % len(body) + body)
    with _connect(limited) as sock:
        sock.sendall(request)
        status, _, answer = whole_response(sock)
    assert status == 431 and _shape(answer) == "openai"
    assert json.loads(answer)["error"]["code"] == "request_header_fields_too_large"


def test_a_request_line_over_the_limit(limited: ProxyProcess) -> None:
    with _connect(limited) as sock:
        sock.sendall(b"GET /v1/messages?" + b"q" * (HEADER_LIMIT + 10) + b" HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        status, _, body = whole_response(sock)
    assert status == 431 and _shape(body) == "anthropic"


@pytest.mark.parametrize("size", [1 << 20, 4 << 20, 12 << 20])  # under LINGER_MAX_BYTES
def test_a_client_that_writes_its_whole_head_before_reading_reads_the_refusal(limited: ProxyProcess,
                                                                              size: int) -> None:
    """``http.client`` (under urllib and requests) writes a whole request before it reads a byte: the
    proxy reads and drops the rest of a refused head so the client comes to read the 431 (closed at
    once with the head unread, the kernel sent a reset and the client saw only that)."""
    connection = http.client.HTTPConnection(*address(limited.url), timeout=DEADLINE)
    try:
        connection.request("POST", "/v1/messages", body=b"{}", headers={"x-big": "a" * size})
        answer = connection.getresponse()
        status, body = answer.status, answer.read()
    finally:
        connection.close()
    assert status == 431 and _shape(body) == "anthropic"
    assert json.loads(body)["error"]["type"] == "request_too_large"


def test_a_refused_client_that_goes_on_writing_is_cut_off(limited: ProxyProcess) -> None:
    """What the proxy drops after a refusal is bounded: a client writing on is reset past
    LINGER_MAX_BYTES (the socket buffers on both sides hold a few MiB more)."""
    with _connect(limited) as sock:
        status, _, _, sent = endless_header(sock, b"POST /v1/messages HTTP/1.1\r\nx-endless: ")
    assert status == 431
    assert LINGER_MAX_BYTES <= sent < LINGER_MAX_BYTES + 16 * 1024 * 1024


def test_a_refused_client_that_neither_writes_nor_closes_is_closed(limited: ProxyProcess) -> None:
    """The proxy ends its side after a refusal and waits for the client's end at most a header
    timeout; then the connection is closed (a byte written after that is answered with a reset)."""
    with _connect(limited) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nx-big: " + b"a" * (HEADER_LIMIT + 10) + b"\r\n\r\n")
        status, _, _ = whole_response(sock)  # to the proxy's FIN: its side is done
        assert status == 431
        assert _reset_while_writing(sock)


@pytest.mark.parametrize("connection", [b"", b"connection: close\r\n"], ids=["kept-alive", "close"])
def test_a_request_refused_while_its_app_runs_answers_once_and_logs_nothing(proxy_home: Path,
                                                                            connection: bytes) -> None:
    """A chunked body that breaks llhttp's rules is refused after its head went to the app (uvicorn
    starts it at the end of the head): the app, answering a path it does not serve, wrote after the
    refusal had ended the proxy's side, and ``RuntimeError: Cannot call write() after write_eof()``
    went to the log (once per such request: anyone who can connect could fill it)."""
    proxy = ProxyProcess(proxy_home, LIMIT_ARGS).wait_ready()
    try:
        with _connect(proxy) as sock:
            sock.sendall(b"POST /nothing-here HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n"
                         + connection + b"\r\nZZZ\r\n")
            status, _, body = whole_response(sock)
        assert status == 400 and json.loads(body)["error"]
        assert httpx.get(proxy.url + "/health", timeout=DEADLINE).status_code == 200  # the app's turn is past
    finally:
        proxy.stop()
    assert "Error" not in proxy.output and "Traceback" not in proxy.output, proxy.output


def test_a_head_refused_behind_an_earlier_request_lets_its_writer_read_that_answer(limited: ProxyProcess) -> None:
    """One write of ``GET /health`` and then a request with a 4 MiB header: the refused request
    cannot be answered before the first, so the connection ends after the first's answer — reading
    and dropping the rest of the head meanwhile, or the writer, still in its ``sendall``, got a
    reset (the answer is the client's to read; a pipelining client retries what was not answered)."""
    with _connect(limited) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
                     + b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\nx-big: " + b"a" * (4 << 20) + b"\r\n\r\n")
        answers = read_until_closed(sock)
    assert answers.startswith(b"HTTP/1.1 200 ") and answers.count(b"HTTP/1.1 ") == 1


def _reset_while_writing(sock: socket.socket) -> bool:
    """A byte at a time until the peer's socket is gone (True; the byte it did not take comes back
    as a reset) or the deadline passes (False)."""
    deadline = time.monotonic() + DEADLINE
    poller = select.poll()
    poller.register(sock, select.POLLHUP | select.POLLERR)
    while time.monotonic() < deadline:
        try:
            sock.sendall(b"x")
        except OSError:
            return True
        if poller.poll(100):  # the reset, or 0.1 s without one: the proxy still drops what comes
            return True
    return False


def test_a_head_under_the_limit_is_served(limited: ProxyProcess, provider: FakeProvider) -> None:
    provider.reply(text="fine")
    filler = {f"x-filler-{i}": "y" * 500 for i in range(10)}  # ~5 KiB: under 8 KiB
    response = httpx.post(limited.url + "/v1/chat/completions", headers=filler, timeout=10,
                          json={"model": "gpt-5.1", "messages": USER})
    assert response.status_code == 200


# Chunked framing ----------------------------------------------------------------------------------
def _chunked_head(path: str = "/v1/chat/completions") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            "transfer-encoding: chunked\r\n\r\n").encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


_ONE_CALL = json.dumps({"model": "gpt-5.1", "messages": USER}).encode()


@pytest.mark.parametrize(("after_the_body", "piece"), [
    (b"0\r\nx-endless-trailer: ", b"a" * 65536),
    (b"0\r\n", b"x-trailer: 1\r\n" * 4096),
    (b"1;endless-extension=", b"a" * 65536),
], ids=["one-endless-trailer", "endless-trailer-lines", "endless-chunk-extension"])
def test_a_chunked_bodys_framing_is_held_to_the_head_limit(limited: ProxyProcess, after_the_body: bytes,
                                                           piece: bytes) -> None:
    """Trailers and chunk extensions were counted by nothing, before the app or a key could refuse the
    request: 512 MiB of trailer lines took the proxy from 43 to 662 MiB, one endless trailer stalled
    its loop for seconds (docs/proxy-limits.md#body-framing)."""
    with _connect(limited) as sock:
        head = _chunked_head() + _chunk(_ONE_CALL) + after_the_body
        status, headers, body, sent = endless_header(sock, head, piece)
    assert status == 431 and headers["content-type"] == "application/json" and _shape(body) == "openai"
    assert "framing" in json.loads(body)["error"]["message"]
    assert sent < 64 * 1024 * 1024  # refused, not read to the end


def test_trailers_are_dropped_not_taken_for_headers(limited: ProxyProcess, provider: FakeProvider) -> None:
    """A trailer arriving with the head was added to the request's headers: an ``origin`` trailer made
    a call from a command-line client a refused web page's (docs/proxy-limits.md#body-framing)."""
    provider.reply(text="trailers dropped")
    request = (_chunked_head() + b"".join(_chunk(_ONE_CALL[start:start + 1]) for start in range(len(_ONE_CALL)))
               + b"0\r\norigin: http://evil.example\r\n\r\n")
    with _connect(limited, request) as sock:
        status, _, body = whole_response(sock)  # the connection closes once idle (1 s)
    assert status == 200 and json.loads(body)["choices"][0]["message"]["content"] == "trailers dropped"


def test_a_request_after_an_unparsable_one_does_not_lose_the_answer_before_it(limited: ProxyProcess) -> None:
    """Bytes that are not HTTP right behind a request, in the same write: the request's answer was lost,
    the client read only a 400 written over it. Now that answer comes, then the connection closes."""
    with _connect(limited, b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n\x16\x03\x01 not http\r\n\r\n") as sock:
        status, headers, body = whole_response(sock)
    assert status == 200 and json.loads(body)["status"] == "ok" and headers["connection"] == "close"


# Not HTTP -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("request_bytes", "shape"), [
    (b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\nno colon here\r\n\r\n", "anthropic"),
    (b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: nope\r\n\r\n", "openai"),
    (b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", "anthropic"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "openai"),  # a TLS ClientHello to the plain port
    (b"GET /v1/models HTTP/9.9\r\n\r\n", "openai"),
], ids=["header-without-colon", "bad-content-length", "bad-chunk", "tls-hello", "bad-version"])
def test_a_malformed_request_gets_400_in_the_client_shape(limited: ProxyProcess, request_bytes: bytes,
                                                          shape: str) -> None:
    """uvicorn's own answer was ``400 Invalid HTTP request received.`` in plain text."""
    with _connect(limited) as sock:
        sock.sendall(request_bytes)
        status, headers, body = whole_response(sock)
    assert status == 400 and headers["content-type"] == "application/json"
    assert headers["x-should-retry"] == "false" and _shape(body) == shape


def test_a_non_websocket_upgrade_is_served_as_http_and_closed(limited: ProxyProcess) -> None:
    """``Upgrade: h2c`` (curl --http2 on a plain URL) is ignored, as RFC 9110 allows; nothing after it
    on the connection could be parsed, so the connection closes after the answer instead of hanging."""
    with _connect(limited) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: Upgrade, HTTP2-Settings\r\n"
                     b"upgrade: h2c\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
        status, headers, body = whole_response(sock)
    assert status == 200 and json.loads(body)["status"] == "ok" and headers["connection"] == "close"


_H2C = b"connection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"


@pytest.mark.parametrize("pieces", [1, 3, "every byte"])
def test_a_call_with_an_upgrade_header_is_served_with_its_body(limited: ProxyProcess, provider: FakeProvider,
                                                              pieces: object) -> None:
    """curl --http2 on a plain URL sends ``Upgrade: h2c`` on a POST too; llhttp skips the body of an
    upgrade request, so the call reached the app without one: a 400 "not valid JSON" for a valid call
    (docs/proxy-limits.md#upgrades)."""
    provider.reply(text="upgraded nothing")
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n" + _H2C
            + b"content-length: %d\r\n\r\n" % len(_ONE_CALL))
    size = 1 if pieces == "every byte" else -(-len(_ONE_CALL) // int(pieces))  # type: ignore[call-overload]
    with _connect(limited, head) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(_ONE_CALL), size):
            sock.sendall(_ONE_CALL[start:start + size])
        status, headers, body = whole_response(sock)
    assert status == 200, body
    assert json.loads(body)["choices"][0]["message"]["content"] == "upgraded nothing"
    assert headers["connection"] == "close" and provider.last.request.json["messages"] == USER


def test_an_upgrade_request_with_a_chunked_body_is_refused_in_the_client_shape(limited: ProxyProcess) -> None:
    with _connect(limited, _chunked_head().replace(b"transfer-encoding", _H2C + b"transfer-encoding")
                  + _chunk(_ONE_CALL) + b"0\r\n\r\n") as sock:
        status, _, body = whole_response(sock)
    assert status == 400 and _shape(body) == "openai" and "chunked" in json.loads(body)["error"]["message"]


# The connection cap ---------------------------------------------------------------------------------
_OPEN_FILES = 256  # the proxy's `ulimit -n`: 96 client connections fit (a quarter kept, one upstream each)


@pytest.fixture(scope="module")
def cramped(proxy_home: Path) -> Iterator[ProxyProcess]:
    proxy = ProxyProcess(proxy_home, max_open_files=_OPEN_FILES).wait_ready()
    yield proxy
    proxy.stop()


def test_idle_sockets_beyond_the_descriptor_limit_do_not_lock_out_real_clients(
    cramped: ProxyProcess, provider: FakeProvider, chunking: str
) -> None:
    """More idle sockets than the proxy has file descriptors: each new one closes the longest-idle; a
    stream in flight meanwhile is never touched and ends complete, and a new client is served. Before,
    the proxy accepted until EMFILE and the next real client waited in the listen backlog. Each sends
    a line break (no request): a silent one would wait in the kernel, never reaching the proxy."""
    cramped.wait_for_stderr(lambda line: "at most 96 client connections" in line)
    provider.reply(text="a stream that outlives the flood", hold_after_events=2)
    streamed: Dict[str, bytes] = {}

    def stream() -> None:
        with httpx.stream("POST", cramped.url + "/v1/messages", timeout=DEADLINE,
                          headers={"anthropic-version": "2023-06-01"},
                          json={"model": "claude-sonnet-4-6", "max_tokens": 32, "messages": USER, "stream": True}
                          ) as response:
            streamed["body"] = response.read()

    reader = threading.Thread(target=stream)
    reader.start()
    assert provider.holding.wait(DEADLINE)  # the stream is under way
    flood = [_connect(cramped, first=b"\r\n") for _ in range(2 * _OPEN_FILES)]  # accepted, then idle
    try:
        health = httpx.get(cramped.url + "/health", timeout=DEADLINE)
        assert health.status_code == 200
        closed = sum(closed_by_server(sock) for sock in flood[:100])  # the oldest made room for the rest
        assert closed == 100
    finally:
        provider.release.set()
        reader.join(DEADLINE)
        for sock in flood:
            sock.close()
    assert b"event: message_stop" in streamed["body"] and _streamed_text(streamed["body"]) == \
        "a stream that outlives the flood"


def test_bodies_still_arriving_make_room_for_new_clients(cramped: ProxyProcess) -> None:
    """Twice as many connections as the proxy may hold, each sending a head and the start of its body
    and then nothing: they have asked for nothing yet, so the oldest make room, and a new client is
    served. Before, a connection was "serving a request" from its head on: these held every slot,
    and the next client's connection was closed at once."""
    cramped.wait_for_stderr(lambda line: "at most 96 client connections" in line)
    start = (b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
             b"content-length: 1000\r\n\r\n{\"model\": ")
    flood = [_connect(cramped, first=start) for _ in range(2 * 96)]
    try:
        assert httpx.get(cramped.url + "/health", timeout=DEADLINE).status_code == 200
        assert all(closed_by_server(sock) for sock in flood[:90])  # the oldest made room for the rest
    finally:
        for sock in flood:
            sock.close()


def _streamed_text(body: bytes) -> str:
    deltas = [json.loads(line[6:]) for line in body.decode().splitlines() if line.startswith("data: {")]
    return "".join(d["delta"]["text"] for d in deltas if d.get("type") == "content_block_delta")
