"""``POST /v1/responses`` through a real ``router proxy`` process, with the official SDK: whole and
streamed answers on the three upstream paths (Anthropic Messages, an OpenAI-protocol server's Chat,
a server with its own Responses API), and the proxy's part of the state — a response is stored
before the client sees it complete, a later call continues it (also after the proxy restarted),
``store: false`` keeps nothing.

The proxy here has a home of its own (``native`` serves Responses itself), so the shared proxy's
configuration stays as the other proxy tests expect it.
"""

import json
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import openai
import pytest
from fakes import FakeProvider, RecordedRequest, UsageSpec
from proxy_process import BACKEND_KEYS, ProxyProcess, write_responses_config

from host.proxy.response_store import RESPONSES_DB_FILENAME, SQLiteResponseStore
from shim.responses_store import StoredResponse

USAGE = UsageSpec(input=120, output=30, cache_read=40)
TEXT = "Sunny, 21 degrees, light wind from the west."
# (model the client asks for, backend, the path the backend is called on, the model it sees)
ROUTES = [
    ("claude-sonnet-4-6", "anthropic", "/v1/messages", "claude-sonnet-4-6"),
    ("gpt-5.1", "openai", "/v1/chat/completions", "gpt-5.1"),
    ("native-1", "native", "/v1/responses", "native-1"),
]
MODEL_PATHS = {path for _, _, path, _ in ROUTES}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, _fake_provider_session: FakeProvider) -> Path:
    home = tmp_path_factory.mktemp("responses-proxy-home")
    write_responses_config(home, _fake_provider_session.root_url)
    return home


@pytest.fixture(scope="module")
def responses_proxy(home: Path) -> Iterator[ProxyProcess]:
    proxy = ProxyProcess(home).wait_ready()
    yield proxy
    proxy.stop()


@pytest.fixture
def client(responses_proxy: ProxyProcess, provider: FakeProvider) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=responses_proxy.url + "/v1", api_key="unused", max_retries=0, timeout=10) as sdk:
        yield sdk


def _model_calls(provider: FakeProvider) -> List[RecordedRequest]:
    return [request for request in provider.requests if request.path.split("?")[0] in MODEL_PATHS]


def _check_forwarded(request: RecordedRequest, backend: str, path: str, model: str) -> None:
    key = {"anthropic": BACKEND_KEYS["anthropic"], "openai": BACKEND_KEYS["openai"], "native": BACKEND_KEYS["groq"]}
    assert request.path.split("?")[0] == path and request.json["model"] == model
    credential = request.header("x-api-key") if backend == "anthropic" else request.header("authorization")
    assert credential == (key[backend] if backend == "anthropic" else f"Bearer {key[backend]}")
    assert "unused" not in json.dumps(request.headers)


@pytest.mark.parametrize(("model", "backend", "path", "upstream"), ROUTES, ids=[r[1] for r in ROUTES])
def test_whole_response(client: openai.OpenAI, provider: FakeProvider, model: str, backend: str, path: str,
                        upstream: str) -> None:
    provider.reply(text=TEXT, usage=USAGE)
    response = client.responses.create(model=model, input="weather?", instructions="be brief")
    assert response.output_text == TEXT and response.status == "completed"
    assert response.usage is not None and response.usage.input_tokens == USAGE.prompt_tokens
    assert response.usage.output_tokens == USAGE.output
    [request] = _model_calls(provider)
    _check_forwarded(request, backend, path, upstream)


@pytest.mark.parametrize(("model", "backend", "path", "upstream"), ROUTES, ids=[r[1] for r in ROUTES])
def test_stream(client: openai.OpenAI, provider: FakeProvider, chunking: str, model: str, backend: str, path: str,
                upstream: str) -> None:
    provider.reply(text=TEXT, usage=USAGE)
    with client.responses.stream(model=model, input="weather?") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == TEXT and final.output_text == TEXT
    assert final.usage is not None and final.usage.output_tokens == USAGE.output
    [request] = _model_calls(provider)
    _check_forwarded(request, backend, path, upstream)
    assert request.json["stream"] is True


def _texts(body: Dict[str, Any]) -> List[str]:
    """Every text of a Messages conversation, in order."""
    out: List[str] = []
    for message in body["messages"]:
        content = message["content"]
        out += [content] if isinstance(content, str) else [b["text"] for b in content if b["type"] == "text"]
    return out


