"""Telemetry through the real ``router shim``: every call of every kind becomes exactly one stored
event with the provider's token counts and the price library's cost; a broken telemetry path (socket
gone, database locked, database impossible to create) never breaks a call, and ``router stats`` owns up to
what it lost."""

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from fakes import FakeProvider
from fakes.scenario import UsageSpec
from genai_prices import Usage, calc_price
from shim_support import ShimResult, base_env, router_command, run_shim, write_router_home, write_script

from host.telemetry_store import connect_database

N = 3  # calls of each kind

# kind: (client SDK, model asked for, stream, backend expected, usage the fake reports)
KINDS: Dict[str, Tuple[str, str, bool, Optional[str], UsageSpec]] = {
    "openai-sdk→anthropic": ("openai", "claude-sonnet-4-5", False, "anthropic", UsageSpec(1200, 340, 500, 60)),
    "openai-sdk→anthropic stream": ("openai", "claude-opus-4-1", True, "anthropic", UsageSpec(800, 120, 0, 40)),
    "anthropic-sdk→openai": ("anthropic", "gpt-4o", False, "openai", UsageSpec(2000, 75, 1024, 0)),
    "anthropic-sdk→openai stream": ("anthropic", "gpt-4.1", True, "openai", UsageSpec(640, 90, 0, 0)),
    "same protocol anthropic stream": ("anthropic", "claude-3-5-haiku-latest", True, "anthropic",
                                       UsageSpec(310, 44, 128, 16)),
    "same protocol openai": ("openai", "gpt-4o-mini", False, "openai", UsageSpec(150, 25, 0, 0)),
    "no route": ("openai-direct", "my-unrouted-model", False, None, UsageSpec(55, 11, 0, 0)),
}

CALLS_SCRIPT = """
import anthropic, openai, os
N, KINDS = json.loads(sys.argv[1])
openai_client = openai.OpenAI(max_retries=0)
direct_client = openai.OpenAI(base_url=os.environ["FAKE_ROOT"] + "/v1", max_retries=0)
anthropic_client = anthropic.Anthropic(max_retries=0)
messages = [{"role": "user", "content": "hi"}]

def call(sdk, model, stream):
    if sdk == "anthropic":
        if stream:
            with anthropic_client.messages.stream(model=model, max_tokens=50, messages=messages) as events:
                return "".join(events.text_stream)
        return anthropic_client.messages.create(model=model, max_tokens=50, messages=messages).content[0].text
    client = direct_client if sdk == "openai-direct" else openai_client
    if stream:
        chunks = client.chat.completions.create(model=model, messages=messages, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return client.chat.completions.create(model=model, messages=messages).choices[0].message.content

texts = [call(sdk, model, stream) for sdk, model, stream in KINDS for _ in range(N)]
report(texts)
"""


@pytest.fixture
def home(tmp_path: Path, provider: FakeProvider) -> Path:
    """A ROUTER_HOME of this test's own: its telemetry store starts empty."""
    path = tmp_path / "router-home"
    write_router_home(path, provider.root_url)
    return path


def run_calls(provider: FakeProvider, home: Path, workdir: Path, plan: List[Tuple[str, str, bool]],
              calls: int = N, script: str = CALLS_SCRIPT) -> ShimResult:
    """``router shim -- python agent.py``: ``calls`` calls of each (sdk, model, stream) in ``plan``; exit 0."""
    path = write_script(workdir, script)
    ran = run_shim([sys.executable, str(path), json.dumps([calls, plan])], home, cwd=workdir,
                   env={"FAKE_ROOT": provider.root_url})
    assert ran.returncode == 0, ran.explain()
    return ran


