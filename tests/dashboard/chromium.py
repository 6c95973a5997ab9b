"""Headless Chromium (Debian's ``chromium``) driven over its own DevTools protocol.

Why the DevTools protocol itself rather than Playwright: Playwright ships a Node driver pinned to
browser builds it downloads, and only those builds are supported; here the browser is the
distribution's package, whatever its version, and the protocol (a JSON message per command over
one WebSocket, ``websockets`` already pinned for the tests) is what every Chromium speaks. What the
dashboard tests need is small: navigate, evaluate an expression, wait for a condition, take a
screenshot, and record every request the page makes and every console error, exception and log
error (CSP violations and failed loads arrive as log entries).

The browser runs on a fresh profile with the flags this machine needs (no sandbox, no GPU) and
everything that would reach out on its own switched off (background networking, component updates,
sync, QUIC), so the only traffic is the page's.
"""

import base64
import contextlib
import itertools
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional, Sequence

from websockets.sync.client import ClientConnection, connect

__all__ = ["CHROMIUM", "Chromium", "ChromiumError"]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--remote-debugging-port=0",
)
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")
_START_TIMEOUT = 30.0
_COMMAND_TIMEOUT = 30.0


class ChromiumError(Exception):
    """The browser did not start, or a command failed (its DevTools error message)."""


class Chromium:
    """One browser, one page. Use as a context manager."""

    def __init__(self, width: int = 1280, height: int = 1000, flags: Sequence[str] = ()) -> None:
        """``flags``: more command-line switches (``--host-resolver-rules=...`` to play a DNS server)."""
        self._profile = tempfile.TemporaryDirectory(prefix="router-chromium-", ignore_cleanup_errors=True)
        # Its own process group: the renderer and utility processes go with the browser at close,
        # instead of writing into the profile while it is being removed.
        command = [CHROMIUM, *FLAGS, *flags, f"--user-data-dir={self._profile.name}", "about:blank"]
        self.process = subprocess.Popen(command,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                        start_new_session=True)
        self._closing = contextlib.ExitStack()
        self._socket: ClientConnection = self._closing.enter_context(
            connect(self._devtools_url(), max_size=None, open_timeout=_START_TIMEOUT))
        self._ids = itertools.count(1)
        self._answers: Dict[int, queue.Queue[Dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.requests: List[str] = []  # every URL the page asked for, in order
        self.errors: List[str] = []  # console errors, uncaught exceptions, error log entries
        self._loaded = threading.Event()
        self._reader = threading.Thread(target=self._read, name="chromium-devtools", daemon=True)
        self._reader.start()
        target = self.command("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self._session = self.command("Target.attachToTarget", {"targetId": target, "flatten": True},
                                     session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.command(f"{domain}.enable")
        self.command("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def _devtools_url(self) -> str:
        deadline = time.monotonic() + _START_TIMEOUT
        assert self.process.stderr is not None
        seen: List[str] = []
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()  # Chromium prints this line at once; EOF if it died
            if not line:
                break
            seen.append(line)
            found = _LISTENING.search(line)
            if found:
                threading.Thread(target=self._drain_stderr, daemon=True).start()
                return found.group(1)
        self.close()
        raise ChromiumError("chromium did not start: " + "".join(seen[-5:]))

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for _ in self.process.stderr:
            pass

    # Protocol -----------------------------------------------------------------------------
    def command(self, method: str, params: Optional[Dict[str, Any]] = None, session: bool = True,
                timeout: float = _COMMAND_TIMEOUT) -> Dict[str, Any]:
        number = next(self._ids)
        answer: queue.Queue[Dict[str, Any]] = queue.Queue(1)
        with self._lock:
            self._answers[number] = answer
        message: Dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        self._socket.send(json.dumps(message))
        try:
            reply = answer.get(timeout=timeout)
        except queue.Empty:
            raise ChromiumError(f"{method}: no answer within {timeout} s") from None
        if "error" in reply:
            raise ChromiumError(f"{method}: {reply['error'].get('message')}")
        return dict(reply.get("result", {}))

    def _read(self) -> None:
        try:
            for raw in self._socket:
                message = json.loads(raw)
                if "id" in message:
                    with self._lock:
                        waiting = self._answers.pop(message["id"], None)
                    if waiting is not None:
                        waiting.put(message)
                else:
                    self._event(message.get("method", ""), message.get("params", {}))
        except Exception:  # the browser went away (close): nothing more to read
            return

    def _event(self, method: str, params: Dict[str, Any]) -> None:
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Page.loadEventFired":
            self._loaded.set()
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append("console: " + " ".join(str(arg.get("value", arg.get("description")))
                                                      for arg in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append("exception: " + str(details.get("exception", {}).get("description") or details))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".strip())

    # Page ---------------------------------------------------------------------------------
    def open(self, url: str, timeout: float = _COMMAND_TIMEOUT) -> None:
        self._loaded.clear()
        self.command("Page.navigate", {"url": url})
        if not self._loaded.wait(timeout):
            raise ChromiumError(f"{url} did not finish loading within {timeout} s")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited)."""
        result = self.command("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                   "awaitPromise": True})
        if "exceptionDetails" in result:
            raise ChromiumError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float) -> Any:
        """Poll ``expression`` until it is truthy; its value. ChromiumError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise ChromiumError(f"still false after {timeout} s: {expression}")
            time.sleep(0.02)

    def screenshot(self) -> bytes:
        data = self.command("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        return base64.b64decode(data)

    def close(self) -> None:
        try:
            if hasattr(self, "_closing"):
                self._closing.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # the group this browser leads, and only it
            self._profile.cleanup()

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
