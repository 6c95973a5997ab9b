"""Plan.for_target (shim/plan.py) and CallAttempts (shim/attempts.py): a call planned for each
target of its chain is exactly the call planned for that target alone, from one parse of the body."""

import copy
import json
import random
from pathlib import Path
from typing import Any, Dict, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import ANTHROPIC_REQUESTS, OPENAI_REQUESTS, mutated

from shim import plan as plan_module
from shim.attempts import CallAttempts, Finish, Send
from shim.config import RouterConfig
from shim.cooldown import CooldownBook
from shim.fallback_policy import CooldownPolicy
from shim.plan import ANSWER_LOCALLY, FORWARD, REFUSED, ClientCall, Plan, plan_call
from shim.protocols import CHAT, COUNT_TOKENS, EMBEDDINGS, MESSAGES, RESPONSES

BACKENDS = {
    "anthropic": {"protocol": "anthropic", "base_url": "https://api.anthropic.com", "api_key": "sk-ant"},
    "openai": {"protocol": "openai", "base_url": "https://api.openai.com/v1", "api_key": "sk-oai",
               "responses_api": True},
    "local": {"protocol": "openai", "base_url": "http://127.0.0.1:8000/v1", "max_tokens_field": "max_tokens"},
}
TARGETS = ["anthropic", "openai:gpt-5.1", "local:qwen3"]
CHAIN = RouterConfig.from_dict({"backends": BACKENDS, "routes": [{"match": "m*", "backend": TARGETS}]})
GOLDEN = Path(__file__).parent.parent / "golden" / "claude_code"


def alone(target: str) -> RouterConfig:
    """The same configuration with a route naming only ``target``."""
    return RouterConfig.from_dict({"backends": BACKENDS, "routes": [{"match": "m*", "backend": target}]})


def essence(plan: Plan) -> Dict[str, Any]:
    """What a driver sends and how it answers, for comparing two plans."""
    route = plan.route
    return {
        "disposition": plan.disposition, "url": plan.upstream_url, "headers": plan.upstream_headers,
        "body": plan.upstream_body, "translated": plan.translated, "endpoint": plan.upstream_endpoint,
        "backend": route.backend.name if route else None, "model": route.upstream_model if route else None,
        "refusal": repr(plan.refusal), "local": plan.local_response, "notes": plan.notes,
    }


def check_every_target(endpoint: str, body: Dict[str, Any]) -> None:
    call = ClientCall(endpoint, {"authorization": "Bearer client", "x-claude-code-session-id": "s"},
                      json.dumps(body).encode())
    plan = plan_call(CHAIN, call, now=1.0, call_id="c1")
    if plan.route is None:
        return
    source = plan._source
    assert source is not None
    parsed = copy.deepcopy(source.body)
    # every target, in an order that is not the chain's: a plan never depends on the ones before it
    for index in (2, 0, 1, 2, 0):
        target = plan.route.targets[index]
        retargeted = plan.for_target(target)
        fresh = plan_call(alone(TARGETS[index]), call, now=1.0, call_id="c1")
        assert essence(retargeted) == essence(fresh), TARGETS[index]
    assert source.body == parsed  # planning for one target never changed the parsed body


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_for_target_is_planning_for_that_target_alone(data: st.DataObject) -> None:
    endpoint, bases = data.draw(st.sampled_from([(CHAT, OPENAI_REQUESTS), (MESSAGES, ANTHROPIC_REQUESTS),
                                                 (COUNT_TOKENS, ANTHROPIC_REQUESTS), (EMBEDDINGS, OPENAI_REQUESTS)]))
    body = data.draw(mutated(data.draw(st.sampled_from(bases)), rate=12))
    if isinstance(body, dict):
        check_every_target(endpoint, {**body, "model": "m-1"})


@pytest.mark.parametrize("name", ["first-request.json", "tool-loop.json", "tool-reference.json"])
def test_claude_codes_requests_plan_for_every_target(name: str) -> None:
    body = json.loads((GOLDEN / name).read_text())["body"]
    check_every_target(MESSAGES, {**body, "model": "m-claude"})


