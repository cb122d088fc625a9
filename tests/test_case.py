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


def case_over(script: Script) -> Case:
    config = resolve(lambda opt: None, lambda opt: None, {"JWT_SECRET_KEY": SECRET})
    target = Target("ws://127.0.0.1:9/ws", "development", TokenFactory(SECRET, "development"), SECRET, embedded=True)
    case = Case(config, target, ("EVT-2",), "test_case")
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
