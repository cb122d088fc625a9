"""The command line as a user meets it: every run, in a subprocess, judged by the exact lines it prints.

Typos stop with "did you mean", errors name the spelling the user typed, an early stop still writes both reports
with the reason and the exit code, ``--version`` and ``--help`` say what a newcomer needs, Ctrl-C ends on a line of
its own, a CI job summary gets the table, and a user's own async test needs no asyncio settings.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness import __version__
from harness.catalog import CATALOG, CONTRACT_VERSION
from harness.config import OPTIONS
from tests.shell import WSAGENT, user_env, wsagent

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("typed", "line"), [
    (["--enviroment", "staging"], "wsagent: unknown option --enviroment; did you mean --environment?"),
    (["--wsagent-enviroment=staging"], "wsagent: unknown option --wsagent-enviroment; did you mean --wsagent-environment?"),
    (["--token-fil", "t.txt"], "wsagent: unknown option --token-fil; did you mean --token-file?"),
    (["--wsagent-nonsense"], "wsagent: unknown option --wsagent-nonsense; wsagent run --help lists the settings"),
], ids=["run option", "plugin option", "prefix", "unknown plugin option"])
def test_mistyped_option_is_one_wsagent_line(tmp_path: Path, typed: list[str], line: str) -> None:
    done = wsagent("run", "--report-dir", str(tmp_path), *typed)
    assert (done.returncode, done.stdout, done.stderr.splitlines()) == (2, "", [line])


def test_option_nobody_knows_ends_with_a_wsagent_line_after_pytests(tmp_path: Path) -> None:
    done = wsagent("run", "--no-html", "--report-dir", str(tmp_path), "--frobnicate")
    assert done.returncode == 2
    assert "unrecognized arguments: --frobnicate" in done.stderr
    reason = "pytest did not accept the command line (its message is above); wsagent run --help lists wsagent's options"
    assert done.stderr.splitlines()[-1] == f"wsagent: {reason}"
    assert json.loads((tmp_path / "conformance.json").read_text())["aborted"] == reason


def test_bad_choice_of_wsagents_own_parser_is_one_line() -> None:
    done = wsagent("run", "-n")
    assert (done.returncode, done.stderr.splitlines()) == (2, ["wsagent: argument -n: expected one argument (see wsagent run --help)"])


SAME = "is not one of development, test, staging, production (the same setting: {})"


@pytest.mark.parametrize(("typed", "env", "line"), [
    (["--environment", "prod"], {}, "--environment 'prod' " + SAME.format("--wsagent-environment for pytest, WSAGENT_ENVIRONMENT in the environment")),
    (["--", "--wsagent-environment=prod"], {}, "--wsagent-environment 'prod' " + SAME.format("--environment for wsagent run, WSAGENT_ENVIRONMENT in the environment")),
    ([], {"WSAGENT_ENVIRONMENT": "prod"}, "WSAGENT_ENVIRONMENT 'prod' " + SAME.format("--environment for wsagent run, --wsagent-environment for pytest")),
], ids=["wsagent run option", "pytest option", "variable"])
def test_error_names_the_spelling_the_user_typed(tmp_path: Path, typed: list[str], env: dict[str, str], line: str) -> None:
    done = wsagent("run", "--no-html", "--report-dir", str(tmp_path), *typed, env=user_env(**env))
    assert (done.returncode, done.stderr.splitlines()) == (2, [f"wsagent: {line}"])


@pytest.mark.parametrize(("typed", "reason"), [
    (["--target", "http://staging.example.com/ws"], "--target 'http://staging.example.com/ws' is not a ws:// or wss:// URL with a host"),
    (["--environment", "prod"], "--environment 'prod' is not one of development, test, staging, production"),
    (["--only", "NOPE"], "--only takes areas"),
], ids=["http URL", "bad environment", "bad --only"])
def test_early_stop_writes_both_reports_with_the_reason_and_exit_code(tmp_path: Path, typed: list[str], reason: str) -> None:
    done = wsagent("run", "--no-html", "--report-dir", str(tmp_path), *typed)
    assert done.returncode == 2
    assert done.stderr.startswith(f"wsagent: {reason}")
    data = json.loads((tmp_path / "conformance.json").read_text())
    assert data["aborted"].startswith(reason)
    assert data["exit_code"] == 2
    assert f"\n**Run aborted, not a verdict:** {reason}" in (tmp_path / "conformance.md").read_text()


def test_version_names_wsagent_and_the_contract() -> None:
    done = wsagent("--version")
    assert (done.returncode, done.stdout) == (0, f"wsagent {__version__} (contract {CONTRACT_VERSION})\n")


def described(help_text: str) -> dict[str, str]:
    """``--help``'s options, each with the text argparse prints for it (on its line or the indented lines below)."""
    entries: dict[str, str] = {}
    current = ""
    for line in help_text.splitlines():
        if re.match(r"^  -", line):
            current = line.split()[0].rstrip(",")
            entries[current] = " ".join(line.split()[1:])
        elif line.startswith("    ") and current:
            entries[current] += " " + line.strip()
        else:
            current = ""
    return entries


