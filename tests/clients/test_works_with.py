"""The README's "Works with" table claims only what a test proves: each row names a test file of
this tier that exists and pins the version the row names, and every client test file has a row."""

import re
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[2]
CLIENT_TESTS = ROOT / "tests" / "clients"
_NOT_CLIENTS = {"test_works_with.py"}


def works_with_rows() -> List[Dict[str, str]]:
    """The table under ``## Works with``, one dict per row keyed by the header cells."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Works with\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = _cells(lines[0])
    assert set(lines[1].replace("|", "").split()) == {"---"}, "the second table line must be the separator"
    return [dict(zip(header, _cells(line), strict=True)) for line in lines[2:]]


def _cells(line: str) -> List[str]:
    return [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]


def test_every_row_is_a_test_that_pins_its_version() -> None:
    rows = works_with_rows()
    assert rows, "the README has no Works with rows"
    for row in rows:
        test_file = ROOT / row["Test"]
        assert test_file.parent == CLIENT_TESTS and test_file.is_file(), f"{row['Client']}: no {row['Test']}"
        pinned = re.search(r'^VERSION = "([^"]+)"', test_file.read_text(), flags=re.MULTILINE)
        assert pinned is not None, f"{row['Test']} names no VERSION"
        assert pinned.group(1) == row["Version tested"], f"{row['Client']}: the README and {row['Test']} disagree"


def test_every_client_test_has_a_row() -> None:
    listed = {Path(row["Test"]).name for row in works_with_rows()}
    files = {path.name for path in CLIENT_TESTS.glob("test_*.py")} - _NOT_CLIENTS
    assert files <= listed, f"client tests missing from the README's Works with table: {sorted(files - listed)}"
