"""Must-fire and must-pass transcripts for every rule (in the spirit of ag-ui-validate's fixtures).

Each case is a hand-written transcript, the requirement it is about and the grade that requirement must get. The
meta-test at the bottom checks that every catalog ID has at least one FAILED case and one OK case here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.catalog import CATALOG
from harness.grades import Finding, Grade
from harness.judge import RuleError, judge
from harness.normalize import EVENTS
from harness.rules import RULES, Context
from harness.rules.events import _clean, field_problems
from harness.transcript import TOKEN, Transcript
from tests.scripts import (
    AUTH_BODY, DEV, E2E_ON, PROD, Script, canonical_run, error, good, hello, leaver_and_stayer, probe, run_frames, scenario,
    server_threads, with_frames,
)

OK, NS, FAILED, SKIPPED = Grade.OK, Grade.NON_STRICT, Grade.FAILED, Grade.SKIPPED


@dataclass(frozen=True)
class Case:
    rule: str
    name: str
    build: Callable[[], Script]
    grade: Grade
    context: Context = DEV


CASES: list[Case] = []


def case(rule: str, grade: Grade, context: Context = DEV) -> Callable[[Callable[[], Script]], Callable[[], Script]]:
    def register(build: Callable[[], Script]) -> Callable[[], Script]:
        CASES.append(Case(rule, build.__name__, build, grade, context))
        return build

    return register










# --- AUTH -------------------------------------------------------------------------------------------------------


@case("AUTH-1", OK)
def expired_token_refused_with_json() -> Script:
    return Script().connect("x", None, token="expired", status=403, body=AUTH_BODY)


@case("AUTH-1", NS)
def expired_token_refused_with_empty_body() -> Script:
    return Script().connect("x", None, token="expired", status=403, body="")


@case("AUTH-1", NS)
def refused_in_band_after_upgrade() -> Script:
    frame = {"type": "error_message", "error_code": "AUTH_FAILED", "error_message": "WebSocket authentication failed"}
    return Script().connect("x", None, token="alg_none", greeting=frame).close("x", 1008, by="server")


@case("AUTH-1", FAILED)
def expired_token_accepted() -> Script:
    return Script().connect("x", "wsagent-intruder", token="expired")


@case("AUTH-1", FAILED)
def refused_with_plain_text_body() -> Script:
    return Script().connect("x", None, token="malformed", status=403, body="Forbidden")


@case("AUTH-1", FAILED, PROD)
def query_token_accepted_in_production() -> Script:
    return Script().connect("x", "alice", transport="query")


@case("AUTH-1", SKIPPED)
def oversized_token_refused_by_http_layer() -> Script:
    return Script().connect("x", None, token="oversized", status=431, body="Request Header Fields Too Large")


@case("AUTH-1", FAILED)
def expired_token_refused_with_431() -> Script:
    """Only the oversized token may be refused by the HTTP layer; any other bad token needs 403 AUTH_FAILED."""
    return Script().connect("x", None, token="expired", status=431, body="Request Header Fields Too Large")


@case("AUTH-2", OK)
def bearer_accepted() -> Script:
    return Script().connect("a1", "alice")


@case("AUTH-2", FAILED)
def bearer_refused() -> Script:
    return Script().connect("a1", "alice", status=403, body=AUTH_BODY)


@case("AUTH-2", FAILED)
def first_frame_not_connection_established() -> Script:
    return Script().connect("a1", "alice", greeting={"type": "pong"})


@case("AUTH-3", OK)
def subprotocol_echoed() -> Script:
    entry = f"jwt.{TOKEN}"
    return Script().connect("a1", "alice", transport="subprotocol", offered=["jwt-auth", entry], subprotocol=entry)


@case("AUTH-3", FAILED)
def subprotocol_not_selected() -> Script:
    return Script().connect("a1", "alice", transport="subprotocol_raw", offered=["jwt-auth", f"jwt.{TOKEN}"], subprotocol="jwt-auth")


@case("AUTH-4", OK)
def user_id_is_sub() -> Script:
    return Script().connect("a1", "alice")


@case("AUTH-4", FAILED)
def user_id_is_default_user() -> Script:
    return Script().connect("a1", "alice", greeting=hello("default-user"))


@case("AUTH-4", NS)
def user_id_outside_data() -> Script:
    return Script().connect("a1", "alice", greeting={"type": "connection_established", "user_id": "alice", "data": {}})


@case("AUTH-5", OK)
def other_environment_secret_refused() -> Script:
    return Script().connect("x", None, token="wrong_secret", status=403, body=AUTH_BODY)


@case("AUTH-5", FAILED)
def other_environment_claim_accepted() -> Script:
    return Script().connect("x", "wsagent-intruder", token="other_env_claim")


# --- E2E --------------------------------------------------------------------------------------------------------


@case("E2E-1", OK)
def e2e_headers_detected() -> Script:
    return Script().connect("a1", "alice", e2e=True)


@case("E2E-1", FAILED)
def e2e_headers_ignored() -> Script:
    return Script().connect("a1", "alice", e2e=True, greeting=hello("alice"))


@case("E2E-1", OK, Context(capabilities=frozenset({"no_e2e_env"})))
def e2e_inactive_without_headers() -> Script:
    return Script().connect("a1", "alice")


@case("E2E-1", FAILED, Context(capabilities=frozenset({"e2e_env"})))
def e2e_env_fallback_mislabelled() -> Script:
    return Script().connect("a1", "alice", greeting=hello("alice", {"active": True, "source": "headers"}))


@case("E2E-2", OK)
def bad_token_with_e2e_headers_refused() -> Script:
    return Script().connect("x", None, token="expired", e2e=True, status=403, body=AUTH_BODY)


@case("E2E-2", NS)
def bad_token_with_e2e_headers_accepted_in_development() -> Script:
    return Script().connect("x", "wsagent-intruder", token="wrong_iss", e2e=True)


@case("E2E-2", FAILED, PROD)
def bad_token_with_e2e_headers_accepted_in_production() -> Script:
    return Script().connect("x", "wsagent-intruder", token="wrong_iss", e2e=True)


@case("E2E-3", OK, PROD)
def production_grants_nothing() -> Script:
    script = Script().connect("a1", "alice", e2e=True, greeting=hello("alice"))
    return script.start("a1", "thread_a_run_1", "thread_a", scenario="agent_crash").recv("a1", error("E2E_NOT_ALLOWED"))


@case("E2E-3", FAILED, PROD)
def production_honours_e2e_headers() -> Script:
    return Script().connect("a1", "alice", e2e=True)


@case("E2E-3", FAILED)
def scenario_on_inactive_connection_runs() -> Script:
    return with_frames(run_frames(), scenario="agent_crash")


# --- EVT --------------------------------------------------------------------------------------------------------


@case("EVT-1", OK)
def all_five_events() -> Script:
    return good()


@case("EVT-1", FAILED)
def thinking_dropped() -> Script:
    return with_frames([f for f in run_frames() if f["type"] != "agent_thinking"])


@case("EVT-1", OK)
def echo_without_tools() -> Script:
    return with_frames(run_frames(agent="echo", tools=()), uses_tools=False)


@case("EVT-2", OK)
def refusal_is_a_whole_run() -> Script:
    return with_frames([error("UNKNOWN_AGENT")])


@case("EVT-2", FAILED)
def completed_before_last_tool() -> Script:
    frames = run_frames()
    frames[-1], frames[-2] = frames[-2], frames[-1]
    return with_frames(frames)


@case("EVT-2", FAILED)
def no_terminal_frame() -> Script:
    return with_frames(run_frames()[:-1])


@case("EVT-2", FAILED)
def started_twice() -> Script:
    frames = run_frames()
    return with_frames([frames[0], *frames])


@case("EVT-3", OK)
def tools_paired() -> Script:
    return good()


@case("EVT-3", FAILED)
def completion_with_fresh_execution_id() -> Script:
    frames = run_frames()
    frames[3]["data"]["execution_id"] = "exec_other"
    return with_frames(frames)


@case("EVT-3", NS)
def paired_by_tool_name() -> Script:
    frames = run_frames()
    for frame in frames:
        frame["data"].pop("execution_id", None)
    return with_frames(frames)


@case("EVT-4", OK)
def fields_typed() -> Script:
    return good()


@case("EVT-4", FAILED)
def step_number_as_string() -> Script:
    frames = run_frames()
    frames[1]["data"]["step_number"] = "1"
    return with_frames(frames)


@case("EVT-4", FAILED)
def failed_tool_without_error() -> Script:
    frames = run_frames()
    frames[3]["data"].update(success=False)
    return with_frames(frames)


@case("EVT-5", OK)
def ids_stable() -> Script:
    return good()


@case("EVT-5", FAILED)
def thread_id_drifts() -> Script:
    frames = run_frames()
    frames[3]["thread_id"] = "thread_other"
    return with_frames(frames)


@case("EVT-5", FAILED)
def given_run_id_ignored() -> Script:
    frames = canonical_run("alice", "thread_a_run_server", "thread_a")
    return with_frames(frames)


@case("EVT-6", OK)
def timestamps_increase() -> Script:
    return good()


@case("EVT-6", FAILED)
def timestamp_goes_back() -> Script:
    frames = run_frames()
    frames[2]["timestamp"] = "2026-11-25T09:59:00+00:00"
    return with_frames(frames)


@case("EVT-6", NS)
def unix_float_timestamps() -> Script:
    frames = run_frames()
    for i, frame in enumerate(frames):
        frame["timestamp"] = 1764064800.0 + i
    return with_frames(frames)


@case("EVT-7", OK)
def timely() -> Script:
    return good()


@case("EVT-7", FAILED)
def late_start() -> Script:
    script = Script().connect("a1", "alice").start("a1", "thread_a_run_1", "thread_a").wait(2.5)
    return script.recv_all("a1", run_frames())


@case("EVT-7", FAILED)
def slow_tool_without_heartbeat() -> Script:
    frames = run_frames()
    script = with_frames(frames[:3], scenario="slow_tool", e2e=True).wait(3.0)
    return script.recv_all("a1", frames[3:])


@case("EVT-7", OK)
def slow_tool_with_heartbeat() -> Script:
    frames = run_frames()
    script = with_frames(frames[:3], scenario="slow_tool", e2e=True).wait(1.0)
    script.recv("a1", {"type": "heartbeat", "timestamp": "2026-11-25T10:00:01+00:00"}).wait(2.0)
    return script.recv_all("a1", frames[3:])


@case("EVT-8", OK)
def delivered_once() -> Script:
    return good()


@case("EVT-8", FAILED)
def thinking_delivered_twice() -> Script:
    frames = run_frames()
    return with_frames([frames[0], frames[1], frames[1], *frames[2:]])


# --- ISO --------------------------------------------------------------------------------------------------------


def two_users() -> Script:
    script = Script().connect("a1", "alice").connect("b1", "bob")
    script.start("a1", "thread_a_run_1", "thread_a").start("b1", "thread_b_run_1", "thread_b")
    return script


@case("ISO-1", OK)
def users_see_their_own() -> Script:
    script = two_users()
    script.recv_all("a1", canonical_run("alice", "thread_a_run_1", "thread_a"))
    return script.recv_all("b1", canonical_run("bob", "thread_b_run_1", "thread_b"))


@case("ISO-1", FAILED)
def frame_leaks_to_other_user() -> Script:
    script = two_users()
    alice = canonical_run("alice", "thread_a_run_1", "thread_a")
    script.recv_all("a1", alice)
    script.recv_all("b1", canonical_run("bob", "thread_b_run_1", "thread_b"))
    return script.recv("b1", alice[2])


@case("ISO-2", OK)
def both_tabs_receive() -> Script:
    script = Script().connect("a1", "alice").connect("a2", "alice").start("a1", "thread_a_run_1", "thread_a")
    frames = canonical_run("alice", "thread_a_run_1", "thread_a")
    return script.recv_all("a1", frames).recv_all("a2", frames)


@case("ISO-2", FAILED)
def second_tab_starved() -> Script:
    script = Script().connect("a1", "alice").connect("a2", "alice").start("a1", "thread_a_run_1", "thread_a")
    return script.recv_all("a1", canonical_run("alice", "thread_a_run_1", "thread_a"))




@case("ISO-3", OK)
def server_threads_distinct() -> Script:
    return server_threads("thread_1", "thread_2")


@case("ISO-3", FAILED)
def server_threads_collide() -> Script:
    return server_threads("thread_1", "thread_1")




@case("ISO-4", OK)
def disconnect_harms_nobody() -> Script:
    return leaver_and_stayer(canonical_run("bob", "thread_b_run_1", "thread_b")[-1])


@case("ISO-4", FAILED)
def disconnect_cancels_others() -> Script:
    end = canonical_run("bob", "thread_b_run_1", "thread_b")[-1]
    end["data"] = {"status": "failed", "final_response": ""}
    return leaver_and_stayer(end)


@case("ISO-4", OK)
def slow_run_survives_disconnect() -> Script:
    """The suite keeps both runs in flight with ``slow_tool``; a scenario run that completes counts as the stayer's."""
    script = Script().connect("a1", "alice", e2e=True).connect("b1", "bob", e2e=True)
    script.start("b1", "thread_b_run_1", "thread_b", scenario="slow_tool").start("a1", "thread_a_run_1", "thread_a", scenario="slow_tool")
    return script.close("a1").recv_all("b1", canonical_run("bob", "thread_b_run_1", "thread_b")).health()


