"""Async tests that use wsagent's fixtures run under pytest-asyncio, whatever the user's ``asyncio_mode``.

A test that asks for a ``wsagent*`` fixture is marked ``asyncio`` before pytest makes its item, so a user's
configuration needs no ``asyncio_mode = auto`` for our fixtures; one that reaches ``wsagent`` only through a fixture
of the user's own, in strict mode, stops the session with a line saying what to add (pytest's own error does not).
The plugin registers this module at configure time.
"""

from __future__ import annotations

import inspect
from collections.abc import Generator
from typing import Any

import pytest

__all__ = ["check", "pytest_pycollect_makeitem"]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Generator[None, Any, Any]:
    """An async test that asks for a wsagent fixture runs under pytest-asyncio whatever its mode: marked before pytest
    makes the item, so a user's configuration needs no ``asyncio_mode = auto`` for our fixtures."""
    if (
        inspect.iscoroutinefunction(obj)
        and not _marked_asyncio(obj)
        and any(n == "wsagent" or n.startswith("wsagent_") for n in _parameters(obj))
    ):
        pytest.mark.asyncio(obj)
    return (yield)


def _parameters(obj: Any) -> list[str]:
    try:
        return list(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        return []


def _marked_asyncio(obj: Any) -> bool:
    return any(getattr(mark, "name", None) == "asyncio" for mark in getattr(obj, "pytestmark", []))


def _not_run_by_asyncio(item: pytest.Item) -> bool:
    """An async test that reaches the ``wsagent`` fixture only through one of the user's fixtures, in strict mode:
    pytest-asyncio would not run it, and pytest's own error would not say what to add."""
    function = getattr(item, "obj", None)
    return (
        inspect.iscoroutinefunction(function)
        and "wsagent" in getattr(item, "fixturenames", ())
        and item.get_closest_marker("asyncio") is None
    )


def check(items: list[pytest.Item]) -> None:
    """Stop the session (a usage error, one line) when pytest-asyncio would not run a test that uses ``wsagent``."""
    unrun = [item.nodeid for item in items if _not_run_by_asyncio(item)]
    if unrun:
        raise pytest.UsageError(
            "wsagent: pytest-asyncio does not run "
            f"{unrun[0]}{f' and {len(unrun) - 1} more' if len(unrun) > 1 else ''}: add "
            "asyncio_mode = auto (and asyncio_default_fixture_loop_scope = function) to your pytest configuration, "
            "or mark the test @pytest.mark.asyncio"
        )
