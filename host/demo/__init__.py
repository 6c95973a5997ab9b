"""``router demo``: the product end to end on one machine, with no key and no network.

:mod:`.provider` answers in both vendors' real wire formats (the writers in :mod:`.wire_openai` and
:mod:`.wire_anthropic`, shared with the tests' fake provider); :mod:`.agent` is the example agent
run under ``router shim``; :mod:`.run` is the walkthrough.
"""

from .provider import DEMO_KEYS, DemoProvider, demo_reply
from .run import INSTALL_HINT, run_demo

__all__ = ["DEMO_KEYS", "INSTALL_HINT", "DemoProvider", "demo_reply", "run_demo"]
