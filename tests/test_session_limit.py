"""The whole session has a time limit: past it the remaining cases stop with exit 2 and one line, not a hang."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_session_past_its_limit_stops_with_exit_2(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "harness.cli", "run", "--no-html", "--only", "auth", "--report-dir", str(tmp_path), "--", "--wsagent-session-timeout=0.001"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "time limit of 0.001 s; raise --wsagent-session-timeout" in done.stdout + done.stderr
