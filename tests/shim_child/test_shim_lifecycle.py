"""activate/deactivate symmetry, the post-import finder, and the telemetry sender's failure modes."""

import json
import socket
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List

import aiohttp
import httpx
import httpx2
import pytest
import requests
from shim_child_support import ShimSession, TelemetryCollector

from shim import bootstrap
from shim.import_hooks import PostImportFinder
from shim.lifecycle_events import hello_datagram, shim_error_datagram
from shim.patches import is_shim_wrapper
from shim.telemetry_sender import TelemetrySender

SEAMS = [
    (httpx.Client, "_transport_for_url"), (httpx.AsyncClient, "_transport_for_url"),
    (httpx2.Client, "_transport_for_url"), (httpx2.AsyncClient, "_transport_for_url"),
    (requests.Session, "get_adapter"), (aiohttp.ClientSession, "_request"),
]


def _seam_state() -> List[Any]:
    return [vars(owner).get(name) for owner, name in SEAMS]


def test_deactivate_restores_every_patched_attribute(shim_env: ShimSession) -> None:
    before, meta_path = _seam_state(), list(sys.meta_path)
    assert bootstrap.activate()
    assert not bootstrap.activate()  # idempotent
    assert all(is_shim_wrapper(getattr(owner, name)) for owner, name in SEAMS)
    assert bootstrap.deactivate()
    assert not bootstrap.deactivate()
    assert _seam_state() == before and sys.meta_path == meta_path
    assert not any(is_shim_wrapper(getattr(owner, name)) for owner, name in SEAMS)


def test_activation_says_hello(shim_env: ShimSession) -> None:
    bootstrap.activate()
    try:
        hello = shim_env.telemetry.wait_for(lambda d: d.get("kind") == "hello")
    finally:
        bootstrap.deactivate()
    assert hello and hello[0]["pid"] > 0 and hello[0]["python"].count(".") == 2 and hello[0]["v"] == 1


def test_post_import_finder_runs_once_after_the_module_body(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "router_hook_target").mkdir()
    (tmp_path / "router_hook_target" / "__init__.py").write_text("READY = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen: List[bool] = []
    finder = PostImportFinder(["router_hook_target"], lambda module: seen.append(module.READY))
    sys.meta_path.insert(0, finder)
    try:
        import router_hook_target  # type: ignore[import-not-found]
        import router_hook_target as again  # type: ignore[import-not-found]  # noqa: F401
    finally:
        sys.meta_path.remove(finder)
        sys.modules.pop("router_hook_target", None)
    assert seen == [True]
    assert type(router_hook_target.__loader__).__name__ == "SourceFileLoader"  # the real loader is back
    assert router_hook_target.__spec__.loader is router_hook_target.__loader__


def test_sender_never_raises_without_a_socket() -> None:
    sender = TelemetrySender("/tmp/router-no-such-dir/t.sock", clock=lambda: 100.0)
    assert not sender.send(b"{}") and not sender.send(b"{}")
    assert sender.dropped == 2 and sender.sent == 0


def test_sender_backs_off_after_a_stale_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "stale.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.close()  # the file stays: ECONNREFUSED
    now = [100.0]
    sender = TelemetrySender(path, clock=lambda: now[0])
    assert not sender.send(b"{}")
    replacement = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    Path(path).unlink()
    replacement.bind(path)
    try:
        assert not sender.send(b"{}")  # still backing off
        now[0] += 5.1
        assert sender.send(b"{}")
        assert replacement.recv(100) == b"{}"
    finally:
        replacement.close()


def test_sender_drops_and_counts_on_a_full_queue() -> None:
    collector = TelemetryCollector()  # never read until the end: the kernel queue fills up
    try:
        sender = TelemetrySender(collector.path)
        results = [sender.send(b"x" * 400) for _ in range(2000)]
        assert not all(results) and sender.dropped > 0
        dropped = sender.dropped
        collector.sock.setblocking(False)
        while True:  # the host catches up
            try:
                collector.sock.recv(1000)
            except BlockingIOError:
                break
        assert sender.send(json.dumps({"dropped_before": sender.dropped}).encode(), carries_drop_count=True)
        assert sender.dropped == 0 and dropped > 0
    finally:
        collector.close()


def test_call_events_carry_the_drop_count(shim: ShimSession) -> None:
    from shim.telemetry_sender import process_sender

    process_sender().dropped = 5
    shim.provider.reply(text="x")
    httpx.post(shim.root + "/v1/chat/completions", json={"model": "gpt-5.1", "messages": []})
    events = shim.telemetry.calls()
    assert [e["dropped_before"] for e in events] == [5]
    assert process_sender().dropped == 0


@pytest.mark.parametrize("text", ['quote " and \\ slash', "ctrl \x01\n", "lone \udcff surrogate", "ünïcode ✓"])
def test_lifecycle_datagrams_are_json(text: str) -> None:
    hello: Dict[str, Any] = json.loads(hello_datagram(1, 2, text, "3.9.18", text))
    assert hello["program"].replace("\udcff", "") == text.replace("\udcff", "")
    error = json.loads(shim_error_datagram(3, text * 500))
    assert error["kind"] == "shim_error" and len(shim_error_datagram(3, text * 500)) < 2048


def test_broken_snapshot_is_reported_and_nothing_is_routed(shim_env: ShimSession) -> None:
    shim_env.snapshot.write_text(textwrap.dedent('{"version": 1, "config": {"backends": {"x": {"protocol": "nope"}}}}'))
    bootstrap.activate()
    try:
        shim_env.provider.reply(text="untouched")
        response = httpx.post(shim_env.root + "/v1/chat/completions", json={"model": "gpt-5.1", "messages": []})
        assert response.content == shim_env.provider.last.sent_body
        errors = shim_env.telemetry.wait_for(lambda d: d.get("kind") == "shim_error")
    finally:
        bootstrap.deactivate()
    assert errors and "config snapshot" in errors[0]["message"] and "protocol" in errors[0]["message"]
