"""EVT-1..8: what a run streams, in what order and shape, and how fast (PROTOCOL §4)."""

from __future__ import annotations

import pytest

from harness import Case
from suites.waits import SLOW_TOOL_S

ALL_EVT = ("EVT-1", "EVT-2", "EVT-3", "EVT-4", "EVT-5", "EVT-6", "EVT-7", "EVT-8")
NO_SUCH_AGENT = "wsagent-no-such-agent"


@pytest.mark.requirement(*ALL_EVT)
async def test_tool_agent_run(wsagent: Case) -> None:
    conn = await wsagent.connect_ok()
    await wsagent.run(conn, wsagent.agents.tools, "find three facts about websockets")
    wsagent.check()


@pytest.mark.requirement(*(req for req in ALL_EVT if req != "EVT-3"))  # no tools, so no pairs to judge
async def test_plain_agent_run(wsagent: Case) -> None:
    conn = await wsagent.connect_ok()
    await wsagent.run(conn, wsagent.agents.plain, "say hello back")
    wsagent.check()


@pytest.mark.requirement(*ALL_EVT)
async def test_calculator_run(wsagent: Case) -> None:
    if not wsagent.agents.calculator:
        pytest.skip("no calculator agent configured (--wsagent-agents calculator=NAME)")
    conn = await wsagent.connect_ok()
    await wsagent.run(conn, wsagent.agents.calculator, "what is (6 + 1) * 6?")
    wsagent.check()


@pytest.mark.requirement("EVT-2")
async def test_unknown_agent_refused(wsagent: Case) -> None:
    """PROTOCOL §3: an unknown agent gets UNKNOWN_AGENT, a refusal with the run's run_id (EVT-2, Decision 40)."""
    conn = await wsagent.connect_ok()
    if not conn.session.template.carries("agent"):
        pytest.skip("the start template names no agent ({agent}): no unknown agent can be requested")
    await wsagent.run(conn, NO_SUCH_AGENT, uses_tools=False, refused_with="UNKNOWN_AGENT")
    wsagent.check()


@pytest.mark.requirement("EVT-1", "EVT-2", "EVT-5")
@pytest.mark.parametrize("kind", ["user_message", "chat"])
async def test_chat_message_runs_echo(wsagent: Case, kind: str) -> None:
    """PROTOCOL §3, optional: ``user_message``/``chat`` with ``payload.message`` runs ``echo``; SKIPPED without it."""
    conn = await wsagent.connect_ok()
    await wsagent.chat(conn, kind)
    wsagent.check()


@pytest.mark.requirement("EVT-2", "EVT-5", "ISO-3")
async def test_server_created_ids(wsagent: Case) -> None:
    conn = await wsagent.connect_ok()
    other = await wsagent.connect_ok(wsagent.user("bob"))
    await wsagent.run(conn, run_id=None, thread_id=None)
    await wsagent.run(other, run_id=None, thread_id=None)
    wsagent.check()


@pytest.mark.deliberate_wait(SLOW_TOOL_S, "the slow_tool scenario's first tool takes 3 s (PROTOCOL §5)")
@pytest.mark.requirement("EVT-2", "EVT-3", "EVT-7")
async def test_heartbeat_during_slow_tool(wsagent: Case) -> None:
    conn = await wsagent.connect_ok(e2e=True)
    await wsagent.run(conn, scenario="slow_tool", timeout=wsagent.config.timeout + SLOW_TOOL_S)
    wsagent.check()


@pytest.mark.requirement("EVT-1", "EVT-2", "EVT-8")
async def test_consecutive_runs_on_one_connection(wsagent: Case) -> None:
    conn = await wsagent.connect_ok()
    for request in ("first question", "second question", "third question"):
        await wsagent.run(conn, request=request)
    wsagent.check()
