"""What a test's marks say: the requirement IDs it judges, whether ``--only`` keeps it, and its deliberate waits.

The marks are the plugin's vocabulary (registered in ``pytest_configure``): ``requirement(*ids)``, ``noisy`` and
``deliberate_wait(seconds, reason)``. A mark naming an unknown ID is a usage error, caught before any case runs.
"""

from __future__ import annotations

import json

import pytest

from harness.allure_case import label
from harness.catalog import CATALOG, SUITES, selection
from harness.collector import IDS_PROPERTY, WAIT_PROPERTY

__all__ = ["MARKERS", "bundled", "record", "requirement_ids", "select"]

MARKERS = (
    "requirement(*ids): the contract requirement IDs a case judges",
    "noisy: a flood or load case, off against remote targets unless --wsagent-allow-noisy",
    "deliberate_wait(seconds, reason): a wait the contract itself imposes; listed in the report",
)


def requirement_ids(item: pytest.Item) -> tuple[str, ...]:
    ids: list[str] = []
    for mark in item.iter_markers("requirement"):
        ids.extend(a for a in mark.args if a not in ids)
    return tuple(ids)


def bundled(item: pytest.Item) -> bool:
    """wsagent's own cases are reproduced by ``wsagent run``, a user's by pytest."""
    return item.path.is_relative_to(SUITES)


def select(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse unknown IDs in marks, then keep the items ``--wsagent-only`` selects (by area or ID)."""
    for item in items:
        unknown = [i for i in requirement_ids(item) if i not in CATALOG]
        if unknown:
            raise pytest.UsageError(f"wsagent: {item.nodeid} names unknown requirement IDs {unknown}")
    try:
        only = selection(config.getoption("--wsagent-only"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if not only:
        return
    keep, drop = [], []
    for item in items:
        chosen = any(i in only or CATALOG[i].area.value in only for i in requirement_ids(item))
        (keep if chosen else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def record(item: pytest.Item) -> None:
    """Put a case's IDs and deliberate wait where the controller's reports read them, and label it for Allure."""
    ids = requirement_ids(item)
    if ids:
        item.user_properties.append((IDS_PROPERTY, ",".join(ids)))
        label(ids)
    wait = item.get_closest_marker("deliberate_wait")
    if wait is not None:
        seconds, reason = wait.args
        item.user_properties.append((WAIT_PROPERTY, json.dumps({"seconds": float(seconds), "reason": str(reason)})))
