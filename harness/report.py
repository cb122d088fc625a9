"""The conformance summary: one grade per requirement ID, from every case that judged it.

Cases report through pytest's test reports (so xdist workers need no shared files): the IDs a case covers, and
the grades its ``check()`` gave. This module folds them into ``conformance.json`` and ``conformance.md``. An ID's
grade is the worst of its cases (FAILED > NON-STRICT > OK); SKIPPED only when all its cases skipped; ERROR when a
case could not finish (the harness's own error): such an ID is never reported OK (PROTOCOL, preamble).

A baseline (expected failures) is applied afterwards by ``wsagent run``: :func:`apply_baseline` marks the listed
IDs in the data and :func:`markdown` shows them, so the JSON and the Markdown always agree with the exit code.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.catalog import CATALOG, CONTRACT_VERSION
from harness.errors import ConfigError
from harness.grades import Grade, combine, fails, stale

__all__ = [
    "CaseResult",
    "Conformance",
    "ERROR",
    "NOT_RUN",
    "apply_baseline",
    "load_baseline",
    "markdown",
    "step_summary",
]

ERROR = Grade.ERROR.value
NOT_RUN = Grade.NOT_RUN.value
STATUSES = ("passed", "failed", "broken", "skipped")
MESSAGES_KEPT = 20
"""Findings per ID in conformance.json (``more_messages`` counts the rest; every case's transcript has them all)."""
MESSAGES_SHOWN = 5
"""Findings per ID in conformance.md, followed by how many more there are."""
"""Allure's test statuses, counted per case in ``tests`` so the HTML report's numbers can be checked."""


@dataclass
class CaseResult:
    """What one test contributed: its IDs, the grade per ID and the messages behind them."""

    nodeid: str
    ids: tuple[str, ...]
    grades: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    outcome: str = "passed"
    """The status Allure gives the test: passed, failed, broken or skipped."""
    wait: dict[str, Any] | None = None
    """The deliberate wait the case declares (``seconds``, ``reason``): time the contract imposes, not slowness."""


@dataclass
class Conformance:
    target: str = ""
    environment: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    cases: list[CaseResult] = field(default_factory=list)
    aborted: str | None = None
    """Why the session stopped early (the harness's one line), or ``None``: grades then cover only what ran."""

    def grade(self, req_id: str) -> str:
        return combine(Grade(c.grades[req_id]) for c in self.cases if req_id in c.grades).value

    def to_dict(self) -> dict[str, Any]:
        requirements: dict[str, Any] = {}
        summary = dict.fromkeys(sorted((g.value for g in Grade), key=lambda v: Grade(v).severity), 0)
        for req_id, req in CATALOG.items():
            grade = self.grade(req_id)
            summary[grade] += 1
            cases = [c for c in self.cases if req_id in c.grades]
            messages = _messages(req_id, grade, cases)
            requirements[req_id] = {
                "grade": grade,
                "title": req.title,
                "area": req.area.value,
                "section": req.section,
                "cases": [{"nodeid": c.nodeid, "grade": c.grades[req_id]} for c in cases],
                "messages": messages[:MESSAGES_KEPT],
                "more_messages": max(0, len(messages) - MESSAGES_KEPT),
            }
        return {
            "contract": CONTRACT_VERSION,
            "target": self.target,
            "environment": self.environment,
            "versions": self.versions,
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "aborted": self.aborted,
            "summary": {k: v for k, v in summary.items() if v},
            "tests": _tests(self.cases),
            "deliberate_waits": [{"nodeid": c.nodeid, **c.wait} for c in self.cases if c.wait],
            "skipped": [{"nodeid": c.nodeid, "reason": _reason(c)} for c in self.cases if c.outcome == "skipped"],
            "requirements": requirements,
        }

    def markdown(self, data: dict[str, Any] | None = None) -> str:
        return markdown(data or self.to_dict())

    def write(self, directory: Path) -> dict[str, Any]:
        directory.mkdir(parents=True, exist_ok=True)
        data = self.to_dict()
        (directory / "conformance.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        (directory / "conformance.md").write_text(markdown(data), encoding="utf-8")
        return data


def _reason(case: CaseResult) -> str:
    """A skipped case's reason: its first message without the ``ID GRADE:`` and node id prefixes."""
    if not case.messages:
        return ""
    return case.messages[0].split(": ", 1)[-1].removeprefix(f"{case.nodeid}: ")


def _tests(cases: list[CaseResult]) -> dict[str, int]:
    counts = Counter(c.outcome for c in cases)
    return {"total": len(cases), **{status: counts[status] for status in STATUSES}}


def load_baseline(path: Path) -> frozenset[str]:
    """Expected failures: ``{"requirements": ["EVT-7", ...]}`` in JSON, or one ID per line (``#`` comments)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"wsagent: cannot read baseline {path}: {exc.strerror or exc}") from None
    if text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"wsagent: baseline {path} is not valid JSON: {exc}") from None
        ids = data.get("requirements") if isinstance(data, dict) else data
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ConfigError(f'wsagent: baseline {path} must be {{"requirements": ["ID", ...]}}')
    else:
        ids = [line.split("#", 1)[0].strip() for line in text.splitlines()]
        ids = [i for i in ids if i]
    unknown = sorted(set(ids) - set(CATALOG))
    if unknown:
        raise ConfigError(f"wsagent: baseline {path} names unknown requirement IDs: {', '.join(unknown)}")
    return frozenset(ids)


def apply_baseline(data: dict[str, Any], baseline: Iterable[str], strict: bool) -> dict[str, Any]:
    """Mark each listed ID ``expected`` (it still fails: tolerated) or ``stale`` (it no longer fails: remove it).

    An ID that was skipped or not run is neither: this run says nothing about it.
    """
    listed = sorted(set(baseline))
    for req_id in listed:
        row = data["requirements"][req_id]
        if fails(Grade(row["grade"]), strict):
            row["baseline"] = "expected"
        elif stale(Grade(row["grade"]), strict):
            row["baseline"] = "stale"
    data["baseline"] = listed
    return data


def _messages(req_id: str, grade: str, cases: list[CaseResult]) -> list[str]:
    """An ID's findings, each once (two cases can find the same thing), those of the ID's own grade first."""
    unique = list(dict.fromkeys(m for c in cases for m in c.messages if m.startswith(f"{req_id} ")))
    return sorted(unique, key=lambda m: not m.startswith(f"{req_id} {grade}:"))


def _shown(row: dict[str, Any]) -> str:
    mark = row.get("baseline")
    if mark == "expected":
        return f"{row['grade']} (baseline)"
    if mark == "stale":
        return f"{row['grade']} (stale baseline)"
    return str(row["grade"])


def _section(heading: str, intro: str, items: list[str]) -> list[str]:
    """A conformance.md section with its one-line introduction, or nothing when it has no items."""
    return ["", f"## {heading}", "", intro, "", *items] if items else []


def markdown(data: dict[str, Any]) -> str:
    """conformance.md: the grade table, then the findings behind every grade that is not OK."""
    lines = _table(data)
    bad = [(i, r) for i, r in data["requirements"].items() if r["grade"] in ("FAILED", "NON-STRICT", ERROR, "SKIPPED")]
    if bad:
        lines += ["", "## Findings", ""]
        for req_id, row in bad:
            lines += [f"- {message.splitlines()[0]}" for message in row["messages"][:MESSAGES_SHOWN]]
            more = len(row["messages"]) - MESSAGES_SHOWN + row.get("more_messages", 0)
            if more > 0:
                lines.append(
                    f"- … and {more} more {req_id} finding{'s' if more > 1 else ''} (conformance.json, the cases' "
                    "transcripts)"
                )
    lines += _section(
        "Skipped cases",
        "Cases that did not run, and why (an ID another case judged keeps that grade):",
        [f"- `{s['nodeid']}`: {s['reason']}" for s in data.get("skipped", [])],
    )
    lines += _section(
        "Deliberate waits",
        "Time the contract itself may impose on these cases, at most (not slowness of the target; a target that "
        "refuses the scenario imposes none):",
        [f"- `{w['nodeid']}`: up to {w['seconds']:g} s, {w['reason']}" for w in data.get("deliberate_waits", [])],
    )
    return "\n".join(lines) + "\n"


def step_summary(data: dict[str, Any], details: Path) -> str:
    """A CI job summary (GitHub's ``$GITHUB_STEP_SUMMARY``): the heading, why the run stopped if it did, and the
    grade table; the findings stay in ``details``, which can be long."""
    return "\n".join([*_table(data), "", f"Findings and skipped cases: `{details}`."]) + "\n\n"


def _table(data: dict[str, Any]) -> list[str]:
    """The heading, the counts, the abort reason with the exit code, the baseline notes and the grade table."""
    counts = ", ".join(f"{v} {k}" for k, v in data["summary"].items())
    expected = [i for i, r in data["requirements"].items() if r.get("baseline") == "expected"]
    stale = [i for i, r in data["requirements"].items() if r.get("baseline") == "stale"]
    lines = [
        f"# wsagent conformance — contract {data['contract']}",
        "",
        f"Target `{data['target']}` ({data['environment']}); {counts}.",
    ]
    if data.get("aborted"):
        code = f" (exit {data['exit_code']})" if "exit_code" in data else ""
        ran = any(row["grade"] != NOT_RUN for row in data["requirements"].values())
        scope = "The grades below cover only the cases that ran." if ran else "No case ran."
        lines += [
            "",
            f"**Run aborted, not a verdict:** {str(data['aborted']).removeprefix('wsagent: ')}{code}. {scope}",
        ]
    if expected:
        lines.append(f"Baseline (expected failures, tolerated): {', '.join(expected)}.")
    if stale:
        lines.append(f"Stale baseline (listed but no longer failing; remove them): {', '.join(stale)}.")
    lines += ["", "| ID | grade | requirement | cases |", "|---|---|---|---|"]
    for req_id, row in data["requirements"].items():
        lines.append(f"| {req_id} | {_shown(row)} | {row['title']} | {len(row['cases'])} |")
    return lines
