"""Must-fire and must-pass transcripts for the clauses of each rule that tests/test_rules.py leaves unexercised.

tests/test_rules.py proves every requirement ID can be OK and FAILED; a mutation pass over harness/rules/ showed that
many single clauses of a rule (a bound, a type check, a "carries on" check, a refusal path) could be broken without
any test noticing. Each case here is one such clause: a hand-written transcript and the grade the contract gives it
for one or more IDs (``None``: the rule has nothing to judge). The comment or name of each case cites the clause of
PROTOCOL.md (the shared wire spec, restated in docs/CONTRACT.md) or CONTRACT.md's Decisions the grade follows from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.grades import Grade
from harness.judge import judge
from harness.rules import Context
from harness.transcript import TOKEN
from tests.scripts import (
    AUTH_BODY, DEV, E2E_ON, PROD, Script, canonical_run, error, good, hello, leaver_and_stayer, probe, run_frames, scenario,
    server_threads, with_frames,
)

OK, NS, FAILED, SKIPPED = Grade.OK, Grade.NON_STRICT, Grade.FAILED, Grade.SKIPPED
E2E_ENV = Context(capabilities=frozenset({"e2e_env"}))
NO_E2E_ENV = Context(capabilities=frozenset({"no_e2e_env"}))
DROP = object()
STARTED, THINKING, EXEC_1, DONE_1, EXEC_2, DONE_2, COMPLETED = range(7)  # the frames of canonical_run
HEARTBEAT = {"type": "heartbeat", "timestamp": "2026-11-25T10:00:05+00:00"}


@dataclass(frozen=True)
class Clause:
    name: str
    build: Callable[[], Script]
    expect: dict[str, Grade | None]
    context: Context = field(default=DEV)


CLAUSES: list[Clause] = []


def add(name: str, build: Callable[[], Script], expect: dict[str, Grade | None], context: Context = DEV) -> None:
    """The one way a clause is registered: a transcript builder and the grade each listed ID must get. A hand-written
    builder uses it through :func:`clause`; a table of small variations calls it once per row."""
    CLAUSES.append(Clause(name, build, expect, context))


def clause(*expect: tuple[str, Grade | None], context: Context = DEV) -> Callable[[Callable[[], Script]], Callable[[], Script]]:
    """Register the decorated transcript builder under its own name."""

    def register(build: Callable[[], Script]) -> Callable[[], Script]:
        add(build.__name__, build, dict(expect), context)
        return build

    return register


def edited(*edits: tuple[int, str, Any]) -> list[dict]:
    """A canonical run with ``data`` fields set (or dropped with ``DROP``): (frame index, field, value)."""
    frames = run_frames()
    for index, name, value in edits:
        if value is DROP:
            frames[index]["data"].pop(name, None)
        else:
            frames[index]["data"][name] = value
    return frames


def reshaped(change: Callable[[list[dict]], object]) -> list[dict]:
    """A canonical run after ``change`` moved or copied fields around (the layout deviations of PROTOCOL §4)."""
    frames = run_frames()
    change(frames)
    return frames


def paced(*chunks: list[dict] | float, scenario_name: str | None = None, step: float = 0.01) -> Script:
    """One run on ``a1`` whose frames arrive in chunks, a number between chunks being seconds of silence. A scenario
    run gets an E2E connection with scenario hooks; ``step=0.25`` keeps sums of times exact, so a bound is hit, not
    missed by a rounding error."""
    e2e = scenario_name is not None
    script = Script(step=step).connect("a1", "alice", e2e=e2e, greeting=hello("alice", E2E_ON if e2e else None, scenarios=e2e))
    script.start("a1", "thread_a_run_1", "thread_a", scenario=scenario_name)
    for chunk in chunks:
        script.wait(chunk) if isinstance(chunk, (int, float)) else script.recv_all("a1", chunk)
    return script


def failed_tool(error_text: str = "boom") -> dict:
    frame = run_frames()[DONE_1]
    frame["data"] = {"tool_name": "search", "execution_id": "exec_1", "success": False, "error": error_text, "duration_ms": 1}
    return frame


def error_message(code: str, run_id: str | None = "thread_a_run_1") -> dict:
    """An error in the NON-STRICT spelling of §4."""
    frame = {"type": "error_message", "error_code": code, "error_message": code.lower().replace("_", " ")}
    return {**frame, "run_id": run_id} if run_id else frame


def completed(status: str) -> dict:
    frame = run_frames()[COMPLETED]
    frame["data"] = {"status": status, "final_response": "" if status == "failed" else "done"}
    return frame


# --- EVT-4: the table of PROTOCOL §4, one typed field at a time; the layouts §4 tolerates -------------------------

EVT4_FIELDS: list[tuple[str, list[tuple[int, str, Any]], Grade]] = [
    # agent_completed: final_response "may be empty when failed" -- so not when completed
    ("completed_run_with_empty_final_response", [(COMPLETED, "final_response", "")], FAILED),
    ("failed_run_with_empty_final_response", [(COMPLETED, "status", "failed"), (COMPLETED, "final_response", "")], OK),
    ("final_response_null", [(COMPLETED, "final_response", None)], FAILED),  # a string
    ("status_neither_completed_nor_failed", [(COMPLETED, "status", "done")], FAILED),
    # agent_thinking: step_number is an integer >= 1 (not a boolean); reasoning a string
    ("step_number_zero", [(THINKING, "step_number", 0)], FAILED),
    ("step_number_boolean", [(THINKING, "step_number", True)], FAILED),
    ("step_number_two", [(THINKING, "step_number", 2)], OK),
    ("reasoning_not_a_string", [(THINKING, "reasoning", 5)], FAILED),
    # tool_executing: parameters is an object; execution_id has no type in the table, so an integer id is fine
    ("parameters_not_an_object", [(EXEC_1, "parameters", "q=x")], FAILED),
    ("integer_execution_id", [(EXEC_1, "execution_id", 7), (DONE_1, "execution_id", 7)], OK),
    # tool_completed: duration_ms a number >= 0; success a boolean; results when success, non-empty error when not
    ("negative_duration", [(DONE_1, "duration_ms", -1)], FAILED),
    ("boolean_duration", [(DONE_1, "duration_ms", True)], FAILED),
    ("zero_duration", [(DONE_1, "duration_ms", 0)], OK),
    ("duration_missing", [(DONE_1, "duration_ms", DROP)], FAILED),
    ("success_as_a_string", [(DONE_1, "success", "true")], FAILED),
    ("success_without_results", [(DONE_1, "results", DROP)], FAILED),
    ("failed_tool_with_error", [(DONE_1, "success", False), (DONE_1, "results", DROP), (DONE_1, "error", "boom")], OK),
    ("failed_tool_with_empty_error", [(DONE_1, "success", False), (DONE_1, "error", "")], FAILED),
    # agent_started: user_request required
    ("user_request_missing", [(STARTED, "user_request", DROP)], FAILED),
]


def _move_to_top(frames: list[dict], index: int, name: str) -> None:
    frames[index][name] = frames[index]["data"].pop(name)


EVT4_LAYOUTS: list[tuple[str, Callable[[list[dict]], object], dict[str, Grade | None]]] = [
    # "a disagreeing second copy is NON-STRICT (EVT-4)"; envelope fields are read top level first, so EVT-5 sees
    # the top-level id and stays OK
    ("run_id_copy_in_data_disagrees", lambda f: f[STARTED]["data"].update(run_id="other"), {"EVT-4": NS, "EVT-5": OK}),
    ("user_request_copy_in_payload_disagrees", lambda f: f[STARTED].update(payload={"user_request": "other"}), {"EVT-4": NS}),
    # "a non-canonical layout (fields outside data ...) is NON-STRICT" -- an envelope field under data or payload
    ("run_id_only_in_data", lambda f: f[STARTED]["data"].update(run_id=f[STARTED].pop("run_id")), {"EVT-4": NS, "EVT-5": OK, "EVT-1": OK}),
    ("run_id_in_data_disagrees_with_payload", lambda f: f[STARTED].update(payload={"run_id": "other"}, data={**f[STARTED]["data"], "run_id": f[STARTED].pop("run_id")}), {"EVT-4": NS, "EVT-5": OK}),
    ("run_id_only_in_payload", lambda f: f[EXEC_1].update(payload={"run_id": f[EXEC_1].pop("run_id")}), {"EVT-4": NS, "EVT-1": OK, "EVT-3": OK}),
    ("thread_id_only_in_payload", lambda f: f[EXEC_1].update(payload={"thread_id": f[EXEC_1].pop("thread_id")}), {"EVT-4": NS, "EVT-5": OK}),
    # ... and table fields under payload or at top level
    ("table_fields_under_payload", lambda f: f[STARTED].update(payload=f[STARTED].pop("data")), {"EVT-4": NS}),
    ("table_field_at_top_level", lambda f: _move_to_top(f, STARTED, "user_request"), {"EVT-4": NS}),
    # a payload object holding none of the contract's fields moves nothing out of place: still OK, also for the
    # outcomes that depend on other fields (results when success; a failed tool's error; a failed run's empty text)
    ("results_at_top_level", lambda f: _move_to_top(f, DONE_1, "results"), {"EVT-4": NS}),
    ("failed_tools_error_at_top_level", lambda f: (f[DONE_1].update(data=failed_tool()["data"]), _move_to_top(f, DONE_1, "error")), {"EVT-4": NS}),
    ("unrelated_payload_next_to_a_successful_tool", lambda f: f[DONE_1].update(payload={"trace": "x"}), {"EVT-4": OK}),
    ("unrelated_payload_next_to_a_failed_tool", lambda f: f[DONE_1].update(payload={"trace": "x"}, data=failed_tool()["data"]), {"EVT-4": OK}),
    ("unrelated_payload_next_to_a_failed_run", lambda f: f[COMPLETED].update(payload={"trace": "x"}, data=completed("failed")["data"]), {"EVT-4": OK}),
    # "Every event frame: type, run_id, thread_id, user_id, agent_name, timestamp"
    ("timestamp_missing", lambda f: f[THINKING].pop("timestamp"), {"EVT-4": FAILED, "EVT-6": FAILED}),
]

# --- EVT-6: timestamps ---------------------------------------------------------------------------------------------

EVT6_STAMPS: list[tuple[str, Callable[[list[dict]], object], dict[str, Grade | None]]] = [
    # EVT-6: "Timestamps parse and do not decrease": equal stamps do not decrease; ISO-8601 without the UTC offset
    # parses but is not the canonical "ISO-8601 UTC" spelling; a boolean, null or prose never parses
    ("equal_timestamps", lambda f: f[THINKING].update(timestamp=f[STARTED]["timestamp"]), {"EVT-6": OK}),
    ("timestamp_without_offset", lambda f: f[STARTED].update(timestamp="2026-11-25T10:00:00"), {"EVT-6": NS}),
    ("timestamp_boolean", lambda f: f[STARTED].update(timestamp=True), {"EVT-6": FAILED}),
    ("timestamp_null", lambda f: f[STARTED].update(timestamp=None), {"EVT-6": FAILED}),
    ("timestamp_prose", lambda f: f[STARTED].update(timestamp="yesterday"), {"EVT-6": FAILED}),
]

for _name, _edits, _grade in EVT4_FIELDS:
    add(f"evt4_{_name}", lambda e=_edits: with_frames(edited(*e)), {"EVT-4": _grade})
for _name, _change, _expect in EVT4_LAYOUTS + EVT6_STAMPS:
    add(_name, lambda c=_change: with_frames(reshaped(c)), _expect)


# --- EVT-1, 2, 3, 5, 8: kinds, order, pairing, ids, duplicates ----------------------------------------------------


@clause(("EVT-1", FAILED), ("EVT-3", None))
def tool_run_without_tool_frames() -> Script:
    """EVT-1: a run of an agent that uses tools yields all five kinds. EVT-3 has nothing to pair (Decision 1: one
    bug, reported once, under its own ID)."""
    return with_frames([f for f in run_frames() if not f["type"].startswith("tool_")])


@clause(("EVT-1", FAILED), ("EVT-3", FAILED))
def tool_executing_without_completion() -> Script:
    """EVT-1: tool_completed once per tool call; EVT-3: every tool_executing is followed by one tool_completed."""
    frames = run_frames()
    return with_frames(frames[:DONE_1] + frames[EXEC_2:])


@clause(("EVT-1", OK))
def unknown_type_next_to_all_five_kinds() -> Script:
    """Types the contract does not know are listed, never judged: all five kinds are there."""
    return with_frames(run_frames()).recv("a1", {"type": "reasoning", "run_id": "thread_a_run_1"})


@clause(("EVT-2", FAILED), ("EVT-1", None), ("EVT-7", None))
def start_answered_by_nothing() -> Script:
    """EVT-2: exactly one agent_started. A run that got no frame at all is EVT-2's finding alone (PROTOCOL §8: one
    defect, one ID); EVT-1 and EVT-7 have nothing to judge (a case then SKIPs them: "nothing to judge once EVT-2
    failed")."""
    return with_frames([])


@clause(("EVT-2", FAILED))
def first_frame_not_agent_started() -> Script:
    frames = run_frames()
    return with_frames([frames[THINKING], frames[STARTED], *frames[EXEC_1:]])


@clause(("EVT-2", FAILED))
def two_terminal_frames() -> Script:
    """EVT-2: exactly one terminal frame -- agent_completed or an error carrying the run's id."""
    return with_frames([*run_frames(), error("AGENT_FAILED")])


@clause(("EVT-2", FAILED))
def run_frame_after_the_terminal() -> Script:
    frames = run_frames()
    return with_frames([*frames, frames[THINKING]])


@clause(("EVT-3", FAILED))
def tool_names_differ_for_one_execution_id() -> Script:
    """EVT-3: the tool_completed has the same execution_id and tool_name."""
    return with_frames(edited((DONE_1, "tool_name", "other")))


@clause(("EVT-3", FAILED))
def execution_id_used_twice() -> Script:
    """EVT-3: execution_ids are unique within a run (here two sequential, each paired)."""
    return with_frames(edited((EXEC_2, "execution_id", "exec_1"), (DONE_2, "execution_id", "exec_1")))


@clause(("EVT-3", OK))
def tool_calls_interleave() -> Script:
    """EVT-3: different calls may interleave."""
    f = run_frames()
    return with_frames([f[STARTED], f[THINKING], f[EXEC_1], f[EXEC_2], f[DONE_2], f[DONE_1], f[COMPLETED]])


@clause(("EVT-3", FAILED))
def tool_completed_after_the_terminal() -> Script:
    """EVT-3: the tool_completed comes before the terminal frame."""
    f = run_frames()
    return with_frames([*f[:DONE_2], f[COMPLETED], f[DONE_2]])


def completion_without_opening(with_ids: bool) -> Script:
    """EVT-3: no tool_completed without a tool_executing (the first call's tool_executing never came)."""
    frames = run_frames()
    if not with_ids:
        for frame in frames:
            frame["data"].pop("execution_id", None)
    return with_frames(frames[:EXEC_1] + frames[DONE_1:])


add("completion_without_opening_by_execution_id", lambda: completion_without_opening(True), {"EVT-3": FAILED})
add("completion_without_opening_by_tool_name", lambda: completion_without_opening(False), {"EVT-3": FAILED})


@clause(("EVT-5", FAILED))
def agent_name_differs_from_the_start_message() -> Script:
    """EVT-5: agent_name equal to what the client gave (the start message asks for researcher)."""
    return with_frames(canonical_run("alice", "thread_a_run_1", "thread_a", agent="echo"))


@clause(("EVT-5", OK), ("ISO-3", None))
def server_created_thread_id() -> Script:
    """EVT-5: omitted ids equal those in agent_started; one user only, so ISO-3 has nothing to compare."""
    script = Script().connect("a1", "alice").start("a1", "thread_a_run_1", None)
    return script.recv_all("a1", canonical_run("alice", "thread_a_run_1", "thread_srv"))


@clause(("EVT-5", OK))
def server_created_run_id() -> Script:
    """EVT-5: an omitted run_id equals the one in agent_started."""
    script = Script().connect("a1", "alice").start("a1", None, "thread_a")
    return script.recv_all("a1", canonical_run("alice", "thread_a_run_srv", "thread_a"))


@clause(("EVT-5", FAILED), ("EVT-1", OK), ("EVT-2", OK))
def two_runs_with_ignored_run_ids() -> Script:
    """§4: a run whose given run_id the target ignored is matched by the first agent_started after its start
    message; only EVT-5 fails for that."""
    script = Script().connect("a1", "alice").start("a1", "thread_a_run_1", "thread_a")
    script.recv_all("a1", canonical_run("alice", "srv_1", "thread_a")).start("a1", "thread_a_run_2", "thread_a")
    return script.recv_all("a1", canonical_run("alice", "srv_2", "thread_a"))


@clause(("EVT-8", FAILED))
def tool_executing_delivered_twice() -> Script:
    """EVT-8: keyed by run, type and execution_id."""
    f = run_frames()
    return with_frames([*f[:EXEC_2], f[EXEC_1], *f[EXEC_2:]])


@clause(("EVT-8", OK))
def duplicate_without_a_key_is_not_judged() -> Script:
    """EVT-8: frames lacking step_number or execution_id are not judged (a repeated tool_executing without one)."""
    frames = run_frames()
    for frame in frames:
        frame["data"].pop("execution_id", None)
    return with_frames([*frames[:EXEC_2], frames[EXEC_1], *frames[EXEC_2:]])


@clause(("EVT-8", OK), ("ISO-2", OK))
def each_tab_gets_each_event_once() -> Script:
    """EVT-8 counts per connection: the same event once on each of two tabs is no duplicate."""
    script = Script().connect("a1", "alice").connect("a2", "alice").start("a1", "thread_a_run_1", "thread_a")
    frames = canonical_run("alice", "thread_a_run_1", "thread_a")
    return script.recv_all("a1", frames).recv_all("a2", frames)


@clause(("EVT-8", FAILED))
def second_tab_gets_an_event_twice() -> Script:
    script = Script().connect("a1", "alice").connect("a2", "alice").start("a1", "thread_a_run_1", "thread_a")
    frames = canonical_run("alice", "thread_a_run_1", "thread_a")
    return script.recv_all("a1", frames).recv_all("a2", [*frames[:DONE_1], frames[EXEC_1], *frames[DONE_1:]])


@clause(("EVT-2", OK), ("EVT-1", None), ("EVT-4", None), ("EVT-6", None), ("EVT-7", None), ("EVT-8", None))
def refusal_is_judged_by_evt2_only() -> Script:
    """§4: a run whose only frame is one error carrying its run_id satisfies EVT-2; EVT-1, 4, 6, 7, 8 do not apply."""
    return with_frames([error("UNKNOWN_AGENT")])


@clause(("EVT-2", OK), ("EVT-5", OK), ("EVT-1", None), ("EVT-4", None), ("EVT-6", None), ("EVT-8", None))
def scenario_run_is_judged_by_evt2_3_5_only() -> Script:
    """§4: scenario runs are judged by their FAIL rule plus EVT-2, 3 and 5 (its agent_started lacks user_request
    and its timestamp is prose, yet EVT-4 and EVT-6 have nothing to say)."""
    started = run_frames()[STARTED]
    started.update(data={}, timestamp="yesterday")
    return scenario("agent_crash", [started, error("AGENT_FAILED")])


@clause(("EVT-5", OK))
def thread_id_only_under_data() -> Script:
    """EVT-5 compares ids wherever §4 lets a target put them (the layout is EVT-4's business)."""
    return with_frames(reshaped(lambda f: f[EXEC_1]["data"].update(thread_id=f[EXEC_1].pop("thread_id"))))


@clause(("ISO-1", OK), ("EVT-5", FAILED))
def run_matched_by_arrival_is_its_starters() -> Script:
    """§4: a run whose given run_id was ignored is matched by arrival and still belongs to its starter (ISO-1);
    only EVT-5 fails for that."""
    script = Script().connect("a1", "alice").connect("b1", "bob")
    script.start("a1", "thread_a_run_1", "thread_a").start("b1", "thread_b_run_1", "thread_b")
    script.recv_all("a1", canonical_run("alice", "srv_1", "thread_a"))
    return script.recv_all("b1", canonical_run("bob", "thread_b_run_1", "thread_b"))


# --- EVT-7: timeliness and the slow_tool heartbeat ---------------------------------------------------------------


@clause(("EVT-7", OK))
def started_within_two_seconds() -> Script:
    return paced(1.9, run_frames())


@clause(("EVT-7", OK))
def started_after_exactly_two_seconds() -> Script:
    """EVT-7: agent_started *within* 2 s -- the bound itself is in time."""
    return paced(1.75, run_frames(), step=0.25)


@clause(("EVT-7", OK))
def run_of_exactly_thirty_seconds_with_exactly_fifteen_of_silence() -> Script:
    """EVT-7: a whole run within 30 s; no silence *over* 15 s (started at +0.25, thinking at +15.25, completed at
    +30.0)."""
    f = run_frames()
    return paced(f[:THINKING], 14.75, f[THINKING:COMPLETED], 13.5, f[COMPLETED:], step=0.25)


@clause(("EVT-7", FAILED))
def run_without_agent_started() -> Script:
    return with_frames(run_frames()[THINKING:])


@clause(("EVT-7", FAILED))
def run_never_ends() -> Script:
    """A whole run within 30 s: a run with no terminal frame never completed."""
    return with_frames(run_frames()[:COMPLETED])


@clause(("EVT-7", FAILED))
def run_over_thirty_seconds_without_long_silence() -> Script:
    f = run_frames()
    return paced(f[:EXEC_1], 14.0, f[EXEC_1:EXEC_2], 14.0, f[EXEC_2:COMPLETED], 14.0, f[COMPLETED:])


@clause(("EVT-7", FAILED))
def sixteen_seconds_of_silence_mid_run() -> Script:
    f = run_frames()
    return paced(f[:EXEC_1], 16.0, f[EXEC_1:])


@clause(("EVT-7", FAILED))
def sixteen_seconds_of_silence_before_the_terminal() -> Script:
    """The silence that ends with agent_completed is still silence during the run."""
    f = run_frames()
    return paced(f[:COMPLETED], 16.0, f[COMPLETED:])


@clause(("EVT-7", OK))
def second_run_twenty_seconds_after_the_first() -> Script:
    """EVT-7's limits count from each run's own start message; the idle time between two runs is no silence during
    a run."""
    return good().wait(20.0).run("a1", "alice", "thread_a_run_2", "thread_a")


@clause(("EVT-7", OK))
def silence_after_the_run_ended() -> Script:
    """No silence over 15 s *during a run*: after agent_completed the connection may idle."""
    return paced(run_frames(), 20.0, [HEARTBEAT])


def slow_tool(*chunks: list[dict] | float) -> Script:
    return paced(*chunks, scenario_name="slow_tool")


@clause(("EVT-7", FAILED))
def heartbeat_only_after_the_slow_tool_completed() -> Script:
    """EVT-7: during slow_tool at least one heartbeat arrives *before the tool completes*."""
    f = run_frames()
    return slow_tool(f[:DONE_1], 3.0, f[DONE_1:EXEC_2], [HEARTBEAT], f[EXEC_2:])


@clause(("EVT-7", OK), ("EVT-3", FAILED), ("EVT-2", FAILED))
def slow_tool_never_completes_but_beats() -> Script:
    """The heartbeat arrived while the tool ran; that the tool and the run never ended is EVT-3's and EVT-2's."""
    return slow_tool(run_frames()[:DONE_1], 1.0, [HEARTBEAT])


@clause(("EVT-7", FAILED))
def slow_tool_never_completes_and_beats_only_after_the_run() -> Script:
    """A heartbeat after the run's terminal frame is not one during the slow tool."""
    f = run_frames()
    return slow_tool(f[:DONE_1], 3.0, f[COMPLETED:], [HEARTBEAT])


@clause(("EVT-7", FAILED), ("FAIL-4", FAILED))
def slow_tool_run_without_a_tool() -> Script:
    """No tool ran, so no heartbeat arrived during one (EVT-7), and the run completed without the 3 s tool the
    scenario asks for: an ordinary successful answer to a scenario request (FAIL-4)."""
    f = run_frames()
    return slow_tool(f[:EXEC_1], 3.0, f[COMPLETED:])


@clause(("EVT-7", SKIPPED), ("FAIL-4", SKIPPED))
def slow_tool_refused_without_hooks() -> Script:
    """§7: a rule whose capability is missing is SKIPPED with the reason (E2E_NOT_ALLOWED: no hooks here)."""
    script = Script().connect("a1", "alice", e2e=True, greeting=hello("alice")).start("a1", "thread_a_run_1", "thread_a", scenario="slow_tool")
    return script.recv("a1", error("E2E_NOT_ALLOWED"))


# --- FAIL-1..4 ---------------------------------------------------------------------------------------------------


def resolution_error_then(*steps: Callable[[Script], object]) -> Script:
    script = scenario("unresolvable_thread", [error("THREAD_RESOLUTION_FAILED")])
    for step in steps:
        step(script)
    return script


def next_run(end: dict | None) -> Callable[[Script], object]:
    """A second, ordinary run on ``a1`` ending with ``end`` (None: it never ends)."""
    frames = canonical_run("alice", "thread_a_run_2", "thread_a")
    return lambda s: s.start("a1", "thread_a_run_2", "thread_a").recv_all("a1", frames[:-1] + ([end] if end else []))


FAIL1_CARRIES_ON: list[tuple[str, Callable[[Script], object], Grade]] = [
    # "the connection stays open and a next run works"
    ("next_run_completes", next_run(canonical_run("alice", "thread_a_run_2", "thread_a")[-1]), OK),
    ("next_run_never_ends", next_run(None), FAILED),
    ("next_run_ends_in_an_error", next_run(error("AGENT_FAILED", "thread_a_run_2")), FAILED),
    ("server_closes_the_connection", lambda s: s.close("a1", 1011, by="server"), FAILED),
    ("client_closes_the_connection", lambda s: s.close("a1", 1000, by="client"), OK),
    # "to the originating user and nobody else"
    ("another_user_connected_sees_nothing", lambda s: s.connect("b1", "bob"), OK),
    ("another_user_gets_the_error", lambda s: s.connect("b1", "bob").recv("b1", error("THREAD_RESOLUTION_FAILED")), FAILED),
    # "a next run works" is about the next run on that connection, not another user's
    ("another_users_run_never_ends", lambda s: s.connect("b1", "bob").start("b1", "thread_b_run_1", "thread_b").recv_all(
        "b1", canonical_run("bob", "thread_b_run_1", "thread_b")[:-1]), OK),
]
for _name, _step, _grade in FAIL1_CARRIES_ON:
    add(f"fail1_{_name}", lambda s=_step: resolution_error_then(s), {"FAIL-1": _grade})


@clause(("FAIL-1", OK), ("FAIL-4", OK))
def resolution_error_honours_the_hook() -> Script:
    """FAIL-4: THREAD_RESOLUTION_FAILED is the scenario honoured, not a refusal of it."""
    return resolution_error_then()


@clause(("FAIL-1", FAILED))
def resolution_error_after_two_seconds() -> Script:
    """FAIL-1: within 2 s."""
    return paced(2.5, [error("THREAD_RESOLUTION_FAILED")], scenario_name="unresolvable_thread")


@clause(("FAIL-1", OK))
def resolution_error_after_exactly_two_seconds() -> Script:
    """FAIL-1: *within* 2 s -- the bound itself is in time."""
    return paced(1.75, [error("THREAD_RESOLUTION_FAILED")], scenario_name="unresolvable_thread", step=0.25)


@clause(("FAIL-1", FAILED))
def resolution_failure_reported_with_another_code() -> Script:
    """FAIL-1: one error with error_code THREAD_RESOLUTION_FAILED."""
    return scenario("unresolvable_thread", [error("AGENT_FAILED")])


@clause(("FAIL-1", NS))
def resolution_error_spelled_error_message() -> Script:
    """§4: the error_message spelling is NON-STRICT on the FAIL rule that reads it."""
    return scenario("unresolvable_thread", [error_message("THREAD_RESOLUTION_FAILED")])


@clause(("FAIL-1", FAILED))
def resolution_error_followed_by_events() -> Script:
    """FAIL-1: the error is the run's only frame."""
    return scenario("unresolvable_thread", [error("THREAD_RESOLUTION_FAILED"), *run_frames()[:2]])


@clause(("FAIL-2", OK), ("FAIL-4", OK))
def tool_error_then_tool_failed_error() -> Script:
    """FAIL-2: ... or an error TOOL_FAILED with the run's run_id as the terminal frame."""
    f = run_frames()
    return scenario("tool_error", [*f[:DONE_1], failed_tool(), error("TOOL_FAILED")])


@clause(("FAIL-2", OK), ("FAIL-4", OK))
def tool_error_then_agent_recovers() -> Script:
    """FAIL-2: agent_completed status "completed" if the agent recovers; not an ordinary success (a tool failed)."""
    f = run_frames()
    return scenario("tool_error", [*f[:DONE_1], failed_tool(), *f[EXEC_2:]])


@clause(("FAIL-2", NS))
def tool_failed_error_with_its_code_under_data() -> Script:
    """§4: the FAIL rule grades an error's non-canonical layout NON-STRICT."""
    f = run_frames()
    terminal = {"type": "error", "run_id": "thread_a_run_1", "data": {"error_code": "TOOL_FAILED", "message": "m"}}
    return scenario("tool_error", [*f[:DONE_1], failed_tool(), terminal])


@clause(("FAIL-2", FAILED))
def tool_error_ended_by_an_error_with_another_code() -> Script:
    """FAIL-2: the terminal error is TOOL_FAILED; another code misreports the failure."""
    f = run_frames()
    return scenario("tool_error", [*f[:DONE_1], failed_tool(), error("AGENT_FAILED")])


@clause(("FAIL-1", NS))
def resolution_error_with_its_run_id_under_data() -> Script:
    """§4: an error's run_id belongs at top level; elsewhere it is NON-STRICT on the FAIL rule that reads it."""
    return scenario("unresolvable_thread", [{"type": "error", "error_code": "THREAD_RESOLUTION_FAILED", "message": "m", "data": {"run_id": "thread_a_run_1"}}])


@clause(("FAIL-2", FAILED))
def tool_error_with_empty_error_text() -> Script:
    """FAIL-2: success false and a non-empty error."""
    f = run_frames()
    return scenario("tool_error", [*f[:DONE_1], failed_tool(""), completed("failed")])


@clause(("FAIL-2", FAILED))
def tool_error_never_ends() -> Script:
    """FAIL-2: never silence."""
    f = run_frames()
    return scenario("tool_error", [*f[:DONE_1], failed_tool()])


@clause(("FAIL-3", OK), ("FAIL-4", OK), ("E2E-3", None))
def crash_ends_in_failed_status() -> Script:
    """FAIL-3: agent_completed with status failed (on an active E2E connection outside production, E2E-3 has no
    refusal to ask for)."""
    return scenario("agent_crash", [run_frames()[STARTED], completed("failed")])


@clause(("FAIL-3", FAILED))
def crash_reported_as_completed() -> Script:
    return scenario("agent_crash", [run_frames()[STARTED], completed("completed")])


@clause(("FAIL-3", FAILED))
def crash_ended_by_an_error_with_another_code() -> Script:
    """FAIL-3: the terminal error is AGENT_FAILED."""
    return scenario("agent_crash", [run_frames()[STARTED], error("TOOL_FAILED")])


@clause(("FAIL-3", NS))
def crash_error_spelled_error_message() -> Script:
    return scenario("agent_crash", [run_frames()[STARTED], error_message("AGENT_FAILED")])


def refused_scenario(code: str, *, scenarios: bool, name: str = "agent_crash") -> Script:
    script = Script().connect("a1", "alice", e2e=True, greeting=hello("alice", E2E_ON, scenarios=scenarios))
    return script.start("a1", "thread_a_run_1", "thread_a", scenario=name).recv("a1", error(code))


@clause(("FAIL-3", SKIPPED), ("FAIL-4", SKIPPED))
def unknown_scenario_without_claimed_hooks() -> Script:
    """FAIL-4: where the target offers no hooks (features.scenarios false on an E2E connection), SKIPPED."""
    return refused_scenario("UNKNOWN_SCENARIO", scenarios=False)


@clause(("FAIL-4", FAILED))
def unknown_scenario_after_claiming_hooks() -> Script:
    """FAIL-4: features.scenarios true and then refusing a listed scenario is FAILED."""
    return refused_scenario("UNKNOWN_SCENARIO", scenarios=True)


@clause(("FAIL-1", SKIPPED), ("FAIL-4", SKIPPED))
def scenarios_feature_false_on_an_e2e_connection() -> Script:
    """FAIL-4: features.scenarios false on an E2E connection: FAIL-1..4 SKIPPED, whatever the run did."""
    script = Script().connect("a1", "alice", e2e=True, greeting=hello("alice", E2E_ON, scenarios=False))
    return script.start("a1", "thread_a_run_1", "thread_a", scenario="unresolvable_thread").recv_all("a1", run_frames())


@clause(("FAIL-4", OK))
def slow_tool_takes_three_seconds() -> Script:
    """§5 slow_tool: the first tool takes 3 s -- an ordinary-looking run that took that long honoured the hook."""
    f = run_frames()
    return slow_tool(f[:DONE_1], 3.0, f[DONE_1:])


@clause(("FAIL-4", FAILED))
def slow_tool_answered_in_two_seconds() -> Script:
    """FAIL-4: answering with an ordinary successful run (the tool did not take 3 s) is FAILED."""
    f = run_frames()
    return slow_tool(f[:DONE_1], 2.0, f[DONE_1:])


# --- ISO-1..4, SEC-1, SEC-2 -------------------------------------------------------------------------------------


def alice_and_bob(bob_frames: list[dict]) -> Script:
    script = Script().connect("a1", "alice").connect("b1", "bob")
    script.start("a1", "thread_a_run_1", "thread_a").start("b1", "thread_b_run_1", "thread_b")
    script.recv_all("a1", canonical_run("alice", "thread_a_run_1", "thread_a"))
    return script.recv_all("b1", bob_frames)


@clause(("ISO-1", OK), ("EVT-2", FAILED))
def own_run_never_ends() -> Script:
    """ISO-1 fails only on another user's frames (PROTOCOL §8); a run that never ended is EVT-2's finding."""
    return alice_and_bob(canonical_run("bob", "thread_b_run_1", "thread_b")[:-1])


@clause(("ISO-1", FAILED))
def foreign_run_frame_without_user_id() -> Script:
    """ISO-1: only frames whose run_id the user started (a frame naming no user still names bob's run)."""
    script = alice_and_bob(canonical_run("bob", "thread_b_run_1", "thread_b"))
    return script.recv("a1", {"type": "agent_thinking", "run_id": "thread_b_run_1", "data": {}})


@clause(("ISO-1", FAILED), ("FAIL-1", FAILED))
def resolution_error_reaches_another_user() -> Script:
    """ISO-1 and FAIL-1: the error of alice's run reaches bob."""
    script = resolution_error_then(lambda s: s.connect("b1", "bob").recv("b1", error("THREAD_RESOLUTION_FAILED")))
    return script.start("b1", "thread_b_run_1", "thread_b").recv_all("b1", canonical_run("bob", "thread_b_run_1", "thread_b"))


def two_tabs(second_tab: Callable[[list[dict]], list[dict]]) -> Script:
    script = Script().connect("a1", "alice").connect("a2", "alice").start("a1", "thread_a_run_1", "thread_a")
    frames = canonical_run("alice", "thread_a_run_1", "thread_a")
    return script.recv_all("a1", frames).recv_all("a2", second_tab(frames))


@clause(("ISO-2", FAILED))
def second_tab_misses_agent_completed() -> Script:
    """ISO-2: every event, the unkeyed agent_completed too."""
    return two_tabs(lambda frames: frames[:-1])


@clause(("ISO-2", OK))
def second_tab_lacks_only_a_pong() -> Script:
    """ISO-2 is about the events of the user's runs: a pong answering the first tab's ping is that tab's own."""
    script = two_tabs(lambda frames: frames)
    return script.send("a1", {"type": "ping"}).recv("a1", {"type": "pong"})


@clause(("ISO-2", None))
def tab_opened_mid_run() -> Script:
    """ISO-2 asks every *open* connection for every event: a tab opened after the start is not judged."""
    script = Script().connect("a1", "alice").start("a1", "thread_a_run_1", "thread_a").connect("a2", "alice")
    return script.recv_all("a1", canonical_run("alice", "thread_a_run_1", "thread_a"))


@clause(("ISO-2", None))
def tab_closed_mid_run() -> Script:
    script = Script().connect("a1", "alice").connect("a2", "alice").start("a1", "thread_a_run_1", "thread_a").close("a2")
    return script.recv_all("a1", canonical_run("alice", "thread_a_run_1", "thread_a"))


@clause(("ISO-3", OK))
def given_thread_id_is_not_server_created() -> Script:
    """ISO-3 judges thread ids the server created; alice's later run names its thread itself."""
    script = server_threads("thread_1", "thread_2").start("a1", "rc", "thread_2")
    return script.recv_all("a1", canonical_run("alice", "rc", "thread_2"))


@clause(("ISO-3", OK))
def refused_run_has_no_server_thread() -> Script:
    """ISO-3 compares the thread ids of agent_started frames; a refused run has none."""
    return server_threads("thread_1", "thread_2").start("b1", "rr", None, agent="nobody").recv("b1", error("UNKNOWN_AGENT", "rr"))


@clause(("ISO-3", OK))
def same_user_reuses_a_server_thread() -> Script:
    """Decision 5: the same server-created id for two runs of one user is a conversation, not a collision."""
    script = server_threads("thread_1", "thread_2").start("a1", "rd", None)
    return script.recv_all("a1", canonical_run("alice", "rd", "thread_1"))


@clause(("ISO-4", FAILED))
def health_fails_after_the_disconnect() -> Script:
    """ISO-4: /health answers 200 throughout."""
    script = leaver_and_stayer(canonical_run("bob", "thread_b_run_1", "thread_b")[-1])
    return script.health(500)


@clause(("ISO-4", FAILED))
def stayer_run_never_ends() -> Script:
    script = Script().connect("a1", "alice").connect("b1", "bob").start("b1", "thread_b_run_1", "thread_b")
    script.start("a1", "thread_a_run_1", "thread_a").close("a1")
    return script.recv_all("b1", canonical_run("bob", "thread_b_run_1", "thread_b")[:-1])


@clause(("ISO-4", FAILED))
def stayer_run_ends_in_an_error() -> Script:
    return leaver_and_stayer(error("AGENT_FAILED", "thread_b_run_1"))


@clause(("ISO-4", None))
def client_closes_after_its_run_ended() -> Script:
    """ISO-4 is about a client that closes *mid-run*; closing after agent_completed is not one."""
    script = good().connect("b1", "bob").start("b1", "thread_b_run_1", "thread_b").close("a1")
    return script.recv_all("b1", canonical_run("bob", "thread_b_run_1", "thread_b")).health()


def borrowed_thread(*extra: Callable[[Script], object]) -> Script:
    """Mallory names alice's thread; the target runs it for mallory (§3 allows that)."""
    script = Script().connect("m1", "mallory").connect("a1", "alice").start("a1", "thread_a_run_1", "thread_a")
    script.recv_all("a1", canonical_run("alice", "thread_a_run_1", "thread_a"))
    script.start("m1", "thread_m_run_1", "thread_a").recv_all("m1", canonical_run("mallory", "thread_m_run_1", "thread_a"))
    for step in extra:
        step(script)
    return script


@clause(("SEC-1", OK))
def borrowed_thread_runs_for_the_caller() -> Script:
    """§3/SEC-1: run for the caller, and no frame of it reaches the other user."""
    return borrowed_thread()


@clause(("SEC-1", FAILED))
def borrowed_thread_run_reaches_its_owner() -> Script:
    """SEC-1: frames of a run reach only the user who started it, whatever thread_id it names."""
    return borrowed_thread(lambda s: s.recv("a1", canonical_run("mallory", "thread_m_run_1", "thread_a")[0]))


@clause(("SEC-1", FAILED))
def impersonator_observes_the_victims_run() -> Script:
    """SEC-1: a client cannot observe a run for another user."""
    script = Script().connect("m1", "mallory").connect("a1", "alice")
    script.start("m1", "thread_m_run_1", "thread_m", claims_user="alice")
    script.recv_all("m1", canonical_run("mallory", "thread_m_run_1", "thread_m"))
    return script.recv("m1", canonical_run("alice", "thread_a_run_9", "thread_a")[THINKING])


def with_response_headers(script: Script, headers: dict[str, str]) -> Script:
    script.transcript.records[0].info["headers"] = headers
    return script


def refused_with_header(name: str, value: str) -> Script:
    script = Script().connect("x", None, token="expired", status=403, body=AUTH_BODY)
    return with_response_headers(script, {name: value})


def subprotocol_echoed_in_headers() -> Script:
    entry = f"jwt.{TOKEN}"
    script = Script().connect("a1", "alice", transport="subprotocol", offered=[entry], subprotocol=entry)
    return with_response_headers(script, {"Sec-WebSocket-Protocol": entry})


SEC2: list[tuple[str, Callable[[], Script], Grade]] = [
    # SEC-2: no frame, close reason, HTTP body or response header carries the token ...
    ("token_in_a_frame", lambda: good().recv("a1", {"type": "pong", "note": f"t {TOKEN}"}), FAILED),
    ("token_in_a_close_reason", lambda: Script().connect("a1", "alice").close("a1", 1008, by="server", reason=f"bad {TOKEN}"), FAILED),
    ("token_in_a_response_header", lambda: refused_with_header("X-Debug", TOKEN), FAILED),
    # ... except the selected subprotocol, which echoes the client's own entry by design
    ("token_in_the_selected_subprotocol", subprotocol_echoed_in_headers, OK),
]
for _name, _build, _grade in SEC2:
    add(f"sec2_{_name}", _build, {"SEC-2": _grade})


# --- AUTH, E2E ---------------------------------------------------------------------------------------------------

AUTH1_REFUSALS: list[tuple[str, dict[str, Any], Grade | None]] = [
    ("401_with_auth_failed", {"status": 401, "body": AUTH_BODY}, OK),  # "HTTP 403 (401 accepted)"
    ("500_with_auth_failed", {"status": 500, "body": AUTH_BODY}, FAILED),  # "FAILED: anything else"
    ("body_without_message", {"status": 403, "body": json.dumps({"error_code": "AUTH_FAILED"})}, FAILED),
    ("body_with_another_code", {"status": 403, "body": json.dumps({"error_code": "NOPE", "message": "m"})}, FAILED),
    ("body_a_json_list", {"status": 403, "body": "[1]"}, FAILED),
    ("no_http_answer", {"status": None}, FAILED),  # dropped without the contract's 403: the case's finding, no abort
]
OVERSIZED: list[tuple[int | None, Grade]] = [(400, SKIPPED), (413, SKIPPED), (431, SKIPPED), (None, SKIPPED), (500, FAILED)]  # Decision 2

for _name, _kw, _grade in AUTH1_REFUSALS:
    add(f"auth1_{_name}", lambda kw=_kw: Script().connect("x", None, token="expired", **kw), {"AUTH-1": _grade})
for _status, _grade in OVERSIZED:
    _build = lambda st=_status: Script().connect("x", None, token="oversized", status=st, body="too large")  # noqa: E731
    add(f"auth1_oversized_token_refused_with_{_status}", _build, {"AUTH-1": _grade})


@clause(("AUTH-1", FAILED))
def oversized_badly_signed_token_accepted() -> Script:
    """Decision 2: the 64 KiB token is badly signed, so an HTTP layer that lets it through to a session is a finding."""
    return Script().connect("x", "wsagent-intruder", token="oversized")


@clause(("AUTH-1", OK))
def oversized_token_refused_by_auth() -> Script:
    return Script().connect("x", None, token="oversized", status=403, body=AUTH_BODY)


@clause(("AUTH-5", FAILED))
def other_environment_secret_without_http_answer() -> Script:
    """No HTTP answer at all to a bad token is the case's finding (the preflight alone decides that a target does
    not answer): the contract wants 403 AUTH_FAILED."""
    return Script().connect("x", None, token="wrong_secret", status=None)


@clause(("AUTH-1", None), ("E2E-2", OK))
def bad_token_with_e2e_headers_belongs_to_e2e2() -> Script:
    """AUTH-1: AUTH cases send no E2E headers; a bad token sent with them is E2E-2's case."""
    return Script().connect("x", None, token="expired", e2e=True, status=403, body=AUTH_BODY)


@clause(("E2E-1", SKIPPED), ("E2E-3", FAILED), context=PROD)
def production_reports_e2e_active() -> Script:
    """E2E-1 is judged outside production only; in production E2E-3 wants e2e.active false."""
    return Script().connect("a1", "alice", e2e=True)


@clause(("AUTH-1", FAILED))
def in_band_refusal_closed_with_the_wrong_code() -> Script:
    """AUTH-1 NON-STRICT only for one AUTH_FAILED frame and close *1008*."""
    return Script().connect("x", None, token="alg_none", greeting=error("AUTH_FAILED", None)).close("x", 1011, by="server")


@clause(("AUTH-1", None), ("AUTH-2", OK))
def query_token_outside_production() -> Script:
    """§1: ?token= is accepted outside production; AUTH-2 grades it (Decision 37)."""
    return Script().connect("x", "alice", transport="query")


@clause(("AUTH-1", None), ("AUTH-2", FAILED))
def query_token_refused_outside_production() -> Script:
    return Script().connect("x", "alice", transport="query", status=403, body=AUTH_BODY)


@clause(("AUTH-1", FAILED), ("AUTH-2", None), context=PROD)
def query_token_accepted_in_production_is_auth1s() -> Script:
    """In production a valid query token must be refused: AUTH-1's clause, never AUTH-2's acceptance."""
    return Script().connect("x", "alice", transport="query")


BOTH = {"transport": "bearer_and_subprotocol", "offered": ["jwt-auth", "jwt.b"], "subprotocol": "jwt.b",
        "note": {"subprotocol_user": "bob"}}


@clause(("AUTH-2", OK), ("AUTH-3", OK))
def bearer_header_wins_over_subprotocol() -> Script:
    """§1: with a Bearer header and a jwt. entry, the header's token is used and the entry is still selected."""
    return Script().connect("a1", "alice", **BOTH)  # type: ignore[arg-type]


@clause(("AUTH-2", FAILED), ("AUTH-3", OK))
def subprotocol_token_won_over_bearer_header() -> Script:
    """The session is the jwt. entry's user: AUTH-2's clause (Decision 37); the selection itself is right."""
    return Script().connect("a1", "alice", **BOTH, greeting=hello("bob"))  # type: ignore[arg-type]


@clause(("AUTH-2", OK), ("AUTH-3", FAILED))
def both_tokens_entry_not_selected() -> Script:
    return Script().connect("a1", "alice", **{**BOTH, "subprotocol": None})  # type: ignore[arg-type]


@clause(("AUTH-2", OK))
def both_tokens_session_is_neither_user() -> Script:
    """A user_id that is neither token's sub is AUTH-4's finding, not a sign the jwt. entry won."""
    return Script().connect("a1", "alice", **BOTH, greeting=hello("alice@example.invalid"))  # type: ignore[arg-type]


@clause(("AUTH-1", None), ("AUTH-2", OK), context=PROD)
def valid_bearer_token_in_production() -> Script:
    """AUTH-1 refuses the query-string token in production, not a valid Bearer token."""
    return Script().connect("a1", "alice")


@clause(("AUTH-5", FAILED))
def other_environment_secret_accepted() -> Script:
    return Script().connect("x", "wsagent-intruder", token="wrong_secret")


@clause(("AUTH-2", FAILED))
def bearer_accepted_without_any_frame() -> Script:
    """AUTH-2: the first frame is connection_established."""
    return Script().connect("a1", "alice", greeting=None)


@clause(("AUTH-3", FAILED))
def subprotocol_token_refused() -> Script:
    return Script().connect("a1", "alice", transport="subprotocol", offered=[f"jwt.{TOKEN}"], status=403, body=AUTH_BODY)


@clause(("AUTH-3", FAILED))
def subprotocol_token_accepted_without_selection() -> Script:
    """AUTH-3: the selected subprotocol is the exact jwt. entry (browsers fail a connection with none selected)."""
    return Script().connect("a1", "alice", transport="subprotocol", offered=[f"jwt.{TOKEN}"], subprotocol=None)


@clause(("E2E-2", None), ("E2E-1", OK))
def valid_token_with_e2e_headers_is_not_e2e2s() -> Script:
    """E2E-2 is about bad tokens sent with E2E headers; a valid one is simply accepted."""
    return Script().connect("a1", "alice", e2e=True)


@clause(("AUTH-1", FAILED), ("E2E-2", None))
def bad_token_accepted_without_e2e() -> Script:
    """A bad token accepted on a connection neither sent nor reported as E2E is AUTH-1's alone."""
    return Script().connect("x", "wsagent-intruder", token="expired")


@clause(("E2E-3", FAILED))
def inactive_connection_scenario_refused_with_another_code() -> Script:
    """E2E-3: a scenario on a connection whose E2E mode is inactive gets E2E_NOT_ALLOWED (not UNKNOWN_SCENARIO)."""
    script = Script().connect("a1", "alice", greeting=hello("alice")).start("a1", "r", "t", scenario="agent_crash")
    return script.recv("a1", error("UNKNOWN_SCENARIO", "r"))


@clause(("E2E-1", OK), context=E2E_ENV)
def env_fallback_reported_as_env() -> Script:
    """E2E-1: with only the env fallback, source env."""
    return Script().connect("a1", "alice", greeting=hello("alice", {"active": True, "source": "env"}))


@clause(("E2E-1", OK), context=NO_E2E_ENV)
def header_value_that_does_not_count() -> Script:
    """§2: X-Test-Mode: false does not count; the client notes the headers and that they do not count."""
    return Script().connect("a1", "alice", note={"e2e_headers": [["X-Test-Mode", "false"]]})


@clause(("E2E-1", FAILED), context=NO_E2E_ENV)
def header_value_that_does_not_count_taken_as_e2e() -> Script:
    note = {"e2e_headers": [["X-Test-Mode", "false"]]}
    return Script().connect("a1", "alice", note=note, greeting=hello("alice", {"active": True, "source": "headers"}))


@clause(("E2E-1", FAILED), context=E2E_ENV)
def env_reported_when_headers_apply_too() -> Script:
    """§2: when headers and the env fallback both apply, source is headers."""
    return Script().connect("a1", "alice", e2e=True, greeting=hello("alice", {"active": True, "source": "env"}))


@clause(("E2E-1", FAILED), context=NO_E2E_ENV)
def active_without_headers_or_fallback() -> Script:
    """E2E-1: with neither, {"active": false, "source": null}."""
    return Script().connect("a1", "alice", greeting=hello("alice", {"active": True, "source": "env"}))


@clause(("E2E-2", NS), ("AUTH-1", None))
def bad_token_accepted_on_a_connection_the_target_calls_e2e() -> Script:
    """AUTH-1: a bad token accepted on a connection the target reports as E2E is judged by E2E-2 instead (NS in
    development)."""
    return Script().connect("x", "intruder", token="expired", greeting=hello("intruder", E2E_ON))


@clause(("E2E-2", NS), context=PROD)
def bad_token_with_e2e_headers_refused_in_band() -> Script:
    """E2E-2: still rejected "as in AUTH-1", whose in-band refusal (one AUTH_FAILED frame, close 1008) is NS."""
    return Script().connect("x", None, token="expired", e2e=True, greeting=error("AUTH_FAILED", None)).close("x", 1008, by="server")


@clause(("E2E-3", OK), context=PROD)
def production_reports_e2e_inactive() -> Script:
    return Script().connect("a1", "alice", e2e=True, greeting=hello("alice"))


@clause(("E2E-3", NS))
def inactive_refusal_spelled_error_message() -> Script:
    """E2E-3's E2E_NOT_ALLOWED in the error_message spelling: NON-STRICT (§4)."""
    script = Script().connect("a1", "alice", e2e=True, greeting=hello("alice")).start("a1", "r", "t", scenario="agent_crash")
    return script.recv("a1", error_message("E2E_NOT_ALLOWED", "r"))


@clause(("E2E-3", NS))
def inactive_refusal_code_under_payload() -> Script:
    """E2E-3's E2E_NOT_ALLOWED with its code under payload: a non-canonical layout, NON-STRICT (§4)."""
    script = Script().connect("a1", "alice", e2e=True, greeting=hello("alice")).start("a1", "r", "t", scenario="agent_crash")
    return script.recv("a1", {"type": "error", "run_id": "r", "payload": {"error_code": "E2E_NOT_ALLOWED", "message": "no"}})


# --- ROB ---------------------------------------------------------------------------------------------------------

def next_run_after_invalid_json(end: dict | None) -> Script:
    script = probe("invalid_json", [error("JSON_PARSE_ERROR", None)]).start("a1", "thread_a_run_1", "thread_a")
    return script.recv_all("a1", run_frames()[:-1] + ([end] if end else []))


def unanswered(text: str, kind: str, *answer: dict) -> Script:
    """A probe followed by a ``ping`` barrier that the server never answers with ``pong``."""
    script = Script().connect("a1", "alice").send("a1", text, note={"probe": kind}).send("a1", {"type": "ping"})
    return script.recv_all("a1", list(answer))


ROB_PROBES: list[tuple[str, Callable[[], Script], str, Grade]] = [
    # ROB-1: "the connection stays open and the next valid run works"
    ("next_run_after_invalid_json_never_ends", lambda: next_run_after_invalid_json(None), "ROB-1", FAILED),
    ("next_run_after_invalid_json_errors", lambda: next_run_after_invalid_json(error("AGENT_FAILED")), "ROB-1", FAILED),
    # ROB-2: not an object, or no string type -> INVALID_MESSAGE; "the connection stays open" (the barrier's pong)
    ("object_without_type", lambda: probe("no_type", [error("INVALID_MESSAGE", None)], text='{"x":1}'), "ROB-2", OK),
    ("json_not_an_object", lambda: probe("not_object", [error("INVALID_MESSAGE", None)], text="[1]"), "ROB-2", OK),
    ("object_without_type_wrong_code", lambda: probe("no_type", [error("UNKNOWN_MESSAGE_TYPE", None)], text='{"x":1}'), "ROB-2", FAILED),
    ("no_pong_after_the_error", lambda: unanswered('{"type":"nope"}', "unknown_type", error("UNKNOWN_MESSAGE_TYPE", None)), "ROB-2", FAILED),
    # §4: an error's non-canonical layout or spelling is NON-STRICT on the ROB rule that reads it
    ("error_code_under_data", lambda: probe("invalid_json", [{"type": "error", "data": {"error_code": "JSON_PARSE_ERROR", "message": "x"}}]), "ROB-1", NS),
    ("error_message_spelling", lambda: probe("unknown_type", [error_message("UNKNOWN_MESSAGE_TYPE", None)], text='{"type":"nope"}'), "ROB-2", NS),
    ("error_text_in_error_message", lambda: probe("unknown_type", [{"type": "error", "error_code": "UNKNOWN_MESSAGE_TYPE", "error_message": "x"}], text='{"type":"nope"}'), "ROB-2", NS),
    # ROB-5: {"type":"ping"} -> pong
    ("application_ping_unanswered", lambda: unanswered('{"type":"ping"}', "ping"), "ROB-5", FAILED),
    # ROB-3: invalid UTF-8 in a text frame -> close 1007
    ("invalid_utf8_closes_1007", lambda: probe("invalid_utf8", [], close=1007), "ROB-3", OK),
    ("invalid_utf8_closes_1008", lambda: probe("invalid_utf8", [], close=1008), "ROB-3", FAILED),
]
for _name, _build, _rid, _grade in ROB_PROBES:
    add(f"rob_{_name}", _build, {_rid: _grade})


@clause(("ROB-1", FAILED), ("ROB-6", None))
def prober_own_next_run_never_ends() -> Script:
    """ROB-1 judges the prober's next run; ROB-6 is about *other users'* runs."""
    return next_run_after_invalid_json(None)


@clause(("ROB-1", OK), ("ROB-6", FAILED))
def other_users_run_never_ends_after_invalid_json() -> Script:
    """ROB-1's "next valid run" is the one on the probed connection; another user's run is ROB-6's."""
    script = probe("invalid_json", [error("JSON_PARSE_ERROR", None)]).connect("b1", "bob").start("b1", "thread_b_run_1", "thread_b")
    return script.recv_all("b1", canonical_run("bob", "thread_b_run_1", "thread_b")[:-1])


def calm_run_during_flood(*chunks: list[dict] | float, step: float = 0.01) -> Script:
    script = Script(step=step).connect("x", "mallory").connect("b1", "bob").send("x", "{bad", note={"probe": "flood"})
    script.start("b1", "thread_b_run_1", "thread_b")
    for chunk in chunks:
        script.wait(chunk) if isinstance(chunk, (int, float)) else script.recv_all("b1", chunk)
    return script


@clause(("ROB-6", OK))
def calm_run_at_exactly_the_evt7_limits_during_flood() -> Script:
    """ROB-6: "past the EVT-7 limits" -- agent_started after exactly 2 s, the run over after exactly 30 s is not."""
    frames = canonical_run("bob", "thread_b_run_1", "thread_b")
    return calm_run_during_flood(1.75, frames[:COMPLETED], 26.5, frames[COMPLETED:], step=0.25)


@clause(("ROB-6", FAILED))
def calm_run_never_ends_during_flood() -> Script:
    """ROB-6: others' runs stay within the EVT-7 limits (a run that never ends is past them)."""
    return calm_run_during_flood(canonical_run("bob", "thread_b_run_1", "thread_b")[:-1])


@clause(("ROB-6", FAILED))
def calm_run_without_agent_started_during_flood() -> Script:
    return calm_run_during_flood(canonical_run("bob", "thread_b_run_1", "thread_b")[1:])


@clause(("ROB-6", FAILED))
def calm_run_over_thirty_seconds_during_flood() -> Script:
    frames = canonical_run("bob", "thread_b_run_1", "thread_b")
    return calm_run_during_flood(frames[:1], 31.0, frames[1:])


# --- issue 13: clause coverage ------------------------------------------------------------------------------------


def unknown_agent(*answer: dict) -> Script:
    """A start for an agent the target cannot have (PROTOCOL §3: UNKNOWN_AGENT; Decision 40: EVT-2's refusal
    clause)."""
    script = Script().connect("a1", "alice")
    script.start("a1", "thread_a_run_1", "thread_a", agent="no-such-agent", uses_tools=False,
                 refused_with="UNKNOWN_AGENT")
    return script.recv_all("a1", list(answer)).send("a1", {"type": "ping"}).recv("a1", {"type": "pong"})


add("unknown_agent_refused", lambda: unknown_agent(error("UNKNOWN_AGENT")), {"EVT-2": OK})
add("unknown_agent_refused_spelled", lambda: unknown_agent(error_message("UNKNOWN_AGENT")), {"EVT-2": OK})
add("unknown_agent_wrong_code", lambda: unknown_agent(error("AGENT_FAILED")), {"EVT-2": FAILED})
add("unknown_agent_silent", lambda: unknown_agent(), {"EVT-2": FAILED})
add("unknown_agent_error_without_run_id", lambda: unknown_agent(error("UNKNOWN_AGENT", None)),
    {"EVT-2": FAILED})
add("unknown_agent_answered_by_a_run", lambda: unknown_agent(*run_frames()), {"EVT-2": FAILED})

NO_SUCH_SCENARIO = "no_such_scenario"
# FAIL-4 (Decision 41): an unknown name on an E2E connection with hooks gets UNKNOWN_SCENARIO
add("unknown_scenario_refused", lambda: scenario(NO_SUCH_SCENARIO, [error("UNKNOWN_SCENARIO")]), {"FAIL-4": OK})
add("unknown_scenario_refused_spelled", lambda: scenario(NO_SUCH_SCENARIO, [error_message("UNKNOWN_SCENARIO")]),
    {"FAIL-4": NS})
add("unknown_scenario_run_as_ordinary", lambda: scenario(NO_SUCH_SCENARIO, run_frames()), {"FAIL-4": FAILED})
add("unknown_scenario_wrong_code", lambda: scenario(NO_SUCH_SCENARIO, [error("AGENT_FAILED")]),
    {"FAIL-4": FAILED})


def unknown_scenario_refused_where(features: dict[str, Any]) -> Script:
    greeting = hello("alice", E2E_ON)
    greeting["data"]["features"] = features
    script = Script().connect("a1", "alice", e2e=True, greeting=greeting)
    script.start("a1", "thread_a_run_1", "thread_a", scenario=NO_SUCH_SCENARIO)
    return script.recv("a1", error("UNKNOWN_SCENARIO"))


# FAIL-4: without hooks stated, an UNKNOWN_SCENARIO refusal cannot be told from having no hooks at all
add("unknown_scenario_where_hooks_are_denied", lambda: unknown_scenario_refused_where({"scenarios": False}),
    {"FAIL-4": SKIPPED})
add("unknown_scenario_where_hooks_are_unstated", lambda: unknown_scenario_refused_where({}),
    {"FAIL-4": SKIPPED})


@clause(("E2E-3", FAILED))
def unknown_scenario_without_e2e_checked_first() -> Script:
    """E2E-3 and §5: E2E_NOT_ALLOWED is checked before the name, so an unknown name gets it on a non-E2E connection."""
    script = Script().connect("a1", "alice")
    script.start("a1", "thread_a_run_1", "thread_a", scenario=NO_SUCH_SCENARIO)
    return script.recv("a1", error("UNKNOWN_SCENARIO"))


@clause(("EVT-3", NS), ("EVT-4", FAILED))
def completion_without_execution_id() -> Script:
    """EVT-3: a tool_completed without execution_id pairs with the open call of its name, NON-STRICT; EVT-4 requires
    the field."""
    frames = run_frames()
    for index in (DONE_1, DONE_2):
        frames[index]["data"].pop("execution_id")
    return with_frames(frames)


@clause(("EVT-3", NS))
def completion_with_id_answers_an_idless_call() -> Script:
    """EVT-3: a call opened without execution_id is answered by name, whatever id its completion carries."""
    frames = run_frames()
    frames[EXEC_1]["data"].pop("execution_id")
    return with_frames(frames)


def chat(run_id: str | None, *answer: dict) -> Script:
    """A ``user_message`` start (optional in PROTOCOL §3: a target without it is SKIPPED, never FAILED)."""
    spec = {"agent": "echo", "request": "hi", "run_id": run_id, "thread_id": "thread_a" if run_id else None,
            "scenario": None, "uses_tools": False, "optional": "user_message"}
    script = Script().connect("a1", "alice").send("a1", {"type": "user_message", "payload": {"message": "hi"}},
                                                   note={"start": spec})
    return script.recv_all("a1", list(answer))


add("chat_declined", lambda: chat("thread_a_run_1", error("UNKNOWN_MESSAGE_TYPE", None)),
    {"EVT-2": SKIPPED, "EVT-1": None})
add("chat_declined_server_ids", lambda: chat(None, error("UNKNOWN_MESSAGE_TYPE", None)), {"EVT-2": SKIPPED})
add("chat_runs_echo", lambda: chat("thread_a_run_1", *canonical_run("alice", "thread_a_run_1", "thread_a",
                                                                        agent="echo", tools=())),
        {"EVT-1": OK, "EVT-2": OK, "EVT-5": OK})
add("chat_silent", lambda: chat("thread_a_run_1"), {"EVT-2": SKIPPED})  # "targets may accept": no evidence


@pytest.mark.parametrize("c", CLAUSES, ids=[c.name for c in CLAUSES])
def test_clause_grades_transcript(c: Clause) -> None:
    verdict = judge(c.build().transcript, c.context, list(c.expect))
    got = {req_id: verdict.grade(req_id) for req_id in c.expect}
    assert got == c.expect, "\n".join(f"{f.rule} {f.grade.value}: {f.message}" for f in verdict.findings)


def test_case_names_are_unique() -> None:
    names = [c.name for c in CLAUSES]
    assert len(names) == len(set(names))
