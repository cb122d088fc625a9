"""One case on its Allure page: its area and requirement labels, the redacted transcript, the findings, and for a
failure the timeline; the plugin calls :func:`label` at setup and :func:`attach` at the end of the call phase.

The single-file HTML report is built from these results by :mod:`harness.allure_report`.
"""

from __future__ import annotations

import json

from harness.allure_report import REQUIREMENT_LABEL, timeline
from harness.case import Case
from harness.catalog import CATALOG
from harness.grades import Grade
from harness.transcript import Redactor

__all__ = ["NON_STRICT_TAG", "attach", "label"]

NON_STRICT_TAG = "NON-STRICT"
"""The tag a NON-STRICT case gets, so it does not hide among the passed ones (the report's categories match it)."""


def label(ids: tuple[str, ...]) -> None:
    """The case's area (epic) and requirement IDs on its Allure page, set at setup so a case skipped by a fixture is
    grouped by requirement too; the controller adds "ID GRADE: title" features once the grades are known."""
    try:
        import allure
    except ImportError:  # allure-pytest is a dependency; this only guards a broken install
        return
    for req_id in ids:
        allure.dynamic.label(REQUIREMENT_LABEL, req_id)
    for area in dict.fromkeys(CATALOG[req_id].area.value for req_id in ids):
        allure.dynamic.epic(area)


def attach(case: Case) -> None:
    """The redacted transcript, the findings and, for a failure, its timeline, on the test's Allure page.

    Called at the end of the test's call phase: attached later (fixture teardown) they would land under the
    fixture's "tear down" section instead of the test itself.
    """
    try:
        import allure
    except ImportError:  # allure-pytest is a dependency; this only guards a broken install
        return
    allure.attach(case.transcript.dumps(), "transcript.jsonl", allure.attachment_type.JSON)
    if case.outcome is None:
        return
    allure.attach(json.dumps(case.outcome.to_dict(), indent=2), "findings.json", allure.attachment_type.JSON)
    findings = [f for f in case.outcome.verdict.findings if f.rule in case.outcome.grades]
    tolerated = [f for f in findings if f.grade is Grade.NON_STRICT]
    if tolerated:
        # A NON-STRICT case passes (unless --strict), so without a tag it would hide among the green ones.
        allure.dynamic.tag(NON_STRICT_TAG)
        verdict = "Failed (--strict)" if case.config.strict else "Passed NON-STRICT (fails with --strict)"
        allure.dynamic.description(
            f"{verdict}: the target deviates where the contract tolerates it.\n\n"
            + "\n".join(f"- {f.rule} NON-STRICT: {f.message}" for f in tolerated)
        )
    bad = [f for f in findings if f.grade in (Grade.FAILED, Grade.NON_STRICT)]
    if bad:
        marked = {index for f in bad for index in f.frames}
        text = case.describe(bad) + "\n\n" + timeline(case.transcript, marked)
        redact = Redactor.for_token(None, case.target.secret)  # recorded text is redacted already; belt and braces
        allure.attach(redact(text), "timeline.txt", allure.attachment_type.TEXT)
