"""Judging a transcript: run the rules of the requested IDs and combine their findings into grades.

The judge never raises on what a target sent: a rule that trips over a frame it cannot read turns into a FAILED
finding naming the rule, because a frame the contract cannot read is a verdict on the target, not a harness error.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.catalog import CATALOG
from harness.grades import Finding, Grade, unexercised, worst
from harness.rules import RULES, Context, Limits
from harness.transcript import Transcript
from harness.view import View

__all__ = ["RuleError", "Verdict", "context_meta", "judge", "judge_case", "judge_recorded", "recorded_context"]


@dataclass(frozen=True, slots=True)
class RuleError:
    """A rule that raised on what it was given: a bug of wsagent's to fix, kept as data (tests assert there is none)."""

    req_id: str
    rule: str
    error: str


@dataclass
class Verdict:
    """Findings per requirement ID, plus the frame types the contract does not know (listed, never judged), and the
    rules that raised (:attr:`internal_errors`; each also leaves a FAILED finding, so no crash passes for OK)."""

    findings: list[Finding] = field(default_factory=list)
    unknown_types: dict[str, int] = field(default_factory=dict)
    internal_errors: list[RuleError] = field(default_factory=list)

    def grade(self, req_id: str) -> Grade | None:
        """The worst grade of the ID's findings; ``None`` when the transcript never exercised it."""
        return worst(f.grade for f in self.findings if f.rule == req_id)

    def grades(self) -> dict[str, Grade | None]:
        ids = dict.fromkeys(f.rule for f in self.findings)
        return {req_id: self.grade(req_id) for req_id in ids}

    def of(self, req_id: str) -> list[Finding]:
        return [f for f in self.findings if f.rule == req_id]


def judge(transcript: Transcript, context: Context | None = None, ids: Iterable[str] | None = None) -> Verdict:
    """Judge ``transcript`` for ``ids`` (default: every ID of the catalog); an ID no rule judged has no finding."""
    with _collector_paused():
        view = View(transcript)
        return _judged(view, context or Context(), ids if ids is not None else CATALOG)


def judge_case(transcript: Transcript, context: Context, ids: Iterable[str]) -> Verdict:
    """Judge a case for its IDs: each one gets a grade, an ID no rule judged is SKIPPED with the precondition the
    transcript shows failed (:func:`harness.grades.unexercised`), never OK and never FAILED without evidence."""
    wanted = list(ids)
    with _collector_paused():
        view = View(transcript)
        verdict = _judged(view, context, wanted)
        verdict.findings += unexercised(verdict.findings, wanted, view.obstacles())
    return verdict


def judge_recorded(transcript: Transcript, environment: str | None = None) -> Verdict:
    """Judge a saved transcript as its case was judged (``wsagent check``): the case's IDs, environment, limits and
    capabilities come from its meta, so a replay gives the live run's grades. A transcript without them (written by
    hand, or by an older wsagent) is judged for every ID, in the environment given or recorded."""
    context = recorded_context(transcript.meta, environment)
    ids = transcript.meta.get("ids")
    if isinstance(ids, list) and ids and all(isinstance(i, str) and i in CATALOG for i in ids):
        return judge_case(transcript, context, ids)
    return judge(transcript, context)


def context_meta(context: Context) -> dict[str, Any]:
    """What a transcript's meta keeps of the context it was judged in (read back by :func:`recorded_context`)."""
    return {
        "environment": context.environment,
        "limits": asdict(context.limits),
        "capabilities": sorted(context.capabilities),
    }


def recorded_context(meta: Mapping[str, Any], environment: str | None = None) -> Context:
    """The :class:`Context` a case recorded in its transcript's meta; defaults for whatever is missing or odd."""
    limits = meta.get("limits")
    known = {name for name in Limits.__dataclass_fields__}
    numbers = (
        {
            k: float(v)
            for k, v in limits.items()
            if k in known and isinstance(v, int | float) and not isinstance(v, bool)
        }
        if isinstance(limits, dict)
        else {}
    )
    capabilities = meta.get("capabilities")
    return Context(
        environment=environment or str(meta.get("environment", "development")),
        limits=Limits(**numbers),
        capabilities=frozenset(c for c in capabilities if isinstance(c, str))
        if isinstance(capabilities, list)
        else frozenset(),
    )


def _judged(view: View, ctx: Context, ids: Iterable[str]) -> Verdict:
    verdict = Verdict(unknown_types=view.unknown_types)
    for req_id in ids:
        for rule in RULES.get(req_id, ()):
            try:
                verdict.findings.extend(rule(view, ctx))
            except Exception as exc:  # noqa: BLE001 - a rule must never take the run down with it
                error = RuleError(req_id, rule.__name__, f"{type(exc).__name__}: {exc}")
                verdict.internal_errors.append(error)
                verdict.findings.append(
                    Finding(req_id, Grade.FAILED, f"the frames could not be read by rule {error.rule}: {error.error}")
                )
    return verdict


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while judging: a judgement allocates many small acyclic objects (findings,
    cached lists) next to a large live transcript, and each full collection walks the whole transcript — a quarter
    of the judging time on 35,000 events (bench/bench_rules.py). Reference counting still frees everything."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
