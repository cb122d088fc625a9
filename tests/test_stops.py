"""When the harness cannot go on it stops with exit 2 and one readable line: no hang, no traceback, no error per test."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.shell import user_env, wsagent


def wsagent_run(report_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return wsagent("run", "--no-html", "--report-dir", str(report_dir), *args)


def test_session_past_its_limit_stops_with_exit_2(tmp_path: Path) -> None:
    done = wsagent_run(tmp_path, "--only", "auth", "--", "--wsagent-session-timeout=0.001")
    assert done.returncode == 2
    assert "time limit of 0.001 s; raise --wsagent-session-timeout" in done.stdout + done.stderr


def test_unreachable_target_is_one_line_before_any_case_and_no_old_verdict_survives(tmp_path: Path) -> None:
    """A CI step that publishes conformance.md after an early exit 2 must not publish an earlier run's "32 OK"."""
    (tmp_path / "conformance.md").write_text("32 OK (an earlier run)")
    (tmp_path / "junit.xml").write_text("<testsuites/>")
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = wsagent_run(tmp_path, "--target", f"ws://ci:hunter2@127.0.0.1:{port}/ws")
    reason = f"cannot reach 127.0.0.1:{port} for target ws://127.0.0.1:{port}/ws (Connection refused); is it running, and is the URL right?"
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [f"wsagent: {reason}"]
    assert f"**Run aborted, not a verdict:** {reason} (exit 2). No case ran." in (tmp_path / "conformance.md").read_text().splitlines()
    data = json.loads((tmp_path / "conformance.json").read_text())
    assert (data["aborted"], data["exit_code"], data["summary"]) == (reason, 2, {"NOT RUN": 32})
    assert not (tmp_path / "junit.xml").exists()


def test_only_takes_ids_and_areas_in_any_case(tmp_path: Path) -> None:
    (tmp_path / "conformance.md").write_text("32 OK (an earlier run)")
    done = wsagent_run(tmp_path, "--only", "evt-1,Auth", "--only", "NOPE")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith("or requirement IDs, not NOPE")
    assert "**Run aborted, not a verdict:**" in (tmp_path / "conformance.md").read_text()


def test_folders_named_like_our_packages_in_the_cwd_change_nothing(tmp_path: Path) -> None:
    """A user's project may well have a ``harness/`` or ``suites/`` folder; ``wsagent run`` must still use its own."""
    for name in ("harness", "mock_server", "suites"):
        (tmp_path / name).mkdir()
    wsagent = Path(sys.executable).parent / "wsagent"
    cmd = [str(wsagent), "run", "--no-html", "--only", "ROB-5", "--report-dir", str(tmp_path / "reports")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=user_env())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture
def served() -> Iterator[str]:
    """``python -m mock_server`` on a free port, as a user's own backend; yields its URL."""
    cmd = [sys.executable, "-m", "mock_server", "--port", "0", "--exit-with-stdin", "--log-level", "WARNING"]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=user_env()) as server:
        assert server.stdout is not None
        assert server.stdin is not None
        yield server.stdout.readline().split()[1]
        server.stdin.close()
        server.wait(timeout=30)


def test_wrong_path_stops_with_one_line_not_a_wall_of_failures(tmp_path: Path, served: str) -> None:
    done = wsagent_run(tmp_path, "--target", served.replace("/ws", "/wrongpath"), "--only", "auth")
    assert done.returncode == 2
    assert "refuses the upgrade for valid tokens with HTTP 404" in done.stderr
    report = (tmp_path / "conformance.md").read_text()
    assert "**Run aborted, not a verdict:**" in report
    assert "32 NOT RUN." in report


def test_credentials_in_the_target_url_stay_out_of_every_report(tmp_path: Path, served: str) -> None:
    """A staging URL with a password or an API key in its query: reports, transcripts and output show neither.
    ISO-4's case probes /health, whose URL is derived from the target's."""
    url = served.replace("ws://", "ws://ci:PassW0rdXYZ@") + "?api_key=QueryKeyXYZ"
    done = wsagent_run(tmp_path, "--target", url, "--only", "ISO-4,EVT-1")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    shown = [done.stdout, done.stderr] + [path.read_text(errors="replace") for path in tmp_path.rglob("*") if path.is_file()]
    assert not [text for text in shown if "PassW0rdXYZ" in text or "QueryKeyXYZ" in text]


def test_wrong_secret_run_is_marked_aborted_in_the_report(tmp_path: Path, served: str) -> None:
    done = wsagent_run(tmp_path, "--target", served, "-n", "2", "--", "--wsagent-secret=not-the-servers-secret")
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("wsagent: run aborted: the target rejects freshly minted valid tokens")
    assert "--wsagent-secret" in line
    assert "does not match the target's" in json.loads((tmp_path / "conformance.json").read_text())["aborted"]


@pytest.mark.parametrize(("content", "reason"), [
    ("", "empty transcript"),
    ('{"wsagent_transcript": 1, "meta": {}}\n', "holds no records: nothing to judge"),
    ('{"wsagent_transcript": 1}\n' + "[" * 100_000 + "\n", "line 2: invalid JSON (nested too deep)"),
    ('{"wsagent_transcript": 1}\n{"seq": 0}\n', "line 2: not a transcript record ('conn')"),
], ids=["empty", "header only", "nested too deep", "not a record"])
def test_check_of_a_broken_transcript_is_one_line(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(content)
    done = wsagent("check", str(path))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.strip().endswith(reason), done.stderr
