"""SEC-1..2: nobody acts or listens as someone else, and no token or secret ever comes back (PROTOCOL §6)."""

from __future__ import annotations

import pytest

from harness import Case


@pytest.mark.requirement("SEC-1", "ISO-1")
async def test_payload_user_id_never_overrides_sub(wsagent: Case) -> None:
    victim = await wsagent.connect_ok(wsagent.user("victim"))
    attacker = await wsagent.connect_ok(wsagent.user("attacker"))
    await wsagent.run(attacker, claims_user=victim.user)
    await victim.barrier(wsagent.config.timeout)
    wsagent.check()


@pytest.mark.requirement("SEC-1", "ISO-1")
async def test_another_users_thread_is_not_observable(wsagent: Case) -> None:
    owner = await wsagent.connect_ok(wsagent.user("owner"))
    intruder = await wsagent.connect_ok(wsagent.user("intruder"))
    first = await wsagent.run(owner)
    await wsagent.run(intruder, thread_id=first.thread_id)
    await wsagent.run(owner, thread_id=first.thread_id)
    await intruder.barrier(wsagent.config.timeout)
    wsagent.check()


@pytest.mark.requirement("SEC-2")
async def test_errors_carry_no_token_or_secret(wsagent: Case) -> None:
    conn = await wsagent.connect_ok()
    await conn.send_text("{broken", note={"probe": "invalid_json"})
    await conn.send_json({"type": "start_agent", "payload": {"agent_name": "no-such-agent", "user_request": "x"}})
    await conn.barrier(wsagent.config.timeout)
    await wsagent.connect(token="expired", e2e=False)
    await wsagent.connect(token="expired", transport="subprotocol", e2e=False)
    wsagent.check()
