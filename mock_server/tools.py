"""The bundled tools and the dispatcher that runs them with their events always paired.

:class:`ToolDispatcher` is the only way an agent calls a tool: it sends ``tool_executing``, runs the tool, and sends
exactly one ``tool_completed`` with the same ``execution_id`` whatever happens — success, an exception (``success``
false, the error text, ``duration_ms``), or cancellation — before the agent sees the outcome. A failure is then
raised to the agent as :class:`ToolFailed`, so the run ends ``failed`` rather than pretending to succeed.
Scenario hooks (PROTOCOL §5) act on the *first* call: ``slow_tool`` delays it, ``tool_error`` makes it raise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from mock_server.calculator import evaluate
from mock_server.errors import CalculationError, InjectedToolError, ToolFailed
from mock_server.faults import NO_FAULTS, FaultName, Faults
from mock_server.protocol import new_id

__all__ = ["NO_HOOKS", "TOOLS", "ToolDispatcher", "ToolEvents", "ToolHooks", "calculate", "search", "summarize"]

Results = dict[str, Any]
ToolFunction = Callable[[Mapping[str, Any]], Awaitable[Results]]


async def search(parameters: Mapping[str, Any]) -> Results:
    """Three deterministic "hits" about the query (no network: the reference server must be reproducible)."""
    query = str(parameters.get("query", ""))
    angles = ("overview", "how it works", "common pitfalls")
    return {"query": query, "hits": [{"title": f"{query}: {angle}", "rank": n} for n, angle in enumerate(angles, 1)]}


async def summarize(parameters: Mapping[str, Any]) -> Results:
    hits = parameters.get("hits") or []
    titles = [str(hit.get("title", "")) for hit in hits if isinstance(hit, Mapping)]
    return {"summary": f"Summary of {len(titles)} sources: " + "; ".join(titles)}


async def calculate(parameters: Mapping[str, Any]) -> Results:
    expression = str(parameters.get("expression") or "")
    if not expression:
        raise CalculationError("no arithmetic expression found in the request")
    return {"expression": expression, "value": evaluate(expression)}


TOOLS: Mapping[str, ToolFunction] = {"search": search, "summarize": summarize, "calculate": calculate}


class ToolEvents(Protocol):
    """The run's event sink as the dispatcher sees it (the engine's per-run emitter)."""

    def tool_executing(self, tool_name: str, execution_id: str, parameters: dict[str, Any]) -> None: ...

    def tool_completed(
        self, tool_name: str, execution_id: str, *, success: bool, duration_ms: float, results: Any = None, error: str | None = None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class ToolHooks:
    """Scenario effects on the run's first tool call."""

    fail_first: bool = False
    delay_first_s: float = 0.0


NO_HOOKS = ToolHooks()
"""A run without a tool scenario (shared: hooks are immutable)."""


class ToolDispatcher:
    """Runs one run's tool calls; create one per run."""

    def __init__(
        self, events: ToolEvents, *, tools: Mapping[str, ToolFunction] = TOOLS, hooks: ToolHooks = NO_HOOKS, faults: Faults = NO_FAULTS
    ) -> None:
        self._events = events
        self._tools = tools
        self._hooks = hooks
        self._faults = faults
        self._calls = 0

    async def execute(self, tool_name: str, parameters: dict[str, Any]) -> Results:
        """Run ``tool_name``; raises :class:`ToolFailed` after reporting a failure."""
        execution_id = new_id("exec", 12)
        first = self._calls == 0
        self._calls += 1
        self._events.tool_executing(tool_name, execution_id, dict(parameters))
        began = time.monotonic()

        def completed(**outcome: Any) -> None:
            self._completed(tool_name, execution_id, duration_ms=(time.monotonic() - began) * 1000, **outcome)

        try:
            if first and self._hooks.delay_first_s:
                await asyncio.sleep(self._hooks.delay_first_s)
            if first and self._hooks.fail_first:
                raise InjectedToolError(f"scenario tool_error: {tool_name} raised on purpose")
            results = await self._tools[tool_name](parameters)
        except asyncio.CancelledError:
            completed(success=False, error="cancelled before it finished")
            raise
        except Exception as exc:
            if self._faults.enabled(FaultName.TOOL_ERROR_REPORTED_AS_SUCCESS):
                completed(success=True, results={})
                return {}
            error = f"{type(exc).__name__}: {exc}"
            completed(success=False, error=error)
            raise ToolFailed(tool_name, error) from exc
        completed(success=True, results=results)
        return results

    def _completed(self, tool_name: str, execution_id: str, **outcome: Any) -> None:
        if self._faults.enabled(FaultName.COMPLETED_BEFORE_TOOL_COMPLETED):
            # fire-and-forget: the agent carries on and its agent_completed overtakes this event
            asyncio.get_running_loop().call_soon(lambda: self._events.tool_completed(tool_name, execution_id, **outcome))
            return
        self._events.tool_completed(tool_name, execution_id, **outcome)
