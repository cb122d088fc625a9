"""AUTH-1..5: who may connect, how the token travels, and who the connection is (PROTOCOL §1)."""

from __future__ import annotations

import pytest

from harness import BAD_TOKENS, Case, Target

AUTH1_KINDS = [kind for kind, req in BAD_TOKENS.items() if req == "AUTH-1"]
AUTH5_KINDS = [kind for kind, req in BAD_TOKENS.items() if req == "AUTH-5"]


@pytest.mark.requirement("AUTH-1", "SEC-2")
@pytest.mark.parametrize("kind", AUTH1_KINDS)
async def test_bad_token_refused_before_upgrade(wsagent: Case, kind: str) -> None:
    await wsagent.connect(token=kind, e2e=False)
    wsagent.check()


@pytest.mark.requirement("AUTH-1", "SEC-2")
@pytest.mark.parametrize("kind", ["expired", "wrong_iss"])
async def test_bad_token_in_subprotocol_refused(wsagent: Case, kind: str) -> None:
    await wsagent.connect(token=kind, transport="subprotocol", e2e=False)
    wsagent.check()


@pytest.mark.requirement("AUTH-1")
async def test_query_token_refused_in_production(wsagent: Case, wsagent_production: Target) -> None:
    wsagent.use(wsagent_production)
    await wsagent.connect(transport="query", e2e=False)
    wsagent.check()


@pytest.mark.requirement("AUTH-2")
async def test_query_token_accepted_outside_production(wsagent: Case) -> None:
    if wsagent.target.environment == "production":
        pytest.skip("?token= must be refused in production (AUTH-1: test_query_token_refused_in_production)")
    await wsagent.connect_ok(transport="query", e2e=False)
    wsagent.check()


@pytest.mark.requirement("AUTH-2", "AUTH-4")
async def test_bearer_token_accepted(wsagent: Case) -> None:
    await wsagent.connect_ok(e2e=False)
    wsagent.check()


@pytest.mark.requirement("AUTH-2", "AUTH-3")
async def test_bearer_header_wins_over_subprotocol(wsagent: Case) -> None:
    """Another user's valid token in the jwt. entry: the session is the header's user, the entry still selected."""
    await wsagent.connect_ok(transport="bearer_and_subprotocol", subprotocol_user=wsagent.user("bob"), e2e=False)
    wsagent.check()


@pytest.mark.requirement("AUTH-3", "AUTH-4")
@pytest.mark.parametrize("transport", ["subprotocol", "subprotocol_raw"])
async def test_subprotocol_token_accepted_and_echoed(wsagent: Case, transport: str) -> None:
    await wsagent.connect_ok(transport=transport, e2e=False)
    wsagent.check()


@pytest.mark.requirement("AUTH-5", "SEC-2")
@pytest.mark.parametrize("kind", AUTH5_KINDS)
async def test_other_environment_token_refused(wsagent: Case, kind: str) -> None:
    await wsagent.connect(token=kind, e2e=False)
    wsagent.check()
