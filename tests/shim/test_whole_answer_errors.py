"""A 2xx whole answer whose body is the backend's error (docs/routing.md#errors-an-answer-is): on a
route that can fall back, the engine raises it as the attempt's failure, passed on as it came or
translated; a lone route passes a same-protocol body on untouched. Every client protocol from every
upstream format; the drivers' side is in proxy/test_fallbacks.py and shim_child/test_shim_fallbacks.py."""

import json
from typing import Any, Dict

import pytest
from fakes import Reply
from test_stream_opening import PAIRS, plan_for

from host.demo.wire_anthropic import AnthropicWire
from host.demo.wire_openai import OpenAIWire
from host.demo.wire_responses import ResponsesWire
from shim.errors import UpstreamError
from shim.plan import Plan
from shim.protocols import MESSAGES, RESPONSES

JSON_HEADERS = {"content-type": "application/json"}


def whole_plan(endpoint: str, backend: str, *, fallback: bool) -> Plan:
    return plan_for(endpoint, backend, fallback=fallback, stream=False)


def upstream_body(plan: Plan, reply: Reply) -> bytes:
    """What the plan's backend answers whole for ``reply``, in its own format."""
    endpoint, model = plan.upstream_endpoint, plan.route.upstream_model if plan.route else "m"
    wire_body: Dict[str, Any]
    if endpoint == MESSAGES:
        wire_body = AnthropicWire(reply, model, 1).body()
    elif endpoint == RESPONSES:
        wire_body = ResponsesWire(reply, model, 1, json.loads(plan.upstream_body)).body()
    else:
        wire_body = OpenAIWire(reply, model, 1).body()
    return json.dumps(wire_body).encode()


@pytest.mark.parametrize(("status", "kind"), [(529, "overloaded"), (429, "rate_limit"), (400, "invalid_request")])
@pytest.mark.parametrize(("endpoint", "backend"), PAIRS)
def test_on_a_route_that_can_fall_back_an_error_answer_is_raised(
    endpoint: str, backend: str, status: int, kind: str
) -> None:
    plan = whole_plan(endpoint, backend, fallback=True)
    with pytest.raises(UpstreamError) as caught:
        plan.translate_response_with_usage(200, JSON_HEADERS, upstream_body(plan, Reply(opening_error=status)))
    # a failed Response names no status: an overload is a server error (api_error), which falls back too
    assert caught.value.kind_name == ("api_error" if plan.upstream_endpoint == RESPONSES and status == 529 else kind)


@pytest.mark.parametrize("usage", [{"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3}, None])
@pytest.mark.parametrize(("endpoint", "backend"), PAIRS)
def test_an_error_answer_whose_usage_closes_it_is_still_an_error(endpoint: str, backend: str, usage: Any) -> None:
    """A usage at the end proves a body is a whole answer's, not that it is no error: a gateway's
    error may carry what the attempt used, a failed Response ends with ``"usage": null``."""
    plan = whole_plan(endpoint, backend, fallback=True)
    parsed = json.loads(upstream_body(plan, Reply(opening_error=503)))
    parsed.pop("usage", None)
    body = json.dumps({**parsed, "usage": usage}).encode()
    with pytest.raises(UpstreamError):
        plan.translate_response_with_usage(200, JSON_HEADERS, body)


@pytest.mark.parametrize(("endpoint", "backend"), PAIRS)
def test_a_success_that_says_error_is_a_success(endpoint: str, backend: str) -> None:
    """"error" as a text, an empty member, or a choice's finish reason (OpenRouter's) makes no error."""
    plan = whole_plan(endpoint, backend, fallback=True)
    parsed = json.loads(upstream_body(plan, Reply(text='He said "error" twice.')))
    body = json.dumps({"error": None, **parsed, "finish": "error"}).encode()
    answer, usage = plan.translate_response_with_usage(200, JSON_HEADERS, body)
    assert answer.status == 200 and usage is not None and b"twice" in answer.body


@pytest.mark.parametrize(("endpoint", "backend"), PAIRS)
def test_on_a_lone_route_a_same_protocol_error_answer_passes_as_it_came(endpoint: str, backend: str) -> None:
    plan = whole_plan(endpoint, backend, fallback=False)
    body = upstream_body(plan, Reply(opening_error=529))
    if plan.translated:  # the translators raise the backend's error, as they always did
        with pytest.raises(UpstreamError):
            plan.translate_response_with_usage(200, JSON_HEADERS, body)
        return
    answer, usage = plan.translate_response_with_usage(200, JSON_HEADERS, body)
    assert (answer.status, answer.body, usage) == (200, body, None)


@pytest.mark.parametrize("usage_last", [True, False], ids=["usage-at-the-end", "usage-elsewhere"])
@pytest.mark.parametrize(("endpoint", "backend"), PAIRS)
def test_on_a_route_that_can_fall_back_a_success_keeps_its_usage(endpoint: str, backend: str,
                                                                  usage_last: bool) -> None:
    """The check costs a success nothing it did not pay: its usage is read, at the end or parsed."""
    plan = whole_plan(endpoint, backend, fallback=True)
    parsed = json.loads(upstream_body(plan, Reply(text="Oslo is sunny.")))
    usage = parsed.pop("usage")
    body = json.dumps({**parsed, "usage": usage} if usage_last else {"usage": usage, **parsed}).encode()
    answer, read = plan.translate_response_with_usage(200, JSON_HEADERS, body)
    assert answer.status == 200 and read is not None and read.input_tokens > 0