def test_a_chain_continues_from_what_the_proxy_stored(client: openai.OpenAI, provider: FakeProvider) -> None:
    provider.reply(text="First answer.")
    provider.reply(text="Second answer.")
    first = client.responses.create(model="claude-sonnet-4-6", input="first question")
    second = client.responses.create(model="claude-sonnet-4-6", input="second question",
                                     previous_response_id=first.id)
    assert second.output_text == "Second answer."
    assert _texts(_model_calls(provider)[1].json) == ["first question", "First answer.", "second question"]
    assert client.responses.retrieve(first.id).output_text == "First answer."


def test_a_streamed_response_is_stored_before_the_client_sees_it_complete(
    client: openai.OpenAI, provider: FakeProvider, chunking: str
) -> None:
    """The moment ``response.completed`` reaches the client, the response can be read back and
    continued: the record was written before those bytes went out."""
    provider.reply(text="Streamed answer.")
    provider.reply(text="Continued.")
    with client.responses.stream(model="claude-sonnet-4-6", input="question") as stream:
        for event in stream:
            if event.type == "response.completed":
                response_id = event.response.id
                assert client.responses.retrieve(response_id).output_text == "Streamed answer."
                break
    follow_up = client.responses.create(model="claude-sonnet-4-6", input="more", previous_response_id=response_id)
    assert follow_up.output_text == "Continued."


def test_store_false_keeps_nothing(client: openai.OpenAI, provider: FakeProvider) -> None:
    provider.reply(text="Not kept.")
    response = client.responses.create(model="claude-sonnet-4-6", input="question", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="claude-sonnet-4-6", input="more", previous_response_id=response.id)
    assert refused.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert len(_model_calls(provider)) == 1  # the refused call never went upstream


def test_a_chain_survives_a_proxy_restart(home: Path, provider: FakeProvider) -> None:
    provider.reply(text="Before the restart.")
    provider.reply(text="After the restart.")
    first_proxy = ProxyProcess(home).wait_ready()
    with openai.OpenAI(base_url=first_proxy.url + "/v1", api_key="unused", max_retries=0, timeout=10) as sdk:
        first = sdk.responses.create(model="claude-sonnet-4-6", input="remember this")
    assert first_proxy.stop() == 0
    second_proxy = ProxyProcess(home).wait_ready()
    try:
        with openai.OpenAI(base_url=second_proxy.url + "/v1", api_key="unused", max_retries=0, timeout=10) as sdk:
            second = sdk.responses.create(model="claude-sonnet-4-6", input="and now?", previous_response_id=first.id)
    finally:
        second_proxy.stop()
    assert second.output_text == "After the restart."
    assert _texts(_model_calls(provider)[1].json) == ["remember this", "Before the restart.", "and now?"]


def test_a_chain_is_held_to_a_bodys_limits(home: Path, provider: FakeProvider) -> None:
    """Each body is within ``--max-body-mib``, but the request a chain expands to grows by one body a
    call: the proxy refuses, in OpenAI's shape, the call that would take it over, before building it
    (docs/proxy-limits.md#continued-conversations); a shorter continuation still goes."""
    provider.reply(text="One.")
    provider.reply(text="Two.")
    provider.reply(text="Short.")
    piece = [{"role": "user", "content": "x" * 400_000}]  # 0.4 MiB a call, the limit 1 MiB
    proxy = ProxyProcess(home, ["--max-body-mib", "1"]).wait_ready()
    try:
        with openai.OpenAI(base_url=proxy.url + "/v1", api_key="unused", max_retries=0, timeout=10) as sdk:
            first = sdk.responses.create(model="gpt-5.1", input=piece)  # type: ignore[arg-type]
            second = sdk.responses.create(model="gpt-5.1", input=piece, previous_response_id=first.id)  # type: ignore[arg-type]
            with pytest.raises(openai.APIStatusError) as refused:
                sdk.responses.create(model="gpt-5.1", input=piece, previous_response_id=second.id)  # type: ignore[arg-type]
            short = sdk.responses.create(model="gpt-5.1", input="in short?", previous_response_id=second.id)
    finally:
        proxy.stop()
    assert refused.value.status_code == 413
    error = refused.value.body
    assert isinstance(error, dict) and error["param"] == "previous_response_id"
    assert "over the limit of 1048576" in error["message"] and second.id in error["message"]
    assert short.output_text == "Short."
    calls = _model_calls(provider)
    assert len(calls) == 3  # the refused call was never built nor sent
    assert len(calls[2].json["messages"]) == 5  # two long questions, two answers, the short one


