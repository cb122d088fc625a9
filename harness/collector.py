"""The conformance summary of a pytest session: each finished case's grades, folded on the xdist controller.

Grades leave an xdist worker only inside ``report.user_properties`` (``PROPERTY`` holds a judged case's outcome,
``IDS_PROPERTY`` the requirement IDs of every marked case, judged or not), so the summary, conformance.json/.md and
the Allure extras are written once, by the process that sees every report.
"""

from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path

import pytest

from harness import __version__
from harness.allure_report import label_requirements, requirement_facts, write_extras
from harness.case import Case
from harness.catalog import CONTRACT_VERSION
from harness.config import HarnessConfig, safe_url
from harness.grades import Grade
from harness.report import ERROR, CaseResult, Conformance

__all__ = ["ABORTED_FILE", "IDS_PROPERTY", "PROPERTY", "WAIT_PROPERTY", "Collector", "hand_over"]

PROPERTY = "wsagent"
IDS_PROPERTY = "wsagent_ids"
WAIT_PROPERTY = "wsagent_wait"
ABORTED_FILE = ".aborted"
"""Where an aborting process (an xdist worker, say) leaves its one line for the collector; read once and removed."""


def hand_over(item: pytest.Item, case: Case) -> None:
    """Hand the grades to the controller (the only channel out of an xdist worker); keep the evidence of a case
    that is not all OK (every case's with ``--wsagent-transcripts=all``) as ``<report-dir>/transcripts/<test>.jsonl``,
    which ``wsagent check`` judges again offline, as the case was judged."""
    if case.outcome is None:
        return
    item.user_properties.append((PROPERTY, json.dumps(case.outcome.to_dict())))
    report_dir = case.config.report_dir
    if report_dir is not None and (case.config.transcripts == "all" or set(case.outcome.grades.values()) != {Grade.OK}):
        folder = report_dir / "transcripts"
        folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", item.nodeid)
        (folder / f"{name}.jsonl").write_text(case.transcript.dumps(), encoding="utf-8")


class Collector:
    """Folds finished cases into the conformance summary, on the xdist controller or the only process."""

    def __init__(self, config: HarnessConfig) -> None:
        self.config = config
        self.results = Conformance(environment=config.environment)
        self.failures: dict[str, pytest.TestReport] = {}
        self.aborted: str | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if IDS_PROPERTY not in props:
            return
        if report.when != "teardown":
            if report.outcome != "passed":
                self.failures[report.nodeid] = report
            return
        ids = tuple(str(props[IDS_PROPERTY]).split(","))
        result = CaseResult(report.nodeid, ids)
        if WAIT_PROPERTY in props:
            result.wait = json.loads(str(props[WAIT_PROPERTY]))
        earlier = self.failures.pop(report.nodeid, None)
        result.outcome = _allure_status(earlier, report, judged=PROPERTY in props)
        if PROPERTY in props:
            outcome = json.loads(str(props[PROPERTY]))
            result.grades = dict(outcome["grades"])
            result.messages = [
                f"{f['rule']} {f['grade']}: {f['message']}" for f in outcome["findings"] if f["grade"] != "OK"
            ]
            self.results.target = outcome["target"]
            self.results.environment = outcome["environment"]
            self.results.versions["server"] = outcome["server_version"]
        elif earlier is not None:
            grade = "SKIPPED" if earlier.skipped else ERROR
            reason = _reason(earlier)
            result.grades = dict.fromkeys(ids, grade)
            result.messages = [f"{i} {grade}: {report.nodeid}: {reason}" for i in ids]
        self.results.cases.append(result)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """``pytest.exit`` (a harness error stopping the session) arrives here too: keep its one line for the report."""
        self.aborted = str(getattr(excinfo.value, "msg", "") or excinfo.value or "interrupted")

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if hasattr(session.config, "workerinput"):
            return
        left = self.config.report_dir / ABORTED_FILE if self.config.report_dir is not None else None
        if left is not None and left.exists():
            self.aborted = left.read_text(encoding="utf-8")
            left.unlink()
        if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
            self.results.aborted = self.aborted or f"the session ended early (pytest exit status {int(exitstatus)})"
        if not self.results.cases and self.results.aborted is None:
            return
        self.results.target = safe_url(self.results.target or self.config.target or "embedded reference server")
        self.results.versions["harness"] = __version__
        data = (
            self.results.write(self.config.report_dir) if self.config.report_dir is not None else self.results.to_dict()
        )
        results_dir = session.config.getoption("allure_report_dir", None)
        if results_dir:
            attention, ok = requirement_facts(data["requirements"])
            write_extras(Path(results_dir), {**attention, **self.facts(), **ok}, os.environ)
            label_requirements(Path(results_dir), data["requirements"])

    def facts(self) -> dict[str, str]:
        """What ``environment.properties`` shows on the report's overview: enough to tell two runs apart."""
        return {
            "target": self.results.target,
            "environment": self.results.environment or self.config.environment,
            "contract": CONTRACT_VERSION,
            "harness": self.results.versions.get("harness", __version__),
            "server": self.results.versions.get("server", "unknown"),
            "strict": str(self.config.strict).lower(),
            "python": platform.python_version(),
        }


def _allure_status(earlier: pytest.TestReport | None, teardown: pytest.TestReport, *, judged: bool) -> str:
    """The status Allure gives the test (failed: a verdict or an assertion; broken: anything else).

    Counted in conformance.json so the HTML report's numbers can be checked against ours.
    """
    if earlier is None:
        return "broken" if teardown.failed else "passed"
    if earlier.skipped:
        return "skipped"
    if earlier.when != "call":
        return "broken"
    if judged:
        return "failed"
    crash = getattr(earlier.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(earlier.longrepr)
    return "failed" if message.startswith(("AssertionError", "assert", "Failed")) else "broken"


def _reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(longrepr)
    return text.splitlines()[0] if text else "unknown error"
