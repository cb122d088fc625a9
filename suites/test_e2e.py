"""E2E-1..3: test-mode detection, and that it never weakens auth or leaks into production (PROTOCOL §2)."""

from __future__ import annotations

import pytest

from harness import Case, Target
from suites.test_failures import NO_SUCH_SCENARIO

SCENARIO = "agent_crash"
COUNTING = [
    ("x-test-type", "1"),
    ("x-test-environment", "true"),
    ("x-e2e-test", "yes"),
    ("x-test-mode", "on"),
    ("X-TEST-TYPE", "E2E"),
    ("X-Test-Environment", "Test"),
    ("X-E2E-Test", "development"),
    ("X-Test-Mode", "staging"),
]
"""Each E2E header alone, every name in lower case once, and every counting value once (PROTOCOL §2)."""
NOT_COUNTING = [
    ("X-Test-Mode", "0"),
    ("X-E2E-Test", "false"),
    ("X-Test-Environment", "production"),
    ("X-Test-Type", ""),
]


def header_id(header: tuple[str, str]) -> str:
    return f"{header[0]}={header[1] or 'empty'}"


def needs_known_fallback(wsagent: Case, capabilities: set[str], known: str) -> None:
    """Skip unless E2E-1's answer here is known: outside production, on a target whose env fallback is declared."""
    if wsagent.target.environment == "production":
        pytest.skip("E2E-1 is judged outside production; in production E2E mode must be off (E2E-3)")
    if not capabilities & wsagent.target.capabilities:
        pytest.skip(
            f"the target is not known to run {known} the E2E env fallback (declare capability "
            f"{' or '.join(sorted(capabilities, reverse=True))})"
        )


@pytest.mark.requirement("E2E-1")
async def test_e2e_headers_detected(wsagent: Case) -> None:
    await wsagent.connect_ok(e2e=True)
    wsagent.check()


@pytest.mark.requirement("E2E-1")
@pytest.mark.parametrize("header", COUNTING, ids=header_id)
async def test_e2e_header_counts_alone(wsagent: Case, header: tuple[str, str]) -> None:
    await wsagent.connect_ok(e2e_headers=[header])
    wsagent.check()


@pytest.mark.requirement("E2E-1")
async def test_e2e_inactive_without_headers(wsagent: Case) -> None:
    needs_known_fallback(wsagent, {"no_e2e_env"}, "without")
    await wsagent.connect_ok(e2e=False)
    wsagent.check()


@pytest.mark.requirement("E2E-1")
@pytest.mark.parametrize("header", NOT_COUNTING, ids=header_id)
async def test_e2e_header_value_does_not_count(wsagent: Case, header: tuple[str, str]) -> None:
    """Judged as no headers at all: inactive, or source env where the target runs with the fallback."""
    needs_known_fallback(wsagent, {"no_e2e_env", "e2e_env"}, "with or without")
    await wsagent.connect_ok(e2e_headers=[header])
    wsagent.check()


@pytest.mark.requirement("E2E-1")
@pytest.mark.parametrize(
    ("target", "headers"),
    [("wsagent_e2e_env", False), ("wsagent_e2e_test_env", False), ("wsagent_e2e_env", True)],
    ids=["E2E_TESTING", "E2E_TEST_ENV", "headers_and_E2E_TESTING"],
)
async def test_e2e_env_fallback_detected(
    wsagent: Case, request: pytest.FixtureRequest, target: str, headers: bool
) -> None:
    """The env fallback alone: source env; the headers too: source headers. ``target`` is the fixture of a server
    running with that fallback variable (it skips with the reason where there is none)."""
    wsagent.use(request.getfixturevalue(target))
    await wsagent.connect_ok(e2e=headers)
    wsagent.check()


@pytest.mark.requirement("E2E-2", "SEC-2")
@pytest.mark.parametrize("kind", ["expired", "alg_none", "wrong_iss", "missing"])
async def test_bad_token_with_e2e_headers_still_refused(wsagent: Case, kind: str) -> None:
    """The same token without the headers first (a control): accepted there too, it is AUTH-1's defect, not E2E's."""
    await wsagent.connect(token=kind, e2e=False)
    await wsagent.connect(token=kind, e2e=True)
    wsagent.check()


@pytest.mark.requirement("E2E-2")
async def test_bad_token_with_e2e_headers_refused_in_production(wsagent: Case, wsagent_production: Target) -> None:
    wsagent.use(wsagent_production)
    await wsagent.connect(token="wrong_iss", e2e=False)
    await wsagent.connect(token="wrong_iss", e2e=True)
    wsagent.check()


@pytest.mark.requirement("E2E-3")
async def test_production_grants_nothing(wsagent: Case, wsagent_production: Target) -> None:
    wsagent.use(wsagent_production)
    conn = await wsagent.connect_ok(e2e=True)
    await wsagent.run(conn, scenario=SCENARIO)
    wsagent.check()


@pytest.mark.requirement("E2E-3")
async def test_scenario_refused_without_e2e(wsagent: Case) -> None:
    await refused_without_e2e(wsagent, SCENARIO)


@pytest.mark.requirement("E2E-3")
async def test_unknown_scenario_refused_without_e2e(wsagent: Case) -> None:
    """PROTOCOL §5: E2E_NOT_ALLOWED is checked first, so an unknown name on a non-E2E connection gets it too."""
    await refused_without_e2e(wsagent, NO_SUCH_SCENARIO)


async def refused_without_e2e(wsagent: Case, scenario: str) -> None:
    conn = await wsagent.connect_ok(e2e=False)
    if wsagent.e2e_active(conn):
        pytest.skip("the target runs every connection as E2E (env fallback): nothing to refuse")
    await wsagent.run(conn, scenario=scenario)
    wsagent.check()
