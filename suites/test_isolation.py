"""ISO-1..4: many users at once, several tabs of one user, and a user who leaves mid-run (PROTOCOL §4).

A frame that must never arrive is checked with a barrier, not a wait: once a connection's ``pong`` is in, every
frame the server sent it before is in too.
"""

from __future__ import annotations

import asyncio

import pytest

from harness import Case

USERS = 10


@pytest.mark.requirement("ISO-1", "ISO-3", "EVT-2", "EVT-5")
async def test_concurrent_users_receive_only_their_own(wsagent: Case) -> None:
    conns = await asyncio.gather(*(wsagent.connect_ok(wsagent.user(f"user{n}")) for n in range(USERS)))
    await asyncio.gather(*(wsagent.run(conn, run_id=None, thread_id=None) for conn in conns))
    await asyncio.gather(*(conn.barrier(wsagent.config.timeout) for conn in conns))
    wsagent.check()


@pytest.mark.requirement("ISO-2", "EVT-8")
async def test_every_tab_receives_every_event(wsagent: Case) -> None:
    user = wsagent.user()
    first = await wsagent.connect_ok(user)
    second = await wsagent.connect_ok(user)
    handle = await wsagent.run(first)
    await second.wait_for_terminal(handle.run_id, wsagent.config.timeout)
    await second.barrier(wsagent.config.timeout)
    wsagent.check()


@pytest.mark.requirement("ISO-4")
async def test_client_leaving_mid_run_harms_nobody(wsagent: Case) -> None:
    stayer = await wsagent.connect_ok(wsagent.user("stayer"))
    leaver = await wsagent.connect_ok(wsagent.user("leaver"))
    staying = await stayer.start_run(wsagent.agents.tools, "keep going", uses_tools=True)
    await leaver.start_run(wsagent.agents.tools, "leave now", uses_tools=True)
    await leaver.close()
    await stayer.wait_for_terminal(staying.run_id, wsagent.config.timeout)
    await wsagent.probe_health()
    wsagent.check()