@case("ISO-4", SKIPPED)
def slow_runs_refused() -> Script:
    script = Script().connect("a1", "alice", e2e=True, greeting=hello("alice")).start("a1", "thread_a_run_1", "thread_a", scenario="slow_tool")
    return script.recv("a1", error("E2E_NOT_ALLOWED")).close("a1")


# --- FAIL -------------------------------------------------------------------------------------------------------




@case("FAIL-1", OK)
def resolution_failure_surfaced() -> Script:
    return scenario("unresolvable_thread", [error("THREAD_RESOLUTION_FAILED")])


@case("FAIL-1", FAILED)
def resolution_failure_silent() -> Script:
    return scenario("unresolvable_thread", [])


@case("FAIL-1", SKIPPED)
def scenarios_not_offered() -> Script:
    script = Script().connect("a1", "alice", e2e=True, greeting=hello("alice"))
    return script.start("a1", "thread_a_run_1", "thread_a", scenario="unresolvable_thread").recv("a1", error("E2E_NOT_ALLOWED"))


@case("FAIL-2", OK)
def tool_error_surfaced() -> Script:
    frames = run_frames()
    frames[3]["data"] = {"tool_name": "search", "execution_id": "exec_1", "success": False, "error": "boom", "duration_ms": 1}
    frames[-1]["data"] = {"status": "failed", "final_response": ""}
    return scenario("tool_error", frames[:4] + frames[-1:])


