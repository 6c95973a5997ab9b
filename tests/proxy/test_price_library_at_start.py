"""The proxy loads the price library while it starts, not when its first call is priced: that call
is priced on the event loop, and importing genai-prices and reading its snapshot held every other
call for ~0.2 s (docs/telemetry-bounds.md#prices).

In an interpreter of its own (this one has imported the library long ago): the proxy's app starts
through its ASGI lifespan, then a call event is priced as the app prices its calls, and nothing is
imported while it is — no module appears in ``sys.modules``."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import asyncio, json, sys, time

    from host.pricing import price_book
    from host.proxy.app import ProxyApp
    from host.proxy.settings import ProxySettings
    from shim.config import RouterConfig
    from shim.telemetry import CallEvent

    EVENT = CallEvent(time=time.time(), source="proxy", pid=1, ppid=0, program="", client_protocol="openai",
                      endpoint="chat", backend="openai", upstream_host="api.openai.com", requested_model="gpt-4o",
                      upstream_model="gpt-4o", stream=False, translated=False, status=200,
                      input_tokens=1000, output_tokens=100)

    async def main():
        before_start = "genai_prices" in sys.modules
        app = ProxyApp(RouterConfig(), ProxySettings())
        messages, sent = asyncio.Queue(), asyncio.Queue()
        lifespan = asyncio.ensure_future(app({"type": "lifespan"}, messages.get, sent.put))
        await messages.put({"type": "lifespan.startup"})
        answers = [(await asyncio.wait_for(sent.get(), 30))["type"]]
        modules = set(sys.modules)
        cost = price_book().cost(EVENT)  # as the app prices a call that ends (host/event_sink.py)
        imported = sorted(set(sys.modules) - modules)
        await messages.put({"type": "lifespan.shutdown"})
        answers.append((await asyncio.wait_for(sent.get(), 30))["type"])
        await asyncio.wait_for(lifespan, 30)
        return {"before_start": before_start, "lifespan": answers, "cost": cost, "imported": imported}

    print(json.dumps(asyncio.run(main())))
""")


def test_the_first_priced_call_imports_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "ROUTER_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["before_start"] is False  # else this test proves nothing
    assert result["lifespan"] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert result["cost"] and result["cost"] > 0  # priced: the library was there
    assert result["imported"] == []
