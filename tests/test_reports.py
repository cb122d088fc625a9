"""The reports a QA engineer reads: exit codes with a baseline, conformance.md, and what lands in allure-results.

Most tests here are pure (no sockets): the verdict, the baseline file, Allure's categories, executor and
environment files, the failure timeline. One module-scoped ``wsagent run`` against the embedded server with two
faults checks that the pieces reach the real allure-results: the files written once by the controller, the
timeline on a FAILED case, the NON-STRICT tag, the per-test counts, and that no secret or token is in any report.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness import allure_report, cli
from harness.allure_report import CATEGORIES, environment_properties, executor, timeline, without_analytics, write_extras
from harness.catalog import CATALOG
from harness.config import safe_url
from harness.errors import ConfigError
from harness.report import CaseResult, Conformance, apply_baseline, load_baseline, markdown
from harness.transcript import Direction, Kind, Transcript
from tests.shell import WSAGENT, user_env, wsagent

SECRET = "reports-test-secret-0123456789abcdef0123"


def conformance(**grades: str) -> dict[str, Any]:
    """A conformance.json body: every catalog ID OK unless named (``EVT_7="FAILED"`` for EVT-7)."""
    given = {k.replace("_", "-"): v for k, v in grades.items()}
    rows = {
        req_id: {"grade": given.get(req_id, "OK"), "title": req.title, "cases": [], "messages": []}
        for req_id, req in CATALOG.items()
    }
    summary = dict(Counter(r["grade"] for r in rows.values()))
    return {"contract": "v1", "target": "ws://t/ws", "environment": "test", "summary": summary, "requirements": rows}


# --- verdict and baseline ---------------------------------------------------------------------------------------


def test_all_ok_exits_zero_silently() -> None:
    assert cli.verdict(conformance(), strict=False) == (0, "")


def test_failed_exits_one_naming_the_ids() -> None:
    code, line = cli.verdict(conformance(EVT_7="FAILED", ISO_1="FAILED"), strict=False)
    assert code == 1
    assert line == "wsagent: FAILED EVT-7, ISO-1"


def test_non_strict_fails_only_in_strict_mode() -> None:
    data = conformance(ROB_4="NON-STRICT")
    assert cli.verdict(data, strict=False)[0] == 0
    assert cli.verdict(data, strict=True) == (1, "wsagent: FAILED ROB-4 (ROB-4 NON-STRICT, a failure under --strict)")


def test_baseline_tolerates_its_failures() -> None:
    code, line = cli.verdict(conformance(EVT_7="FAILED"), strict=False, baseline=frozenset({"EVT-7"}))
    assert code == 0
    assert "expected failures: EVT-7" in line


def test_baseline_does_not_hide_other_failures() -> None:
    code, line = cli.verdict(conformance(EVT_7="FAILED", AUTH_1="FAILED"), strict=False, baseline=frozenset({"EVT-7"}))
    assert code == 1
    assert line == "wsagent: FAILED AUTH-1"


def test_baseline_entry_that_passes_now_is_stale() -> None:
    code, line = cli.verdict(conformance(), strict=False, baseline=frozenset({"EVT-7"}))
    assert code == 1
    assert line.startswith("wsagent: stale baseline: EVT-7")
    assert "\n" not in line


def test_non_strict_baseline_entry_is_stale_unless_strict() -> None:
    data = conformance(ROB_4="NON-STRICT")
    assert cli.verdict(data, strict=False, baseline=frozenset({"ROB-4"}))[0] == 1
    assert cli.verdict(data, strict=True, baseline=frozenset({"ROB-4"}))[0] == 0


def test_skipped_baseline_entry_is_neither_tolerated_nor_stale() -> None:
    assert cli.verdict(conformance(E2E_3="SKIPPED"), strict=False, baseline=frozenset({"E2E-3"})) == (0, "")


def test_harness_error_wins_over_baseline() -> None:
    code, line = cli.verdict(conformance(EVT_7="ERROR"), strict=False, baseline=frozenset({"EVT-7"}))
    assert code == 2
    assert "EVT-7" in line


def test_baseline_file_json_and_plain_text(tmp_path: Path) -> None:
    as_json = tmp_path / "baseline.json"
    as_json.write_text(json.dumps({"requirements": ["EVT-7", "ROB-4"]}))
    as_text = tmp_path / "baseline.txt"
    as_text.write_text("# known since v0.3\nEVT-7\n\nROB-4  # binary frames\n")
    assert load_baseline(as_json) == load_baseline(as_text) == {"EVT-7", "ROB-4"}


@pytest.mark.parametrize(
    ("content", "error"),
    [('{"requirements": ["EVT-99"]}', "unknown requirement IDs: EVT-99"), ("{not json", "not valid JSON"), ('{"requirements": "EVT-7"}', "must be")],
)
def test_bad_baseline_file_is_one_line(tmp_path: Path, content: str, error: str) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=error) as raised:
        load_baseline(path)
    assert "\n" not in str(raised.value)


def test_missing_baseline_stops_before_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--report-dir", str(tmp_path), "--baseline", str(tmp_path / "nope.json")]) == 2
    assert capsys.readouterr().err.startswith("wsagent: cannot read baseline")
    assert not (tmp_path / "allure-results").exists()


def test_findings_are_listed_once_own_grade_first_and_the_rest_counted() -> None:
    """Two cases that find the same thing report it once; conformance.md shows five and says how many more."""
    repeated = "AUTH-1 FAILED: expired via bearer: the upgrade was accepted"
    skipped = "AUTH-1 SKIPPED: not exercised: the HTTP layer refused the 64 KiB header line"
    others = [f"AUTH-1 FAILED: kind {n} accepted" for n in range(6)]
    cases = [
        CaseResult("a", ("AUTH-1",), {"AUTH-1": "SKIPPED"}, [skipped]),
        CaseResult("b", ("AUTH-1",), {"AUTH-1": "FAILED"}, [repeated, *others]),
        CaseResult("c", ("AUTH-1",), {"AUTH-1": "FAILED"}, [repeated]),
    ]
    row = Conformance(cases=cases).to_dict()["requirements"]["AUTH-1"]
    assert row["messages"] == [repeated, *others, skipped]
    assert row["more_messages"] == 0
    text = markdown(Conformance(cases=cases).to_dict())
    assert text.count(repeated) == 1
    assert "- … and 3 more AUTH-1 findings (conformance.json, the cases' transcripts)" in text


def test_markdown_shows_baseline_and_stale_entries() -> None:
    data = apply_baseline(conformance(EVT_7="FAILED"), {"EVT-7", "ISO-1"}, strict=False)
    text = markdown(data)
    assert "| EVT-7 | FAILED (baseline) |" in text
    assert "| ISO-1 | OK (stale baseline) |" in text
    assert "Stale baseline (listed but no longer failing; remove them): ISO-1." in text
    assert data["requirements"]["EVT-7"]["baseline"] == "expected"


def fake_run(tmp_path: Path, data: dict[str, Any], monkeypatch: pytest.MonkeyPatch, html: Callable[[Path], Path]) -> tuple[int, list[str]]:
    """``cli.run`` with the pytest subprocess replaced by one that writes ``data`` as conformance.json."""

    def call(cmd: list[str], env: dict[str, str]) -> int:
        (tmp_path / "conformance.json").write_text(json.dumps(data))
        return 1

    printed: list[str] = []
    monkeypatch.setattr(cli, "call_pytest", call)
    monkeypatch.setattr(cli, "build_html", html)
    monkeypatch.setattr("builtins.print", lambda *a, **k: printed.append(" ".join(map(str, a))))
    args = cli.build_parser().parse_args(["run", "--report-dir", str(tmp_path), "--html"])
    return cli.run(args), printed


def test_run_applies_the_baseline_to_json_and_markdown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    baseline = tmp_path / "baseline.json"
    baseline.write_text('{"requirements": ["EVT-7"]}')

    def call(cmd: list[str], env: dict[str, str]) -> int:
        (tmp_path / "conformance.json").write_text(json.dumps(conformance(EVT_7="FAILED")))
        return 1

    monkeypatch.setattr(cli, "call_pytest", call)
    args = cli.build_parser().parse_args(["run", "--report-dir", str(tmp_path), "--baseline", str(baseline), "--no-html"])
    assert cli.run(args) == 0
    assert json.loads((tmp_path / "conformance.json").read_text())["requirements"]["EVT-7"]["baseline"] == "expected"
    assert "| EVT-7 | FAILED (baseline) |" in (tmp_path / "conformance.md").read_text()


def test_run_keeps_history_and_drops_the_last_runs_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("history/history.jsonl", "html/index.html", "allure-results/old-result.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    code, _ = fake_run(tmp_path, conformance(), monkeypatch, lambda report_dir: report_dir / "html" / "index.html")
    assert code == 0
    assert (tmp_path / "history" / "history.jsonl").read_text() == "{}"
    assert not (tmp_path / "html").exists()
    assert not (tmp_path / "allure-results" / "old-result.json").exists()


def test_html_failure_never_changes_the_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(report_dir: Path) -> Path:
        raise RuntimeError("wsagent: Allure could not build the HTML report (exit 1): boom")

    code, printed = fake_run(tmp_path, conformance(EVT_7="FAILED"), monkeypatch, broken)
    assert code == 1
    assert printed[0] == f"wsagent: 31 OK, 1 FAILED ({tmp_path / 'conformance.md'})"
    assert printed[1:] == ["wsagent: FAILED EVT-7", "wsagent: no HTML report: Allure could not build the HTML report (exit 1): boom"]


def test_report_without_node_says_how_and_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "allure-results").mkdir()
    monkeypatch.setattr(allure_report.shutil, "which", lambda name: None)
    assert cli.main(["report", "--report-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("wsagent: the HTML report needs Node.js")
    assert "\n" not in err


def test_report_without_results_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "--report-dir", str(tmp_path / "nothing")]) == 2
    assert "no Allure results" in capsys.readouterr().err


@pytest.mark.parametrize(("tty", "wanted", "unwanted"), [(True, "--wsagent-progress", None), (False, "-q", "--wsagent-progress")])
def test_progress_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch, tty: bool, wanted: str, unwanted: str | None) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty)
    args = cli.build_parser().parse_args(["run"])
    cmd = cli.pytest_command(args)
    assert wanted in cmd
    assert unwanted is None or unwanted not in cmd


# --- Allure extras ------------------------------------------------------------------------------------------------


def category_of(status: str, message: str, *, whole: bool) -> str | None:
    """Allure's rule: the first category whose statuses and regex match (Allure 2 matches whole, Allure 3 searches)."""
    for category in CATEGORIES:
        if status not in category["matchedStatuses"]:
            continue
        regex = category.get("messageRegex")
        if regex is None:
            return category["name"]
        found = re.fullmatch(regex, message) if whole else re.search(regex, message)
        if found:
            return category["name"]
    return None


