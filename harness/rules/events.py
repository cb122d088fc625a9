"""Run rules: EVT-1..8 (PROTOCOL §4).

EVT-1, 4, 6, 7 and 8 judge ordinary runs (no scenario) that were not refused; EVT-2, 3 and 5 judge every run on
whatever events it has; EVT-7's heartbeat clause judges ``slow_tool`` runs.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any

from harness.grades import Finding, Grade
from harness.normalize import ENVELOPE, MISSING, TERMINAL_TYPES, envelope, envelope_value, table, table_value
from harness.rules.base import Context, Limits, finding, rule
from harness.rules.failures import slow_tool_honoured
from harness.transcript import Record
from harness.view import Run, View, error_code

IDS = ("run_id", "thread_id", "user_id", "agent_name")


def ordinary_runs(view: View) -> Iterator[Run]:
    """Runs without a scenario that were not refused."""
    return iter(view.ordinary_runs)


def _label(run: Run) -> str:
    return run.label


def _verdict(req_id: str, run: Run, failed: list[str], soft: list[str], frames: list[int], ok: str) -> Finding:
    if failed:
        return finding(req_id, Grade.FAILED, f"{_label(run)}: {'; '.join(failed[:6])}", *frames[:8])
    if soft:
        return finding(req_id, Grade.NON_STRICT, f"{_label(run)}: {'; '.join(soft[:6])}", *frames[:8])
    return finding(req_id, Grade.OK, f"{_label(run)}: {ok}", run.start.seq)


@rule("EVT-1")
def all_kinds(view: View, ctx: Context) -> Iterator[Finding]:
    for run in ordinary_runs(view):
        types = [r.type for r in run.events]
        needed = ["agent_started", "agent_thinking", "agent_completed"]
        if run.spec.get("uses_tools"):
            needed[2:2] = ["tool_executing", "tool_completed"]
        missing = [kind for kind in needed if kind not in types]
        failed = [f"missing {', '.join(missing)}"] if missing else []
        if missing and run.unknown:
            failed.append(f"the run sent types the contract does not know: {', '.join(dict.fromkeys(run.unknown))}")
        if types.count("tool_executing") != types.count("tool_completed"):
            failed.append(
                f"{types.count('tool_executing')} tool_executing but {types.count('tool_completed')} tool_completed"
            )
        yield _verdict("EVT-1", run, failed, [], [run.start.seq], f"events {', '.join(dict.fromkeys(map(str, types)))}")


@rule("EVT-2")
def order(view: View, ctx: Context) -> Iterator[Finding]:
    for run in view.runs:
        frames = run.frames
        demanded = run.spec.get("refused_with")
        if run.declined:
            yield finding("EVT-2", Grade.SKIPPED, f"{_label(run)}: {run.declined}", run.start.seq)
            continue
        if isinstance(demanded, str):
            yield _refusal(run, demanded)
            continue
        if run.refusal:
            yield finding("EVT-2", Grade.OK, f"{_label(run)}: refused with one error frame", frames[0].seq)
            continue
        if not frames:
            yield finding("EVT-2", Grade.FAILED, f"{_label(run)}: {run.silence}", run.start.seq)
            continue
        types = [r.type for r in frames]
        failed: list[str] = []
        starts = types.count("agent_started")
        if starts != 1:
            failed.append(f"{starts} agent_started frames")
        elif types[0] != "agent_started":
            failed.append(f"first run frame is {types[0]}, not agent_started")
        terminals = [i for i, kind in enumerate(types) if kind in TERMINAL_TYPES]
        if not terminals:
            failed.append("no terminal frame (agent_completed or error)")
        elif len(terminals) > 1:
            failed.append(f"{len(terminals)} terminal frames ({', '.join(str(types[i]) for i in terminals)})")
        elif terminals[0] != len(types) - 1:
            after = types[terminals[0] + 1 :]
            failed.append(f"{len(after)} run frame(s) after the terminal frame: {', '.join(map(str, after[:3]))}")
        marks = [frames[i].seq for i in terminals[1:]] or [r.seq for r in frames[:1]]
        yield _verdict("EVT-2", run, failed, [], marks, "started first, one terminal frame last")


def _refusal(run: Run, code: str) -> Finding:
    """EVT-2's refusal clause for a start the contract answers with ``code`` and no run (an unknown agent: PROTOCOL
    §3): one error with that code carrying the run's ``run_id``, as the run's only frame. A spelled error counts
    as that frame without a grade change (Decision 29)."""
    if run.refusal:
        got = error_code(run.frames[0])
        if got == code:
            return finding("EVT-2", Grade.OK, f"{_label(run)}: refused with {code}", run.frames[0].seq)
        wrong = f"{_label(run)}: refused with {got!r}, expected {code}"
        return finding("EVT-2", Grade.FAILED, wrong, run.frames[0].seq)
    expected = f"expected one {code} error carrying the run's run_id as the run's only frame"
    if not run.frames:
        idless = [r for r in run.conn.idless_errors(run.start) if error_code(r) == code]
        if idless:
            idless_text = f"{_label(run)}: the {code} error carries no run_id; {expected}"
            return finding("EVT-2", Grade.FAILED, idless_text, idless[0].seq)
        return finding("EVT-2", Grade.FAILED, f"{_label(run)}: {run.silence}; {expected}", run.start.seq)
    kinds = ", ".join(dict.fromkeys(str(r.type) for r in run.frames))
    return finding("EVT-2", Grade.FAILED, f"{_label(run)}: {expected}, got {kinds}", run.frames[0].seq)


@rule("EVT-3")
def tool_pairing(view: View, ctx: Context) -> Iterator[Finding]:
    for run in view.runs:
        tools = [r for r in run.frames if r.type in ("tool_executing", "tool_completed") or r.type in TERMINAL_TYPES]
        if not any(r.type == "tool_executing" or r.type == "tool_completed" for r in tools):
            continue  # nothing to pair; a tool-using run without tool calls is EVT-1's finding (reported once)
        failed, soft, marks = _pair(tools)
        yield _verdict("EVT-3", run, failed, soft, marks, "every tool call paired by execution_id")


def _pair(frames: list[Record]) -> tuple[list[str], list[str], list[int]]:
    failed: list[str] = []
    soft: list[str] = []
    marks: list[int] = []
    pending: dict[Any, tuple[Any, Record]] = {}
    by_name: list[tuple[Any, Record]] = []
    seen: set[Any] = set()
    for record in frames:
        kind = record.type
        if kind in TERMINAL_TYPES:
            break
        eid = table_value(record.frame, "execution_id")
        name = table_value(record.frame, "tool_name")
        idless = eid is MISSING or isinstance(eid, (dict, list))
        if idless:
            soft.append(f"{kind} #{record.seq} has no execution_id: paired by tool_name")
            if kind == "tool_executing":
                by_name.append((name, record))
                continue
        named = kind == "tool_completed" and (idless or eid not in pending)
        if named and _pair_by_name(name, by_name, pending if idless else {}):
            if not idless:
                soft.append(f"tool_completed #{record.seq} answers a call opened without execution_id: paired by name")
            continue
        if idless:
            failed.append(f"tool_completed #{record.seq} ({name!r}) has no tool_executing before it")
            marks.append(record.seq)
        elif kind == "tool_executing":
            if eid in seen:
                failed.append(f"execution_id {eid!r} used twice")
                marks.append(record.seq)
            seen.add(eid)
            pending[eid] = (name, record)
        elif eid not in pending:
            failed.append(f"tool_completed #{record.seq} with execution_id {eid!r} has no open tool_executing")
            marks.append(record.seq)
        else:
            opened_name, _ = pending.pop(eid)
            if opened_name != name:
                failed.append(f"execution_id {eid!r}: tool_executing names {opened_name!r}, tool_completed {name!r}")
                marks.append(record.seq)
    for eid, (name, record) in list(pending.items()) + [(None, item) for item in by_name]:
        failed.append(
            f"tool_executing #{record.seq} ({name!r}, execution_id {eid!r}) has no tool_completed before the end"
        )
        marks.append(record.seq)
    return failed, soft, marks


def _pair_by_name(name: Any, by_name: list[tuple[Any, Record]], pending: dict[Any, tuple[Any, Record]]) -> bool:
    """Close the oldest open call named ``name`` for a completion that cannot be paired by ``execution_id`` (PROTOCOL
    EVT-3: without it, calls pair by ``tool_name`` in arrival order); False when no such call is open. A completion
    with an id of its own passes no ``pending``: it may answer only a call that had none (another id is a mismatch)."""
    unnamed = next((item for item in by_name if item[0] == name), None)
    opened = next((eid for eid, (opened_name, _) in pending.items() if opened_name == name), MISSING)
    if unnamed is None and opened is MISSING:
        return False
    if opened is MISSING or (unnamed is not None and unnamed[1].seq < pending[opened][1].seq):
        by_name.remove(unnamed)  # type: ignore[arg-type]  # not None here
    else:
        del pending[opened]
    return True


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _is_id(value: Any) -> bool:
    return (isinstance(value, str) and bool(value)) or (isinstance(value, int) and not isinstance(value, bool))


def _is_step(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_duration(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _is_status(value: Any) -> bool:
    return value in ("completed", "failed")


Check = tuple[str, Callable[[Any], bool], str]
TABLE: dict[str, tuple[Check, ...]] = {
    "agent_started": (("user_request", _is_str, "a string"),),
    "agent_thinking": (("reasoning", _is_str, "a string"), ("step_number", _is_step, "an integer >= 1")),
    "tool_executing": (
        ("tool_name", _is_name, "a non-empty string"),
        ("execution_id", _is_id, "a non-empty id"),
        ("parameters", _is_object, "an object"),
    ),
    "tool_completed": (
        ("tool_name", _is_name, "a non-empty string"),
        ("execution_id", _is_id, "a non-empty id"),
        ("success", _is_bool, "a boolean"),
        ("duration_ms", _is_duration, "a number >= 0"),
    ),
    "agent_completed": (("status", _is_status, "completed or failed"), ("final_response", _is_str, "a string")),
}


def _clean(frame: Any, kind: str | None) -> bool:
    """True only when :func:`field_problems` would find nothing: the canonical layout, every field present and typed.

    The common case, checked without building a :class:`~harness.normalize.Lookup` per field; anything else (a
    missing or mistyped field, a copy outside its canonical place) goes the long way, which writes the messages.
    """
    data = frame.get("data") if isinstance(frame, dict) else None
    if (
        not isinstance(data, dict)
        or "payload" in frame
        or not data.keys().isdisjoint(ENVELOPE)
        or not frame.keys().isdisjoint(data)
    ):
        return False
    for name in IDS:
        value = frame.get(name)
        if not isinstance(value, str) or not value:
            return False
    if "timestamp" not in frame:
        return False
    for name, check, _ in TABLE.get(str(kind), ()):
        if name not in data or not check(data[name]):
            return False
    if kind == "tool_completed":
        success = data["success"]
        return ("results" in data) if success is True else (success is not False or _is_name(data.get("error")))
    if kind == "agent_completed":
        return not (data["status"] == "completed" and data["final_response"] == "")
    return True


def field_problems(record: Record) -> tuple[list[str], list[str]]:
    """EVT-4 for one event frame: (hard problems, layout deviations)."""
    frame = record.frame
    kind = record.type
    failed: list[str] = []
    soft: list[str] = []
    for name in IDS + ("timestamp",):
        lookup = envelope(frame, name)
        if not lookup.present:
            failed.append(f"{kind} #{record.seq} lacks {name}")
        elif name != "timestamp" and not _is_name(lookup.value):
            failed.append(f"{kind} #{record.seq} {name} is {lookup.value!r}, not a non-empty string")
        elif lookup.deviation:
            soft.append(lookup.deviation)
    if not isinstance(frame.get("data"), dict):
        soft.append(f"{kind} #{record.seq} has no data object")
    checks = TABLE.get(str(kind), ())
    values: dict[str, Any] = {}
    for name, check, wanted in checks:
        lookup = table(frame, name)
        values[name] = lookup.value
        if not lookup.present:
            failed.append(f"{kind} #{record.seq} lacks {name}")
        elif not check(lookup.value):
            failed.append(f"{kind} #{record.seq} {name} is {lookup.value!r}, expected {wanted}")
        elif lookup.deviation:
            soft.append(lookup.deviation)
    if kind == "tool_completed":
        hard, deviation = _outcome_problems(record, values.get("success"))
        failed += hard
        soft += deviation
    if kind == "agent_completed" and values.get("status") == "completed" and values.get("final_response") == "":
        failed.append(f"agent_completed #{record.seq} completed with an empty final_response")
    return failed, soft


def _outcome_problems(record: Record, success: Any) -> tuple[list[str], list[str]]:
    """``results`` when the tool succeeded, a non-empty ``error`` when it failed: (hard problems, layout deviations)."""
    if success is not True and success is not False:
        return [], []  # the success check itself already failed
    lookup = table(record.frame, "results" if success else "error")
    if success and not lookup.present:
        return [f"tool_completed #{record.seq} succeeded without results"], []
    if not success and not _is_name(lookup.value):
        return [f"tool_completed #{record.seq} failed without a non-empty error"], []
    return [], [lookup.deviation] if lookup.deviation else []


@rule("EVT-4")
def fields(view: View, ctx: Context) -> Iterator[Finding]:
    for run in ordinary_runs(view):
        failed: list[str] = []
        soft: list[str] = []
        marks: list[int] = []
        for record in run.events:
            if _clean(record.frame, record.type):
                continue  # the common case, without building two empty lists
            hard, dev = field_problems(record)
            if hard or dev:
                marks.append(record.seq)
            failed += hard
            soft += dev
        if run.events:
            yield _verdict(
                "EVT-4", run, failed, list(dict.fromkeys(soft)), marks, "every required field present and typed"
            )


@rule("EVT-5")
def stable_ids(view: View, ctx: Context) -> Iterator[Finding]:
    for run in view.runs:
        events = run.events
        if not events:
            continue
        started = next((r for r in events if r.type == "agent_started"), events[0])
        expected = {
            "run_id": run.given_run_id or envelope_value(started.frame, "run_id"),
            "thread_id": run.spec.get("thread_id") or envelope_value(started.frame, "thread_id"),
            "user_id": run.user,
            "agent_name": run.agent or envelope_value(started.frame, "agent_name"),
        }
        failed: list[str] = []
        marks: list[int] = []
        if run.matched_by == "arrival" and run.given_run_id:
            failed.append(f"the target ignored the given run_id {run.given_run_id!r} and used {run.run_id!r}")
        for record in events:
            frame = record.frame
            for name, want in expected.items():
                got = frame.get(name, MISSING)  # run frames are JSON objects; the top level is the canonical place
                if got is MISSING:
                    got = envelope_value(frame, name)
                if got != want:
                    failed.append(f"{record.type} #{record.seq} {name} {got!r}, expected {want!r}")
                    marks.append(record.seq)
        yield _verdict("EVT-5", run, list(dict.fromkeys(failed)), [], marks, "ids stable and as requested")


def parse_timestamp(value: Any) -> tuple[float | None, str | None]:
    """(epoch seconds or None, deviation or hard problem). ISO-8601 with offset is canonical."""
    if isinstance(value, bool):
        return None, "a boolean"
    if isinstance(value, (int, float)):
        return float(value), "a Unix number instead of ISO-8601"
    if not isinstance(value, str):
        return None, f"{value!r}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None, f"{value!r} is not ISO-8601"
    if parsed.tzinfo is None:
        return parsed.timestamp(), "ISO-8601 without a UTC offset"
    return parsed.timestamp(), None


@rule("EVT-6")
def timestamps(view: View, ctx: Context) -> Iterator[Finding]:
    for run in ordinary_runs(view):
        failed: list[str] = []
        soft: list[str] = []
        marks: list[int] = []
        previous: float | None = None
        for record in run.events:
            value = envelope_value(record.frame, "timestamp")
            stamp, problem = parse_timestamp(value)
            if stamp is None:
                failed.append(f"{record.type} #{record.seq} timestamp {problem or 'missing'}")
                marks.append(record.seq)
                continue
            if problem:
                soft.append(f"timestamp {problem}")
            if previous is not None and stamp < previous:
                failed.append(f"{record.type} #{record.seq} timestamp {value!r} is earlier than the previous event's")
                marks.append(record.seq)
            previous = stamp
        if run.events:
            yield _verdict(
                "EVT-6", run, failed, list(dict.fromkeys(soft)), marks, "timestamps parse and never decrease"
            )


def time_limits(run: Run, limits: Limits) -> tuple[list[str], list[int]]:
    """EVT-7's start and whole-run limits for one run: (problems, frames to mark). ROB-6 holds a bystander's run to
    the same limits, through this one function."""
    problems: list[str] = []
    marks: list[int] = []
    t0 = run.start.t
    started = next((r for r in run.frames if r.type == "agent_started"), None)
    if started is None:
        problems.append("no agent_started arrived")
    elif started.t - t0 > limits.start_s:
        problems.append(f"agent_started after {started.t - t0:.2f} s (limit {limits.start_s} s)")
        marks.append(started.seq)
    end = run.ended_at
    if end is None:
        problems.append("the run never ended while the harness waited")
    elif end - t0 > limits.run_s:
        problems.append(f"run took {end - t0:.2f} s (limit {limits.run_s} s)")
    return problems, marks


@rule("EVT-7")
def timeliness(view: View, ctx: Context) -> Iterator[Finding]:
    limits = ctx.limits
    for run in ordinary_runs(view):
        failed, marks = time_limits(run, limits)
        gap, where = _longest_silence(run, run.ended_at)
        if gap > limits.silence_s:
            failed.append(f"{gap:.2f} s of silence (limit {limits.silence_s} s)")
            marks.append(where)
        started = next((r for r in run.frames if r.type == "agent_started"), None)
        yield _verdict(
            "EVT-7", run, failed, [], marks, f"started in {((started.t - run.start.t) if started else 0):.3f} s"
        )
    for run in view.runs:
        if run.scenario == "slow_tool" and run.refusal:
            yield finding(
                "EVT-7",
                Grade.SKIPPED,
                f"{_label(run)}: slow_tool refused, so the heartbeat clause cannot be checked",
                run.start.seq,
            )
        elif run.scenario == "slow_tool" and run.frames:
            yield _heartbeat_during_slow_tool(run, ctx)


def _longest_silence(run: Run, end: float | None) -> tuple[float, int]:
    last_t, gap, where = run.start.t, 0.0, run.start.seq
    times = run.conn.received_times
    first = bisect_right(times, last_t) if times is not None else 0  # every record before it has t <= the start
    for record in islice(run.conn.received, first, None):
        if record.t <= run.start.t:
            continue
        if end is not None and record.t > end:
            break
        if record.t - last_t > gap:
            gap, where = record.t - last_t, record.seq
        last_t = record.t
    return gap, where


def _heartbeat_during_slow_tool(run: Run, ctx: Context) -> Finding:
    executing = next((r for r in run.frames if r.type == "tool_executing"), None)
    if executing is None:
        return finding("EVT-7", Grade.FAILED, f"{_label(run)}: slow_tool run has no tool_executing", run.start.seq)
    if not slow_tool_honoured(run, ctx) and any(r.type == "tool_completed" for r in run.frames):
        # the tool was not slow: no silence for a heartbeat to fill (an ignored hook is FAIL-4's finding)
        return finding(
            "EVT-7",
            Grade.SKIPPED,
            f"{_label(run)}: the slow_tool scenario's tool was not slow, so no heartbeat was owed",
            run.start.seq,
        )
    eid = table_value(executing.frame, "execution_id")
    done = next(
        (r for r in run.frames if r.type == "tool_completed" and table_value(r.frame, "execution_id") == eid), None
    )
    until = done.t if done else (run.ended_at or float("inf"))
    beats = [r for r in run.conn.frames if r.type == "heartbeat" and executing.t < r.t < until]
    if beats:
        return finding(
            "EVT-7", Grade.OK, f"{_label(run)}: {len(beats)} heartbeat(s) during the slow tool", beats[0].seq
        )
    return finding("EVT-7", Grade.FAILED, f"{_label(run)}: no heartbeat during the slow tool", executing.seq)


@rule("EVT-8")
def once_per_connection(view: View, ctx: Context) -> Iterator[Finding]:
    for run in ordinary_runs(view):
        failed: list[str] = []
        marks: list[int] = []
        keyed = 0
        for conn in view.conns_of(run.user):
            seen: set[tuple[Any, ...]] = set()
            for key, record in conn.keyed.get(run.run_id, ()):
                keyed += 1
                if key in seen:
                    failed.append(f"{record.type} {key[2]!r} delivered twice on {conn.label}")
                    marks.append(record.seq)
                seen.add(key)
        if keyed:
            yield _verdict("EVT-8", run, failed, [], marks, "no duplicate deliveries")
