"""The HTML report as a person sees it: real headless Chromium opens reports/html/index.html.

``wsagent run`` (embedded server, two faults so both failed and passed cases exist) builds the single-file Allure 3
report; ``wsagent report`` builds it again from the same results, which also appends to the kept history. The page's
passed/failed/total counters must equal conformance.json's per-test counts, the Categories tab must show our
categories (with the NON-STRICT bucket), the page must request nothing from outside itself, and a screenshot is
saved beside the report for a human to look at. Chromium is Debian's (never a browser downloaded by Playwright); Node builds the page.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
FAULTS = "--fault duplicate_agent_started --fault binary_frame_closes_1003"

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install chromium)"),
    pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to build the Allure 3 report"),
]


def wsagent(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "WSAGENT_", "JWT_SECRET"))}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, env=env, timeout=300)


def read_page(index: Path, screenshot: Path, outside: list[str]) -> tuple[dict[str, int], str]:
    """The overview's Total/Passed/Failed/... counters, and the text of the Categories tab, from the rendered page.

    Every request that is not the file itself or inline data is refused and listed in ``outside``.
    """
    sync_api: Any = pytest.importorskip("playwright.sync_api")

    def gate(route: Any) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.route("**/*", gate)
            page.goto(index.resolve().as_uri())
            page.locator("[data-testid=metadata-item-total]").wait_for(timeout=30_000)
            counts = {}
            for name in ("total", "passed", "failed", "broken", "skipped"):
                item = page.locator(f"[data-testid=metadata-item-{name}] [data-testid=metadata-value]")
                counts[name] = int(item.inner_text()) if item.count() else 0  # Allure hides a status with no tests
            page.screenshot(path=str(screenshot))
            page.locator("[data-testid=nav-tab-categories]").click()
            page.get_by_text("Event order and shape").wait_for(timeout=10_000)
            categories = page.inner_text("body")
        finally:
            browser.close()
    return counts, categories


def test_html_report_shows_the_run_counts(tmp_path: Path) -> None:
    report_dir = tmp_path / "reports"
    run = wsagent("run", "--report-dir", str(report_dir), "--", "--wsagent-timeout=3", f"--wsagent-server-args={FAULTS}")
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    assert f"wsagent: HTML report {report_dir / 'html' / 'index.html'}" in run.stdout
    built = wsagent("report", "--report-dir", str(report_dir))
    assert built.returncode == 0, built.stdout + built.stderr

    index = report_dir / "html" / "index.html"
    history = (report_dir / "history" / "history.jsonl").read_text().splitlines()
    assert len(history) == 2  # the run's build and the report's: trends survive between builds

    tests = json.loads((report_dir / "conformance.json").read_text())["tests"]
    screenshot = report_dir / "report.png"
    outside: list[str] = []
    shown, categories = read_page(index, screenshot, outside)
    assert shown == {k: tests[k] for k in ("total", "passed", "failed", "broken", "skipped")}
    assert shown["failed"] > 0 and shown["passed"] > 0
    assert "Tolerated deviations (NON-STRICT)" in categories  # our categories reached Allure 3, NON-STRICT shown
    assert outside == []  # one self-contained file that calls no one when opened
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