@pytest.mark.parametrize("whole", [True, False], ids=["allure2", "allure3"])
@pytest.mark.parametrize(
    ("status", "message", "category"),
    [
        ("failed", "Failed: AUTH-1 FAILED: expired token accepted\n    #0 c1 received handshake\nreproduce: wsagent run --only AUTH-1", "Authentication and E2E mode"),
        ("failed", "Failed: EVT-2 FAILED: 2 agent_started frames\n    #5 ...", "Event order and shape"),
        ("failed", "Failed: SEC-2 FAILED: the token leaks in a close reason", "Isolation and security"),
        ("failed", "Failed: ISO-1 FAILED: bob received alice's frame", "Isolation and security"),
        ("failed", "Failed: FAIL-3 FAILED: crash left no terminal frame", "Hard failures"),
        ("failed", "Failed: ROB-4 NON-STRICT: close 1003", "Robustness"),
        ("broken", "TimeoutError: no answer in 3.0s", "Infrastructure and timeouts"),
        ("broken", "ConnectionRefusedError: [Errno 111] Connection refused", "Infrastructure and timeouts"),
        ("broken", "KeyError: 'data'", "Harness errors"),
    ],
)
def test_categories_route_messages(status: str, message: str, category: str, whole: bool) -> None:
    assert category_of(status, message, whole=whole) == category