@case("FAIL-2", FAILED)
def tool_error_reported_as_success() -> Script:
    return scenario("tool_error", run_frames())


@case("FAIL-3", OK)
def crash_surfaced() -> Script:
    return scenario("agent_crash", run_frames()[:1] + [error("AGENT_FAILED")])


@case("FAIL-3", FAILED)
def crash_silent() -> Script:
    return scenario("agent_crash", run_frames()[:1])


@case("FAIL-4", OK)
def scenario_honoured() -> Script:
    return scenario("agent_crash", run_frames()[:1] + [error("AGENT_FAILED")])


@case("FAIL-4", FAILED)
def scenario_ignored() -> Script:
    return scenario("agent_crash", run_frames())


@case("FAIL-4", FAILED)
def scenarios_claimed_then_refused() -> Script:
    return scenario("tool_error", [error("E2E_NOT_ALLOWED")])


@case("FAIL-4", SKIPPED)
def scenario_refused_without_hooks() -> Script:
    return scenarios_not_offered()


# --- ROB --------------------------------------------------------------------------------------------------------




@case("ROB-1", OK)
def invalid_json_answered() -> Script:
    return probe("invalid_json", [error("JSON_PARSE_ERROR", None)]).run("a1", "alice")


@case("ROB-1", OK)
def invalid_json_answered_by_a_target_that_never_pongs() -> Script:
    """No pong to the barrier (ROB-5's failure), but the next run completes: the connection carried on."""
    return probe("invalid_json", [error("JSON_PARSE_ERROR", None)], pong=False).run("a1", "alice")


