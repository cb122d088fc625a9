"""Grades and findings: the vocabulary every rule speaks.

A rule never raises; it yields :class:`Finding` values. A requirement's grade in a case is the worst grade of
its findings (FAILED > NON-STRICT > OK); SKIPPED only when every finding is SKIPPED (PROTOCOL, preamble).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import NamedTuple

__all__ = ["Finding", "Grade", "worst"]


class Grade(str, Enum):
    """Outcome of one requirement; the value is the spelling used in reports."""

    OK = "OK"
    NON_STRICT = "NON-STRICT"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"

    @property
    def severity(self) -> int:
        """Rank used by :func:`worst`: SKIPPED < OK < NON-STRICT < FAILED."""
        return _SEVERITY[self]


_SEVERITY = {Grade.SKIPPED: 0, Grade.OK: 1, Grade.NON_STRICT: 2, Grade.FAILED: 3}


def worst(grades: Iterable[Grade]) -> Grade | None:
    """The combined grade, or ``None`` when nothing was graded."""
    result: Grade | None = None
    for grade in grades:
        if result is None or grade.severity > result.severity:
            result = grade
    return result


class Finding(NamedTuple):
    """One judgement of one requirement: what was expected, what came, and which recorded frames show it.

    A named tuple rather than a frozen dataclass: a judgement builds about one per run per rule, and a frozen
    dataclass costs three times as much to build (bench/bench_rules.py).
    """

    rule: str
    grade: Grade
    message: str
    frames: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "grade": self.grade.value, "message": self.message, "frames": list(self.frames)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Finding:
        frames = data.get("frames")
        indexes = tuple(int(i) for i in frames) if isinstance(frames, list | tuple) else ()
        return cls(str(data["rule"]), Grade(data["grade"]), str(data["message"]), indexes)
