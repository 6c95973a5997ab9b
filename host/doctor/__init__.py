"""``router doctor``: every check a bug report needs, each a line with ✓/✗ and the fix.

Sections, in order: versions, config, one per backend, shim, proxy, telemetry. The slow ones (each
backend's network round trips, the child Python) run at the same time, each bounded by its own
timeouts, and the report keeps the order above whatever finishes first.
"""

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import List, Mapping, Optional

from .backend_checks import backend_section
from .config_checks import config_section
from .proxy_checks import proxy_section
from .report import Check, DoctorReport, Section
from .shim_checks import shim_section
from .telemetry_checks import telemetry_section
from .versions import versions_section

__all__ = ["Check", "DoctorOptions", "DoctorReport", "Section", "run_doctor"]


@dataclass(frozen=True)
class DoctorOptions:
    """What to check: ``spend`` allows one tiny generation call per backend; ``python`` is the child
    interpreter for the shim checks (None: ``python3`` on PATH); host/port as ``router proxy``'s."""

    spend: bool = False
    python: Optional[str] = None
    proxy_host: str = "127.0.0.1"
    proxy_port: int = 3456


def run_doctor(options: DoctorOptions = DoctorOptions(), environ: Optional[Mapping[str, str]] = None) -> DoctorReport:
    env = os.environ if environ is None else environ
    config, loaded = config_section(env)
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="router-doctor") as pool:
        futures: List[Future[Section]] = []
        if loaded is not None:
            futures += [pool.submit(backend_section, backend, loaded.key_sources[name], options.spend)
                        for name, backend in loaded.config.backends.items()]
        futures.append(pool.submit(shim_section, env, options.python))
        slow = [future.result() for future in futures]
    sections = [versions_section(), config, *slow,
                proxy_section(options.proxy_host, options.proxy_port, env), telemetry_section(env)]
    return DoctorReport(sections)
