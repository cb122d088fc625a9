"""The HTML report as a person sees it: real headless Chromium opens reports/html/index.html.

``wsagent run`` (embedded server, two faults so both failed and passed cases exist) builds the single-file Allure 3
report; ``wsagent report`` builds it again from the same results, which also appends to the kept history. In a
1400×900 window the page must open at the top; its passed/failed/total counters must equal conformance.json's
per-test counts; the overview's metadata must hold the conformance table (every ID, grade and title; the IDs that
are not OK on the first screen); the results must be grouped area → "ID GRADE: title" → cases; a failed case's
labels must show whole IDs; the Categories tab must show our categories (with the NON-STRICT bucket); the page must
request nothing from outside itself. Screenshots of the first screen and of a failed case are kept beside the
report (``<tmp>/test_html_report_shows_the_run0/reports/*.png``) for a human to look at. Chromium is Debian's (never a browser downloaded by Playwright); Node builds the page.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.shell import wsagent

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


EVT_2 = "One agent_started first, one terminal frame last, nothing after it"


@dataclass
class Page:
    """What the report shows a reader: the overview's counters, and what the checks below read off the page."""

    counts: dict[str, int] = field(default_factory=dict)
    scrolled: int = -1
    """How far the page is scrolled once it has opened (0: at the top)."""
    first_screen: list[str] = field(default_factory=list)
    """Conformance rows ("ID GRADE: title") of the overview's metadata that lie inside the first 900 pixels."""
    conformance: dict[str, str] = field(default_factory=dict)
    """Every metadata row, after "Show more": key -> value."""
    groups: list[str] = field(default_factory=list)
    """The titles of the result tree's requirement groups, with the events and robustness areas open."""
    labels: dict[str, list[str]] = field(default_factory=dict)
    """A failed case's labels: name -> the values whose text is shown whole (not cut with an ellipsis)."""
    cut: list[str] = field(default_factory=list)
    """Label values the page cuts."""
    categories: str = ""


def read_page(index: Path, screenshots: Path, outside: list[str]) -> Page:
    """Open the report as a reader would, in a 1400×900 window, and read what it shows; screenshots of the first
    screen (``first-screen.png``) and of a failed case (``failed-case.png``) are kept in ``screenshots``.

    Every request that is not the file itself or inline data is refused and listed in ``outside``.
    """
    sync_api: Any = pytest.importorskip("playwright.sync_api")
    shown = Page()

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
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.route("**/*", gate)
            page.goto(index.resolve().as_uri())
            page.locator("[data-testid=metadata-item-total]").wait_for(timeout=30_000)
            page.get_by_text(f"EVT-2 FAILED: {EVT_2}", exact=True).first.wait_for(timeout=10_000)  # the tree is drawn
            page.locator("[data-testid=tree-leaf]").first.wait_for(timeout=10_000)
            for name in ("total", "passed", "failed", "broken", "skipped"):
                item = page.locator(f"[data-testid=metadata-item-{name}] [data-testid=metadata-value]")
                shown.counts[name] = int(item.inner_text()) if item.count() else 0  # Allure hides a status with no tests
            shown.scrolled = page.locator("[data-testid=base-layout]").evaluate("e => e.scrollTop")
            shown.first_screen = page.evaluate(FIRST_SCREEN)
            page.screenshot(path=str(screenshots / "first-screen.png"))
            page.get_by_text("robustness", exact=True).first.click()  # an area with no failure opens on a click
            page.get_by_text("ROB-4 NON-STRICT: ", exact=False).first.wait_for(timeout=10_000)
            shown.groups = page.evaluate(GROUP_TITLES)
            page.get_by_text("Show more", exact=True).first.click()
            shown.conformance = page.evaluate(METADATA)
            page.get_by_text("test_tool_agent_run", exact=True).first.click()
            page.get_by_text("requirement", exact=True).first.wait_for(timeout=10_000)
            shown.labels, shown.cut = page.evaluate(LABELS)
            page.screenshot(path=str(screenshots / "failed-case.png"))
            page.go_back()
            page.locator("[data-testid=nav-tab-categories]").click()
            page.get_by_text("Event order and shape").wait_for(timeout=10_000)
            shown.categories = page.inner_text("body")
        finally:
            browser.close()
    return shown


FIRST_SCREEN = """() => [...document.querySelectorAll('*')]
    .filter(e => e.children.length === 0 && /^[A-Z0-9]+-\\d$/.test(e.textContent.trim()))
    .filter(e => { const r = e.getBoundingClientRect(); return r.height > 0 && r.bottom <= innerHeight; })
    .map(e => e.textContent.trim())"""
"""The requirement IDs the reader sees without scrolling, as metadata keys (leaf elements whose text is an ID)."""

METADATA = """() => Object.fromEntries([...document.querySelectorAll('*')]
    .filter(e => e.children.length === 0 && /^[A-Z0-9]+-\\d$/.test(e.textContent.trim()))
    .map(e => [e.textContent.trim(), e.nextElementSibling ? e.nextElementSibling.innerText.trim() : '']))"""

GROUP_TITLES = """() => [...document.querySelectorAll('button, div, span')]
    .filter(e => e.children.length === 0 && /^[A-Z0-9]+-\\d (OK|FAILED|NON-STRICT|SKIPPED|ERROR|NOT RUN): /.test(e.textContent))
    .map(e => e.textContent.trim())"""

LABELS = """() => {
    const labels = {}; const cut = [];
    for (const item of document.querySelectorAll('[data-testid=metadata-item]')) {
        const key = item.querySelector('[data-testid=metadata-item-key]'); if (!key) continue;
        const values = [...item.querySelectorAll('[data-testid=metadata-item-value] span')];
        labels[key.textContent.trim()] = values.filter(v => v.scrollWidth <= v.clientWidth).map(v => v.textContent.trim());
        cut.push(...values.filter(v => v.scrollWidth > v.clientWidth).map(v => v.textContent.trim()));
    }
    return [labels, cut];
}"""


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

    data = json.loads((report_dir / "conformance.json").read_text())
    outside: list[str] = []
    shown = read_page(index, report_dir, outside)
    assert shown.counts == {k: data["tests"][k] for k in ("total", "passed", "failed", "broken", "skipped")}
    assert shown.counts["failed"] > 0
    assert shown.counts["passed"] > 0
    assert shown.scrolled == 0  # the page opens at the top, the overview first
    assert {"EVT-2", "ROB-4"} <= set(shown.first_screen)  # what needs attention is on the first screen
    assert shown.conformance == {i: f"{row['grade']}: {row['title']}" for i, row in data["requirements"].items()}
    assert f"EVT-2 FAILED: {EVT_2}" in shown.groups
    assert "ROB-4 NON-STRICT: A binary frame gets BINARY_NOT_SUPPORTED, never a crash" in shown.groups
    assert shown.labels["requirement"] == [f"EVT-{n}" for n in range(1, 9)], (shown.labels, shown.cut)
    assert shown.labels["epic"] == ["events"], (shown.labels, shown.cut)
    assert f"EVT-2 FAILED: {EVT_2}" in shown.labels["feature"]
    assert shown.cut == []
    assert "Tolerated deviations (NON-STRICT)" in shown.categories  # our categories reached Allure 3, NON-STRICT shown
    assert outside == []  # one self-contained file that calls no one when opened
    for screenshot in ("first-screen.png", "failed-case.png"):
        assert (report_dir / screenshot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
