"""Run wsagent's commands as a user would: in a subprocess, with none of the calling shell's settings.

A developer's or CI's shell may hold ``WSAGENT_*``, ``JWT_SECRET_*``, ``ENVIRONMENT``, ``E2E_*`` or
``GITHUB_STEP_SUMMARY``; each would change what the command does, so :func:`user_env` removes them and the test
adds back what it means to.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SETTINGS = ("WSAGENT_", "JWT_SECRET", "E2E_", "ENVIRONMENT", "GITHUB_STEP_SUMMARY")
"""Variables that configure wsagent or the reference server (tests/conftest.py removes them from the test process)."""
SCRUBBED = ("PYTEST_", *SETTINGS)
WSAGENT = (sys.executable, "-m", "harness.cli")
"""The ``wsagent`` command as this interpreter runs it (the installed script may belong to another environment)."""


def user_env(**extra: str) -> dict[str, str]:
    """The calling environment without anything that configures wsagent, pytest or the reference server."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED)}, **extra}


def wsagent(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``wsagent ARGS`` (as ``python -m harness.cli``), its output captured."""
    cmd = [*WSAGENT, *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=user_env() if env is None else env, cwd=cwd, timeout=timeout)
