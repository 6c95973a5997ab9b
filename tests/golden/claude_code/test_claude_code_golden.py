"""Real Claude Code 2.1.332 requests (captured as README.md says) through every translator that
accepts an Anthropic request, and through ``plan_call`` for the routes that do not translate.

The assertions are the properties that matter — where each system message stands, which roles
follow, which tools reach the backend, the clamps and the notes — not a byte-for-byte snapshot, so
a new capture of the same client passes unless the client's behaviour changed.

Each translator is one :class:`Direction`: its translate function, the backend's protocol and a
reader that turns the backend body into a protocol-neutral :class:`Conversation`. A new translator
from Anthropic (the OpenAI Responses one) is one more entry in :data:`DIRECTIONS`.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest
from request_shapes import assert_valid_openai_request

from shim.config import RouterConfig
from shim.plan import ANSWER_LOCALLY, FORWARD, ClientCall, plan_call
from shim.protocols import COUNT_TOKENS, MESSAGES, OPENAI
from shim.translate.context import RequestOptions, TranslatedRequest
from shim.translate.request_anthropic_to_openai import anthropic_request_to_openai
from shim.translate.system_placement import HOIST

HERE = Path(__file__).parent
MCP_WEATHER = "mcp__demo__get_weather"


def golden(name: str) -> Dict[str, Any]:
    record: Dict[str, Any] = json.loads((HERE / name).read_text())
    return record


def golden_body(name: str) -> Dict[str, Any]:
    body: Dict[str, Any] = golden(name)["body"]
    return body


# --- the translators, seen the same way ----------------------------------------------------------


@dataclass
class Conversation:
    """A translated request, protocol-neutral: one (role, text) per message or item, in order."""

    roles: List[str]  # "system", "user", "assistant", "tool"
    texts: List[str]  # each message's text ("" when it has none); tool calls are not text
    tool_calls: List[List[str]]  # per message: the names it calls
    tool_names: List[str]  # the backend's tool list
    max_output_tokens: Optional[int]
    reasoning_effort: Optional[str]
    user: Optional[str]


def _chat_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(part.get("text", "") for part in content or [] if part.get("type") == "text")


def chat_conversation(body: Dict[str, Any]) -> Conversation:
    messages = body["messages"]
    return Conversation(
        roles=[m["role"] for m in messages],
        texts=[_chat_text(m.get("content")) for m in messages],
        tool_calls=[[c["function"]["name"] for c in m.get("tool_calls", [])] for m in messages],
        tool_names=[t["function"]["name"] for t in body.get("tools", [])],
        max_output_tokens=body.get("max_tokens", body.get("max_completion_tokens")),
        reasoning_effort=body.get("reasoning_effort"),
        user=body.get("user"),
    )


@dataclass(frozen=True)
class Direction:
    name: str
    backend_protocol: str
    translate: Callable[[Dict[str, Any], RequestOptions], TranslatedRequest]
    conversation: Callable[[Dict[str, Any]], Conversation]
    check_shape: Callable[[Dict[str, Any]], None]  # the backend SDK's own request types


DIRECTIONS = [
    Direction("anthropic→openai-chat", OPENAI, anthropic_request_to_openai, chat_conversation,
              assert_valid_openai_request),
]


@pytest.fixture(params=DIRECTIONS, ids=lambda direction: direction.name)
def direction(request: pytest.FixtureRequest) -> Direction:
    chosen: Direction = request.param
    return chosen


def translate(direction: Direction, name: str, model: str = "gpt-4o", **options: Any) -> TranslatedRequest:
    result = direction.translate(golden_body(name), RequestOptions(model, max_output_tokens=16384, **options))
    direction.check_shape(result.body)
    text = json.dumps(result.body)
    for leaked in ("cache_control", "defer_loading", "context_management", "DeferredToolPlaceholder"):
        assert leaked not in text, f"{leaked} reached the backend"
    return result


def noted(result: TranslatedRequest, fragment: str) -> bool:
    return any(fragment in note for note in result.notes)


# --- the first request ----------------------------------------------------------------------------


def test_first_request_keeps_the_system_message_where_claude_code_put_it(direction: Direction) -> None:
    result = translate(direction, "first-request.json")
    talk = direction.conversation(result.body)
    assert talk.roles == ["system", "user", "system"]
    # the top-level system blocks, joined, client content untouched (billing line included)
    assert talk.texts[0].startswith("x-anthropic-billing-header: cc_version=2.1.332")
    assert "You are a Claude agent" in talk.texts[0]
    assert talk.texts[1].startswith("<system-reminder>") and talk.texts[1].endswith("say hi")
    assert talk.texts[2].startswith("# Environment")
    assert "Primary working directory: /home/user/project" in talk.texts[2]


def test_first_request_hoisted_for_a_backend_that_takes_one_leading_system_message(direction: Direction) -> None:
    talk = direction.conversation(translate(direction, "first-request.json", mid_conversation_system=HOIST).body)
    assert talk.roles == ["system", "user"]
    assert "You are a Claude agent" in talk.texts[0] and "# Environment" in talk.texts[0]
    assert talk.texts[0].index("You are a Claude agent") < talk.texts[0].index("# Environment")


def test_first_request_tools_leave_out_the_deferred_placeholder(direction: Direction) -> None:
    body = golden_body("first-request.json")
    result = translate(direction, "first-request.json")
    expected = [tool["name"] for tool in body["tools"] if not tool.get("defer_loading")]
    assert direction.conversation(result.body).tool_names == expected and "ToolSearch" in expected
    assert noted(result, "deferred tools out of the tool list")


def test_first_request_parameters(direction: Direction) -> None:
    result = translate(direction, "first-request.json")
    talk = direction.conversation(result.body)
    assert golden_body("first-request.json")["max_tokens"] == 128000
    assert talk.max_output_tokens == 16384 and noted(result, "clamped max_tokens 128000 to 16384")
    assert talk.reasoning_effort is None and noted(result, "not a known reasoning model")  # gpt-4o
    assert talk.user is not None and len(talk.user) == 64
    for fragment in ("context_management", "thinking.display", "cache_control", "metadata.user_id"):
        assert noted(result, fragment), fragment


def test_effort_reaches_a_reasoning_model(direction: Direction) -> None:
    talk = direction.conversation(translate(direction, "first-request.json", model="gpt-5.1").body)
    assert talk.reasoning_effort == "medium"  # output_config.effort


def test_one_user_across_requests_of_a_session(direction: Direction) -> None:
    users = {direction.conversation(translate(direction, name).body).user
             for name in ("first-request.json", "tool-reference.json", "tool-loop.json")}
    assert len(users) == 1


# --- tool search: a tool_reference in the history --------------------------------------------------


def test_tool_reference_loads_the_mcp_tool_and_is_told_as_text(direction: Direction) -> None:
    result = translate(direction, "tool-reference.json")
    talk = direction.conversation(result.body)
    assert talk.roles == ["system", "user", "system", "assistant", "tool", "user"]
    assert talk.tool_calls[3] == ["ToolSearch"]
    assert MCP_WEATHER in talk.texts[4] and "tool list" in talk.texts[4]
    assert talk.texts[5] == "Tool loaded."
    assert talk.tool_names[-1] == MCP_WEATHER and "DeferredToolPlaceholder" not in talk.tool_names


def test_tool_loop_follow_up_answers_each_call_in_order(direction: Direction) -> None:
    result = translate(direction, "tool-loop.json")
    talk = direction.conversation(result.body)
    assert talk.roles == ["system", "user", "system", "assistant", "tool", "user", "assistant", "tool"]
    assert [calls for calls in talk.tool_calls if calls] == [["ToolSearch"], [MCP_WEATHER]]
    assert talk.texts[-1] == "Sunny, 21 C in Paris"
    assert MCP_WEATHER in talk.tool_names


def test_tool_call_ids_pair_up_on_a_chat_backend() -> None:
    body = translate(DIRECTIONS[0], "tool-loop.json").body
    calls = [call["id"] for m in body["messages"] for call in m.get("tool_calls", [])]
    answers = [m["tool_call_id"] for m in body["messages"] if m["role"] == "tool"]
    assert calls == answers and len(calls) == 2


# --- routes that do not translate (plan_call) -------------------------------------------------------


CONFIG = RouterConfig.from_dict({
    "backends": {
        "anthropic": {"protocol": "anthropic", "base_url": "http://127.0.0.1:9", "api_key": "sk-ant-backend"},
        "openai": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-backend"},
    },
    "routes": [{"match": "claude-*", "backend": "anthropic"}],
    "aliases": {"via-openai": "openai:gpt-4o"},
})


def _plan(name: str, endpoint: str, model: Optional[str] = None) -> Any:
    record = golden(name)
    body = record["body"] if model is None else {**record["body"], "model": model}
    raw = json.dumps(body).encode()
    return plan_call(CONFIG, ClientCall(endpoint, record["headers"], raw), now=0.0, call_id="golden"), raw


@pytest.mark.parametrize("name", ["first-request.json", "tool-reference.json", "tool-loop.json"])
def test_same_protocol_route_forwards_the_body_and_betas_untouched(name: str) -> None:
    plan, raw = _plan(name, MESSAGES)
    assert plan.disposition == FORWARD and not plan.translated
    assert plan.upstream_body == raw  # every byte, the system message and tool references included
    assert plan.upstream_headers["anthropic-beta"] == golden(name)["headers"]["anthropic-beta"]
    assert plan.upstream_headers["x-api-key"] == "sk-ant-backend"


def test_translated_route_sends_no_anthropic_beta_and_no_client_session_header() -> None:
    plan, _ = _plan("first-request.json", MESSAGES, model="via-openai")
    assert plan.disposition == FORWARD and plan.translated
    assert not any(name.startswith(("anthropic-", "x-claude-code")) for name in plan.upstream_headers)
    assert json.loads(plan.upstream_body)["max_tokens"] == 16384  # gpt-4o's output limit, from the table


def test_count_tokens_is_answered_locally_for_an_openai_backend() -> None:
    plan, _ = _plan("count-tokens.json", COUNT_TOKENS, model="via-openai")
    assert plan.disposition == ANSWER_LOCALLY
    assert json.loads(plan.local_response.body)["input_tokens"] > 0


def test_count_tokens_is_forwarded_untouched_to_an_anthropic_backend() -> None:
    plan, raw = _plan("count-tokens.json", COUNT_TOKENS)
    assert plan.disposition == FORWARD and plan.upstream_body == raw
    assert plan.upstream_url == "http://127.0.0.1:9/v1/messages/count_tokens"
