"""Support modules of ``bench/proxy.py``: fake provider, wrk runner, installers, targets, checks.

Each module is small and standalone; ``bench/proxy.py`` wires them together. The fake provider is
also runnable on its own: ``python -m proxy_support.fake_provider --port 18000`` (from ``bench/``).
"""

from typing import List

__all__: List[str] = []
