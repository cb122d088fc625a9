"""ISO-1..4: many users at once, several tabs of one user, and a user who leaves mid-run (PROTOCOL §4).

A frame that must never arrive is checked with a barrier, not a wait: once a connection's ``pong`` is in, every
frame the server sent it before is in too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from harness import Case, RunHandle
from harness.normalize import TERMINAL_TYPES, run_id_of
from harness.transcript import Record
from suites.waits import SLOW_TOOL_S

USERS = 10


@pytest.mark.requirement("ISO-1", "ISO-3", "EVT-2", "EVT-5")
async def test_concurrent_users_receive_only_their_own(wsagent: Case) -> None:
    # users first: a token file short of users skips before any connect
    users = [wsagent.user(f"user{n}") for n in range(USERS)]
    conns = await asyncio.gather(*(wsagent.connect_ok(user) for user in users))
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


@pytest.mark.deliberate_wait(SLOW_TOOL_S, "the slow_tool scenario's first tool takes 3 s (PROTOCOL §5)")
@pytest.mark.requirement("ISO-4")
async def test_client_leaving_mid_run_harms_nobody(wsagent: Case) -> None:
    """Both runs use the ``slow_tool`` scenario, so both are provably in flight when the leaver closes."""
    stayer = await wsagent.connect_ok(wsagent.user("stayer"), e2e=True)
    leaver = await wsagent.connect_ok(wsagent.user("leaver"), e2e=True)
    staying = await wsagent.start(stayer, request="keep going", scenario="slow_tool")
    leaving = await wsagent.start(leaver, request="leave now", scenario="slow_tool")
    await leaver.wait_for(in_tool_or_ended(leaving), wsagent.config.timeout)
    await leaver.close()
    await wsagent.probe_health()  # the stayer's slow tool still runs: /health while a run is in flight (Decision 6)
    await stayer.wait_for_terminal(staying.run_id, wsagent.config.timeout + SLOW_TOOL_S)
    wsagent.check()


def in_tool_or_ended(run: RunHandle) -> Callable[[Record], bool]:
    """The run is inside its (slow) tool, or it already ended (refused, say): either way the leaver may go. A run
    whose id the server creates is the leaver's only run, so any of its frames after the start is this run's."""
    kinds = TERMINAL_TYPES | {"tool_executing"}
    return lambda record: (
        record.type in kinds
        and record.seq > run.record.seq
        and (run.run_id is None or run_id_of(record.frame) == run.run_id)
    )
