"""FAIL-1..4: the four hard-failure scenarios end loudly, never in silence (PROTOCOL §5).

Scenario runs need an E2E connection outside production; on a target without the hooks they are SKIPPED with
the target's own reason, never passed.
"""

from __future__ import annotations

import pytest

from harness import Case

NO_SUCH_SCENARIO = "wsagent_no_such_scenario"
"""A scenario name outside PROTOCOL §5's four: an E2E connection with hooks must answer UNKNOWN_SCENARIO."""


@pytest.mark.requirement("FAIL-1", "FAIL-4", "EVT-2")
async def test_unresolvable_thread_surfaces(wsagent: Case) -> None:
    conn = await wsagent.connect_ok(e2e=True)
    bystander = await wsagent.connect_ok(wsagent.user("bystander"), e2e=True)
    await wsagent.run(conn, scenario="unresolvable_thread")
    await wsagent.run(conn)
    await bystander.barrier(wsagent.config.timeout)
    wsagent.check()


@pytest.mark.requirement("FAIL-2", "FAIL-4", "EVT-2", "EVT-3")
async def test_tool_error_surfaces(wsagent: Case) -> None:
    conn = await wsagent.connect_ok(e2e=True)
    await wsagent.run(conn, scenario="tool_error")
    wsagent.check()


@pytest.mark.requirement("FAIL-3", "FAIL-4", "EVT-2")
async def test_agent_crash_surfaces(wsagent: Case) -> None:
    conn = await wsagent.connect_ok(e2e=True)
    await wsagent.run(conn, scenario="agent_crash")
    wsagent.check()


@pytest.mark.requirement("FAIL-4", "EVT-2")
async def test_unknown_scenario_refused(wsagent: Case) -> None:
    conn = await wsagent.connect_ok(e2e=True)
    await wsagent.run(conn, scenario=NO_SUCH_SCENARIO)
    wsagent.check()
