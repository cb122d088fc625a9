"""Project tests: the self-test's fault × requirement matrix and mutation score, printed on the controller; and no
test writes into the job summary of the CI that runs them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.catalog import CATALOG

SHORT = {"OK": ".", "FAILED": "F", "NON-STRICT": "n", "SKIPPED": "s", "ERROR": "E", "NOT RUN": " "}


@pytest.fixture(autouse=True)
def no_job_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """``wsagent run`` appends to ``$GITHUB_STEP_SUMMARY``; the project's own tests must not, in GitHub Actions."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    rows = []
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            for name, value in getattr(report, "user_properties", []):
                if name == "selftest":
                    rows.append((json.loads(value), outcome == "passed"))
    if not rows:
        return
    write = terminalreporter.write_line
    ids = list(CATALOG)
    write("")
    write("fault-injection matrix (. OK, F FAILED, n NON-STRICT, s SKIPPED, E ERROR; * = the fault declares it)")
    write(f"{'fault':28} " + " ".join(f"{i[:2]}{i.split('-')[1]:<2}" for i in ids))
    faults = caught = 0
    for row, passed in sorted(rows, key=lambda r: r[0]["fault"]):
        cells = []
        for req_id in ids:
            mark = SHORT.get(row["grades"].get(req_id, "NOT RUN"), "?")
            cells.append(f"{mark}{'*' if req_id in row['breaks'] else ' '}  ")
        write(f"{row['fault'][:28]:28} " + " ".join(cells))
        if row["breaks"]:
            faults += 1
            caught += passed
    false_failures = [r for r, ok in rows if not r["breaks"] and not ok]
    if faults:
        write(f"mutation score: {caught}/{faults} faults caught ({100 * caught // faults}%); false failures: {len(false_failures)}")
