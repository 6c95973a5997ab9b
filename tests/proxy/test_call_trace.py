"""The caller a shimmed child's aiohttp hand-off names (``CALLER_HEADER``): read strictly, since it
only labels a call and any local client could send anything."""

import json
from typing import Optional

import pytest

from host.proxy.call_trace import Caller, CallTrace
from shim.config import RouterConfig
from shim.plan import ClientCall, plan_call


def test_a_well_formed_caller_is_read() -> None:
    caller = Caller.from_header(json.dumps({"pid": 41, "ppid": 7, "program": "/srv/agent.py"}))
    assert caller == Caller(41, 7, "/srv/agent.py")


@pytest.mark.parametrize(
    "value",
    [None, "", "not json", "[]", json.dumps({"pid": "41", "ppid": 7, "program": "x"}),
     json.dumps({"pid": 41, "ppid": 7}), json.dumps({"pid": True, "ppid": 7, "program": "x"}),
     json.dumps({"pid": 41, "ppid": 7, "program": 5})],
)
def test_anything_else_is_no_caller(value: Optional[str]) -> None:
    assert Caller.from_header(value) is None


def test_the_event_of_a_handed_over_call_is_the_callers() -> None:
    config = RouterConfig.from_dict({"backends": {"openai": {"protocol": "openai", "base_url": "http://b/v1"}}})
    trace = CallTrace.begin("POST", "/v1/chat/completions", "chat")
    trace.plan = plan_call(config, ClientCall("chat", {}, b'{"model":"gpt-4o","messages":[]}'), now=0, call_id="i")
    assert trace.event(trace.started).source == "proxy"
    trace.caller = Caller(41, 7, "/srv/agent.py")
    event = trace.event(trace.started)
    assert (event.source, event.pid, event.ppid, event.program) == ("shim", 41, 7, "/srv/agent.py")
