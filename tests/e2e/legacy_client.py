"""Make one SDK call with the PREVIOUS SDK majors (openai 2.x, anthropic 0.x) and print the result.

Standalone on purpose: it runs under another interpreter (the pinned ``legacy`` environment of
``tests/pinned_envs.py``) that has the old SDKs and none of this project, so it imports nothing from it.

A scenario is a JSON object::

    {"sdk": "openai" | "anthropic", "base_url": "http://127.0.0.1:PORT[/v1]",
     "call": "create" | "create_stream" | "stream_helper" | "count_tokens"
             | "responses_create" | "responses_create_stream" | "responses_stream_helper", "params": {...}}

Usage: ``python legacy_client.py '<scenario json>'`` (or the scenario on stdin) prints one JSON
result; ``python legacy_client.py --serve`` reads one scenario per stdin line and answers each
with one result line (so a test session pays the SDK import cost once). A result is
``{"ok": true, "versions": {...}, "result": ...}`` or ``{"ok": false, "error_class": ...,
"status": ..., "body": ...}``. Clients validate strictly, never retry, and use the placeholder key.
"""

import json
import sys
import traceback
from typing import Any, Callable, Dict

import anthropic
import openai

PLACEHOLDER_KEY = "router"
VERSIONS = {"openai": openai.__version__, "anthropic": anthropic.__version__}


def _openai_client(base_url: str) -> Any:
    return openai.OpenAI(
        api_key=PLACEHOLDER_KEY, base_url=base_url, max_retries=0, timeout=20.0, _strict_response_validation=True
    )


def _anthropic_client(base_url: str) -> Any:
    return anthropic.Anthropic(
        api_key=PLACEHOLDER_KEY, base_url=base_url, max_retries=0, timeout=20.0, _strict_response_validation=True
    )


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json")


def _openai_call(client: Any, call: str, params: Dict[str, Any]) -> Any:
    if call == "create":
        return _dump(client.chat.completions.create(**params))
    if call == "create_stream":
        return [_dump(chunk) for chunk in client.chat.completions.create(stream=True, **params)]
    if call == "stream_helper":
        with client.chat.completions.stream(**params) as stream:
            return _dump(stream.get_final_completion())
    if call == "responses_create":
        return _dump(client.responses.create(**params))
    if call == "responses_create_stream":
        return [_dump(event) for event in client.responses.create(stream=True, **params)]
    if call == "responses_stream_helper":
        with client.responses.stream(**params) as stream:
            return _dump(stream.get_final_response())
    raise ValueError(f"unknown openai call {call!r}")


def _anthropic_call(client: Any, call: str, params: Dict[str, Any]) -> Any:
    if call == "create":
        return _dump(client.messages.create(**params))
    if call == "create_stream":
        return [_dump(event) for event in client.messages.create(stream=True, **params)]
    if call == "stream_helper":
        with client.messages.stream(**params) as stream:
            return _dump(stream.get_final_message())
    if call == "count_tokens":
        return _dump(client.messages.count_tokens(**params))
    raise ValueError(f"unknown anthropic call {call!r}")


_SDKS: Dict[str, Any] = {
    "openai": (_openai_client, _openai_call, openai.APIStatusError, openai.APIError),
    "anthropic": (_anthropic_client, _anthropic_call, anthropic.APIStatusError, anthropic.APIError),
}


def run(scenario: Dict[str, Any]) -> Dict[str, Any]:
    """One scenario → one JSON-able result; SDK errors are results too (tests assert on them)."""
    make_client, make_call = _SDKS[scenario["sdk"]][:2]
    status_error, api_error = _SDKS[scenario["sdk"]][2:]
    client = make_client(scenario["base_url"])
    try:
        result = make_call(client, scenario["call"], scenario.get("params", {}))
        return {"ok": True, "versions": VERSIONS, "result": result}
    except status_error as error:
        return _error(error, error.status_code, error.body)
    except api_error as error:
        return _error(error, None, error.body)
    except Exception as error:  # an SDK accumulator tripping (IndexError, AssertionError…) is a result too
        return {**_error(error, None, None), "traceback": traceback.format_exc()}
    finally:
        client.close()


def _error(error: Exception, status: Any, body: Any) -> Dict[str, Any]:
    return {"ok": False, "versions": VERSIONS, "error_class": type(error).__name__, "status": status,
            "body": body if isinstance(body, (dict, list, str, int, type(None))) else repr(body),
            "message": str(error)}


def _serve(write: Callable[[str], Any]) -> None:
    for line in sys.stdin:
        if line.strip():
            write(json.dumps(run(json.loads(line))) + "\n")
            sys.stdout.flush()


def main() -> None:
    if sys.argv[1:] == ["--serve"]:
        _serve(sys.stdout.write)
        return
    raw = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read()
    print(json.dumps(run(json.loads(raw))))


if __name__ == "__main__":
    main()
