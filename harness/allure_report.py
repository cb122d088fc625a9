"""Allure extras: the run-level files beside the results, the failure timeline, and the single-file HTML report.

Allure reads three optional files from a results directory: ``environment.properties`` (the run's facts, shown on
the overview), ``categories.json`` (failure buckets matched by message regex) and ``executor.json`` (the CI build
that produced them). The plugin writes them once, on the xdist controller, from the grades that already travel in
``user_properties``; nothing here touches pytest, so each piece is testable alone.

QA reads verdicts by requirement, so the report is organised that way: every test result carries the ``epic`` label
(its area) and, once the session's grades are known, one ``feature`` label per requirement ID it judged, reading
"ID GRADE: title"; the HTML report groups by those two (:data:`GROUP_BY`), and the overview's metadata lists every
ID with its grade and title, the conformance table on the report's first page.

The HTML report is Allure 3's "awesome" report as one file, built by the ``allure`` npm package (Node, no Java),
which :mod:`harness.allure_install` installs once; this module only renders.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.allure_install import TIMEOUT, allure_cli
from harness.transcript import Transcript

__all__ = [
    "CATEGORIES",
    "build_html",
    "environment_properties",
    "executor",
    "history_file",
    "label_requirements",
    "requirement_facts",
    "timeline",
    "without_analytics",
    "write_extras",
]


GROUP_BY = ("epic", "feature")
"""The HTML report's tree: area, then "ID GRADE: title", then the cases (Allure 3 ``awesome --group-by``)."""

HIDDEN_LABELS = ("host", "thread", "framework", "language", "package")
"""allure-pytest's labels about the machine, hidden from a case's page (``--hide-labels``) so that the requirement
labels come first and a reader does not need "Show more" to find them."""

REQUIREMENT_LABEL = "requirement"
"""The label holding one requirement ID a case judges, set while the case runs (the grade is not known yet)."""


_ANY = r"[\s\S]*"
"""Spans newlines in both Allure 2 (Java, whole-message match) and Allure 3 (JavaScript, search)."""


def _failed(prefix: str) -> str:
    return f"{_ANY}\\b({prefix})-\\d+ (FAILED|NON-STRICT){_ANY}"


CATEGORIES: tuple[dict[str, Any], ...] = (
    {"name": "Authentication and E2E mode", "matchedStatuses": ["failed"], "messageRegex": _failed("AUTH|E2E")},
    {"name": "Event order and shape", "matchedStatuses": ["failed"], "messageRegex": _failed("EVT")},
    {"name": "Isolation and security", "matchedStatuses": ["failed"], "messageRegex": _failed("ISO|SEC")},
    {"name": "Hard failures", "matchedStatuses": ["failed"], "messageRegex": _failed("FAIL")},
    {"name": "Robustness", "matchedStatuses": ["failed"], "messageRegex": _failed("ROB")},
    {
        "name": "Infrastructure and timeouts",
        "matchedStatuses": ["broken", "failed"],
        "messageRegex": f"{_ANY}([Tt]imeout|timed out|[Rr]efused|unreachable|ConnectionError|OSError){_ANY}",
    },
    {"name": "Harness errors", "matchedStatuses": ["broken"]},
)
"""First match wins; the prefixes are the catalog's areas, so a finding's line ``ID GRADE: ...`` picks its bucket.

Written as ``categories.json`` for Allure 2 readers; Allure 3 takes categories from its config instead (below).
"""

TOLERATED: dict[str, Any] = {
    "name": "Tolerated deviations (NON-STRICT)",
    "matchers": {"statuses": ["passed"], "labels": {"tag": "^NON-STRICT$"}},
}
"""Allure 3 only (Allure 2 categories cannot match passed tests by label): NON-STRICT cases in their own bucket."""


