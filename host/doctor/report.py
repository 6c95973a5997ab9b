"""What ``router doctor`` found: checks grouped in sections, as text a user can paste or as JSON.

Each check has one of five named outcomes. Only :data:`FAIL` makes the doctor exit non-zero: a
warning is worth reading but routing works, and info lines only describe the setup.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

__all__ = ["FAIL", "INFO", "MARKS", "OK", "SKIP", "STATUSES", "WARN", "Check", "DoctorReport", "Section"]

OK = "ok"
FAIL = "fail"
WARN = "warn"
INFO = "info"
SKIP = "skip"  # a step that could not run because an earlier one failed (no TCP without DNS)
STATUSES = (OK, FAIL, WARN, INFO, SKIP)
MARKS = {OK: "✓", FAIL: "✗", WARN: "!", INFO: "·", SKIP: "-"}


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, what was found, and, when it is not fine, the fix."""

    status: str
    what: str
    detail: str = ""
    fix: Optional[str] = None

    def lines(self) -> List[str]:
        text = f"  {MARKS[self.status]} {self.what}" + (f": {self.detail}" if self.detail else "")
        return [text] + ([f"      fix: {self.fix}"] if self.fix else [])

    def as_dict(self) -> Dict[str, Any]:
        return {"status": self.status, "what": self.what, "detail": self.detail, "fix": self.fix}


@dataclass
class Section:
    """A titled group of checks (``versions``, ``config``, ``backend openai`` …)."""

    title: str
    checks: List[Check] = field(default_factory=list)

    def add(self, status: str, what: str, detail: str = "", fix: Optional[str] = None) -> Check:
        check = Check(status, what, detail, fix)
        self.checks.append(check)
        return check

    @property
    def failed(self) -> bool:
        return any(check.status == FAIL for check in self.checks)


@dataclass
class DoctorReport:
    """Every section, in the order the doctor ran them."""

    sections: List[Section] = field(default_factory=list)

    @property
    def failures(self) -> List[Check]:
        return [check for section in self.sections for check in section.checks if check.status == FAIL]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def text(self) -> str:
        lines: List[str] = []
        for section in self.sections:
            lines.append(section.title)
            for check in section.checks:
                lines.extend(check.lines())
        failures = len(self.failures)
        lines.append("all checks passed" if not failures else f"{failures} problem{'s' * (failures != 1)} found")
        return "\n".join(lines)

    def as_dict(self) -> Dict[str, Any]:
        return {
            "ok": self.ok,
            "failures": len(self.failures),
            "sections": [{"title": s.title, "checks": [c.as_dict() for c in s.checks]} for s in self.sections],
        }
