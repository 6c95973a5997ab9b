"""A backend that answers a streaming call with one whole JSON body, through a real ``router proxy``
(docs/protocol-rules.md#whole-answers-to-streams): every client protocol, from every upstream format,
reads the stream the router writes of it with its official SDK's stream helper, and finds what the
same answer says when it is asked for whole. Before, a same-protocol client got an empty stream
and no error; a translated one "the stream ended before it was complete".

This proxy has a home of its own with a backend that serves Responses (``native``), as
test_responses_proxy.py's has.
"""

from pathlib import Path
from typing import Iterator

import anthropic
import openai
import pytest
from fakes import FakeProvider
from proxy_process import ProxyProcess, write_responses_config
from whole_answer_clients import (
    CLIENTS,
    MODELS,
    QUOTA_ERROR,
    STREAM_ERRORS,
    Clients,
    assert_the_form_not_asked_for_says_what_the_whole_answer_says,
)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, _fake_provider_session: FakeProvider) -> Path:
    home = tmp_path_factory.mktemp("whole-answers-home")
    write_responses_config(home, _fake_provider_session.root_url)
    return home


@pytest.fixture(scope="module")
def whole_answers_proxy(home: Path) -> Iterator[ProxyProcess]:
    proxy = ProxyProcess(home).wait_ready()
    yield proxy
    proxy.stop()


@pytest.fixture
def clients(whole_answers_proxy: ProxyProcess, provider: FakeProvider) -> Iterator[Clients]:
    url = whole_answers_proxy.url
    with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=10) as oai, \
            anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0, timeout=10) as ant:
        yield Clients(oai, ant)


@pytest.mark.parametrize("model", sorted(MODELS), ids=lambda model: MODELS[model])
@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_stream_answered_whole_says_what_the_whole_answer_says(
        clients: Clients, provider: FakeProvider, chunking: str, client: str, model: str) -> None:
    assert_the_form_not_asked_for_says_what_the_whole_answer_says(provider, clients, client, model, stream=True)


@pytest.mark.parametrize("model", sorted(MODELS), ids=lambda model: MODELS[model])
@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_whole_call_answered_as_a_stream_says_what_the_whole_answer_says(
        clients: Clients, provider: FakeProvider, chunking: str, client: str, model: str) -> None:
    """The other way round (docs/protocol-rules.md#streams-to-whole-answers): a server that streams
    whatever was asked. Before, the same-protocol client got the stream's bytes as its JSON body."""
    assert_the_form_not_asked_for_says_what_the_whole_answer_says(provider, clients, client, model, stream=False)


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_stream_cut_before_its_end_is_a_broken_whole_answer(
        clients: Clients, provider: FakeProvider, chunking: str, client: str) -> None:
    provider.streams_every_answer = True
    provider.reply(text="cut short", truncate_after_events=3)
    refused = (openai.APIStatusError, anthropic.APIStatusError)
    with pytest.raises(refused, match="ended before it was complete") as raised:
        CLIENTS[client](clients, "gpt-5.1", stream=False)
    assert raised.value.status_code == 502


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_an_error_the_backend_answers_whole_is_the_streams_error(
        clients: Clients, provider: FakeProvider, chunking: str, client: str) -> None:
    """A ``200`` whose JSON is an error (as some servers send one): the client's SDK raises it."""
    provider.answers_streams_whole = True
    provider.reply(error=(200, QUOTA_ERROR))
    with pytest.raises(STREAM_ERRORS, match="quota exceeded for this key"):
        CLIENTS[client](clients, "gpt-5.1", stream=True)


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_json_content_type_over_a_body_that_is_not_json_is_a_broken_answer(
        clients: Clients, provider: FakeProvider, chunking: str, client: str) -> None:
    provider.answers_streams_whole = True
    provider.reply(error=(200, b"<html>upstream proxy error</html>"))
    with pytest.raises(STREAM_ERRORS, match="not JSON"):
        CLIENTS[client](clients, "gpt-5.1", stream=True)