def test_environment_properties_escape_like_java() -> None:
    text = environment_properties({"target": "wss://host:8443/ws", "odd key": "a\\b\nc"})
    assert text == "target=wss://host:8443/ws\nodd_key=a\\\\b\\nc\n"


def test_safe_url_drops_credentials_and_query() -> None:
    assert safe_url("wss://user:pw@host.example:8443/ws?token=abc.def.ghi") == "wss://host.example:8443/ws?[REDACTED-QUERY]"
    assert safe_url("ws://127.0.0.1:9000/ws") == "ws://127.0.0.1:9000/ws"
    assert safe_url("embedded reference server") == "embedded reference server"


def test_executor_only_in_ci() -> None:
    assert executor({"HOME": "/root"}) is None
    github = executor({
        "GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.example", "GITHUB_REPOSITORY": "acme/agent",
        "GITHUB_RUN_ID": "42", "GITHUB_RUN_NUMBER": "7", "GITHUB_WORKFLOW": "conformance",
    })
    assert github is not None
    assert github["type"] == "github"
    assert github["buildUrl"] == "https://github.example/acme/agent/actions/runs/42"
    assert github["buildName"] == "conformance #7"
    assert executor({"CI": "true"}) == {"name": "CI", "type": "ci"}


def test_write_extras_skips_executor_outside_ci(tmp_path: Path) -> None:
    write_extras(tmp_path, {"target": "ws://t/ws"}, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["categories.json", "environment.properties"]
    assert [c["name"] for c in json.loads((tmp_path / "categories.json").read_text())] == [c["name"] for c in CATEGORIES]


def test_timeline_marks_the_offending_frames() -> None:
    transcript = Transcript()
    transcript.add("alice#1", "alice", 0.001, Direction.RECEIVED, Kind.HANDSHAKE, info={"status": 101, "headers": {"x": "y"}, "error": None})
    transcript.add("alice#1", "alice", 0.002, Direction.RECEIVED, Kind.TEXT, text='{"type":"agent_started"}')
    transcript.add("alice#1", "alice", 0.003, Direction.RECEIVED, Kind.TEXT, text='{"type":"agent_started",\n"x":"' + "y" * 500 + '"}')
    lines = timeline(transcript, {2}, width=80).splitlines()
    assert len(lines) == 3
    assert [line.startswith(">>") for line in lines] == [False, False, True]
    assert "status=101" in lines[0]
    assert "headers" not in lines[0]
    assert "error" not in lines[0]
    assert lines[2].endswith("…")
    assert len(lines[2]) < 160


def test_the_page_loses_its_analytics_tag_and_nothing_else() -> None:
    page = (
        '<body><div id="app"></div>\n'
        '    <script async src="https://www.googletagmanager.com/gtag/js?id=G-X"></script>\n'
        "    <script>\n        window.dataLayer = window.dataLayer || [];\n        function gtag(){dataLayer.push(arguments);}\n"
        "        gtag('config', 'G-X', {\"report\": \"awesome\"});\n    </script>\n"
        '    <script>window.allure = {};</script></body>'
    )
    assert without_analytics(page) == '<body><div id="app"></div>\n    \n    <script>window.allure = {};</script></body>'


# --- one real run: what reaches allure-results ---------------------------------------------------------------------

FAULTS = "--fault duplicate_agent_started --fault binary_frame_closes_1003"


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """EVT-2 FAILED and ROB-4 NON-STRICT on the embedded server, as in a GitHub Actions job; no HTML."""
    report_dir = tmp_path_factory.mktemp("reports")
    env = {k: v for k, v in user_env().items() if not k.startswith(("CI", "GITLAB", "JENKINS"))}  # only GitHub's facts
    env.update(JWT_SECRET_KEY=SECRET, GITHUB_ACTIONS="true", GITHUB_SERVER_URL="https://github.example", GITHUB_REPOSITORY="acme/agent", GITHUB_RUN_ID="42")
    done = wsagent(
        "run", "--no-html", "--report-dir", str(report_dir), "--only", "EVT-2", "--only", "ROB-4",
        "--", "--wsagent-timeout=3", f"--wsagent-server-args={FAULTS}", env=env,
    )
    assert (report_dir / "conformance.json").exists(), done.stdout[-3000:] + done.stderr[-2000:]
    return report_dir, done.returncode


def allure_results(report_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in (report_dir / "allure-results").glob("*-result.json")]


def test_run_writes_the_run_files_once(faulty_run: tuple[Path, int]) -> None:
    report_dir, code = faulty_run
    assert code == 1
    results = report_dir / "allure-results"
    props = dict(line.split("=", 1) for line in (results / "environment.properties").read_text().splitlines())
    assert props["contract"] == "v1"
    assert props["environment"] == "development"
    assert props["server"] == "0.1.0"
    assert props["target"].startswith("ws://127.0.0.1:")
    assert json.loads((results / "executor.json").read_text())["buildUrl"] == "https://github.example/acme/agent/actions/runs/42"
    assert len(json.loads((results / "categories.json").read_text())) == len(CATEGORIES)


def test_failed_case_has_a_marked_timeline(faulty_run: tuple[Path, int]) -> None:
    report_dir, _ = faulty_run
    failed = [r for r in allure_results(report_dir) if r["status"] == "failed"]
    assert failed
    for result in failed:
        names = {a["name"]: a["source"] for a in result["attachments"]}
        text = (report_dir / "allure-results" / names["timeline.txt"]).read_text()
        assert "reproduce: wsagent run --only EVT-2" in text
        marked = [line for line in text.splitlines() if line.startswith(">> #")]
        assert marked
        assert all("agent_started" in line for line in marked)
        assert "EVT-2 FAILED: One agent_started first, one terminal frame last, nothing after it" in [label["value"] for label in result["labels"] if label["name"] == "feature"]
        epics = [label["value"] for label in result["labels"] if label["name"] == "epic"]
        assert "events" in epics
        assert len(epics) == len(set(epics))


def test_non_strict_case_passes_tagged_with_a_description(faulty_run: tuple[Path, int]) -> None:
    report_dir, _ = faulty_run
    tagged = [r for r in allure_results(report_dir) if {"name": "tag", "value": "NON-STRICT"} in r["labels"]]
    assert tagged
    for result in tagged:
        assert result["status"] == "passed"
        assert "ROB-4 NON-STRICT" in result["description"]


def test_test_counts_match_allure_statuses(faulty_run: tuple[Path, int]) -> None:
    report_dir, _ = faulty_run
    tests = json.loads((report_dir / "conformance.json").read_text())["tests"]
    statuses = Counter(r["status"] for r in allure_results(report_dir))
    assert tests["total"] == sum(statuses.values())
    assert {k: tests[k] for k in ("passed", "failed", "broken", "skipped")} == {k: statuses[k] for k in ("passed", "failed", "broken", "skipped")}
    assert tests["failed"] > 0
    assert tests["passed"] > 0


def test_no_secret_or_token_in_any_report(faulty_run: tuple[Path, int]) -> None:
    report_dir, _ = faulty_run
    jwt = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")
    files = [p for p in report_dir.rglob("*") if p.is_file()]
    assert len(files) > 10
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert SECRET not in text, path
        assert not jwt.search(text), path


def test_progress_line_on_a_terminal(tmp_path: Path) -> None:
    """Under a pseudo-terminal ``wsagent run`` counts cases on one line instead of pytest's dots."""
    primary, secondary = pty.openpty()
    cmd = [*WSAGENT, "run", "--no-html", "--report-dir", str(tmp_path), "--only", "AUTH-4"]
    proc = subprocess.Popen(cmd, stdout=secondary, stderr=secondary, env=user_env())
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert proc.wait(timeout=120) == 0
    output = b"".join(chunks).decode(errors="replace")
    total = json.loads((tmp_path / "conformance.json").read_text())["tests"]["total"]
    assert f"wsagent: {total}/{total} cases  auth" in output
    assert f"wsagent: 1/{total} cases" in output
    assert "PASSED" not in output
    assert "[100%]" not in output


def test_baseline_turns_the_same_failure_into_a_pass(faulty_run: tuple[Path, int], tmp_path: Path) -> None:
    report_dir, _ = faulty_run
    data = json.loads((report_dir / "conformance.json").read_text())
    assert cli.verdict(data, strict=False)[0] == 1
    assert cli.verdict(data, strict=False, baseline=frozenset({"EVT-2"}))[0] == 0


def test_deliberate_waits_are_listed_apart_from_grades() -> None:
    """A case's declared wait (time the contract imposes) shows in conformance.json and .md, never as a grade."""
    waited = CaseResult("suites/test_events.py::test_slow", ("EVT-7",), {"EVT-7": "OK"}, wait={"seconds": 3.0, "reason": "slow tool"})
    quick = CaseResult("suites/test_events.py::test_quick", ("EVT-1",), {"EVT-1": "OK"})
    data = Conformance(target="ws://t/ws", environment="development", cases=[waited, quick]).to_dict()
    assert data["deliberate_waits"] == [{"nodeid": "suites/test_events.py::test_slow", "seconds": 3.0, "reason": "slow tool"}]
    assert "- `suites/test_events.py::test_slow`: up to 3 s, slow tool" in markdown(data)


def test_skipped_cases_are_listed_with_their_reason_even_when_the_id_is_ok() -> None:
    """E2E-3 is OK from its any-environment case; the production case that skipped still shows, with its reason."""
    node = "suites/test_e2e.py::test_production_grants_nothing"
    skipped = CaseResult(node, ("E2E-3",), {"E2E-3": "SKIPPED"}, [f"E2E-3 SKIPPED: {node}: E2E-3 needs a production target: give it"], outcome="skipped")
    judged = CaseResult("suites/test_e2e.py::test_headers_anywhere", ("E2E-3",), {"E2E-3": "OK"})
    data = Conformance(target="ws://t/ws", environment="development", cases=[skipped, judged]).to_dict()
    assert data["requirements"]["E2E-3"]["grade"] == "OK"
    assert data["skipped"] == [{"nodeid": node, "reason": "E2E-3 needs a production target: give it"}]
    assert f"- `{node}`: E2E-3 needs a production target: give it" in markdown(data)


def test_failing_cases_leave_transcripts_that_check_judges_again(tmp_path: Path) -> None:
    """The evidence of a FAILED case lands in reports/transcripts/, and ``wsagent check`` reaches the same verdict."""
    run = wsagent("run", "--no-html", "--only", "EVT-1", "--report-dir", str(tmp_path), "--", "--wsagent-server-args=--fault thinking_dropped")
    assert run.returncode == 1
    transcript = tmp_path / "transcripts" / "test_events.py_test_tool_agent_run.jsonl"
    checked = wsagent("check", str(transcript))
    assert checked.returncode == 1
    assert re.search(r"^EVT-1 +FAILED", checked.stdout, re.M)
    assert "missing agent_thinking" in checked.stdout


def test_run_passes_unknown_options_to_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    """``wsagent run -x`` means ``wsagent run -- -x``; other commands still refuse what they do not know."""
    seen: list[list[str]] = []
    monkeypatch.setattr(cli, "run", lambda args: seen.append(args.pytest_args) or 0)
    assert cli.main(["run", "-x", "--only", "auth", "--", "--wsagent-timeout=3"]) == 0
    assert seen == [["-x", "--wsagent-timeout=3"]]
    with pytest.raises(SystemExit):
        cli.main(["check", "t.jsonl", "-x"])
