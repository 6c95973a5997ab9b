"""Calls the shim routes leave nothing of the router's for the cycle collector, in the program's
own process (docs/proxy-limits.md#no-cycles-per-call): an object of the router in a reference
cycle lives on, with all it holds, until the program's next full collection."""

import asyncio
import collections
import gc
import itertools
import sys
from typing import Any, Dict, Iterator, List, Tuple

import httpx
import pytest
from shim_child_support import PLACEHOLDER_KEY, ShimSession

OPENAI = "https://api.openai.com/v1"
ANTHROPIC = "https://api.anthropic.com/v1"
USER = [{"role": "user", "content": "hi"}]
HEADERS = {"authorization": f"Bearer {PLACEHOLDER_KEY}", "anthropic-version": "2023-06-01"}
# Every client protocol to an Anthropic and an OpenAI backend: translated, or passed through.
CALLS = [
    (OPENAI + "/chat/completions", {"messages": USER}),
    (ANTHROPIC + "/messages", {"messages": USER, "max_tokens": 32}),
    (OPENAI + "/responses", {"input": "hi"}),
]
MODELS = ["claude-sonnet-4-6", "gpt-5.1"]
STANDARD = sys.stdlib_module_names


def _router_cycles() -> Dict[str, int]:
    """Objects of the router's own types on a reference cycle of the router's and the standard
    library's objects, by type (then freed). A cycle through another library's objects is that
    library's: httpx's response and its stream hold each other, and whatever the stream holds (the
    router's stream, among others) waits with them."""
    gc.set_debug(gc.DEBUG_SAVEALL)  # keep what the collection finds, to look at it
    try:
        gc.collect()
    finally:
        gc.set_debug(0)
    garbage = {id(found): found for found in gc.garbage}
    gc.garbage.clear()
    kinds = collections.Counter(_type_name(found) for found in garbage.values()
                                if _library(found) == "shim" and _on_own_cycle(found, garbage))
    garbage.clear()
    gc.collect()  # and free it
    return dict(kinds)


def _type_name(found: object) -> str:
    return f"{type(found).__module__}.{type(found).__qualname__}"


def _library(found: object) -> str:
    return type(found).__module__.split(".")[0]


def _on_own_cycle(start: object, garbage: Dict[int, object]) -> bool:
    """Whether ``start`` reaches itself through garbage of the router and the standard library."""
    seen, stack = set(), list(gc.get_referents(start))
    while stack:
        found = stack.pop()
        if found is start:
            return True
        library = _library(found)
        if id(found) in seen or id(found) not in garbage or not (library == "shim" or library in STANDARD):
            continue
        seen.add(id(found))
        stack.extend(gc.get_referents(found))
    return False


def _bodies() -> Iterator[Tuple[str, Dict[str, Any]]]:
    for (url, body), model, stream in itertools.product(CALLS, MODELS, (False, True)):
        yield url, {**body, "model": model, "stream": stream}


def _sync_calls(shim: ShimSession) -> List[int]:
    statuses = []
    with httpx.Client(timeout=10) as client:
        for url, body in _bodies():
            shim.provider.reply(text="fine", tool_calls=[("lookup", {"q": 1})])
            with client.stream("POST", url, json=body, headers=HEADERS) as response:
                response.read()
                statuses.append(response.status_code)
        for url, body in _bodies():
            if body["stream"]:
                statuses.append(_leave_mid_stream(shim, client, url, body))
        shim.provider.reply(error=(429, None))
        chat = {"model": "claude-sonnet-4-6", "messages": USER}
        statuses.append(client.post(OPENAI + "/chat/completions", json=chat, headers=HEADERS).status_code)
        untranslatable = {**chat, "n": 2}
        statuses.append(client.post(OPENAI + "/chat/completions", json=untranslatable, headers=HEADERS).status_code)
        shim.provider.reply(text="cut short", truncate_after_events=3, drop_connection=True)
        statuses.insert(0, client.post(OPENAI + "/chat/completions", json={**chat, "stream": True},
                                       headers=HEADERS).status_code)  # ends in an in-band error
        shim.provider.reply(reset=True)  # no answer at all: the program gets its library's error
        with pytest.raises(httpx.TransportError):
            client.post(OPENAI + "/chat/completions", json=chat, headers=HEADERS)
    return statuses


def _leave_mid_stream(shim: ShimSession, client: httpx.Client, url: str, body: Dict[str, Any]) -> int:
    """Read a stream's first bytes and close it while the upstream holds the rest."""
    shim.provider.new_hold()
    shim.provider.reply(text="an answer nobody will read", hold_after_events=2)
    try:
        with client.stream("POST", url, json=body, headers=HEADERS) as response:
            next(response.iter_raw())
            status = response.status_code
            assert shim.provider.holding.wait(timeout=10)  # it wrote what comes before the hold
        assert shim.provider.peer_closed.wait(timeout=10), "the shim kept the upstream connection open"
    finally:
        shim.provider.release.set()
    return status


async def _async_calls(shim: ShimSession) -> List[int]:
    statuses = []
    async with httpx.AsyncClient(timeout=10) as client:
        for url, body in _bodies():
            shim.provider.reply(text="fine")
            response = await client.post(url, json=body, headers=HEADERS)
            statuses.append(response.status_code)
    return statuses


def test_calls_leave_no_cycles_of_the_routers_objects(shim: ShimSession, chunking: str, collector_off: None) -> None:
    assert _router_cycles() == {}  # whatever the fixtures left
    sync, not_sync = _sync_calls(shim), asyncio.run(_async_calls(shim))
    assert set(sync[:-2] + not_sync) == {200} and sync[-2:] == [429, 400], (sync, not_sync)
    assert _router_cycles() == {}