@case("ROB-4", FAILED)
def binary_answered_then_silence() -> Script:
    return probe("binary", [error("BINARY_NOT_SUPPORTED", None)], pong=False)


@case("ROB-1", FAILED)
def invalid_json_closes() -> Script:
    return probe("invalid_json", [], close=1011)


@case("ROB-2", OK)
def unknown_type_answered() -> Script:
    return probe("unknown_type", [error("UNKNOWN_MESSAGE_TYPE", None)], text='{"type":"nope"}')


@case("ROB-2", FAILED)
def unknown_type_ignored() -> Script:
    return probe("unknown_type", [], text='{"type":"nope"}')


@case("ROB-3", OK)
def oversize_closes_1009() -> Script:
    return probe("oversize", [], close=1009)


@case("ROB-3", FAILED)
def oversize_accepted() -> Script:
    return probe("oversize", [error("INVALID_MESSAGE", None)])


@case("ROB-4", OK)
def binary_answered() -> Script:
    return probe("binary", [error("BINARY_NOT_SUPPORTED", None)])


@case("ROB-4", NS)
def binary_closes_1003() -> Script:
    return probe("binary", [], close=1003)


@case("ROB-4", FAILED)
def binary_crashes() -> Script:
    return probe("binary", [], close=1011)


@case("ROB-5", OK)
def ping_answered() -> Script:
    return probe("ping", [], text='{"type":"ping"}').ws_ping("a1", True)


