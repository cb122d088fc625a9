"""``wsagent load``: check the options here, then exec the Locust process (:mod:`harness.load.runner`).

The CLI never imports locust: importing it monkey-patches the standard library for gevent. The options are
validated first, in this process, so a misconfigured load stops with one ``wsagent:`` line and exit 2 before
Locust starts; then the runner replaces this process (exec, not a child: Ctrl-C, SIGTERM and the exit code belong
to it, and nothing is left behind).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from harness.errors import ConfigError, TargetError
from harness.load.options import add_arguments, settings_from
from harness.targets import check_reachable

__all__ = ["add_arguments", "load"]


def load(args: argparse.Namespace, argv: Sequence[str]) -> NoReturn:
    """Validate ``args`` (parsed from ``argv``, the arguments after ``load``) and exec the runner with ``argv``."""
    settings = settings_from(args)
    target = settings.config.target
    if settings.runs_users and target is not None:
        try:
            check_reachable(target, settings.config.open_timeout)
        except TargetError as exc:  # nothing listens there: the URL is what to change
            raise ConfigError(str(exc)) from None
    os.execv(sys.executable, [sys.executable, "-P", "-m", "harness.load.runner", *argv])
