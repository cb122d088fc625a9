"""Case.check turns a recorded transcript into a pytest outcome; an interrupted run is the harness's ERROR, not a grade."""

from __future__ import annotations

import pytest

from harness.case import Case
from harness.config import resolve
from harness.errors import TargetShutDown
from harness.grades import Grade
from harness.targets import Target
from harness.tokens import TokenFactory
from tests.scripts import Script, canonical_run

SECRET = "case-test-secret"


def case_over(script: Script, ids: tuple[str, ...] = ("EVT-2",)) -> Case:
    config = resolve(lambda opt: None, lambda opt: None, {"JWT_SECRET_KEY": SECRET})
    target = Target("ws://127.0.0.1:9/ws", "development", TokenFactory(SECRET, "development"), SECRET, embedded=True)
    case = Case(config, target, ids, "test_case")
    case.transcript = script.transcript
    return case


def half_run() -> Script:
    frames = canonical_run("alice", "thread_a_run_1", "thread_a")[:3]
    return Script().connect("a1", "alice").start("a1", "thread_a_run_1", "thread_a").recv_all("a1", frames)


def test_going_away_mid_run_interrupts_the_case() -> None:
    case = case_over(half_run().close("a1", code=1001, by="server", reason="server shutting down"))
    with pytest.raises(TargetShutDown, match="1001"):
        case.check()


def test_abnormal_close_mid_run_is_a_contract_failure() -> None:
    """Only a declared shutdown interrupts; a connection dropped mid-run is the target's silent failure (EVT-2)."""
    case = case_over(half_run().close("a1", code=1011, by="server"))
    with pytest.raises(pytest.fail.Exception, match="EVT-2 FAILED"):
        case.check()


def test_complete_run_before_going_away_is_judged() -> None:
    script = Script().connect("a1", "alice").run("a1", "alice").close("a1", code=1001, by="server")
    assert case_over(script).check().grades == {"EVT-2": Grade.OK}


def thoughtless_echo_run() -> Script:
    """An echo run without its agent_thinking: nothing keyed by step_number or execution_id is left for EVT-8."""
    frames = [f for f in canonical_run("alice", "thread_a_run_1", "thread_a", agent="echo", tools=()) if f["type"] != "agent_thinking"]
    return Script().connect("a1", "alice").start("a1", "thread_a_run_1", "thread_a", agent="echo", uses_tools=False).recv_all("a1", frames)


def test_unjudged_id_beside_a_failure_is_skipped_not_failed_again() -> None:
    case = case_over(thoughtless_echo_run(), ("EVT-1", "EVT-8"))
    with pytest.raises(pytest.fail.Exception):
        case.check()
    assert case.outcome is not None
    assert case.outcome.grades == {"EVT-1": Grade.FAILED, "EVT-8": Grade.SKIPPED}


def test_unjudged_id_alone_fails() -> None:
    """Silence never passes: a case whose frames exercise none of its IDs is FAILED."""
    case = case_over(thoughtless_echo_run(), ("EVT-8",))
    with pytest.raises(pytest.fail.Exception, match="never exercised"):
        case.check()


def test_reproduce_line_carries_what_changes_the_verdict_but_no_credentials() -> None:
    given = {"target": "wss://ci:hunter2@staging.example.com/ws?api_key=abc123", "environment": "staging", "strict": True}
    config = resolve(lambda opt: given.get(opt.name), lambda opt: None, {"JWT_SECRET_STAGING": SECRET})
    target = Target(str(given["target"]), "staging", TokenFactory(SECRET, "staging"), SECRET, embedded=False)
    case = Case(config, target, ("EVT-1",), "test_case")
    line = case.reproduce(["EVT-1", "EVT-8"])
    assert line == "wsagent run --only EVT-1 --only EVT-8 --target 'wss://staging.example.com/ws?[REDACTED-QUERY]' --environment staging --strict"
    assert case.transcript.meta["target"] == "wss://staging.example.com/ws?[REDACTED-QUERY]"


def test_a_users_own_test_is_reproduced_with_pytest_and_the_plugin_options() -> None:
    given = {"target": "wss://staging.example.com/ws", "environment": "staging", "strict": True}
    config = resolve(lambda opt: given.get(opt.name), lambda opt: None, {"JWT_SECRET_STAGING": SECRET})
    target = Target(str(given["target"]), "staging", TokenFactory(SECRET, "staging"), SECRET, embedded=False)
    line = Case(config, target, ("EVT-1",), "tests/test_mine.py::test_five_events", bundled=False).reproduce(["EVT-1"])
    assert line == ("pytest tests/test_mine.py::test_five_events --wsagent-target=wss://staging.example.com/ws "
                    "--wsagent-environment=staging --wsagent-strict")


def test_config_and_target_reprs_show_no_secret_header_or_url_credentials() -> None:
    """A user's failing ``assert wsagent_config.strict`` prints the config into the console and junit.xml."""
    given = {"target": "wss://ci:hunter2@staging.example.com/ws?api_key=abc123", "header": "X-Api-Key: k3y-value", "environment": "staging"}
    config = resolve(lambda opt: given.get(opt.name), lambda opt: None, {"WSAGENT_SECRET": SECRET})
    target = Target(config.target or "", "staging", TokenFactory(SECRET, "staging"), SECRET, embedded=False)
    assert config.secret_source == "WSAGENT_SECRET"
    for shown in (repr(config), repr(target)):
        assert not any(value in shown for value in (SECRET, "hunter2", "abc123", "k3y-value")), shown


def test_reproduce_line_keeps_settings_that_change_the_verdict() -> None:
    given = {"agents": "tools=planner,plain=echo,calculator=", "timeout": "10", "limits": "start=2,run=60,silence=15"}
    config = resolve(lambda opt: given.get(opt.name), lambda opt: None, {})
    target = Target("ws://127.0.0.1:9/ws", "development", TokenFactory(SECRET, "development"), SECRET, embedded=True)
    line = Case(config, target, ("EVT-1",), "test_case").reproduce(["EVT-1"])
    assert line == ("wsagent run --only EVT-1 -- --wsagent-agents=tools=planner,plain=echo,calculator= "
                    "--wsagent-limits=start=2,run=60,silence=15 --wsagent-timeout=10")


def test_reproduce_line_keeps_the_embedded_servers_faults() -> None:
    config = resolve(lambda opt: "--fault thinking_dropped" if opt.name == "server-args" else None, lambda opt: None, {})
    target = Target("ws://127.0.0.1:9/ws", "development", TokenFactory(SECRET, "development"), SECRET, embedded=True)
    line = Case(config, target, ("EVT-1",), "test_case").reproduce(["EVT-1"])
    assert line == "wsagent run --only EVT-1 -- '--wsagent-server-args=--fault thinking_dropped'"


async def test_e2e_off_skips_a_case_that_needs_the_headers_before_it_connects() -> None:
    config = resolve(lambda opt: "off" if opt.name == "e2e" else None, lambda opt: None, {"JWT_SECRET_KEY": SECRET})
    target = Target("ws://127.0.0.1:9/ws", "development", TokenFactory(SECRET, "development"), SECRET, embedded=True)
    case = Case(config, target, ("FAIL-1",), "test_case")
    with pytest.raises(pytest.skip.Exception, match="--wsagent-e2e is off"):
        await case.connect(e2e=True)
    assert len(case.transcript) == 0
