"""``wsagent run`` on a terminal: one counting line instead of pytest's dots."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from harness.catalog import CATALOG
from harness.collector import IDS_PROPERTY

__all__ = ["Progress"]


class Progress:
    """``wsagent run`` on a terminal: one line counting finished cases and naming their area, instead of dots."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.total = 0
        self.done = 0

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = len(session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.total = max(self.total, len(ids))  # the controller collects nothing itself; every worker collects all

    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> Generator[None, Any, tuple[str, str, Any]]:
        category, _letter, word = yield
        return category, "", word

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        self.done += 1
        ids = str(dict(report.user_properties).get(IDS_PROPERTY, ""))
        area = CATALOG[ids.split(",")[0]].area.value if ids else ""
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            terminal.write(f"\rwsagent: {self.done}/{self.total} cases  {area:<12}", flush=True)

    def pytest_sessionfinish(self) -> None:
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None and self.done:
            terminal.write_line("")