def _escape(value: str) -> str:
    """Java-properties escaping: Allure 2 parses the file with ``java.util.Properties``."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def environment_properties(facts: Mapping[str, str]) -> str:
    keys = (k.replace(" ", "_").replace("=", "_").replace(":", "_") for k in facts)
    return "".join(f"{key}={_escape(value)}\n" for key, value in zip(keys, facts.values(), strict=True))


def executor(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """Who ran the build, from the CI's own variables; ``None`` on a developer's machine (no file is written)."""
    if environ.get("GITHUB_ACTIONS") == "true":
        server = environ.get("GITHUB_SERVER_URL", "")
        repo = environ.get("GITHUB_REPOSITORY", "")
        run_id = environ.get("GITHUB_RUN_ID", "")
        return {
            "name": "GitHub Actions",
            "type": "github",
            "url": f"{server}/{repo}",
            "buildOrder": environ.get("GITHUB_RUN_NUMBER", ""),
            "buildName": f"{environ.get('GITHUB_WORKFLOW', 'workflow')} #{environ.get('GITHUB_RUN_NUMBER', '')}",
            "buildUrl": f"{server}/{repo}/actions/runs/{run_id}" if run_id else "",
        }
    if environ.get("GITLAB_CI") == "true":
        return {
            "name": "GitLab CI",
            "type": "gitlab",
            "url": environ.get("CI_PROJECT_URL", ""),
            "buildOrder": environ.get("CI_PIPELINE_IID", ""),
            "buildName": f"{environ.get('CI_JOB_NAME', 'job')} #{environ.get('CI_PIPELINE_IID', '')}",
            "buildUrl": environ.get("CI_JOB_URL", ""),
        }
    if environ.get("JENKINS_URL"):
        return {
            "name": "Jenkins",
            "type": "jenkins",
            "url": environ.get("JENKINS_URL", ""),
            "buildOrder": environ.get("BUILD_NUMBER", ""),
            "buildName": f"{environ.get('JOB_NAME', 'job')} #{environ.get('BUILD_NUMBER', '')}",
            "buildUrl": environ.get("BUILD_URL", ""),
        }
    if environ.get("CI", "").lower() in ("true", "1"):
        return {"name": "CI", "type": "ci"}
    return None


def requirement_facts(requirements: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
    """Every requirement ID with its grade and title (conformance.json's ``requirements``): the conformance table, as
    metadata rows on the report's overview. Returned as (not OK, OK): the overview shows its first rows and hides the
    rest behind "Show more", so the IDs that need attention go before the run's facts and the OK ones after."""
    rows = {req_id: f"{row['grade']}: {row['title']}" for req_id, row in requirements.items()}
    ok = {req_id: text for req_id, text in rows.items() if requirements[req_id]["grade"] == "OK"}
    return {req_id: text for req_id, text in rows.items() if req_id not in ok}, ok


def label_requirements(results: Path, requirements: Mapping[str, Mapping[str, Any]]) -> None:
    """Give each test result one ``feature`` label "ID GRADE: title" per requirement ID it judged.

    The grade of an ID folds every case that judged it, so it exists only once the session ends; the controller
    adds it here, to the result files allure-pytest wrote while the cases ran.
    """
    for path in results.glob("*-result.json"):
        result = json.loads(path.read_text(encoding="utf-8"))
        ids = [label["value"] for label in result.get("labels", []) if label.get("name") == REQUIREMENT_LABEL]
        if not ids:
            continue
        features = [
            {"name": "feature", "value": f"{i} {requirements[i]['grade']}: {requirements[i]['title']}"}
            for i in ids
            if i in requirements
        ]
        kept = [label for label in result["labels"] if label.get("name") != "feature"]
        after = max(n for n, label in enumerate(kept) if label.get("name") == REQUIREMENT_LABEL) + 1
        result["labels"] = kept[:after] + features + kept[after:]  # beside the IDs: a case page shows its first labels
        path.write_text(json.dumps(result), encoding="utf-8")


def write_extras(results: Path, facts: Mapping[str, str], environ: Mapping[str, str]) -> None:
    """Write the run-level files into an existing allure-results directory (the controller's job, once)."""
    results.mkdir(parents=True, exist_ok=True)
    (results / "environment.properties").write_text(environment_properties(facts), encoding="utf-8")
    (results / "categories.json").write_text(json.dumps(list(CATEGORIES), indent=2) + "\n", encoding="utf-8")
    build = executor(environ)
    if build is not None:
        (results / "executor.json").write_text(json.dumps(build, indent=2) + "\n", encoding="utf-8")


def timeline(transcript: Transcript, marked: Iterable[int], width: int = 240) -> str:
    """One line per record, ``>>`` before the frames a finding points at: the story of a failure, readable.

    The transcript is redacted when recorded, so this only formats; the caller may redact once more.
    """
    marks = set(marked)
    records = list(transcript)
    width_conn = max((len(r.conn) for r in records), default=0)
    lines = []
    for record in records:
        if record.text is not None:
            body = record.text
        else:  # handshakes, closes, probes: the outcome fields that are set; headers are in transcript.jsonl
            body = " ".join(f"{k}={v}" for k, v in record.info.items() if k != "headers" and v not in (None, ""))
        if record.note:
            body += "  [" + " ".join(f"{k}={v}" for k, v in record.note.items() if v is not None) + "]"
        body = body.replace("\n", "\\n")
        if len(body) > width:
            body = body[: width - 1] + "…"
        prefix = ">>" if record.seq in marks else "  "
        lines.append(
            f"{prefix} #{record.seq:<4} +{record.t:7.3f}s {record.conn:{width_conn}} "
            f"{record.direction.value:8} {record.kind.value:9} {body}"
        )
    return "\n".join(lines) + "\n"


def history_file(report_dir: Path) -> Path:
    """Allure 3 keeps trends in one JSON Lines file; outside allure-results so ``wsagent run`` never wipes it."""
    return report_dir / "history" / "history.jsonl"


def build_html(report_dir: Path, name: str = "wsagent conformance") -> Path:
    """Build ``report_dir/html/index.html`` (one self-contained file) from ``report_dir/allure-results``.

    Runs in ``report_dir`` with our own config (categories), so an ``allurerc`` in the user's project cannot
    reshape the report. Raises
    :class:`HtmlUnavailable` when Node is missing and ``RuntimeError`` with Allure's last line when it fails.
    """
    results = report_dir / "allure-results"
    if not results.is_dir():
        raise RuntimeError(
            f"wsagent: no Allure results in {results}: run `wsagent run --report-dir {report_dir}` first"
        )
    command = allure_cli()
    out = report_dir / "html"
    shutil.rmtree(out, ignore_errors=True)
    history = history_file(report_dir)
    history.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wsagent-allure-") as scratch:
        config = Path(scratch) / "allurerc.json"
        config.write_text(json.dumps({"name": name, "categories": [*CATEGORIES, TOLERATED]}), encoding="utf-8")
        try:
            done = subprocess.run(
                [
                    *command,
                    "awesome",
                    str(results.resolve()),
                    "--config",
                    str(config),
                    "--single-file",
                    "--group-by",
                    ",".join(GROUP_BY),
                    *[part for label in HIDDEN_LABELS for part in ("--hide-labels", label)],
                    "--output",
                    str(out.resolve()),
                    "--report-name",
                    name,
                    "--history-path",
                    str(history.resolve()),
                ],
                cwd=report_dir,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"wsagent: Allure did not build the HTML report within {TIMEOUT} s") from None
    index = out / "index.html"
    if done.returncode != 0 or not index.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"wsagent: Allure could not build the HTML report (exit {done.returncode}): {tail[0]}")
    index.write_text(with_page_fixes(without_analytics(index.read_text(encoding="utf-8"))), encoding="utf-8")
    return index


