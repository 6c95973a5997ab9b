"""The drop log lives in the private ROUTER_HOME only, is opened without following links and only when
it is this user's regular file, and ``router stats`` believes no line it did not write
(docs/telemetry-bounds.md#drop-log)."""

import hashlib
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
from click.testing import CliRunner

from host.cli import cli
from host.telemetry_store import DROPS_FILENAME, TelemetryStore, read_drops


def _drop(home: Path, count: int) -> TelemetryStore:
    """A store that loses ``count`` events and logs them."""
    from telemetry_support import FullDiskConnection, call_event

    store = TelemetryStore(home, connect=lambda path: sqlite3.connect(path, factory=FullDiskConnection)).start()
    for _ in range(count):
        store.submit(call_event())
    store.close()
    return store


def _line(**fields: Any) -> str:
    return json.dumps({"since": time.time() - 60, "count": 1, "reason": "queue full", "pid": 1, **fields}) + "\n"


@pytest.fixture
def old_shared_path(home: Path) -> Iterator[Path]:
    """Where drop counts of an unwritable home used to go: a predictable name in the shared temp dir."""
    tag = hashlib.sha256(str(home.expanduser().absolute()).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"router-{os.getuid()}-{tag}-drops.log"
    yield path
    path.unlink(missing_ok=True)


def test_a_line_planted_in_the_shared_temp_dir_is_not_believed(home: Path, old_shared_path: Path) -> None:
    old_shared_path.write_text(_line(count=10**9))
    assert read_drops(home).count == 0
    shown = CliRunner().invoke(cli, ["stats"], catch_exceptions=False)
    assert shown.exit_code == 0 and "dropped" not in shown.output, shown.output


def test_an_unwritable_home_writes_no_drop_log_anywhere(home: Path, old_shared_path: Path) -> None:
    home.write_text("")  # not a directory: nothing can be written under it
    assert _drop(home, 3).dropped == 3
    assert not old_shared_path.exists()


def test_a_symbolic_link_is_never_followed(home: Path, tmp_path: Path) -> None:
    """Another user's link in a shared home would point the log at any file we can write."""
    home.mkdir(mode=0o700)
    target = tmp_path / "victim.txt"
    target.write_text("unchanged\n")
    (home / DROPS_FILENAME).symlink_to(target)
    assert _drop(home, 2).dropped == 2
    assert target.read_text() == "unchanged\n"
    target.write_text(_line(count=7))
    assert read_drops(home).count == 0, "a line read through a link"


def test_a_file_of_another_user_is_neither_written_nor_read(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home.mkdir(mode=0o700)
    log, planted = home / DROPS_FILENAME, _line(count=4)
    log.write_text(planted)
    assert read_drops(home).count == 4
    monkeypatch.setattr(os, "getuid", lambda: os.stat(log).st_uid + 1)  # the file now belongs to someone else
    assert read_drops(home).count == 0
    _drop(home, 2)
    assert log.read_text() == planted


def test_a_fifo_in_its_place_does_not_hang_the_store(home: Path) -> None:
    home.mkdir(mode=0o700)
    os.mkfifo(home / DROPS_FILENAME)
    assert _drop(home, 1).dropped == 1  # returns: the writer opened non-blocking and refused the FIFO
    assert read_drops(home).count == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"count": -5}, {"count": 0}, {"count": 1 << 50}, {"count": "12"}, {"count": 1.5}, {"count": True},
        {"since": time.time() + 10 * 86_400}, {"since": -1}, {"since": "yesterday"}, {"reason": ["x"]},
    ],
    ids=["negative", "zero", "huge", "text", "fraction", "bool", "future", "before-1970", "since-text", "reason"],
)
def test_an_implausible_line_is_skipped(home: Path, fields: Dict[str, Any]) -> None:
    home.mkdir(mode=0o700)
    (home / DROPS_FILENAME).write_text(_line(**fields) + "[1, 2]\nnot json\n" + '{"since": NaN, "count": 3}\n'
                                       + _line(count=2))
    assert read_drops(home).count == 2


def test_drops_are_logged_and_read_back(home: Path) -> None:
    _drop(home, 3)
    _drop(home, 4)
    drops = read_drops(home)
    assert drops.count == 7 and drops.reasons == ("database or disk is full",)
    assert (home / DROPS_FILENAME).stat().st_mode & 0o777 == 0o600