def test_responses_requests_plan_for_every_target() -> None:
    check_every_target(RESPONSES, {"model": "m", "input": "hi", "instructions": "be brief", "stream": True})


def test_the_body_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    parses: List[bytes] = []
    original = plan_module.parse_json_object
    monkeypatch.setattr(plan_module, "parse_json_object", lambda raw: parses.append(raw) or original(raw))
    call = ClientCall(CHAT, {}, json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode())
    plan = plan_call(CHAIN, call, now=1.0, call_id="c")
    for target in plan.route.targets:  # type: ignore[union-attr]
        plan.for_target(target)
    assert len(parses) == 1


def test_a_single_target_route_keeps_nothing_for_other_targets() -> None:
    call = ClientCall(CHAT, {}, json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode())
    plan = plan_call(alone("openai"), call, now=1.0, call_id="c")
    assert plan._source is None and plan.conversation() is None
    assert plan.for_target(plan.route.targets[0]) is plan  # type: ignore[union-attr]


# CallAttempts: the steps a driver sees -------------------------------------------------------------


def attempts_for(body: Dict[str, Any], endpoint: str = CHAT, chain: Any = TARGETS) -> CallAttempts:
    config = RouterConfig.from_dict({"backends": BACKENDS, "routes": [{"match": "m*", "backend": chain,
                                                                       "fallback": {"retries": 0}}]})
    plan = plan_call(config, ClientCall(endpoint, {}, json.dumps(body).encode()), now=1.0, call_id="c")
    return CallAttempts(plan, CooldownBook(CooldownPolicy()), random.Random(3))


CHAT_BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_each_send_carries_its_targets_plan() -> None:
    attempts = attempts_for(CHAT_BODY)
    step = attempts.start(0.0)
    urls = []
    while isinstance(step, Send):
        urls.append(step.plan.upstream_url)
        attempts.sending(0.0)
        step = attempts.answered(503, {}, now=0.0, wall_now=0.0)
    assert urls == ["https://api.anthropic.com/v1/messages", "https://api.openai.com/v1/chat/completions",
                    "http://127.0.0.1:8000/v1/chat/completions"]
    assert isinstance(step, Finish) and step.exhausted and step.answer is None
    assert step.plan.route.backend.name == "local"  # type: ignore[union-attr]
    assert [a["backend"] for a in attempts.attempts() or []] == ["anthropic", "openai", "local"]
    assert attempts.fallbacks == 2


def test_a_target_that_cannot_take_the_request_is_skipped() -> None:
    # n=2 has no Anthropic counterpart: the Anthropic target is refused, the OpenAI one takes it
    attempts = attempts_for({**CHAT_BODY, "n": 2})
    step = attempts.start(0.0)
    assert isinstance(step, Send) and step.plan.route.backend.name == "openai"  # type: ignore[union-attr]
    assert attempts.session.records[0].failure == "UnsupportedFeatureError"


def test_when_no_target_can_take_it_the_refusal_is_the_answer() -> None:
    attempts = attempts_for({**CHAT_BODY, "n": 2}, chain=["anthropic", "anthropic:claude-b"])
    step = attempts.start(0.0)
    assert isinstance(step, Finish) and step.answer is not None and step.answer.status == 400
    assert not step.exhausted and step.plan.disposition == REFUSED


def test_a_local_answer_on_the_way_is_the_answer() -> None:
    attempts = attempts_for({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, endpoint=COUNT_TOKENS,
                            chain=["openai", "anthropic"])
    step = attempts.start(0.0)
    assert isinstance(step, Finish) and step.plan.disposition == ANSWER_LOCALLY
    assert step.answer is not None and json.loads(step.answer.body)["input_tokens"] > 0
    attempts.committed()
    attempts.close()


def test_committed_lets_the_parsed_body_go() -> None:
    attempts = attempts_for(CHAT_BODY)
    step = attempts.start(0.0)
    assert isinstance(step, Send) and step.plan.disposition == FORWARD
    attempts.sending(0.0)
    finish = attempts.answered(200, {}, now=0.0, wall_now=0.0)
    assert isinstance(finish, Finish) and not finish.exhausted
    attempts.committed()
    assert finish.plan._source is None
    attempts.close()
