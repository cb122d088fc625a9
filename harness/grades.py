"""Grades and findings: the vocabulary every rule speaks, and the grading policy in one place.

A rule never raises; it yields :class:`Finding` values. A requirement's grade in a case is the worst grade of
its findings (FAILED > NON-STRICT > OK); SKIPPED only when every finding is SKIPPED (PROTOCOL, preamble). An ID a
case asked for but no rule judged was not exercised: it is SKIPPED with the precondition that failed, never OK and
never FAILED without evidence (PROTOCOL §8, "Evidence both ways"): :func:`unexercised`.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import NamedTuple

__all__ = ["Finding", "Grade", "combine", "fails", "stale", "unexercised", "worst"]


class Grade(str, Enum):
    """Outcome of one requirement; the value is the spelling used in reports.

    Rules give OK, NON-STRICT, FAILED or SKIPPED. ERROR (the harness could not finish a case: never a grade of the
    target, and never reported OK) and NOT RUN (no selected case names the ID) exist only in a run's summary.
    """

    OK = "OK"
    NON_STRICT = "NON-STRICT"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    ERROR = "ERROR"
    NOT_RUN = "NOT RUN"

    @property
    def severity(self) -> int:
        """Rank used by :func:`worst`: NOT RUN < SKIPPED < OK < NON-STRICT < FAILED < ERROR."""
        return _SEVERITY[self]


_SEVERITY = {Grade.NOT_RUN: -1, Grade.SKIPPED: 0, Grade.OK: 1, Grade.NON_STRICT: 2, Grade.FAILED: 3, Grade.ERROR: 4}


def worst(grades: Iterable[Grade]) -> Grade | None:
    """The combined grade, or ``None`` when nothing was graded."""
    result: Grade | None = None
    for grade in grades:
        if result is None or grade.severity > result.severity:
            result = grade
    return result


def combine(grades: Iterable[Grade]) -> Grade:
    """An ID's grade over a run's cases (PROTOCOL, preamble): the worst; SKIPPED only when every case skipped it;
    NOT RUN when no case judged it."""
    return worst(grades) or Grade.NOT_RUN


def fails(grade: Grade | None, strict: bool) -> bool:
    """Whether a grade fails a case or a run on its own: FAILED always, NON-STRICT under ``--strict`` (ERROR is
    the harness's, and stops a run with exit 2 before this is asked)."""
    return grade is Grade.FAILED or (strict and grade is Grade.NON_STRICT)


def stale(grade: Grade, strict: bool) -> bool:
    """Whether a ``--baseline`` entry with this grade is out of date: the ID was judged and no longer fails."""
    return grade in (Grade.OK, Grade.NON_STRICT) and not fails(grade, strict)


def unexercised(findings: Iterable[Finding], ids: Iterable[str], precondition: str) -> list[Finding]:
    """SKIPPED findings for the IDs of ``ids`` that no finding judged.

    The reason is the precondition that failed: when another requested ID FAILED, that failure (so one defect is
    reported once, under its own ID), else ``precondition``, what the transcript shows kept the case from the rule
    (a refused scenario, a run that got no frame, a refused connection).
    """
    wanted = list(dict.fromkeys(ids))
    judged = {f.rule for f in findings}
    failed = sorted({f.rule for f in findings if f.grade is Grade.FAILED and f.rule in wanted})
    why = f"nothing to judge once {', '.join(failed)} failed" if failed else precondition
    return [Finding(req_id, Grade.SKIPPED, f"not exercised: {why}") for req_id in wanted if req_id not in judged]


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