@pytest.mark.parametrize("model", ["gpt-5.1", "claude-sonnet-4-6"])  # Chat backend; Anthropic, composed
def test_a_stream_whose_answer_outgrows_the_limit_ends_with_an_error(home: Path, provider: FakeProvider,
                                                                     model: str) -> None:
    """A Responses client's stream keeps the whole answer for its final Response; a backend that
    streams more than ``--max-response-mib`` ends it with an in-band 502 instead of growing the
    proxy (docs/proxy-limits.md#answers), and the next call is served as usual."""
    provider.reply(text="x" * (3 << 20))  # 3 MiB, in deltas of 1 MiB; the limit 1 MiB
    provider.reply(text="Short.")
    proxy = ProxyProcess(home, ["--max-response-mib", "1"]).wait_ready()
    try:
        with openai.OpenAI(base_url=proxy.url + "/v1", api_key="unused", max_retries=0, timeout=30) as sdk:
            events = list(sdk.responses.create(model=model, input="write on", stream=True))
            types = [event.type for event in events]
            assert "response.completed" not in types and types[-1] == "error", types
            error = events[-1]
            assert error.code == "bad_gateway" and f"over the limit of {1 << 20} bytes" in error.message  # type: ignore[union-attr]
            assert sdk.responses.create(model=model, input="and now?").output_text == "Short."
        # The stream's status went out before the answer did; the call is logged with its error.
        logged = proxy.wait_for_stderr(lambda line: line.rstrip().endswith(" bad_gateway"))
    finally:
        proxy.stop()
    assert logged.startswith(f"POST /v1/responses {model} ")


def test_a_stored_record_over_a_bodys_limits_is_not_read_back(home: Path, provider: FakeProvider) -> None:
    """One written by a proxy with a larger ``--max-body-mib``: neither read back nor continued here
    (the proxy would parse it on its event loop), each a 413 in OpenAI's shape that says why."""
    writer = SQLiteResponseStore(home / RESPONSES_DB_FILENAME)
    writer.put(StoredResponse("resp_large", time.time(), {"id": "resp_large", "object": "response", "output": []},
                              ({"role": "user", "content": "x" * (2 << 20)},)))
    writer.close()
    proxy = ProxyProcess(home, ["--max-body-mib", "1"]).wait_ready()
    try:
        with openai.OpenAI(base_url=proxy.url + "/v1", api_key="unused", max_retries=0, timeout=10) as sdk:
            with pytest.raises(openai.APIStatusError) as read:
                sdk.responses.retrieve("resp_large")
            with pytest.raises(openai.APIStatusError) as continued:
                sdk.responses.create(model="gpt-5.1", input="more", previous_response_id="resp_large")
    finally:
        proxy.stop()
    for refused in (read, continued):
        assert refused.value.status_code == 413 and "resp_large" in refused.value.message
        assert "over the limit of 1048576" in refused.value.message
    assert _model_calls(provider) == []


def test_an_id_the_backend_reuses_continues_no_conversation(client: openai.OpenAI, provider: FakeProvider) -> None:
    """A backend that numbers its responses, restarted, names a second conversation as it named the
    first: neither may be continued from the router's records, or one client's next call would carry
    the other's conversation (docs/responses-api.md#one-id-one-conversation)."""
    provider.reply(text="for alice", response_id="resp_7")
    first = client.responses.create(model="native-1", input="alice's question")
    provider.reply(text="for mallory", response_id="resp_7")  # the server restarted its numbering
    second = client.responses.create(model="native-1", input="mallory's question")
    assert second.id == first.id
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    provider.reply(text="alice again")
    client.responses.create(model="native-1", input="alice's follow-up", previous_response_id=first.id)
    [continued] = _model_calls(provider)[-1:]
    assert "mallory" not in json.dumps(continued.json) and "alice's question" not in json.dumps(continued.json)
    assert continued.json["previous_response_id"] == first.id  # unknown here: the backend's to judge