@case("ROB-5", FAILED)
def protocol_ping_unanswered() -> Script:
    return Script().connect("a1", "alice").ws_ping("a1", False)


def flood_then_run(delay: float) -> Script:
    script = Script().connect("x", "mallory").connect("b1", "bob")
    for _ in range(3):
        script.send("x", "{bad", note={"probe": "flood"})
    script.start("b1", "thread_b_run_1", "thread_b").wait(delay)
    return script.recv_all("b1", canonical_run("bob", "thread_b_run_1", "thread_b"))


@case("ROB-6", OK)
def flood_harmless() -> Script:
    return flood_then_run(0.0)


@case("ROB-6", FAILED)
def flood_delays_others() -> Script:
    return flood_then_run(3.0)


# --- SEC --------------------------------------------------------------------------------------------------------


def impersonation(run_as: str) -> Script:
    script = Script().connect("m1", "mallory").connect("a1", "alice")
    script.start("m1", "thread_m_run_1", "thread_m", claims_user="alice")
    return script.recv_all("m1", canonical_run(run_as, "thread_m_run_1", "thread_m"))


@case("SEC-1", OK)
def payload_user_id_ignored() -> Script:
    return impersonation("mallory")


@case("SEC-1", FAILED)
def payload_user_id_honoured() -> Script:
    return impersonation("alice")


@case("SEC-1", FAILED)
def payload_user_id_reroutes_run() -> Script:
    """The attacker's run is delivered to the claimed user only: the starter sees nothing, the victim sees it all."""
    script = Script().connect("m1", "mallory").connect("a1", "alice")
    script.start("m1", "thread_m_run_1", "thread_m", claims_user="alice")
    return script.recv_all("a1", canonical_run("alice", "thread_m_run_1", "thread_m"))


@case("SEC-2", OK)
def nothing_leaks() -> Script:
    return Script().connect("x", None, token="expired", status=403, body=AUTH_BODY)


@case("SEC-2", FAILED)
def token_echoed_in_body() -> Script:
    body = json.dumps({"error_code": "AUTH_FAILED", "message": f"bad token {TOKEN}"})
    return Script().connect("x", None, token="expired", status=403, body=body)


@pytest.mark.parametrize("c", CASES, ids=[f"{c.rule}-{c.name}" for c in CASES])
def test_rule_grades_transcript(c: Case) -> None:
    verdict = judge(c.build().transcript, c.context, [c.rule])
    assert verdict.grade(c.rule) is c.grade, "\n".join(f"{f.grade.value}: {f.message}" for f in verdict.findings)


def test_every_requirement_has_a_failing_and_a_passing_transcript() -> None:
    graded = {(c.rule, c.grade) for c in CASES}
    missing = [f"{rid} {g.value}" for rid in CATALOG for g in (OK, FAILED) if (rid, g) not in graded]
    assert not missing, f"no must-fire/must-pass transcript for: {missing}"


def test_judge_survives_frames_that_are_not_objects() -> None:
    script = good()
    for junk in ("[]", "null", '"text"', "{}", '{"type": 5}', '{"type":"agent_started","data":[1]}', "not json"):
        script.recv("a1", junk)
    verdict = judge(script.transcript)
    assert verdict.internal_errors == []


@pytest.mark.parametrize("field", ["run_id", "thread_id", "user_id", "agent_name", "timestamp"])
@pytest.mark.parametrize("value", [["x"], {"x": 1}], ids=["list", "object"])
def test_an_id_that_is_a_list_or_object_is_graded_not_tripped_over(field: str, value: object) -> None:
    """A list or an object where an id belongs is a finding of the rule that reads that field; no rule may crash on
    it (EVT-8 keyed events by the run id, ISO-3 and SEC-1 indexed thread ids, and each turned into a FAILED "could not
    be read" under the wrong ID)."""
    frames = canonical_run("alice", "thread_a_run_1", "thread_a")
    for frame in frames:
        frame[field] = value
    script = Script().connect("a1", "alice").connect("b1", "bob")
    script.start("a1", "thread_a_run_1", None).recv_all("a1", frames)
    script.start("b1", None, "thread_a").recv_all("b1", canonical_run("bob", "thread_b_run_1", "thread_a"))
    verdict = judge(script.transcript)
    assert verdict.internal_errors == []
    assert FAILED in verdict.grades().values()


