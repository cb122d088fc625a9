"""The plugin's fixtures as a user's own test file uses them (README, "Writing your own test")."""

from __future__ import annotations

import jwt
import pytest

from harness import Case
from harness.tokens import TokenSource


@pytest.mark.requirement("EVT-1", "EVT-2", "EVT-3")
async def test_my_agent_streams_everything(wsagent: Case) -> None:
    conn = await wsagent.connect_ok()
    await wsagent.run(conn, "researcher", "find three facts about websockets")
    outcome = wsagent.check()
    assert outcome.grades == {"EVT-1": "OK", "EVT-2": "OK", "EVT-3": "OK"}


def test_token_factory_fixture(wsagent_tokens: TokenSource) -> None:
    claims = jwt.decode(wsagent_tokens.valid("u1"), options={"verify_signature": False})
    assert claims["sub"] == "u1"
    assert wsagent_tokens.bad("missing") is None


@pytest.mark.requirement("EVT-1")
async def test_a_users_own_case_is_reproduced_with_pytest(wsagent: Case) -> None:
    """This file is a user's test, not one of wsagent's suites: its reproduce line reruns it with pytest."""
    assert wsagent.reproduce(["EVT-1"]).startswith("pytest tests/test_fixtures.py::test_a_users_own_case_is_reproduced_with_pytest")
