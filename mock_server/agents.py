"""The bundled agents and the registry that wires them to the WebSocket bridge.

An agent is a plain coroutine ``(user_request, steps) -> final_response``: it thinks and calls tools through
:class:`AgentSteps` and never sees a socket, a frame or a run id, so every event it causes is built and routed by
the bridge. Agents are deterministic and have no artificial delays (PROTOCOL §3):

- ``echo``: thinks once, answers with the request;
- ``researcher``: thinks, calls ``search`` then ``summarize``, answers with the summary;
- ``calculator``: thinks, calls ``calculate`` on the arithmetic expression found in the request.

:meth:`AgentRegistry.set_websocket_manager` is the one wiring step (as in the backend): it creates the
:class:`~mock_server.bridge.AgentWebSocketBridge`. An engine built on an unwired registry fails at construction
instead of running agents whose events go nowhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

from mock_server.bridge import AgentWebSocketBridge
from mock_server.calculator import find_expression
from mock_server.faults import NO_FAULTS, Faults
from mock_server.manager import WebSocketManager
from mock_server.variants import NO_VARIANTS, Variants

__all__ = ["BUNDLED_AGENTS", "AgentRegistry", "AgentSpec", "AgentSteps", "calculator", "echo", "researcher"]


class AgentSteps(Protocol):
    """What an agent may do during a run; the engine's implementation emits the events."""

    def think(self, reasoning: str) -> None: ...

    async def use_tool(self, tool_name: str, parameters: dict[str, Any]) -> dict[str, Any]: ...


AgentFunction = Callable[[str, AgentSteps], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class AgentSpec:
    name: str
    run: AgentFunction
    uses_tools: bool


async def echo(request: str, steps: AgentSteps) -> str:
    steps.think(f"Reading the message ({len(request)} characters) to echo it back.")
    return f"You said: {request}"


async def researcher(request: str, steps: AgentSteps) -> str:
    steps.think(f"Planning: search for {request!r}, then summarize the hits.")
    found = await steps.use_tool("search", {"query": request})
    summary = await steps.use_tool("summarize", {"hits": found.get("hits", [])})
    return str(summary["summary"])


async def calculator(request: str, steps: AgentSteps) -> str:
    expression = find_expression(request) or ""
    steps.think(f"Evaluating {expression!r} with the calculate tool." if expression else "No arithmetic expression in the request.")
    result = await steps.use_tool("calculate", {"expression": expression})
    return f"{result['expression']} = {result['value']}"


BUNDLED_AGENTS: Mapping[str, AgentSpec] = MappingProxyType({
    "echo": AgentSpec("echo", echo, uses_tools=False),
    "researcher": AgentSpec("researcher", researcher, uses_tools=True),
    "calculator": AgentSpec("calculator", calculator, uses_tools=True),
})


class AgentRegistry:
    """Agents by name, plus the bridge their events leave through once :meth:`set_websocket_manager` is called."""

    def __init__(
        self, agents: Mapping[str, AgentSpec] = BUNDLED_AGENTS, faults: Faults = NO_FAULTS, variants: Variants = NO_VARIANTS
    ) -> None:
        self._agents = dict(agents)
        self._faults = faults
        self._variants = variants
        self._bridge: AgentWebSocketBridge | None = None

    def get(self, name: str) -> AgentSpec | None:
        return self._agents.get(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._agents))

    def set_websocket_manager(self, manager: WebSocketManager) -> AgentWebSocketBridge:
        """Wire the registry to the connections: creates (and returns) the bridge every run event leaves through."""
        self._bridge = AgentWebSocketBridge(manager, self._faults, self._variants)
        return self._bridge

    @property
    def bridge(self) -> AgentWebSocketBridge:
        if self._bridge is None:
            raise RuntimeError("AgentRegistry has no WebSocket manager: call set_websocket_manager() before running agents")
        return self._bridge
