"""How fast is the engine? Time per plan, per translation, per stream event: p50 and p99.

Run: ``python bench/engine.py [--runs N]``. Prints one table. Every figure is over many runs of one
operation on the data a real call carries: a ~2 KB request with tools and a tool-loop history
(a Codex-shaped one, with a namespace group and a custom tool, for Responses clients), a ~1 KB
response, and a 200-event stream. A baseline measured in the same run — a bare ``json.loads`` +
``json.dumps`` of the same request, the least any JSON router must do — puts the numbers in
proportion on a noisy machine.

Targets (2-core machine): same-format plan ≤ 30 µs; plan + response translation ≤ 200 µs each
way; ≤ 10 µs per stream event — for the Responses routes composed through the Chat hub too.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shim.config import RouterConfig
from shim.plan import ClientCall, plan_call
from shim.sse import encode_event

CONFIG = RouterConfig.from_dict(
    {
        "backends": {
            "anthropic": {"protocol": "anthropic", "base_url": "https://api.anthropic.com", "api_key": "sk-ant"},
            "openai": {"protocol": "openai", "base_url": "https://api.openai.com/v1", "api_key": "sk-oai",
                       "responses_api": True, "responses_only_models": ["*-pro", "*codex*"]},
            "groq": {"protocol": "openai", "base_url": "https://api.groq.com/openai/v1", "api_key": "gsk",
                     "models": ["llama-*"]},
        },
        # Routes that can fall back: their streams' openings are held until the first content
        # (docs/routing.md#errors-a-stream-opens-with), a cost measured beside the lone routes'.
        "routes": [
            {"match": "chain-gpt", "backend": ["openai:gpt-4o", "groq:llama-3.3-70b"]},
            {"match": "chain-claude", "backend": ["anthropic:claude-sonnet-4-6", "openai:gpt-4o"]},
        ],
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


def responses_request() -> Dict[str, object]:
    """What Codex sends (docs/responses-api.md#tools): instructions, developer and user items, a
    function call and its output from the previous turn, a namespace group and a custom tool."""
    function = {"type": "function", "description": "Look up a forecast.", "parameters": TOOLS_SCHEMA, "strict": False}
    return {
        "model": "MODEL",
        "instructions": SYSTEM,
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Sandbox: on."}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": USER_TEXT}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me check."}]},
            {"type": "function_call", "call_id": "call_1", "name": "tool_0", "arguments": '{"city": "Paris"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "Sunny, 21 C, light wind from the west."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "And Rome?"}]},
        ],
        "tools": [
            {**function, "name": "tool_0"},
            {"type": "namespace", "name": "mcp__weather", "description": "Weather server",
             "tools": [{**function, "name": "tool_1"}, {**function, "name": "tool_2"}]},
            {"type": "custom", "name": "apply_patch", "description": "Edit files"},
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "thread-1",
    }


def responses_response() -> bytes:
    return json.dumps(
        {
            "id": "resp_XYZ", "object": "response", "created_at": 1700000000, "status": "completed",
            "error": None, "incomplete_details": None, "model": "gpt-5-pro", "parallel_tool_calls": True,
            "tool_choice": "auto", "tools": [],
            "output": [
                {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": ANSWER, "annotations": []}]},
                {"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "call_2",
                 "name": "tool_0", "arguments": '{"city": "Rome", "days": 3}'},
            ],
            "usage": {"input_tokens": 420, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                      "output_tokens": 120, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 540},
        }
    ).encode()


def responses_stream() -> List[bytes]:
    """200 events: created, in_progress, item and part added, 193 text deltas, text/part/item done,
    completed."""
    item = {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    head = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    response = {"id": "resp_1", "object": "response", "created_at": 1700000000, "status": "in_progress",
                "model": "gpt-5-pro", "output": [], "tools": [], "tool_choice": "auto", "parallel_tool_calls": True,
                "usage": None, "error": None}
    text = "".join(WORDS[:193])
    part = {"type": "output_text", "text": text, "annotations": []}
    done = {**item, "status": "completed", "content": [part]}
    usage = {"input_tokens": 420, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 193,
             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 613}
    events = [
        ("response.created", {"response": response}),
        ("response.in_progress", {"response": response}),
        ("response.output_item.added", {"output_index": 0, "item": item}),
        ("response.content_part.added", {**head, "part": {**part, "text": ""}}),
        *[("response.output_text.delta", {**head, "delta": w, "logprobs": []}) for w in WORDS[:193]],
        ("response.output_text.done", {**head, "text": text, "logprobs": []}),
        ("response.content_part.done", {**head, "part": part}),
        ("response.output_item.done", {"output_index": 0, "item": done}),
        ("response.completed", {"response": {**response, "status": "completed", "output": [done], "usage": usage}}),
    ]
    return [encode_event(json.dumps({"type": kind, "sequence_number": n, **fields}), kind)
            for n, (kind, fields) in enumerate(events)]


def percentiles_us(operation: Callable[[], object], runs: int) -> Tuple[float, float]:
    """(p50, p99) in microseconds."""
    for _ in range(min(200, runs)):  # warm-up
        operation()
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        operation()
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    return statistics.median(samples) / 1000, samples[min(len(samples) - 1, int(len(samples) * 0.99))] / 1000


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
    rr_call = call("responses", responses_request(), "gpt-5.1")
    calls = {
        "o2a": call("chat", openai_request(), "claude-sonnet-4-6"),
        "a2o": call("messages", anthropic_request(), "gpt-4o"),
        "r2c": call("responses", responses_request(), "llama-3.3-70b"),
        "r2a": call("responses", responses_request(), "claude-sonnet-4-6"),
        "c2r": call("chat", openai_request(), "gpt-5-pro"),
        "a2r": call("messages", anthropic_request(), "gpt-5.1-codex"),
    }
    renamed = call("chat", openai_request(), "openai:gpt-4o")  # same protocol, model field rewritten

    def plan(c: ClientCall):  # type: ignore[no-untyped-def]
        return plan_call(CONFIG, c, now=1700000000.0, call_id="bench")

    answers = {"anthropic": anthropic_response(), "openai": openai_response(), "responses": responses_response()}
    streams = {"anthropic": anthropic_stream(), "openai": openai_stream(), "responses": responses_stream()}
    # route → (what the backend answers in, title)
    routes = {
        "o2a": ("anthropic", "OpenAI client → Anthropic backend"),
        "a2o": ("openai", "Anthropic client → OpenAI backend"),
        "r2c": ("openai", "Responses client → Chat backend"),
        "r2a": ("anthropic", "Responses client → Anthropic (composed)"),
        "c2r": ("responses", "Chat client → Responses-only model"),
        "a2r": ("responses", "Anthropic client → Responses-only (composed)"),
    }

    def stream_run(p, events: List[bytes]) -> Callable[[], object]:  # type: ignore[no-untyped-def]
        def run() -> None:
            translator = p.stream_translator({"content-type": "text/event-stream"})
            for event in events:
                translator.feed(event)
            translator.close()

        return run

    stream_runs = max(50, runs // 20)
    rows: List[Tuple[str, Tuple[float, float], Optional[int]]] = [
        ("baseline: json.loads + json.dumps of the request", percentiles_us(
            lambda: json.dumps(json.loads(oa_call.body)), runs), None),
        ("same-protocol plan (model unchanged)", percentiles_us(lambda: plan(oa_call), runs), 30),
        ("same-protocol plan (model rewritten)", percentiles_us(lambda: plan(renamed), runs), 30),
        ("Responses client → Responses backend: plan", percentiles_us(lambda: plan(rr_call), runs), 30),
    ]
    for key, (answer, title) in routes.items():
        body = answers[answer]
        rows.append((f"{title}: plan + response", percentiles_us(
            lambda c=calls[key], b=body: plan(c).translate_response(200, {}, b), runs), 200))
    for key, (answer, title) in routes.items():
        events = streams[answer]
        p50, p99 = percentiles_us(stream_run(plan(calls[key]), events), stream_runs)
        rows.append((f"{title}: stream, per event", (p50 / len(events), p99 / len(events)), 10))
    for name, c, fmt in (("same-protocol", oa_call, "openai"), ("Responses pass-through", rr_call, "responses"),
                         ("same-protocol (fallback route)", call("chat", openai_request(), "chain-gpt"), "openai")):
        events = streams[fmt]
        p50, p99 = percentiles_us(stream_run(plan(c), events), stream_runs)
        rows.append((f"{name} stream scan, per event", (p50 / len(events), p99 / len(events)), 10))
    chained = call("chat", openai_request(), "chain-claude")
    p50, p99 = percentiles_us(stream_run(plan(chained), streams["anthropic"]), stream_runs)
    rows.append(("OpenAI client → Anthropic backend (fallback route): stream, per event",
                 (p50 / len(streams["anthropic"]), p99 / len(streams["anthropic"])), 10))
    print(
        f"request {len(oa_call.body)} B (OpenAI) / {len(aa_call.body)} B (Anthropic) / {len(rr_call.body)} B "
        f"(Responses); response {len(answers['anthropic'])} B; streams of 200 events; Python {sys.version.split()[0]}"
    )
    print(f"{'operation':70} {'p50 µs':>9} {'p99 µs':>9} {'target':>8}")
    for name, (p50, p99), target in rows:
        verdict = "" if target is None else ("ok" if p50 <= target else "MISSED")
        print(f"{name:70} {p50:9.2f} {p99:9.2f} {('≤ ' + str(target)) if target else '':>8} {verdict}")


if __name__ == "__main__":
    main()
