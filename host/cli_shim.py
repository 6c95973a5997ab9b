"""``router shim [-v] [--quiet] -- CMD [ARGS...]``: run CMD with its LLM calls routed.

Order matters: the signal gate is entered before any thread exists (see :mod:`.launcher`); the run
directory, snapshot, telemetry socket and proxy socket all exist before the child starts, so its
first datagram or request has somewhere to go. The host prints only to stderr, and only its own
lines (``--quiet``: nothing but errors). Exit status: the child's (128+N after signal N); 127/126
when CMD cannot be started; 2 for a configuration problem (the group turns it into one line).
"""

import os
import sys
from typing import AbstractSet, Callable, List, Mapping, Optional, Sequence

import click

from shim.telemetry import CallEvent

from .child_env import ChildSetup, child_environment
from .cli_support import example
from .codex_command import with_codex_overrides
from .collector import RunTelemetry, TelemetryCollector
from .config_source import ConfigWatcher, current_fingerprint
from .config_store import LoadedConfig, load_config
from .event_sink import open_sink
from .injection import ensure_injection_dir
from .launcher import CommandNotRunnable, SignalGate
from .log_text import PROBLEM_LIMIT, printable
from .model_override import ModelOverrideRefused, with_model_override
from .proxy_registry import Registration
from .python_command import CommandInfo, classify_command, never_loaded_warning
from .run_dir import RunDir
from .shim_follow import ShimConfigFollower
from .shim_proxy import BackgroundProxy
from .shim_summary import call_line, summary_lines

__all__ = ["run_shim", "shim"]

Say = Callable[[str], None]


@click.command(
    "shim",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    epilog=example("router shim -- python agent.py", "router shim -v -- uv run pytest", "router shim -- node app.js",
                   "router shim --model anthropic:claude-sonnet-4-6 -- python agent.py"),
)
@click.option("-v", "--verbose", count=True,
              help="Print one line per LLM call as it happens; -vv adds the bodies, cut at 8 KB, keys redacted.")
@click.option("--quiet", is_flag=True, help="Print nothing (no summary, no warnings).")
@click.option("--pass-env", "passed", multiple=True, metavar="NAME",
              help="Give CMD the real value of NAME, a variable a backend reads its key from (or ROUTER_API_KEY), "
                   "which CMD otherwise sees as a placeholder (repeatable).")
@click.option("--model", "model_override", metavar="TARGET",
              help="Send every LLM call of CMD to this target (backend or backend:model), whatever model it asks for.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED, metavar="-- CMD [ARGS]...")
def shim(verbose: int, quiet: bool, passed: Sequence[str], model_override: Optional[str],
         command: Sequence[str]) -> None:
    """Run CMD with every LLM call it makes routed by the router (in-process for Python)."""
    sys.exit(run_shim(list(command), verbose=verbose >= 1, quiet=quiet, environ=os.environ, passed=passed,
                      model_override=model_override, log_bodies=verbose >= 2))


def run_shim(
    command: List[str], *, verbose: bool, quiet: bool, environ: Mapping[str, str], passed: Sequence[str] = (),
    model_override: Optional[str] = None, log_bodies: bool = False,
) -> int:
    """The whole command; returns the exit code. ``passed``: variables the child gets as they are
    (docs/secrets.md#what-a-shimmed-program-gets); ``model_override``: ``--model``
    (docs/operator-switches.md#model-override)."""
    if not hasattr(os, "posix_spawnp"):
        raise click.ClickException("router shim needs a POSIX system (Linux or macOS)")
    say = _say(quiet)
    fingerprint = current_fingerprint()  # first: a write landing before the load is loaded again at once
    try:
        loaded = with_model_override(load_config(environ), model_override)
    except ModelOverrideRefused as problem:
        raise click.UsageError(str(problem)) from None
    info = classify_command(command, environ)
    for line in info.warnings():
        say(line)
    injection_dir = str(ensure_injection_dir().path)
    on_event = (lambda event: say(call_line(event))) if verbose else None
    follow = _Follow(fingerprint, say, verbose, model_override, log_bodies)
    code, data, proxy_failure = _run(command, info, loaded, injection_dir, environ, on_event, follow,
                                     frozenset(passed))
    for line in summary_lines(data):
        say(line)
    if proxy_failure:
        failure = printable(proxy_failure, PROBLEM_LIMIT)
        say(f"router shim: warning: the proxy could not run ({failure}); only in-process routing was active")
    if info.is_python and not info.blinding_flags and not data.processes and code not in (126, 127):
        say(never_loaded_warning(command))
    return code


def _run(
    command: List[str],
    info: CommandInfo,
    loaded: LoadedConfig,
    injection_dir: str,
    environ: Mapping[str, str],
    on_event: Optional[Callable[[CallEvent], None]],
    follow: "_Follow",
    passed: AbstractSet[str],
) -> "tuple[int, RunTelemetry, Optional[str]]":
    with SignalGate() as gate, RunDir() as run, open_sink() as sink:
        run.write_snapshot(loaded.config)
        collector = TelemetryCollector(run.socket_path, sink.callback(on_event), sink.lost_callback()).start()
        proxy = BackgroundProxy(loaded.config, collector.record_event, follow.fingerprint, follow.log_bodies).start()
        follower = follow.start(environ, run, proxy)
        key_variables = [source.env for source in loaded.key_sources.values() if source.env]
        setup = ChildSetup(injection_dir, str(run.snapshot_path), str(run.socket_path), proxy.url, info.is_python,
                           key_variables, passed, follow.log_bodies)
        if not info.is_python:  # Codex ignores OPENAI_BASE_URL: it is pointed at the proxy on its command line
            command = with_codex_overrides(command, proxy.url, environ, loaded.config)
        try:
            code = gate.run(command, child_environment(environ, setup))
        except CommandNotRunnable as exc:
            click.echo(f"router shim: {exc}", err=True)
            code = exc.exit_code
        finally:
            follower.stop()  # first: no snapshot rewrite while the run directory goes
            proxy.stop()
            data = collector.stop()
        return code, data, proxy.failure


class _Follow:
    """What the run needs to follow the configuration files (see :mod:`.shim_follow`)."""

    def __init__(self, fingerprint: str, say: Say, verbose: bool, model_override: Optional[str],
                 log_bodies: bool) -> None:
        self.fingerprint = fingerprint
        self._say = say
        self._verbose = verbose
        self._model_override = model_override
        self.log_bodies = log_bodies  # -vv (docs/operator-switches.md#bodies)

    def start(self, environ: Mapping[str, str], run: RunDir, proxy: BackgroundProxy) -> ShimConfigFollower:
        registration = Registration("shim", proxy.port)
        watcher = ConfigWatcher(environ, self.fingerprint, self._model_override)
        return ShimConfigFollower(watcher, run, proxy, registration, self._say, self._verbose).start()


def _say(quiet: bool) -> Say:
    if quiet:
        return lambda line: None
    return lambda line: click.echo(line, err=True)
