"""A ``router shim`` run follows the configuration files while its program runs
(docs/configuration.md#shimmed-programs): its proxy at once, its Python processes on a call at most a
second later, through a snapshot replaced atomically (still one snapshot, still 0600; on Linux a
memory file, so none on disk: docs/secrets.md#the-run-directory).

The child is a real Python program under the real ``router shim``, driven line by line over stdin; the
configuration is edited with the real ``router`` CLI, which must say that the run picked the edit up.
"""

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Callable, Iterator, List

import pytest
from fakes import FakeProvider
from shim_support import BACKEND_KEYS, base_env, router_command, write_router_home, write_script

from shim.targets import chain_data

_WAIT = 10.0

CHILD = """
import os, stat, urllib.request
import openai

client = openai.OpenAI(max_retries=0, timeout=10)
for command in sys.stdin:
    command = command.strip()
    if command == "sdk":  # in-process: the shim routes it with the snapshot's configuration
        reply = client.chat.completions.create(model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}])
        print("DONE", reply.choices[0].message.content, flush=True)
    elif command == "proxy":  # the run's proxy (what a non-Python child uses); urllib is not shimmed
        request = urllib.request.Request(
            os.environ["ROUTER_SHIM_PROXY_URL"] + "/v1/chat/completions",
            data=json.dumps({"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi"}]}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            print("DONE", json.loads(answer.read())["choices"][0]["message"]["content"], flush=True)
    elif command == "snapshot":
        snapshot = os.environ["ROUTER_SHIM_CONFIG"]
        entries = sorted(os.listdir(os.path.dirname(os.environ["ROUTER_TELEMETRY_SOCK"])))
        print("DONE", oct(stat.S_IMODE(os.stat(snapshot).st_mode)), " ".join(entries), flush=True)
    else:
        break
"""


class Child:
    """The shimmed program, one command at a time."""

    def __init__(self, home: Path, workdir: Path) -> None:
        script = write_script(workdir, CHILD)
        self.process = subprocess.Popen(
            [*router_command(), "shim", "--", sys.executable, str(script)], cwd=str(workdir), env=base_env(home),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self.stderr: List[str] = []
        assert self.process.stdout is not None and self.process.stderr is not None
        threading.Thread(target=self._pump, args=(self.process.stdout, self._lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.process.stderr, self.stderr.append), daemon=True).start()

    @staticmethod
    def _pump(stream: IO[str], sink: Callable[[str], None]) -> None:
        for line in stream:
            sink(line)

    def ask(self, command: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        try:
            line = self._lines.get(timeout=_WAIT)
        except queue.Empty:
            raise AssertionError(f"no answer to {command!r}: {''.join(self.stderr)}") from None
        assert line.startswith("DONE "), line + "".join(self.stderr)
        return line[len("DONE "):].strip()

    def quit(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.write("quit\n")
        self.process.stdin.close()
        return self.process.wait(_WAIT)


@pytest.fixture
def home(tmp_path: Path, _fake_provider_session: FakeProvider) -> Path:
    path = tmp_path / "router-home"
    write_router_home(path, _fake_provider_session.root_url)
    return path


@pytest.fixture
def child(home: Path, workdir: Path, provider: FakeProvider) -> Iterator[Child]:
    running = Child(home, workdir)
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait(_WAIT)


def _path(provider: FakeProvider) -> str:
    return provider.last.request.path.split("?")[0]


def test_a_shim_run_follows_a_route_edit_in_its_proxy_and_its_python_processes(
    child: Child, home: Path, provider: FakeProvider
) -> None:
    for _ in range(1000):  # the loops below call until the change shows (about a second of calls)
        provider.reply(text="answered")
    assert child.ask("sdk") == "answered" and _path(provider) == "/v1/messages"
    assert child.ask("proxy") == "answered" and _path(provider) == "/v1/messages"

    edit = subprocess.run([*router_command(), "route", "add", "claude-*", "openai"], env=base_env(home),
                          capture_output=True, text=True, timeout=30, check=False)
    assert edit.returncode == 0, edit.stderr
    assert (f"the running `router shim` (pid {child.process.pid}) picked this up (configuration generation 2)"
            in edit.stdout), edit.stdout

    assert child.ask("proxy") == "answered" and _path(provider) == "/v1/chat/completions"  # at once
    deadline = time.monotonic() + _WAIT  # in-process: on a call, at most a second after the snapshot changed
    while child.ask("sdk") == "answered" and _path(provider) != "/v1/chat/completions":
        assert time.monotonic() < deadline, "the shimmed process never picked the new snapshot up"
    # Replaced in place: no second copy of the keys; on Linux, none on disk at all.
    on_disk = "" if sys.platform.startswith("linux") else "config.json "
    assert child.ask("snapshot") == f"0o600 {on_disk}t.sock"

    assert child.quit() == 0, "".join(child.stderr)
    assert not (home / "proxies").exists() or list((home / "proxies").iterdir()) == []
    assert all(key not in "".join(child.stderr) + edit.stdout + edit.stderr for key in BACKEND_KEYS.values())


def test_a_broken_edit_during_a_shim_run_is_said_once_and_the_program_keeps_its_configuration(
    child: Child, home: Path, provider: FakeProvider
) -> None:
    for _ in range(1000):  # the loops below call until the change shows (about a second of calls)
        provider.reply(text="answered")
    assert child.ask("sdk") == "answered"
    config = home / "config.toml"
    config.write_text(config.read_text() + "\nbroken = [\n")
    deadline = time.monotonic() + _WAIT
    while not any("configuration not reloaded" in line for line in child.stderr):
        assert time.monotonic() < deadline, "".join(child.stderr)
        assert child.ask("sdk") == "answered" and _path(provider) == "/v1/messages"
    assert child.ask("proxy") == "answered" and _path(provider) == "/v1/messages"
    assert child.quit() == 0
    refused = [line for line in child.stderr if "configuration not reloaded" in line]
    assert len(refused) == 1 and str(config) in refused[0] and "is not valid TOML" in refused[0], child.stderr
    assert "Traceback" not in "".join(child.stderr)


@pytest.mark.parametrize("in_memory", [True, False], ids=["memory-file", "file"])
def test_snapshot_replacement_leaves_one_private_snapshot(tmp_path: Path, in_memory: bool) -> None:
    """The host side alone: what a child reads is the newest snapshot, 0600, and nothing else is left
    (on disk nothing at all, where memory files exist)."""
    from host.run_dir import RunDir
    from shim.config import RouterConfig
    from shim.runtime import load_snapshot

    if in_memory and not hasattr(os, "memfd_create"):
        pytest.skip("no memory files on this system: the file snapshot is the one in use")
    with RunDir(str(tmp_path), in_memory=in_memory) as run:
        run.write_snapshot(RouterConfig())
        routed = RouterConfig.from_dict({"backends": {"b": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1"}},
                                         "default_backend": "b"})
        run.replace_snapshot(routed)
        assert sorted(os.listdir(run.path)) == ([] if in_memory else ["config.json"])
        assert os.stat(run.snapshot_path).st_mode & 0o777 == 0o600
        assert chain_data(load_snapshot(str(run.snapshot_path)).default_backend or ()) == "b"