def test_run_help_lists_every_setting_with_variable_and_default_and_the_exit_codes() -> None:
    done = wsagent("run", "--help")
    assert done.returncode == 0
    entries = described(done.stdout)
    for opt in OPTIONS:
        assert f"[env {opt.env}; default " in entries[opt.run], entries[opt.run]
    assert "Options wsagent run does not know go to pytest" in " ".join(done.stdout.split())
    codes = done.stdout.split("exit codes:")[1]
    assert [line.split()[0] for line in codes.splitlines() if line.strip()[:1].isdigit()] == ["0", "1", "2", "130"]


def test_serve_help_describes_every_option() -> None:
    entries = described(wsagent("serve", "--help").stdout)
    assert sorted(entries) == ["--environment", "--fault", "--host", "--list-faults", "--list-variants", "--port", "--redis", "--replicas", "--variant", "-h"]
    assert all(len(re.sub(r"^[A-Z_]+ ", "", text).split()) >= 3 for text in entries.values()), entries


def test_ctrl_c_ends_on_a_line_of_its_own_and_in_both_reports(tmp_path: Path) -> None:
    """A user's Ctrl-C, whatever the test runner's own signals: a runner started in the background (``cmd &``) has
    SIGINT ignored, and its children would inherit that, so the command gets the terminal's default back."""
    cmd = [*WSAGENT, "run", "--no-html", "--report-dir", str(tmp_path)]

    def as_from_a_terminal() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "env": user_env(PYTHONUNBUFFERED="1")}
    with subprocess.Popen(cmd, **popen, start_new_session=True, preexec_fn=as_from_a_terminal) as child:  # type: ignore[call-overload]
        assert child.stdout is not None
        seen = b""
        while not seen.endswith(b"."):  # the first progress dot: cases are running
            seen += child.stdout.read(1) or pytest.fail(f"wsagent run ended before any case: {seen.decode()}")
        os.killpg(child.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        output = (seen + child.stdout.read()).decode()
    assert child.returncode == 130, output[-2000:]
    assert "wsagent: interrupted; no verdict" in output.splitlines(), output[-2000:]
    assert "\n**Run aborted, not a verdict:** interrupted (Ctrl-C) (exit 130). " in (tmp_path / "conformance.md").read_text()


def test_job_summary_gets_the_table_or_the_reason(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    ok = wsagent("run", "--no-html", "--only", "ROB-5", "--report-dir", str(tmp_path / "ok"), env=user_env(GITHUB_STEP_SUMMARY=str(summary)))
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-2000:]
    stopped = wsagent("run", "--no-html", "--report-dir", str(tmp_path / "stopped"), "--summary", str(summary), "--target", "http://x/ws")
    assert stopped.returncode == 2
    lines = summary.read_text().splitlines()
    assert lines[:3] == ["earlier step", f"# wsagent conformance — contract {CONTRACT_VERSION}", ""]
    assert "| ROB-5 | OK | Application ping gets pong; protocol pings are answered | 1 |" in lines
    assert any(line.startswith("**Run aborted, not a verdict:** --target 'http://x/ws' is not a ws:// or wss:// URL") for line in lines)
    assert lines.count("| ID | grade | requirement | cases |") == 2


def test_finding_quotes_a_frame_whole_fields_first(tmp_path: Path) -> None:
    done = wsagent("run", "--no-html", "--only", "EVT-2", "--report-dir", str(tmp_path), "--timeout", "3", "--server-args", "--fault duplicate_agent_started")
    assert done.returncode == 1
    quoted = [line for line in done.stdout.splitlines() if re.match(r"^ +#\d+ \S+ received text: ", line)]
    assert quoted, done.stdout[-3000:]
    for line in quoted:
        frame = line.split("received text: ", 1)[1]
        assert re.fullmatch(r'\{"type": "agent_started", "run_id": "[^"]*", .*\}', frame), frame
        assert len(frame) <= 200, frame
        assert re.search(r', … \d+ more fields?\}$', frame) or json.loads(frame), frame


def users_pytest(folder: Path, test_file: str) -> subprocess.CompletedProcess[str]:
    """``pytest`` in a user's project that has ``test_mine.py`` and an empty pytest.ini: no asyncio settings."""
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "test_mine.py").write_text(test_file)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=folder, env=user_env(), timeout=120)


