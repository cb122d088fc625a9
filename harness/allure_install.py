"""The Allure 3 command line: the ``allure`` npm package, installed once per user and version, under a file lock.

Installed with npm from the npm registry into a per-user cache pinned to one version, so repeated runs neither
reinstall nor change the page under the browser test; two parallel runs never install into one folder at once.
Rendering the report is :mod:`harness.allure_report`'s.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ALLURE_VERSION", "TIMEOUT", "HtmlUnavailable", "allure_cli", "cache_dir"]

ALLURE_VERSION = "3.18.0"
"""Pinned: the browser test reads the page, and a new major could move what it reads."""
TIMEOUT = 300
"""Seconds for one npm install or one report build: a blocked network must not hang a finished run."""


class HtmlUnavailable(Exception):
    """Node/npm are missing or the Allure 3 package could not be installed; the message says what to do."""


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    base = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "wsagent" / f"allure-{ALLURE_VERSION}"


def allure_cli() -> list[str]:
    """``node .../allure/cli.js``, installing the pinned package into the cache on first use (under a file lock)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    hint = (
        "install Node.js 18+ with npm (Debian: apt-get install nodejs npm); "
        f"wsagent then fetches allure@{ALLURE_VERSION}"
    )
    if node is None:
        raise HtmlUnavailable(f"wsagent: the HTML report needs Node.js: {hint}")
    prefix = cache_dir()
    cli = prefix / "node_modules" / "allure" / "cli.js"
    if cli.exists():
        return [node, str(cli)]
    if npm is None:
        raise HtmlUnavailable(f"wsagent: the HTML report needs npm to install Allure 3: {hint}")
    prefix.mkdir(parents=True, exist_ok=True)
    with open(prefix.parent / f"{prefix.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two parallel runs must not install into one folder at once
        if not cli.exists():
            try:
                done = subprocess.run(
                    [
                        npm,
                        "install",
                        "--prefix",
                        str(prefix),
                        "--no-audit",
                        "--no-fund",
                        "--loglevel=error",
                        f"allure@{ALLURE_VERSION}",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=TIMEOUT,
                )
            except subprocess.TimeoutExpired:
                raise HtmlUnavailable(
                    f"wsagent: npm could not install allure@{ALLURE_VERSION} within {TIMEOUT} s"
                ) from None
            if done.returncode != 0 or not cli.exists():
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                raise HtmlUnavailable(f"wsagent: npm could not install allure@{ALLURE_VERSION}: {tail[0]}")
    return [node, str(cli)]
