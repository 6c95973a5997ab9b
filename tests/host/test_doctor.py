"""``router doctor`` against real setups: the fake provider as the backends, real sockets, a real child
Python. Each broken setup must print its ✗ line with the fix and exit 1; no output, text or JSON,
may hold more than the last four characters of any key."""

import json
import socket
import ssl
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator, List, Tuple

import pytest
import trustme
from click.testing import Result
from fakes import FakeProvider
from host_cli_helpers import write_config
from pinned_envs import pinned_python

from host.config_store import BACKEND_FIELDS
from host.credentials import store_key

# Random-looking keys: no five characters of them occur in anything else the doctor prints.
ANTHROPIC_KEY = "Qz7vW3xK9mP2rT5yB8nLh4Jc0001"
OPENAI_KEY = "Hj2kLp9QwE4rTy7UiO3pAs5D0002"
WRONG_KEY = "Zx8cVb3NmQ6wEr1TyU4iOp7A9999"
ALL_KEYS = (ANTHROPIC_KEY, OPENAI_KEY, WRONG_KEY)
Invoke = Callable[..., Result]


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A port some other program listens on (accepts, never answers HTTP)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


@pytest.fixture
def healthy(home: Path, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """anthropic and openai on the fake provider, keys from the environment, both accepted."""
    monkeypatch.setenv("DOCTORTEST_ANTHROPIC_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("DOCTORTEST_OPENAI_KEY", OPENAI_KEY)
    provider.accepted_keys = {ANTHROPIC_KEY, OPENAI_KEY}
    write_config(home, f"""
[backends.anthropic]
protocol = "anthropic"
base_url = "{provider.root_url}"
key_env = "DOCTORTEST_ANTHROPIC_KEY"

[backends.openai]
protocol = "openai"
base_url = "{provider.root_url}/v1"
key_env = "DOCTORTEST_OPENAI_KEY"

[aliases]
fast = "openai:gpt-5.1"
""")
    return provider


def doctor(invoke: Invoke, port: int, *args: str, code: int) -> Result:
    result = invoke("doctor", "--port", str(port), "--python", sys.executable, *args, code=code)
    assert_no_key_shown([result.output])
    return result


def assert_no_key_shown(outputs: List[str]) -> None:
    for key in ALL_KEYS:
        for start in range(len(key) - 4):
            assert not any(key[start:start + 5] in text for text in outputs), (key[start:start + 5], outputs)


def lines_with(result: Result, mark: str) -> List[str]:
    return [line.strip() for line in result.output.splitlines() if line.strip().startswith(mark)]


def fix_after(result: Result, line_start: str) -> str:
    """The ``fix:`` line printed right after the check line starting with ``line_start``."""
    lines = [line.strip() for line in result.output.splitlines()]
    index = next(i for i, line in enumerate(lines) if line.startswith(line_start))
    assert lines[index + 1].startswith("fix: "), lines[index:index + 2]
    return lines[index + 1]


def test_a_healthy_setup_passes_every_check(invoke: Invoke, healthy: FakeProvider, free_port: int) -> None:
    result = doctor(invoke, free_port, code=0)
    assert lines_with(result, "✗") == []
    ok = lines_with(result, "✓")
    assert sum(line.startswith("✓ GET /v1/models: 200 in") and "key accepted" in line for line in ok) == 2
    assert "✓ child Python loads the shim: Python" in result.output
    for seam in ("httpx 0", "httpx2 2", "requests 2", "aiohttp 3"):
        assert any(line.startswith(f"✓ {seam}") and "patched" in line for line in ok), (seam, ok)
    assert f"✓ port: {free_port} is free" in ok
    assert "· key: env DOCTORTEST_OPENAI_KEY (set), ending …0002" in result.output
    assert "· alias 'fast': → openai:gpt-5.1" in result.output
    assert "· retention: the newest 1,000,000 calls of the last 90 days are kept" in result.output
    assert "all checks passed" in result.output
    # The cheap check only: nothing that spends tokens went upstream.
    assert {(request.method, request.path) for request in healthy.requests} == {("GET", "/v1/models")}


def test_json_says_the_same(invoke: Invoke, healthy: FakeProvider, free_port: int) -> None:
    report = json.loads(doctor(invoke, free_port, "--json", code=0).stdout)
    assert report["ok"] is True and report["failures"] == 0
    titles = [section["title"] for section in report["sections"]]
    assert titles[:2] == ["versions", "config"] and titles[-2:] == [f"proxy (127.0.0.1:{free_port})", "telemetry"]
    statuses = {check["status"] for section in report["sections"] for check in section["checks"]}
    assert "fail" not in statuses and "ok" in statuses


@pytest.mark.parametrize("where", ["env", "stored"])
def test_a_rejected_key_is_a_failure_with_its_fix(invoke: Invoke, healthy: FakeProvider, free_port: int, home: Path,
                                                   monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    if where == "env":
        monkeypatch.setenv("DOCTORTEST_OPENAI_KEY", WRONG_KEY)
    else:
        config = (home / "config.toml").read_text().replace('key_env = "DOCTORTEST_OPENAI_KEY"\n', "", 1)
        write_config(home, config)
        store_key(home / "credentials.toml", "openai", WRONG_KEY)
    result = doctor(invoke, free_port, code=1)
    failed = lines_with(result, "✗")
    assert failed == ["✗ GET /v1/models: 401 invalid_request_error / invalid_api_key: the key was rejected"]
    fix = fix_after(result, failed[0])
    if where == "env":
        assert "$DOCTORTEST_OPENAI_KEY holds a key the backend rejects" in fix
    else:
        assert "the stored key is rejected: store the right one with: router backend add openai --key -" in fix
    assert "1 problem found" in result.output
    # The provider's own message quotes part of the key: it must not be passed on.
    assert "Incorrect API key" not in result.output
    json_output = doctor(invoke, free_port, "--json", code=1).stdout
    assert json.loads(json_output)["failures"] == 1


def test_an_unset_key_variable_is_named(invoke: Invoke, healthy: FakeProvider, free_port: int,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCTORTEST_ANTHROPIC_KEY")
    result = doctor(invoke, free_port, code=1)
    assert "! key: env DOCTORTEST_ANTHROPIC_KEY (unset): calls go without a key" in result.output
    failed = lines_with(result, "✗")
    assert failed == ["✗ GET /v1/models: 401 authentication_error: the key was rejected"]
    assert "$DOCTORTEST_ANTHROPIC_KEY is unset" in fix_after(result, failed[0])


def test_an_unreachable_backend_stops_at_tcp(invoke: Invoke, healthy: FakeProvider, free_port: int, home: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    with (home / "config.toml").open("a") as config:
        config.write(f'\n[backends.local]\nprotocol = "openai"\nbase_url = "http://127.0.0.1:{dead}/v1"\n')
    result = doctor(invoke, free_port, code=1)
    failed = lines_with(result, "✗")
    assert failed == [f"✗ TCP: port {dead}: connection refused (nothing listening on that port)"]
    assert fix_after(result, failed[0]) == (
        f"fix: start the server behind http://127.0.0.1:{dead}/v1, or fix the port: "
        "router backend add local --base-url URL")
    assert "- TLS: not tried (the step above failed)" in result.output
    assert "- request: not tried (the step above failed)" in result.output


def test_a_host_that_does_not_resolve_stops_at_dns(invoke: Invoke, healthy: FakeProvider, free_port: int,
                                                   home: Path) -> None:
    # .invalid never resolves (RFC 6761 section 6.4), whatever the network.
    with (home / "config.toml").open("a") as config:
        config.write('\n[backends.typo]\nprotocol = "openai"\nbase_url = "https://api.example.invalid/v1"\n')
    result = doctor(invoke, free_port, code=1)
    failed = lines_with(result, "✗")
    assert len(failed) == 1 and failed[0].startswith("✗ DNS: api.example.invalid: "), failed
    assert "check the host in the base URL" in fix_after(result, failed[0])


def test_a_broken_config_file_is_named_with_its_line(invoke: Invoke, home: Path, free_port: int) -> None:
    path = write_config(home, '[backends.openai]\nprotocol = "openai"\nbase_url = \n')
    result = doctor(invoke, free_port, code=1)
    failed = lines_with(result, "✗")
    assert len(failed) == 1 and failed[0].startswith(f"✗ config: {path}: is not valid TOML: "), failed
    assert "line 3" in failed[0]
    assert fix_after(result, failed[0]) == f"fix: fix that line: $EDITOR '{path}'"
    # The rest still runs: a broken config says nothing about the shim or the store.
    assert "✓ child Python loads the shim" in result.output and "telemetry" in result.output


def test_an_invalid_config_value_is_named(invoke: Invoke, home: Path, free_port: int) -> None:
    path = write_config(home, '[backends.openai]\nprotocol = "openai"\nbase-url = "https://api.openai.com/v1"\n')
    result = doctor(invoke, free_port, code=1)
    assert lines_with(result, "✗") == [
        f"✗ config: {path}: backends.openai: unknown field 'base-url' (known: {', '.join(BACKEND_FIELDS)})"]


def test_a_port_in_use_by_another_program(invoke: Invoke, healthy: FakeProvider, listening_port: int) -> None:
    result = doctor(invoke, listening_port, code=1)
    failed = lines_with(result, "✗")
    assert failed == [f"✗ port: cannot listen on 127.0.0.1:{listening_port}: Address already in use (another program)"]
    assert fix_after(result, failed[0]).startswith("fix: router proxy --port 0 picks a free port")


def test_a_non_loopback_address_needs_the_router_key(invoke: Invoke, healthy: FakeProvider, free_port: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROUTER_API_KEY", raising=False)
    result = doctor(invoke, free_port, "--host", "0.0.0.0", code=1)
    failed = lines_with(result, "✗")
    assert failed == ["✗ ROUTER_API_KEY: unset, and 0.0.0.0 is not a loopback address: the proxy refuses to start"]
    assert "export ROUTER_API_KEY=" in fix_after(result, failed[0])
    router_key = "Gf5hJk8LqW2eRt6YuI9oPa3S7777"
    monkeypatch.setenv("ROUTER_API_KEY", router_key)
    result = invoke("doctor", "--port", str(free_port), "--host", "0.0.0.0", "--python", sys.executable, code=0)
    assert "✓ ROUTER_API_KEY: set (ending …7777): clients must send it" in result.output
    assert router_key[-5:] not in result.output


@pytest.mark.parametrize("weak", ["   ", "short-key"])
def test_a_router_key_that_cannot_protect_is_a_failure(invoke: Invoke, healthy: FakeProvider, free_port: int,
                                                       monkeypatch: pytest.MonkeyPatch, weak: str) -> None:
    monkeypatch.setenv("ROUTER_API_KEY", weak)
    result = doctor(invoke, free_port, code=1)
    [failed] = lines_with(result, "✗")
    assert failed.startswith("✗ ROUTER_API_KEY: ") and failed.endswith(": the proxy refuses to start")
    assert ("spaces" if weak.isspace() else "9 characters long") in failed
    assert "openssl rand -hex 16" in fix_after(result, failed)


def test_spend_makes_one_tiny_generation_call(invoke: Invoke, healthy: FakeProvider, free_port: int) -> None:
    healthy.reply(text="OK")
    healthy.reply(text="OK")
    result = doctor(invoke, free_port, "--spend", code=0)
    calls = [request for request in healthy.requests if request.method == "POST"]
    assert sorted(request.path for request in calls) == ["/v1/chat/completions", "/v1/messages"]
    limits = sorted(request.json.get("max_tokens") or request.json.get("max_completion_tokens") for request in calls)
    assert limits == [5, 5]
    assert sum("✓ generation call (" in line for line in result.output.splitlines()) == 2


def test_another_python_is_probed_for_what_the_shim_would_patch(invoke: Invoke, home: Path, free_port: int) -> None:
    """A child venv without the router: the SDKs' httpx2 is patched there, the absent libraries are named."""
    python = pinned_python("sdks")
    result = invoke("doctor", "--port", str(free_port), "--python", str(python), code=None)
    assert f"· child Python: {python}" in result.output
    assert "✓ child Python loads the shim" in result.output
    assert any(line.startswith("✓ httpx2 ") and "patched (Client._transport_for_url, AsyncClient._transport_for_url)"
               in line for line in lines_with(result, "✓")), result.output
    assert "· aiohttp: not installed there" in result.output


def test_a_missing_python_is_a_failure(invoke: Invoke, home: Path, free_port: int, tmp_path: Path) -> None:
    result = invoke("doctor", "--port", str(free_port), "--python", str(tmp_path / "no-python"), code=1)
    assert f"✗ child Python: {tmp_path / 'no-python'}: not found or not executable" in result.output


@pytest.fixture
def tls_provider() -> Iterator[Tuple[FakeProvider, Path]]:
    """A second fake provider behind TLS, its certificate from a CA no system trusts; the CA's file."""
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    fake = FakeProvider()
    fake._server.socket = server_context.wrap_socket(fake._server.socket, server_side=True)
    with tempfile.TemporaryDirectory() as scratch, fake:
        ca_file = Path(scratch) / "ca.pem"
        authority.cert_pem.write_to_path(str(ca_file))
        yield fake, ca_file


def test_an_untrusted_certificate_stops_at_tls(invoke: Invoke, home: Path, free_port: int,
                                               tls_provider: Tuple[FakeProvider, Path],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fake, ca_file = tls_provider
    url = fake.root_url.replace("http://", "https://")
    write_config(home, f'[backends.corp]\nprotocol = "openai"\nbase_url = "{url}/v1"\n')
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    result = doctor(invoke, free_port, code=1)
    failed = lines_with(result, "✗")
    assert failed == ["✗ TLS: certificate not trusted: unable to get local issuer certificate"], result.output
    assert fix_after(result, failed[0]) == (
        "fix: a proxy or firewall that re-signs TLS needs its CA: export SSL_CERT_FILE=/path/to/ca.pem")
    # The fix works: with the CA named, the handshake and the request both pass.
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    result = doctor(invoke, free_port, code=0)
    assert any(line.startswith("✓ TLS: TLSv1.3, certificate valid until ") for line in lines_with(result, "✓"))
    assert "✓ GET /v1/models: 200 in" in result.output