def test_recording_survives_json_past_the_parsers_limits() -> None:
    """A 5,000-digit integer inside an event is valid JSON and the run still passes; a frame nested 100,000 deep
    reads as not JSON instead of raising out of the recorder (it used to end the reader with a RecursionError)."""
    script = Script().connect("a1", "alice").start("a1", "thread_a_run_1", "thread_a")
    frames = canonical_run("alice", "thread_a_run_1", "thread_a")
    texts = [json.dumps(frame) for frame in frames]
    texts[1] = texts[1][:-1] + ', "n": ' + "7" * 5000 + "}"
    script.recv("a1", "[" * 100_000)
    script.recv_all("a1", texts)
    records = script.transcript.records
    deep, thinking = records[-8], records[-6]
    assert deep.frame is None
    assert thinking.type == "agent_thinking"
    assert thinking.frame["n"] == float("inf")
    verdict = judge(script.transcript)
    assert {req_id: verdict.grade(req_id) for req_id in ("EVT-1", "EVT-2", "EVT-4")} == {"EVT-1": OK, "EVT-2": OK, "EVT-4": OK}


BACKEND = sorted((Path(__file__).parent / "fixtures" / "backend").glob("*.jsonl"))


@pytest.mark.parametrize("path", BACKEND, ids=[p.stem for p in BACKEND])
def test_real_backend_layouts_get_a_readable_verdict(path: Path) -> None:
    """Frames as the real backend writes them (context notes §4): each layout gets the grades reviewed by hand."""
    expected = json.loads(path.with_suffix("").with_suffix(".expected.json").read_text())
    verdict = judge(Transcript.load(path))
    assert {k: g.value for k, g in verdict.grades().items() if g} == expected["grades"]
    assert verdict.unknown_types == expected["unknown_types"]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
    max_leaves=4,
)
FIELDS = ("type", "run_id", "thread_id", "user_id", "agent_name", "timestamp", "data", "payload", "user_request",
          "reasoning", "step_number", "tool_name", "execution_id", "parameters", "success", "results", "duration_ms",
          "error", "status", "final_response", "error_code", "message", "error_message")


TYPES = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed", "error",
         "error_message", "heartbeat", "pong", "connection_established", "reasoning")


@st.composite
def broken_hellos(draw: st.DrawFn) -> object:
    """A ``connection_established`` frame with odd values where the e2e state, features or user id belong."""
    greeting = hello("alice", E2E_ON if draw(st.booleans()) else None, scenarios=draw(st.booleans()))
    for _ in range(draw(st.integers(0, 2))):
        nested = greeting.get("data")
        box = nested if isinstance(nested, dict) and draw(st.booleans()) else greeting
        box[draw(st.sampled_from(("e2e", "features", "user_id", "connection_id", "data", "type")))] = draw(JSON_VALUES)
    return greeting


