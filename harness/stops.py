"""How a session stops: before it starts (a misconfiguration) or midway (a harness error, the session time limit).

Either way the user gets one line. Under ``wsagent run`` the line is also written to the report folder
(``ABORTED_FILE``), because an xdist worker's ``pytest.exit`` reaches the controller only as an anonymous
interrupt, and because that command prints the line itself, once, and puts it in conformance.json/.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest

from harness.collector import ABORTED_FILE
from harness.config import RUN_GIVEN, HarnessConfig
from harness.errors import HarnessError

__all__ = ["abort", "before_session", "or_abort", "past_time_limit"]

T = TypeVar("T")


def _write(report_dir: Path, message: str) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / ABORTED_FILE).write_text(message, encoding="utf-8")


def before_session(config: pytest.Config, message: str) -> NoReturn:
    """A misconfiguration stops pytest before any case (pytest's usage error, exit 4) with the one line."""
    report_dir = config.getoption("--wsagent-report-dir")
    if RUN_GIVEN in os.environ and report_dir:
        _write(Path(report_dir), message)
        raise pytest.UsageError()  # pytest prints a usage error's arguments, and this one has none
    raise pytest.UsageError(message)


def abort(harness_config: HarnessConfig, message: str) -> NoReturn:
    """Stop the session (exit 2) with one line."""
    if harness_config.report_dir is not None:
        _write(harness_config.report_dir, message)
    pytest.exit(message, returncode=2)


def or_abort(harness_config: HarnessConfig, make: Callable[[], T]) -> T:
    """``make()``, or the session stops with the harness error's line."""
    try:
        return make()
    except HarnessError as exc:
        abort(harness_config, str(exc))


def past_time_limit(harness_config: HarnessConfig, started: float) -> None:
    """Stop the session once it runs past ``--wsagent-session-timeout``."""
    limit = harness_config.session_timeout
    if time.monotonic() - started > limit:
        abort(
            harness_config,
            f"wsagent: the session ran past its time limit of {limit:g} s; raise "
            "--wsagent-session-timeout if the target is merely slow (cases that each wait out "
            "--wsagent-timeout mean it does not answer runs)",
        )
