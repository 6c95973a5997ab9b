"""How fast is the engine? Median time per plan, per translation, per stream event.

Run: ``python bench/engine.py [--runs N]``. Prints one table. Every figure is a median over many
runs of one operation on the data a real call carries: a ~2 KB request with tools and a tool-loop
history, a ~1 KB response, and a 200-event stream. A baseline measured in the same run — a bare
``json.loads`` + ``json.dumps`` of the same request, the least any JSON router must do — puts the
numbers in proportion on a noisy machine.

Targets (2-core machine): same-protocol plan ≤ 30 µs; request + response
translation ≤ 200 µs each way; ≤ 10 µs per stream event.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shim.config import RouterConfig
from shim.plan import ClientCall, plan_call
from shim.sse import encode_event

CONFIG = RouterConfig.from_dict(
    {
        "backends": {
            "anthropic": {"protocol": "anthropic", "base_url": "https://api.anthropic.com", "api_key": "sk-ant"},
            "openai": {"protocol": "openai", "base_url": "https://api.openai.com/v1", "api_key": "sk-oai"},
        }
    }
)

TOOLS_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name, e.g. Paris"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
    },
    "required": ["city"],
}
SYSTEM = "You are a careful assistant for a travel agency. Answer briefly. " * 4
USER_TEXT = "What will the weather be like in Paris and in Rome for the next three days? " * 3


def openai_request() -> Dict[str, object]:
    tools = [
        {
            "type": "function",
            "function": {"name": f"tool_{i}", "description": "Look up a forecast.", "parameters": TOOLS_SCHEMA},
        }
        for i in range(3)
    ]
    return {
        "model": "MODEL",
        "max_tokens": 1024,
        "tools": tools,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": USER_TEXT},
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "tool_0", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 C, light wind from the west."},
            {"role": "user", "content": "And Rome?"},
        ],
    }


def anthropic_request() -> Dict[str, object]:
    tools = [
        {"name": f"tool_{i}", "description": "Look up a forecast.", "input_schema": TOOLS_SCHEMA} for i in range(3)
    ]
    return {
        "model": "MODEL",
        "max_tokens": 1024,
        "system": SYSTEM,
        "tools": tools,
        "messages": [
            {"role": "user", "content": USER_TEXT},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_1", "name": "tool_0", "input": {"city": "Paris"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": "Sunny, 21 C, light wind from the west.",
                    },
                    {"type": "text", "text": "And Rome?"},
                ],
            },
        ],
    }


ANSWER = "Rome will be warm and mostly sunny, with a chance of showers on the third day. " * 6


def anthropic_response() -> bytes:
    return json.dumps(
        {
            "id": "msg_01XYZ",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-6",
            "content": [
                {"type": "text", "text": ANSWER},
                {"type": "tool_use", "id": "toolu_2", "name": "tool_0", "input": {"city": "Rome", "days": 3}},
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 420,
                "output_tokens": 120,
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 0,
            },
        }
    ).encode()


def openai_response() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-XYZ",
            "object": "chat.completion",
            "created": 1700000000,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": ANSWER,
                        "tool_calls": [
                            {
                                "id": "call_2",
                                "type": "function",
                                "function": {"name": "tool_0", "arguments": '{"city": "Rome", "days": 3}'},
                            }
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 420, "completion_tokens": 120, "total_tokens": 540},
        }
    ).encode()


WORDS = [f" word{i}" for i in range(198)]


def anthropic_stream() -> List[bytes]:
    """200 events: message_start, block start, 195 text deltas, block stop, message_delta, message_stop."""
    events = [
        encode_event(
            json.dumps(
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_1",
                        "type": "message",
                        "role": "assistant",
                        "model": "claude-sonnet-4-6",
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": 420, "output_tokens": 1},
                    },
                }
            ),
            "message_start",
        ),
        encode_event(
            json.dumps({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            "content_block_start",
        ),
    ]
    events += [
        encode_event(
            json.dumps({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}}),
            "content_block_delta",
        )
        for w in WORDS[:195]
    ]
    events += [
        encode_event(json.dumps({"type": "content_block_stop", "index": 0}), "content_block_stop"),
        encode_event(
            json.dumps(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": 195},
                }
            ),
            "message_delta",
        ),
        encode_event(json.dumps({"type": "message_stop"}), "message_stop"),
    ]
    return events


def openai_stream() -> List[bytes]:
    """200 events: role chunk, 196 content deltas, finish chunk, usage chunk, [DONE]."""

    def chunk(delta: Dict[str, object], finish: object = None) -> bytes:
        body = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "gpt-4o",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            "usage": None,
        }
        return encode_event(json.dumps(body))

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": w}) for w in WORDS[:196]]
    events.append(chunk({}, "stop"))
    usage = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o",
        "choices": [],
        "usage": {"prompt_tokens": 420, "completion_tokens": 196, "total_tokens": 616},
    }
    events.append(encode_event(json.dumps(usage)))
    events.append(b"data: [DONE]\n\n")
    return events


def median_us(operation: Callable[[], object], runs: int) -> float:
    for _ in range(min(200, runs)):  # warm-up
        operation()
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        operation()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000


def call(endpoint: str, body: Dict[str, object], model: str) -> ClientCall:
    return ClientCall(
        endpoint,
        {"authorization": "Bearer router", "content-type": "application/json"},
        json.dumps({**body, "model": model}).encode(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000)
    runs = parser.parse_args().runs

    oa_call = call("chat", openai_request(), "gpt-4o")
    aa_call = call("messages", anthropic_request(), "claude-sonnet-4-6")
    o2a_call = call("chat", openai_request(), "claude-sonnet-4-6")
    a2o_call = call("messages", anthropic_request(), "gpt-4o")
    renamed = call("chat", openai_request(), "openai:gpt-4o")  # same protocol, model field rewritten

    def plan(c: ClientCall):  # type: ignore[no-untyped-def]
        return plan_call(CONFIG, c, now=1700000000.0, call_id="bench")

    o2a_plan, a2o_plan = plan(o2a_call), plan(a2o_call)
    anth_resp, oai_resp = anthropic_response(), openai_response()
    anth_events, oai_events = anthropic_stream(), openai_stream()

    def stream_per_event(p, events: List[bytes]) -> Callable[[], object]:  # type: ignore[no-untyped-def]
        def run() -> None:
            translator = p.stream_translator()
            for event in events:
                translator.feed(event)
            translator.close()

        return run

    rows = [
        (
            "baseline: json.loads + json.dumps of the request",
            median_us(lambda: json.dumps(json.loads(oa_call.body)), runs),
            None,
        ),
        ("same-protocol plan (model unchanged)", median_us(lambda: plan(oa_call), runs), 30),
        ("same-protocol plan (model rewritten)", median_us(lambda: plan(renamed), runs), 30),
        (
            "OpenAI client → Anthropic backend: plan + response",
            median_us(lambda: plan(o2a_call).translate_response(200, {}, anth_resp), runs),
            200,
        ),
        (
            "Anthropic client → OpenAI backend: plan + response",
            median_us(lambda: plan(a2o_call).translate_response(200, {}, oai_resp), runs),
            200,
        ),
        (
            "Anthropic → OpenAI stream, per event (200 events)",
            median_us(stream_per_event(o2a_plan, anth_events), max(50, runs // 20)) / len(anth_events),
            10,
        ),
        (
            "OpenAI → Anthropic stream, per event (200 events)",
            median_us(stream_per_event(a2o_plan, oai_events), max(50, runs // 20)) / len(oai_events),
            10,
        ),
        (
            "same-protocol stream scan, per event (200 events)",
            median_us(stream_per_event(plan(oa_call), oai_events), max(50, runs // 20)) / len(oai_events),
            10,
        ),
    ]
    print(
        f"request {len(oa_call.body)} B (OpenAI) / {len(aa_call.body)} B (Anthropic); "
        f"response {len(anth_resp)} B; Python {sys.version.split()[0]}"
    )
    print(f"{'operation':58} {'median µs':>10} {'target':>8}")
    for name, value, target in rows:
        verdict = "" if target is None else ("ok" if value <= target else "MISSED")
        print(f"{name:58} {value:10.2f} {('≤ ' + str(target)) if target else '':>8} {verdict}")


if __name__ == "__main__":
    main()