@st.composite
def broken_runs(draw: st.DrawFn) -> list[object]:
    """A canonical run with a few frames reordered, dropped, repeated, flattened or given odd values anywhere."""
    frames: list[object] = list(canonical_run("alice", "thread_a_run_1", "thread_a"))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(frames) - 1))
        frame = frames[i]
        move = draw(st.sampled_from(("value", "nested value", "drop field", "flatten", "payload", "repeat", "drop", "junk")))
        if isinstance(frame, dict) and move in ("value", "drop field", "flatten", "payload"):
            if move == "value":
                name = draw(st.sampled_from(FIELDS))
                frame[name] = draw(st.sampled_from(TYPES) if name == "type" and draw(st.booleans()) else JSON_VALUES)
            elif move == "drop field" and frame:
                frame.pop(draw(st.sampled_from(sorted(frame))))
            elif isinstance(frame.get("data"), dict):
                frame.update(frame.pop("data")) if move == "flatten" else frame.__setitem__("payload", frame.pop("data"))
        elif isinstance(frame, dict) and move == "nested value" and isinstance(frame.get("data"), dict):
            frame["data"][draw(st.sampled_from(FIELDS))] = draw(JSON_VALUES)
        elif move == "repeat":
            frames.insert(draw(st.integers(0, len(frames))), json.loads(json.dumps(frame)))
        elif move == "drop" and len(frames) > 1:
            del frames[i]
        elif move == "junk":
            frames[i] = draw(JSON_VALUES)
    return frames


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alice=broken_runs(), bob=broken_runs(), greeting=broken_hellos(), scenario=st.sampled_from((None, None, "slow_tool", "tool_error")))
def test_no_rule_trips_over_any_frame(alice: list[object], bob: list[object], greeting: object, scenario: str | None) -> None:
    """Whatever a target sends, every rule reads it: a frame it cannot read is a finding, never a crash (a crash
    would be a :class:`~harness.judge.RuleError`, and a FAILED under the ID of the rule, which may not be the ID
    that was broken)."""
    script = Script().connect("a1", "alice", greeting=greeting).connect("a2", "alice").connect("b1", "bob")
    script.start("a1", "thread_a_run_1", "thread_a", scenario=scenario).recv_all("a1", alice).recv_all("a2", alice)
    script.start("b1", None, None).recv_all("b1", bob)
    verdict = judge(script.transcript, Context(capabilities=frozenset({"scenarios"})))
    assert verdict.internal_errors == []


RECORD_FIELDS = ("seq", "conn", "user", "t", "direction", "kind", "text", "info", "note")
NOTE_FIELDS = ("start", "token", "transport", "probe", "barrier", "e2e")
INFO_FIELDS = ("status", "body", "headers", "code", "reason", "by", "answered", "subprotocol", "size", "error")


@st.composite
def damaged_files(draw: st.DrawFn) -> str:
    """A saved transcript (JSON Lines) with odd values written into its records, their notes and their details."""
    script = good().close("a1", by="client")
    header, *lines = script.transcript.dumps().splitlines()
    records = [json.loads(line) for line in lines]
    for _ in range(draw(st.integers(1, 4))):
        record = draw(st.sampled_from(records))
        where = draw(st.sampled_from(("record", "note", "start", "info")))
        if where == "record":
            record[draw(st.sampled_from(RECORD_FIELDS))] = draw(JSON_VALUES)
        elif where == "start" and isinstance(record.get("note"), dict) and isinstance(record["note"].get("start"), dict):
            record["note"]["start"][draw(st.sampled_from(("agent", "run_id", "thread_id", "scenario", "uses_tools")))] = draw(JSON_VALUES)
        elif where in ("note", "info") and isinstance(record.setdefault(where, {}), dict):
            record[where][draw(st.sampled_from(NOTE_FIELDS if where == "note" else INFO_FIELDS))] = draw(JSON_VALUES)
    return "\n".join([header, *map(json.dumps, records)])


@settings(max_examples=200, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=damaged_files())
def test_a_damaged_transcript_file_is_refused_in_one_line_or_judged(text: str) -> None:
    """``wsagent check`` on a hand-edited or damaged file: one ValueError naming the line and field, or a verdict;
    never a rule tripping over a value the harness itself would never have written."""
    try:
        transcript = Transcript.loads(text)
    except ValueError as exc:
        assert str(exc).startswith("line ")
        assert "\n" not in str(exc)
        return
    verdict = judge(transcript)
    assert verdict.internal_errors == []


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=broken_runs())
def test_the_fast_path_of_evt4_agrees_with_the_long_way(frames: list[object]) -> None:
    """EVT-4 skips ``field_problems`` for frames ``_clean`` passes: a frame it passes must have no problem at all,
    or the fast path would hide a broken field (issue 16: one check per limit)."""
    script = Script().connect("a1", "alice").start("a1", "thread_a_run_1", "thread_a").recv_all("a1", frames)
    for record in script.transcript:
        if record.type in EVENTS and isinstance(record.frame, dict) and _clean(record.frame, record.type):
            assert field_problems(record) == ([], []), record.frame


def test_a_rule_that_raises_is_recorded_as_an_internal_error_and_never_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(view: object, ctx: object) -> list[Finding]:
        raise KeyError("data")

    monkeypatch.setitem(RULES, "EVT-6", [broken])
    verdict = judge(good().transcript, DEV, ["EVT-6"])
    assert verdict.internal_errors == [RuleError("EVT-6", "broken", "KeyError: 'data'")]
    assert verdict.grade("EVT-6") is Grade.FAILED
