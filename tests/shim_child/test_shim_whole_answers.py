"""A backend that answers a streaming call with one whole JSON body, under ``router shim``
(docs/protocol-rules.md#whole-answers-to-streams): the official SDKs, in-process and pointed nowhere
special, read the stream the shim writes of it as they read the same answer asked for whole, and
the call's event has its usage. Before, a same-protocol call got an empty stream and no error.

The configuration adds a backend that serves Responses (``native``) to the usual three."""

from typing import Any, Dict, Iterator

import anthropic
import openai
import pytest
from fakes import FakeProvider
from shim_child_support import PLACEHOLDER_KEY, ShimSession, snapshot_config
from whole_answer_clients import (
    CLIENTS,
    MODELS,
    QUOTA_ERROR,
    REPLY,
    STREAM_ERRORS,
    Clients,
    assert_the_form_not_asked_for_says_what_the_whole_answer_says,
)


@pytest.fixture
def shim_config(provider: FakeProvider) -> Dict[str, Any]:
    """conftest.py's, with the ``native`` backend."""
    config = snapshot_config(provider.root_url)
    config["backends"]["native"] = {"protocol": "openai", "base_url": provider.root_url.rstrip("/") + "/v1",
                                    "models": ["native-*"], "responses_api": True}
    return config


@pytest.fixture
def clients(shim: ShimSession) -> Iterator[Clients]:
    with openai.OpenAI(api_key=PLACEHOLDER_KEY, max_retries=0, timeout=10) as oai, \
            anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0, timeout=10) as ant:
        yield Clients(oai, ant)


@pytest.mark.parametrize("model", sorted(MODELS), ids=lambda model: MODELS[model])
@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_stream_answered_whole_says_what_the_whole_answer_says(
        shim: ShimSession, clients: Clients, chunking: str, client: str, model: str) -> None:
    assert_the_form_not_asked_for_says_what_the_whole_answer_says(shim.provider, clients, client, model, stream=True)
    [event] = shim.telemetry.wait_for(lambda event: "kind" not in event and event["stream"] is True)
    assert (event["status"], event["error"], event["output_tokens"]) == (200, None, REPLY["usage"].output)


@pytest.mark.parametrize("model", sorted(MODELS), ids=lambda model: MODELS[model])
@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_whole_call_answered_as_a_stream_says_what_the_whole_answer_says(
        shim: ShimSession, clients: Clients, chunking: str, client: str, model: str) -> None:
    """The other way round (docs/protocol-rules.md#streams-to-whole-answers): a server that streams
    whatever was asked. Before, the same-protocol program got the stream's bytes as its JSON body."""
    assert_the_form_not_asked_for_says_what_the_whole_answer_says(shim.provider, clients, client, model, stream=False)
    events = shim.telemetry.wait_for(lambda event: "kind" not in event)
    if len(events) < 2:  # the second call's event may still be on its way
        events += shim.telemetry.wait_for(lambda event: "kind" not in event)
    outcomes = [(event["stream"], event["status"], event["error"], event["output_tokens"]) for event in events]
    assert outcomes == [(False, 200, None, REPLY["usage"].output)] * 2  # as asked, and answered as a stream


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_an_error_the_backend_answers_whole_is_the_streams_error(
        shim: ShimSession, clients: Clients, chunking: str, client: str) -> None:
    shim.provider.answers_streams_whole = True
    shim.provider.reply(error=(200, QUOTA_ERROR))
    with pytest.raises(STREAM_ERRORS, match="quota exceeded for this key"):
        CLIENTS[client](clients, "gpt-5.1", stream=True)