def test_own_async_test_needs_no_asyncio_settings(tmp_path: Path) -> None:
    done = users_pytest(tmp_path, (
        "import pytest\n\n\n"
        "@pytest.mark.requirement('EVT-1')\n"
        "async def test_my_agent(wsagent):\n"
        "    conn = await wsagent.connect_ok()\n"
        "    await wsagent.run(conn, 'researcher', 'find three facts')\n"
        "    wsagent.check()\n"
    ))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout.splitlines()[-1]


def test_async_test_reaching_wsagent_through_a_fixture_gets_a_wsagent_line(tmp_path: Path) -> None:
    done = users_pytest(tmp_path, (
        "import pytest\n\n\n"
        "@pytest.fixture\n"
        "async def mine(wsagent):\n"
        "    return wsagent\n\n\n"
        "async def test_my_agent(mine):\n"
        "    pass\n"
    ))
    assert done.returncode == 4
    assert done.stderr.strip().splitlines()[-1] == (
        "ERROR: wsagent: pytest-asyncio does not run test_mine.py::test_my_agent: add asyncio_mode = auto (and "
        "asyncio_default_fixture_loop_scope = function) to your pytest configuration, or mark the test @pytest.mark.asyncio"
    )


def test_selftest_matrix_fits_120_columns_with_whole_ids(tmp_path: Path) -> None:
    """The project's own summary hook (tests/conftest.py), fed three self-test rows, prints as ``pytest -n 2`` does."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_rows.py").write_text(
        "import json\nimport pytest\n\n\n"
        "@pytest.mark.parametrize('fault', ['completed_before_tool_completed', 'fresh_execution_id_on_completion'])\n"
        "def test_row(fault, record_property):\n"
        "    breaks = {'EVT-3': 'FAILED', 'SEC-2': 'FAILED'}\n"
        "    row = {'kind': 'fault', 'row': fault, 'declared': breaks, 'grades': {'AUTH-1': 'OK', **breaks}, 'unexpected': {}}\n"
        "    record_property('selftest', json.dumps(row))\n"
    )
    cmd = [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-q", "-c", str(tmp_path / "pytest.ini"), str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=user_env(COLUMNS="200"), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout.split("fault-injection matrix: * = the fault declares the ID\n")[1].split("mutation score")[0].splitlines()
    assert max(len(line) for line in table) <= 120
    headers = [line.split()[1:] for line in table if line.startswith("fault ")]
    assert len(headers) > 1
    assert [i for header in headers for i in header] == list(CATALOG)
    assert "fresh_execution_id_on_completion" in [line.split()[0] for line in table if line]
    assert "mutation score: 2/2 faults caught (100%); 2/2 raise no undeclared alarm" in done.stdout.splitlines()
