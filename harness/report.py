"""The conformance summary: one grade per requirement ID, from every case that judged it.

Cases report through pytest's test reports (so xdist workers need no shared files): the IDs a case covers, and
the grades its ``check()`` gave. This module folds them into ``conformance.json`` and ``conformance.md``. An ID's
grade is the worst of its cases (FAILED > NON-STRICT > OK); SKIPPED only when all its cases skipped; ERROR when a
case could not finish (the harness's own error): such an ID is never reported OK (PROTOCOL, preamble).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.catalog import CATALOG, CONTRACT_VERSION

__all__ = ["CaseResult", "Conformance", "ERROR", "NOT_RUN"]

ERROR = "ERROR"
NOT_RUN = "NOT RUN"
RANK = {NOT_RUN: -1, "SKIPPED": 0, "OK": 1, "NON-STRICT": 2, "FAILED": 3, ERROR: 4}


@dataclass
class CaseResult:
    """What one test contributed: its IDs, the grade per ID and the messages behind them."""

    nodeid: str
    ids: tuple[str, ...]
    grades: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    outcome: str = "passed"


@dataclass
class Conformance:
    target: str = ""
    environment: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    cases: list[CaseResult] = field(default_factory=list)

    def grade(self, req_id: str) -> str:
        graded = [c.grades[req_id] for c in self.cases if req_id in c.grades]
        if not graded:
            return NOT_RUN
        if all(g == "SKIPPED" for g in graded):
            return "SKIPPED"
        return max((g for g in graded if g != "SKIPPED"), key=RANK.__getitem__)

    def to_dict(self) -> dict[str, Any]:
        requirements: dict[str, Any] = {}
        summary = dict.fromkeys(RANK, 0)
        for req_id, req in CATALOG.items():
            grade = self.grade(req_id)
            summary[grade] += 1
            cases = [c for c in self.cases if req_id in c.grades]
            requirements[req_id] = {
                "grade": grade,
                "title": req.title,
                "area": req.area.value,
                "section": req.section,
                "cases": [{"nodeid": c.nodeid, "grade": c.grades[req_id]} for c in cases],
                "messages": [m for c in cases for m in c.messages if m.startswith(req_id)][:20],
            }
        return {
            "contract": CONTRACT_VERSION,
            "target": self.target,
            "environment": self.environment,
            "versions": self.versions,
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "summary": {k: v for k, v in summary.items() if v},
            "requirements": requirements,
        }

    def markdown(self, data: dict[str, Any] | None = None) -> str:
        data = data or self.to_dict()
        counts = ", ".join(f"{v} {k}" for k, v in data["summary"].items())
        lines = [
            f"# wsagent conformance — contract {data['contract']}",
            "",
            f"Target `{data['target']}` ({data['environment']}); {counts}.",
            "",
            "| ID | grade | requirement | cases |",
            "|---|---|---|---|",
        ]
        for req_id, row in data["requirements"].items():
            lines.append(f"| {req_id} | {row['grade']} | {row['title']} | {len(row['cases'])} |")
        failing = [(i, r) for i, r in data["requirements"].items() if r["grade"] in ("FAILED", "NON-STRICT", ERROR)]
        if failing:
            lines += ["", "## Findings", ""]
            for req_id, row in failing:
                for message in row["messages"][:5]:
                    lines.append(f"- {message.splitlines()[0]}")
        return "\n".join(lines) + "\n"

    def write(self, directory: Path) -> dict[str, Any]:
        directory.mkdir(parents=True, exist_ok=True)
        data = self.to_dict()
        (directory / "conformance.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        (directory / "conformance.md").write_text(self.markdown(data), encoding="utf-8")
        return data