PAGE_FIXES = (
    '<style id="wsagent-whole-labels">'
    "[data-testid=metadata-item-value]{flex-wrap:wrap;row-gap:4px}"
    "[data-testid=metadata-item-value]>div{flex-shrink:0;max-width:100%}"
    "[data-testid=metadata-item-value] span{white-space:normal}"
    "</style>"
    '<script id="wsagent-open-at-top">'
    "(()=>{let moved=false;const mine=()=>{moved=true};"
    'for(const kind of ["wheel","keydown","pointerdown","touchstart"])'
    "addEventListener(kind,mine,{capture:true,once:true});"
    'document.addEventListener("scroll",e=>{const t=e.target;'
    'if(!moved&&t instanceof Element&&t.matches("[data-testid=base-layout]")&&t.scrollTop)t.scrollTop=0},true)})();'
    "</script>"
)
"""Two corrections to Allure 3.18's page, both checked by the browser test. Labels: a label's values are squeezed
into one row and each cut to "E…", so a case judging eight IDs showed none of them; wrapped, every value is whole.
Opening: the page scrolls its first test into view on load, past the overview and its conformance rows; until the
reader scrolls, clicks or types, the page stays at the top."""


def with_page_fixes(html: str) -> str:
    """The page with :data:`PAGE_FIXES` in its head."""
    return html.replace("</head>", PAGE_FIXES + "</head>", 1)


_ANALYTICS = re.compile(
    r"<script async src=\"https://www\.googletagmanager\.com/[^\"]*\"></script>\s*<script>[^<]*?gtag\([^<]*?</script>"
)


def without_analytics(html: str) -> str:
    """The page without Allure 3's web-analytics tag: a conformance report must not call a third party when opened
    (Allure 3.18 "awesome" always adds it; ``ALLURE_NO_ANALYTICS`` only reaches the classic report)."""
    return _ANALYTICS.sub("", html)
