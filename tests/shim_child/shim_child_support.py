"""Helpers for the child-side shim tests: a real telemetry socket, the snapshot the host would
write, and the injected directory rendered the way the host renders it."""

import functools
import gzip
import json
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from fakes import BACKEND_KEYS, FakeProvider

__all__ = [
    "PACKAGE_NAME",
    "PLACEHOLDER_KEY",
    "ROOT",
    "ShimSession",
    "TelemetryCollector",
    "only",
    "render_injected_dir",
    "snapshot_config",
    "write_snapshot",
]

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_NAME = "_router_shim_test_0_1_0"
PLACEHOLDER = "__ROUTER_SHIM_PACKAGE__"


def snapshot_config(provider_root: str) -> Dict[str, Any]:
    """The backends of ``fakes.engine_config``, as the host's snapshot carries them (keys included)."""
    root = provider_root.rstrip("/")
    return {
        "backends": {
            "anthropic": {"protocol": "anthropic", "base_url": root, "api_key": BACKEND_KEYS["anthropic"]},
            "openai": {"protocol": "openai", "base_url": root + "/v1", "api_key": BACKEND_KEYS["openai"],
                       "max_tokens_field": "max_completion_tokens"},
            "groq": {"protocol": "openai", "base_url": root + "/v1", "api_key": BACKEND_KEYS["groq"]},
        }
    }


def write_snapshot(directory: Path, config: Dict[str, Any]) -> Path:
    path = directory / "config.json"
    path.write_text(json.dumps({"version": 1, "config": config}))
    path.chmod(0o600)
    return path


def render_injected_dir(dest: Path, package: str = PACKAGE_NAME) -> Path:
    """What the host builds: the shim package under a private name + the rendered sitecustomize."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "shim", dest / package, ignore=shutil.ignore_patterns("__pycache__", ".ruff_cache", "*.pyc"))
    template = (ROOT / "sitecustomize_template" / "sitecustomize.py").read_text()
    (dest / "sitecustomize.py").write_text(template.replace(PLACEHOLDER, package))
    return dest


class TelemetryCollector:
    """The host's end of the telemetry socket: AF_UNIX SOCK_DGRAM in a short private directory."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="rsc", dir="/tmp")
        os.chmod(self.directory, 0o700)
        self.path = os.path.join(self.directory, "t.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.received: List[Dict[str, Any]] = []

    def drain(self, wait: float = 0.05) -> List[Dict[str, Any]]:
        """Everything received so far (waiting up to ``wait`` for late datagrams)."""
        self.sock.settimeout(wait)
        while True:
            try:
                self.received.append(json.loads(self.sock.recv(65536)))
            except (TimeoutError, BlockingIOError):
                return list(self.received)

    def wait_for(self, predicate: Callable[[Dict[str, Any]], bool], timeout: float = 5.0) -> List[Dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [d for d in self.drain() if predicate(d)]
            if found:
                return found
        return []

    def calls(self, wait: float = 0.05) -> List[Dict[str, Any]]:
        return [d for d in self.drain(wait) if "kind" not in d]

    def of_kind(self, kind: str) -> List[Dict[str, Any]]:
        return [d for d in self.drain() if d.get("kind") == kind]

    def clear(self) -> None:
        self.drain(0.01)
        self.received.clear()

    def close(self, unlink: bool = True) -> None:
        self.sock.close()
        if unlink:
            shutil.rmtree(self.directory, ignore_errors=True)


def only(items: List[Any], what: Optional[str] = None) -> Any:
    assert len(items) == 1, f"expected exactly one {what or 'item'}, got {items}"
    return items[0]


PLACEHOLDER_KEY = "sk-placeholder-router-shim"  # what the host sets when the user has no key

# A chat completion for a model with no route, sent gzip-compressed (queue_gzipped_completion).
GZIPPED_COMPLETION: Dict[str, Any] = {
    "id": "chatcmpl-z", "object": "chat.completion", "created": 1, "model": "mystery-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "zipped"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 21, "completion_tokens": 5, "total_tokens": 26},
}


@functools.lru_cache(maxsize=1)
def answer_bomb() -> bytes:
    """129 MiB of JSON whitespace before an object, gzipped to some 130 KiB: over the 128 MiB a
    driver reads of one answer (``shim/upstream_failures.py`` MAX_ANSWER_BYTES)."""
    return gzip.compress(b" " * (129 << 20) + b"{}", compresslevel=9)


def queue_gzipped_completion(provider: Any) -> None:
    """The fake's next answer: GZIPPED_COMPLETION as a real provider may send it (content-encoding gzip)."""
    provider.reply(error=(200, gzip.compress(json.dumps(GZIPPED_COMPLETION).encode())),
                   headers={"content-encoding": "gzip"})


@dataclass
class ShimSession:
    provider: FakeProvider
    telemetry: TelemetryCollector
    snapshot: Path

    @property
    def root(self) -> str:
        return self.provider.root_url
