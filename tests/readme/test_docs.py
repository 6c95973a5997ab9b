"""The repository explains itself: code, tests and docs cite ``docs/`` and public sources only, and
every pointer into ``docs/`` resolves.

* No citation of documents that are not part of the project (reference notes kept outside the
  repository, section signs pointing into them, tracker numbers of this project).
* Every ``docs/<file>.md#<anchor>`` in the code, and every ``file.md#anchor`` link between docs,
  names an existing file and one of its headings (GitHub's anchor for it), so pointers cannot rot.
* Every pitfall number the code uses (``P9``) has its section in ``docs/pitfalls.md``, which numbers
  P1..P23 with no gap; every test ``docs/`` names as ``file.py::function`` exists.
"""

import re
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
THIS_FILE = Path(__file__).resolve()

# Where citations may appear: the project's own text, not installed or generated files.
SCANNED = ["shim", "host", "tests", "bench", "examples", "sitecustomize_template", "docs", ".ci", "README.md"]
SCANNED_SUFFIXES = {".py", ".md", ".mjs", ".js", ".sh", ".toml", ".txt", ".yml", ".yaml", ""}
SKIPPED_PARTS = {"__pycache__", ".venv", ".venv-pinned", "node_modules", ".git"}

# Written in pieces so that this file does not match its own patterns.
_NOTES = r"(?:TRANSLATION|SHIM|DESIGN)" + r"\.md"
FORBIDDEN = {
    "an outside note (TRANSLATION/SHIM/DESIGN .md)": re.compile(_NOTES),
    "a path into the shared notes": re.compile(r"\.\./" + "shared"),
    "a section sign (a section of an outside note)": re.compile("\u00a7"),
    "an issue-tracker citation tag": re.compile(r"\[I" + ":"),
    "a tracker number of this project": re.compile(r"\b[Ii]ssue" + r" #?[0-9]+"),
    "the unnamed engine ticket": re.compile(r"\bengine" + r" issue\b"),
}

DOC_POINTER = re.compile(r"\bdocs/((?:[\w-]+/)*[\w-]+\.md)(?:#([\w-]+))?")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
PITFALL_MENTION = re.compile(r"\bP([0-9]{1,2})\b")
# `tests-relative/file.py::function`; `::function` alone continues the last file named (also a bare `file.py`).
TEST_REFERENCE = re.compile(r"`((?:[\w-]+/)*[\w-]+\.py)?(?:::(\w+))?`")
PITFALL_COUNT = 23


def project_files() -> Iterator[Path]:
    for entry in SCANNED:
        path = ROOT / entry
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for candidate in candidates:
            if SKIPPED_PARTS.isdisjoint(candidate.relative_to(ROOT).parts) and candidate.suffix in SCANNED_SUFFIXES:
                yield candidate