def router_stats(home: Path, *args: str) -> Dict[str, Any]:
    done = subprocess.run([*router_command(), "stats", "--since", "all", "--json", *args], env=base_env(home),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def expected_cost(model: str, provider_id: str, usage: UsageSpec) -> float:
    """The library's own price for what the fake reported (its input counts the cache, ours does not)."""
    tokens = Usage(input_tokens=usage.input + usage.cache_read + usage.cache_write, output_tokens=usage.output,
                   cache_read_tokens=usage.cache_read, cache_write_tokens=usage.cache_write)
    return float(calc_price(tokens, model, provider_id=provider_id).total_price)


def test_every_call_of_every_kind_is_one_event_with_its_tokens_and_cost(
    provider: FakeProvider, home: Path, workdir: Path
) -> None:
    for _, _, _, _, usage in KINDS.values():
        for index in range(N):
            provider.reply(text=f"reply {index}", usage=usage)
    ran = run_calls(provider, home, workdir, [(sdk, model, stream) for sdk, model, stream, _, _ in KINDS.values()])
    assert ran.result() == [f"reply {i}" for _ in KINDS for i in range(N)]
    by_model = {group["key"]: group for group in router_stats(home)["groups"]}
    assert sorted(by_model) == sorted(model for _, model, _, _, _ in KINDS.values())
    for _, model, _, backend, usage in KINDS.values():
        group = by_model[model]
        assert group["calls"] == N and group["errors"] == 0, group
        if backend is None:  # a model the library does not know: unknown, never $0
            assert group["cost_unknown_calls"] == N and group["cost_known"] is False
            continue
        tokens = [group[name] for name in ("input_tokens", "output_tokens", "cache_read_tokens",
                                           "cache_write_tokens")]
        assert tokens == [N * usage.input, N * usage.output, N * usage.cache_read, N * usage.cache_write], model
        assert group["cost_known"] is True
        assert group["cost_usd"] == pytest.approx(N * expected_cost(model, backend, usage), rel=1e-9), model
    by_backend = {group["key"]: group["calls"] for group in router_stats(home, "--by", "backend")["groups"]}
    assert by_backend == {"anthropic": 3 * N, "openai": 3 * N, "(no route)": N}


def test_each_stored_event_has_the_calls_own_tokens_and_cost(provider: FakeProvider, home: Path,
                                                               workdir: Path) -> None:
    """Row by row (sums could hide one call counted twice and another not at all)."""
    usages = [UsageSpec(100 * (index + 1), 7 * (index + 1), 10 * index, 0) for index in range(N)]
    for usage in usages:
        provider.reply(text="ok", usage=usage)
    run_calls(provider, home, workdir, [("openai", "claude-sonnet-4-5", True)])
    rows = _events(home)
    assert [(r["input_tokens"], r["output_tokens"], r["cache_read_tokens"], r["cache_write_tokens"]) for r in rows] \
        == [(u.input, u.output, u.cache_read, u.cache_write) for u in usages]
    assert [r["cost_usd"] for r in rows] == pytest.approx(
        [expected_cost("claude-sonnet-4-5", "anthropic", u) for u in usages], rel=1e-9)
    assert {(r["source"], r["backend"], r["stream"], r["translated"], r["status"]) for r in rows} == {
        ("shim", "anthropic", 1, 1, 200)}


def _events(home: Path) -> List[sqlite3.Row]:
    connection = sqlite3.connect(str(home / "telemetry.db"))
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute("SELECT * FROM events ORDER BY id").fetchall()
    finally:
        connection.close()


# A broken telemetry path never breaks a call --------------------------------------------------
SOCKET_REMOVED_SCRIPT = CALLS_SCRIPT.replace("texts = [", """
before = [call(sdk, model, stream) for sdk, model, stream in KINDS for _ in range(N)]
os.unlink(os.environ["ROUTER_TELEMETRY_SOCK"])  # the host's socket file is gone from now on
import subprocess  # a new process must connect by path: it finds nothing, and still works
grandchild = subprocess.run([sys.executable, "-c", "import openai; print(openai.OpenAI(max_retries=0).chat."
                             "completions.create(model='gpt-4o', messages=[{'role': 'user', 'content': 'x'}])"
                             ".choices[0].message.content)"], capture_output=True, text=True, check=True)
texts = before + [grandchild.stdout.strip()] + [""").replace("report(texts)", "report(texts)")


def test_removing_the_telemetry_socket_mid_run_leaves_every_call_working(
    provider: FakeProvider, home: Path, workdir: Path
) -> None:
    for index in range(2 * N + 1):
        provider.reply(text=f"reply {index}")
    ran = run_calls(provider, home, workdir, [("openai", "gpt-4o", False)], script=SOCKET_REMOVED_SCRIPT)
    assert ran.result() == [f"reply {index}" for index in range(2 * N + 1)]
    # This process was connected before the file went: its events still arrive (a connection, like a
    # connected datagram socket, does not need the path). The grandchild's call is lost, not fatal.
    assert router_stats(home)["total"]["calls"] == 2 * N


def test_a_locked_database_drops_and_counts_events_and_the_calls_go_on(
    provider: FakeProvider, home: Path, workdir: Path
) -> None:
    connect_database(home / "telemetry.db").close()  # the store exists…
    holder = sqlite3.connect(str(home / "telemetry.db"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # …and another process holds its write lock the whole run
    try:
        for _ in range(2 * N):
            provider.reply(text="ok")
        ran = run_calls(provider, home, workdir, [("openai", "claude-sonnet-4-5", False),
                                                  ("anthropic", "gpt-4o", True)])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert ran.result() == ["ok"] * 2 * N
    report = router_stats(home)
    assert report["total"]["calls"] == 0
    assert report["dropped"]["count"] == 2 * N and "locked" in " ".join(report["dropped"]["reasons"])
    table = subprocess.run([*router_command(), "stats"], env=base_env(home), capture_output=True, text=True,
                           timeout=60, check=True).stdout
    assert f"{2 * N} events were dropped since" in table


def test_a_database_that_cannot_be_created_drops_and_counts_events_and_the_calls_go_on(
    provider: FakeProvider, home: Path, workdir: Path
) -> None:
    (home / "telemetry.db").mkdir()  # no file can be made there (chmod would not stop root)
    for _ in range(N):
        provider.reply(text="ok")
    ran = run_calls(provider, home, workdir, [("openai", "gpt-4o-mini", False)])
    assert ran.result() == ["ok"] * N
    report = router_stats(home)
    assert report["dropped"]["count"] == N
    assert report["dropped"]["reasons"][0].startswith("database unavailable"), report["dropped"]


# A call the router refuses keeps its identity -------------------------------------------------
REFUSED_SCRIPT = """
import openai
client = openai.OpenAI(max_retries=0)
try:
    client.chat.completions.create(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}], n=2)
except openai.BadRequestError as error:
    report(error.status_code)
"""


def test_a_refused_call_is_reported_with_its_model_route_and_backend(
    provider: FakeProvider, home: Path, workdir: Path
) -> None:
    """n=2 cannot be served by an Anthropic backend: the call is refused before anything is sent, and
    the -v line, the exit summary and ``router stats`` still name the model, route and backend."""
    path = write_script(workdir, REFUSED_SCRIPT)
    ran = run_shim([sys.executable, str(path)], home, flags=["-v"], cwd=workdir)
    assert ran.returncode == 0 and ran.result() == 400, ran.explain()
    assert provider.requests == []
    line = next(line for line in ran.stderr.splitlines() if line.startswith("router: pid"))
    assert "claude-sonnet-4-5 → anthropic/claude-sonnet-4-5" in line and "invalid_request" in line, line
    summary = [line for line in ran.stderr.splitlines() if "claude-sonnet-4-5" in line and "1 call" in line]
    assert summary and all("(no route)" not in line for line in summary), ran.stderr
    by_backend = {group["key"]: group for group in router_stats(home, "--by", "backend")["groups"]}
    assert list(by_backend) == ["anthropic"] and by_backend["anthropic"]["errors"] == 1
    row = only_row(home)
    assert (row["requested_model"], row["backend"], row["upstream_model"], row["status"], row["translated"]) == (
        "claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", 400, 1)


def only_row(home: Path) -> sqlite3.Row:
    rows = _events(home)
    assert len(rows) == 1, [dict(row) for row in rows]
    return rows[0]
