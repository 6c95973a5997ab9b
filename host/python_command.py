"""Is CMD a Python program, and will the shim be able to load in it?

The answer decides two things in ``router shim``: whose ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL``
wins when the user set one (the proxy's for a non-Python CMD, the user's for a Python one:
``host/child_env.py``), and a Python CMD that never loads the shim earns a one-line warning instead
of silence.

Python means: an interpreter (``python``, ``python3.12``, ``pypy3``, or a path to one); a file whose
shebang runs Python (scripts, and console scripts such as ``pytest``); or a project runner
(``uv run``, ``poetry run`` …) whose command is one of those or cannot be found yet (it lives in the
environment the runner is about to create). ``-I``, ``-E`` and ``-S`` make Python ignore
``PYTHONPATH`` or ``site`` (docs/shim.md#subprocesses-and-fork), so the shim cannot load: we say so before starting.
"""

import os
import re
import shutil
from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence, Tuple

__all__ = ["CommandInfo", "classify_command", "never_loaded_warning"]

_INTERPRETER = re.compile(r"(python|pypy)(\d+(\.\d+)*)?w?(\.exe)?", re.IGNORECASE)
_RUNNERS = {"uv": "run", "poetry": "run", "pdm": "run", "hatch": "run", "pipenv": "run", "pipx": "run", "conda": "run"}
_RUNNER_VALUE_OPTIONS = frozenset(
    "--with --with-requirements --with-editable --python -p --project --directory --package --env-file --extra "
    "--group --index --spec -n --name --prefix -e --env".split()
)
_PYTHON_OPTIONS_WITH_VALUE = "cmWXQ"  # -c CMD, -m MOD, -W ARG, -X OPT take a value (attached or next)
_BLINDING_FLAGS = {"I": "-I (isolated mode)", "E": "-E (ignores PYTHON* variables)", "S": "-S (no site import)"}
_SHEBANG_BYTES = 512


@dataclass(frozen=True)
class CommandInfo:
    is_python: bool
    blinding_flags: Tuple[str, ...] = ()  # human descriptions of -I/-E/-S found on the command line or shebang

    def warnings(self) -> List[str]:
        """One line when the shim cannot load because of how Python is started."""
        if not self.blinding_flags:
            return []
        flags = " and ".join(self.blinding_flags)
        return [
            f"router shim: warning: CMD runs Python with {flags}, which skips PYTHONPATH/sitecustomize: "
            "the shim cannot load there and LLM calls will not be routed"
        ]


def classify_command(argv: Sequence[str], environ: Mapping[str, str]) -> CommandInfo:
    """What kind of program ``argv`` starts (see the module docstring)."""
    if not argv:
        return CommandInfo(False)
    name = os.path.basename(argv[0])
    if name in _RUNNERS and len(argv) > 1 and argv[1] == _RUNNERS[name]:
        return _classify_runner(argv[2:], environ)
    if name == "uvx":
        return CommandInfo(True)
    if _INTERPRETER.fullmatch(name):
        return CommandInfo(True, _blinding_flags(argv[1:]))
    path = _resolve(argv[0], environ)
    if path is None:
        return CommandInfo(False)
    if _INTERPRETER.fullmatch(os.path.basename(os.path.realpath(path))):
        return CommandInfo(True, _blinding_flags(argv[1:]))
    return _classify_by_shebang(path)


def never_loaded_warning(argv: Sequence[str]) -> str:
    """The line printed when a Python CMD ran but no process ever said hello."""
    program = os.path.basename(argv[0]) if argv else "CMD"
    return (
        f"router shim: warning: {program} ran but no Python process loaded the shim, so no call could be routed "
        "(causes: python -I/-E/-S, a PYTHONPATH or environment replaced by the program, a frozen app, "
        "or no Python at all)"
    )


def _classify_runner(rest: Sequence[str], environ: Mapping[str, str]) -> CommandInfo:
    """``uv run [options] CMD …``: classify CMD; one not found yet is taken to be a project script."""
    position = 0
    while position < len(rest) and rest[position].startswith("-"):
        option = rest[position]
        position += 2 if option in _RUNNER_VALUE_OPTIONS else 1
    command = rest[position:]
    if not command or command[0].endswith(".py"):
        return CommandInfo(True)
    if _resolve(command[0], environ) is None:
        return CommandInfo(True)
    return classify_command(command, environ)


def _resolve(program: str, environ: Mapping[str, str]) -> Optional[str]:
    if os.sep in program or (os.altsep and os.altsep in program):
        return program if os.path.isfile(program) else None
    return shutil.which(program, path=environ.get("PATH"))


def _classify_by_shebang(path: str) -> CommandInfo:
    words = _shebang_words(path)
    interpreter = next((word for word in words if _INTERPRETER.fullmatch(os.path.basename(word))), None)
    if interpreter is None:
        return CommandInfo(False)
    return CommandInfo(True, _blinding_flags(words[words.index(interpreter) + 1 :]))


def _shebang_words(path: str) -> List[str]:
    """The words of ``#!`` (and of pip's ``'''exec' /long/path/python`` trampoline on line 2)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SHEBANG_BYTES)
    except OSError:
        return []
    if not head.startswith(b"#!"):
        return []
    lines = head.decode("utf-8", "replace").splitlines()
    words = lines[0][2:].split()
    if words and os.path.basename(words[0]) == "sh" and len(lines) > 1 and lines[1].startswith("'''exec'"):
        words = [word.strip("'\"") for word in lines[1].split()[1:]]
    return words


def _blinding_flags(arguments: Sequence[str]) -> Tuple[str, ...]:
    """-I/-E/-S among the interpreter options (before the script, ``-c`` or ``-m``)."""
    found: List[str] = []
    position = 0
    while position < len(arguments):
        argument = arguments[position]
        if not argument.startswith("-") or argument in ("-", "--") or argument.startswith("--"):
            break
        letters = _option_letters(argument[1:])
        found += [letter for letter in letters if letter in _BLINDING_FLAGS and letter not in found]
        if letters[-1:] in ("c", "m"):  # the program starts here
            break
        value_follows = letters[-1:] in ("W", "X", "Q") and argument.endswith(letters[-1])
        position += 2 if value_follows else 1
    return tuple(_BLINDING_FLAGS[letter] for letter in found)


def _option_letters(cluster: str) -> str:
    """``-IsEc`` → "IsEc": letters up to and including the first that takes a value."""
    for position, letter in enumerate(cluster):
        if letter in _PYTHON_OPTIONS_WITH_VALUE:
            return cluster[: position + 1]
    return cluster