def text_of(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return ""


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: inline markup dropped, lower case, every
    character that is not a letter, digit, space, hyphen or underscore removed, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors_of(doc: Path) -> Set[str]:
    """Every heading anchor of ``doc``, duplicates numbered as GitHub numbers them (``-1``, ``-2``)."""
    seen: Dict[str, int] = {}
    anchors = set()
    in_code = False
    for line in text_of(doc).splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        match = HEADING.match(line)
        if in_code or match is None:
            continue
        anchor = github_anchor(match.group(2))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        anchors.add(anchor if count == 0 else f"{anchor}-{count}")
    return anchors


def pointers_in_code() -> Iterator[Tuple[Path, int, str, str]]:
    """(file, line, docs-relative path, anchor or "") of every ``docs/…md`` pointer outside ``docs/``."""
    for path in project_files():
        if DOCS in path.parents or path == THIS_FILE:
            continue
        for number, line in enumerate(text_of(path).splitlines(), 1):
            for match in DOC_POINTER.finditer(line):
                yield path, number, match.group(1), match.group(2) or ""


def links_between_docs() -> Iterator[Tuple[Path, int, Path, str]]:
    """(doc, line, target file, anchor) of every relative Markdown link with an anchor inside ``docs/``."""
    for doc in sorted(DOCS.rglob("*.md")):
        for number, line in enumerate(text_of(doc).splitlines(), 1):
            for match in MARKDOWN_LINK.finditer(line):
                target = match.group(1)
                if "://" in target or target.startswith("mailto:") or "#" not in target:
                    continue
                file_part, anchor = target.split("#", 1)
                yield doc, number, (doc.parent / file_part).resolve() if file_part else doc, anchor


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


# --- no citations of documents outside the project ---------------------------------------------------

def test_no_citation_of_documents_outside_the_project() -> None:
    found = []
    for path in project_files():
        if path == THIS_FILE:
            continue
        for number, line in enumerate(text_of(path).splitlines(), 1):
            hits = [what for what, rx in FORBIDDEN.items() if rx.search(line)]
            found += [f"{where(path, number)}: {what}: {line.strip()}" for what in hits]
    assert not found, "cite docs/ or a public source instead:\n" + "\n".join(found)


@pytest.mark.parametrize("line", [
    "see " + "TRANSLATION" + ".md " + "\u00a7" + "3.1",
    "(SHIM" + ".md " + "\u00a7" + "8)",
    "[I" + ":BerriAI/litellm#13373]",
    "Failure rules (" + "issue" + " #3)",
    "the " + "engine" + " issue allows",
])
def test_the_citation_patterns_catch_what_they_are_for(line: str) -> None:
    assert any(rx.search(line) for rx in FORBIDDEN.values()), line


def test_the_citation_patterns_let_public_sources_through() -> None:
    fine = "https://github.com/BerriAI/litellm/issues/34692 and docs/pitfalls.md#p9 (RFC 9110, section 10.2.3)"
    assert not any(rx.search(fine) for rx in FORBIDDEN.values())


# --- pointers into docs/ resolve -----------------------------------------------------------------------

def test_the_code_points_into_docs_at_all() -> None:
    files = {doc for _path, _line, doc, _anchor in pointers_in_code()}
    assert {"pitfalls.md", "protocol-rules.md", "shim.md", "architecture.md"} <= files, files


def test_every_docs_pointer_in_the_code_resolves_to_a_heading() -> None:
    broken = []
    for path, number, doc, anchor in pointers_in_code():
        target = DOCS / doc
        if not target.is_file():
            broken.append(f"{where(path, number)}: docs/{doc} does not exist")
        elif anchor and anchor not in anchors_of(target):
            broken.append(f"{where(path, number)}: docs/{doc} has no heading for #{anchor}")
    assert not broken, "\n".join(broken)


def test_every_anchored_link_between_docs_resolves() -> None:
    broken = []
    for doc, number, target, anchor in links_between_docs():
        if not target.is_file():
            broken.append(f"{where(doc, number)}: {target.name} does not exist (link to #{anchor})")
        elif anchor not in anchors_of(target):
            broken.append(f"{where(doc, number)}: {target.relative_to(ROOT)} has no heading for #{anchor}")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(("heading", "anchor"), [
    ("Stop reasons", "stop-reasons"),
    ("P9", "p9"),
    ("OpenAI to Anthropic stream", "openai-to-anthropic-stream"),
    ("`max_tokens` and the thinking budget", "max_tokens-and-the-thinking-budget"),
    ("httpx and httpx2", "httpx-and-httpx2"),
    ("What SDKs require (of a response)", "what-sdks-require-of-a-response"),
])
def test_github_anchor(heading: str, anchor: str) -> None:
    assert github_anchor(heading) == anchor


# --- pitfalls ------------------------------------------------------------------------------------------

def test_pitfalls_are_numbered_p1_to_p23_without_gaps() -> None:
    numbered = sorted(int(a[1:]) for a in anchors_of(DOCS / "pitfalls.md") if re.fullmatch(r"p[0-9]+", a))
    assert numbered == list(range(1, PITFALL_COUNT + 1))


def test_every_pitfall_number_the_code_uses_is_documented() -> None:
    unknown = []
    for path in project_files():
        if DOCS in path.parents or path.suffix != ".py":
            continue
        for number, line in enumerate(text_of(path).splitlines(), 1):
            unknown += [f"{where(path, number)}: P{n}" for n in PITFALL_MENTION.findall(line)
                        if not 1 <= int(n) <= PITFALL_COUNT]
    assert not unknown, "\n".join(unknown)


def test_every_test_the_docs_name_exists() -> None:
    missing: List[str] = []
    for doc in sorted(DOCS.rglob("*.md")):
        current = ""
        for number, line in enumerate(text_of(doc).splitlines(), 1):
            for match in TEST_REFERENCE.finditer(line):
                named, name = match.group(1), match.group(2)
                if named and (name or (ROOT / "tests" / named).is_file()):
                    current = named
                if not name:
                    continue
                test_file = ROOT / "tests" / current
                if not current or not test_file.is_file():
                    missing.append(f"{where(doc, number)}: tests/{current} does not exist")
                elif not re.search(rf"^\s*(?:async\s+)?def {name}\(", text_of(test_file), re.MULTILINE):
                    missing.append(f"{where(doc, number)}: tests/{current} has no {name}()")
    assert not missing, "\n".join(missing)
