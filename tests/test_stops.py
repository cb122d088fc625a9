"""When the harness cannot go on it stops with exit 2 and one readable line: no hang, no traceback, no error per test."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path


def wsagent_run(report_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "harness.cli", "run", "--no-html", "--report-dir", str(report_dir), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_session_past_its_limit_stops_with_exit_2(tmp_path: Path) -> None:
    done = wsagent_run(tmp_path, "--only", "auth", "--", "--wsagent-session-timeout=0.001")
    assert done.returncode == 2
    assert "time limit of 0.001 s; raise --wsagent-session-timeout" in done.stdout + done.stderr


def test_unreachable_target_is_one_line_before_any_case(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = wsagent_run(tmp_path, "--target", f"ws://127.0.0.1:{port}/ws")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"ERROR: wsagent: cannot reach 127.0.0.1:{port} for target ws://127.0.0.1:{port}/ws (Connection refused); check --wsagent-target"]
