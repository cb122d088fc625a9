"""Project tests: the self-test's fault × requirement matrix and mutation score, printed on the controller; and the
tests pass whatever the calling shell holds.

A developer who tests staging has ``JWT_SECRET_KEY``, ``WSAGENT_*``, ``ENVIRONMENT`` or ``E2E_*`` exported; the
plugin (loaded in this process) and every subprocess a test starts would read them. They are removed here, when
pytest loads this file, before the plugin resolves its configuration; a test sets what it means to.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from harness.catalog import CATALOG
from tests.shell import SETTINGS

for _name in [name for name in os.environ if name.startswith(SETTINGS)]:
    del os.environ[_name]

SHORT = {"OK": ".", "FAILED": "F", "NON-STRICT": "n", "SKIPPED": "s", "ERROR": "E", "NOT RUN": " "}


WIDTH = 120
"""Columns the matrix may use: it wraps into blocks of whole requirement IDs rather than cut them."""
CELL = 7
"""One ID's column: the longest ID (``FAIL-1``) and a space."""


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
    write("")
    write("fault-injection matrix (. OK, F FAILED, n NON-STRICT, s SKIPPED, E ERROR; * = the fault declares it)")
    for line in matrix([row for row, _ in sorted(rows, key=lambda r: r[0]["fault"])]):
        write(line)
    faults = sum(1 for row, _ in rows if row["breaks"])
    caught = sum(1 for row, passed in rows if row["breaks"] and passed)
    false_failures = [r for r, ok in rows if not r["breaks"] and not ok]
    if faults:
        write(f"mutation score: {caught}/{faults} faults caught ({100 * caught // faults}%); false failures: {len(false_failures)}")


def matrix(rows: list[dict[str, Any]], width: int = WIDTH) -> list[str]:
    """The fault × ID table in blocks of whole IDs, each block a header and one line per fault, within ``width``."""
    ids = list(CATALOG)
    name_width = max(len("fault"), *(len(row["fault"]) for row in rows))
    per_block = max(1, (width - name_width - 1) // CELL)
    lines: list[str] = []
    for start in range(0, len(ids), per_block):
        block = ids[start:start + per_block]
        if start:
            lines.append("")
        lines.append((f"{'fault':{name_width}} " + "".join(f"{i:{CELL}}" for i in block)).rstrip())
        for row in rows:
            cells = (SHORT.get(row["grades"].get(i, "NOT RUN"), "?") + ("*" if i in row["breaks"] else "") for i in block)
            lines.append((f"{row['fault']:{name_width}} " + "".join(f"{cell:{CELL}}" for cell in cells)).rstrip())
    return lines
