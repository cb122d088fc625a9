"""Project tests: the self-test's variant × requirement and fault × requirement matrices, printed on the controller
at the end of the session (within 120 columns, whole requirement IDs) and written to ``reports/selftest-matrix.md``
(gitignored, beside wsagent's own reports); and the tests pass whatever the calling shell holds.

A developer who tests staging has ``JWT_SECRET_KEY``, ``WSAGENT_*``, ``ENVIRONMENT`` or ``E2E_*`` exported; the
plugin (loaded in this process) and every subprocess a test starts would read them. They are removed here, when
pytest loads this file, before the plugin resolves its configuration; a test sets what it means to.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from harness.catalog import CATALOG
from tests.shell import SETTINGS

for _name in [name for name in os.environ if name.startswith(SETTINGS)]:
    del os.environ[_name]

SHORT = {"OK": ".", "FAILED": "F", "NON-STRICT": "n", "SKIPPED": "s", "ERROR": "E", "NOT RUN": " "}
OUTCOMES = {"passed": "ok", "failed": "FAIL", "xfailed": "xfail", "xpassed": "XPASS"}
MATRIX_FILE = Path("reports") / "selftest-matrix.md"
TITLES = {
    "variant": "variant matrix: a legitimate backend per row; * = the row declares the ID (NON-STRICT, or FAILED: not offered)",
    "fault": "fault-injection matrix: * = the fault declares the ID",
}


def _rows(terminalreporter: Any) -> list[tuple[dict[str, Any], str]]:
    rows = []
    for outcome, shown in OUTCOMES.items():
        for report in terminalreporter.stats.get(outcome, []):
            for name, value in getattr(report, "user_properties", []):
                if name == "selftest":
                    rows.append((json.loads(value), shown))
    return sorted(rows, key=lambda r: (r[0]["kind"], r[0]["row"]))


WIDTH = 120
"""Columns a matrix may use: it wraps into blocks of whole requirement IDs rather than cut them."""
CELL = 7
"""One ID's column: the longest ID (``FAIL-1``) and a space."""


def _matrix(kind: str, rows: list[tuple[dict[str, Any], str]], width: int = WIDTH) -> list[str]:
    """The kind's table in blocks of whole IDs, each block a header and one line per row (the test's outcome last)."""
    ids = list(CATALOG)
    name_width = max(len(kind), *(len(row["row"]) for row, _ in rows))
    per_block = max(1, (width - name_width - 1 - len(" XPASS")) // CELL)
    lines = [TITLES[kind], "(. OK, F FAILED, n NON-STRICT, s SKIPPED, E ERROR, blank: not run; last column: the test's outcome)"]
    for start in range(0, len(ids), per_block):
        block = ids[start:start + per_block]
        lines.append("")
        lines.append((f"{kind:{name_width}} " + "".join(f"{i:{CELL}}" for i in block)).rstrip())
        for row, outcome in rows:
            cells = (SHORT.get(row["grades"].get(i, "NOT RUN"), "?") + ("*" if i in row["declared"] else "") for i in block)
            lines.append(f"{row['row']:{name_width}} " + "".join(f"{cell:{CELL}}" for cell in cells) + outcome)
    return lines


def _unexpected(rows: list[tuple[dict[str, Any], str]]) -> list[str]:
    """Every cell nobody declared, with the harness's own finding: what the lead reads first."""
    lines = []
    for row, outcome in rows:
        for req_id, messages in row["unexpected"].items():
            for message in messages or ["(no message)"]:
                lines.append(f"- {row['kind']} {row['row']} [{outcome}] {req_id}: {message}")
    return lines


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller has every row
    rows = _rows(terminalreporter)
    if not rows:
        return
    text: list[str] = []
    for kind in TITLES:
        of_kind = [r for r in rows if r[0]["kind"] == kind]
        if of_kind:
            text += ["", *_matrix(kind, of_kind)]
    faults = [row for row, _ in rows if row["kind"] == "fault"]
    if faults:
        caught = sum(all(row["grades"].get(i) == grade for i, grade in row["declared"].items()) for row in faults)
        alone = sum(not row["unexpected"] for row in faults)
        text.append(f"mutation score: {caught}/{len(faults)} faults caught ({100 * caught // len(faults)}%); "
                    f"{alone}/{len(faults)} raise no undeclared alarm")
    unexpected = _unexpected(rows)
    text += ["", f"undeclared grades ({len(unexpected)}):", *unexpected]
    for line in text:
        terminalreporter.write_line(line)
    path = config.rootpath / MATRIX_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# wsagent self-test matrices\n\n```\n" + "\n".join(text).strip() + "\n```\n", encoding="utf-8")
    terminalreporter.write_line(f"self-test matrices written to {path}")
