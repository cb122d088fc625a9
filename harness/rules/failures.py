"""Hard-failure rules: FAIL-1..4 (PROTOCOL §5).

A scenario run is first classified: refused (the target offers no hooks here: SKIPPED with the reason, unless it
claimed ``features.scenarios``), honoured (judged by its FAIL rule), or answered by an ordinary successful run
(the hook was silently ignored: FAIL-4 FAILED). A name outside :data:`SCENARIOS` on a connection with hooks must
be refused with ``UNKNOWN_SCENARIO`` (FAIL-4, Decision 41).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from harness.grades import Finding, Grade
from harness.normalize import MISSING, error_view, run_id_of, table_value
from harness.rules.auth import scenario_refusal
from harness.rules.base import Context, finding, rule
from harness.view import Run, View, error_code

REFUSALS = ("E2E_NOT_ALLOWED", "UNKNOWN_SCENARIO")
SCENARIOS = ("unresolvable_thread", "tool_error", "agent_crash", "slow_tool")
"""The contract's scenario names (PROTOCOL §5); any other name must get UNKNOWN_SCENARIO on an E2E connection."""


def refusal_code(run: Run) -> str | None:
    """The refusal code when the run was refused as a scenario the target does not offer here."""
    code = error_code(run.frames[0]) if run.refusal else None
    return str(code) if code in REFUSALS else None


def no_hooks_reason(run: Run, ctx: Context) -> str | None:
    """Why scenario rules are SKIPPED for this run, or ``None`` when the hooks are there."""
    if run.conn.features.get("scenarios") is False and run.conn.e2e_active:
        return "the target states features.scenarios false on an E2E connection"
    code = refusal_code(run)
    if code is None:
        return None
    if _claims_hooks(run, ctx):
        return None
    return f"the target refused scenario {run.scenario!r} with {code}: it does not offer that hook here"


def _claims_hooks(run: Run, ctx: Context) -> bool:
    return run.conn.features.get("scenarios") is True and run.conn.e2e_active and not ctx.production


def ordinary_success(run: Run, ctx: Context) -> bool:
    """An ordinary successful run: what a target that ignores the scenario hook sends."""
    terminal = run.terminal
    if terminal is None or terminal.type != "agent_completed" or table_value(terminal.frame, "status") != "completed":
        return False
    if any(r.type == "tool_completed" and table_value(r.frame, "success") is False for r in run.frames):
        return False
    return not (run.scenario == "slow_tool" and slow_tool_honoured(run, ctx))


def slow_tool_honoured(run: Run, ctx: Context) -> bool:
    """Did the first tool take (about) the scenario's delay? 10% tolerance for clocks at both ends."""
    executing = next((r for r in run.frames if r.type == "tool_executing"), None)
    done = next((r for r in run.frames if r.type == "tool_completed"), None)
    return executing is not None and done is not None and done.t - executing.t >= 0.9 * ctx.limits.slow_tool_s


def scenario_runs(view: View, name: str) -> Iterator[Run]:
    return (run for run in view.runs if run.scenario == name)


@rule("FAIL-4")
def scenario_honoured(view: View, ctx: Context) -> Iterator[Finding]:
    for run in view.runs:
        if not run.scenario:
            continue
        reason = no_hooks_reason(run, ctx)
        if reason:
            yield finding("FAIL-4", Grade.SKIPPED, reason, run.start.seq)
        elif not run.frames:
            continue  # silence is the scenario's own FAIL rule's finding: neither refused nor shown honoured
        elif ordinary_success(run, ctx) and run.scenario not in SCENARIOS:
            ignored = f"unknown scenario {run.scenario!r} answered by an ordinary successful run, not UNKNOWN_SCENARIO"
            yield finding("FAIL-4", Grade.FAILED, ignored, run.start.seq)
        elif run.scenario not in SCENARIOS:
            grade, what = scenario_refusal(run, "UNKNOWN_SCENARIO")
            yield finding(
                "FAIL-4", grade, f"unknown scenario {run.scenario!r} on an E2E connection: {what}", run.start.seq
            )
        elif refusal_code(run):
            yield finding(
                "FAIL-4",
                Grade.FAILED,
                f"scenario {run.scenario!r}: features.scenarios is true but the target refused it",
                run.frames[0].seq,
            )
        elif ordinary_success(run, ctx):
            yield finding(
                "FAIL-4",
                Grade.FAILED,
                f"scenario {run.scenario!r} answered by an ordinary successful run (hook ignored)",
                run.start.seq,
            )
        else:
            yield finding("FAIL-4", Grade.OK, f"scenario {run.scenario!r} honoured", run.start.seq)


RunJudge = Callable[[View, Run, Context], Finding]


def scenario_rule(req_id: str, name: str) -> Callable[[RunJudge], RunJudge]:
    """Register ``judge_run`` for every run of scenario ``name``; runs on a target without hooks here are SKIPPED.

    A claimed-then-refused scenario is not skipped: FAIL-4 fails it, and the scenario's own rule judges the refusal
    like any other wrong answer.
    """

    def register(judge_run: RunJudge) -> RunJudge:
        @rule(req_id)
        def judged(view: View, ctx: Context) -> Iterator[Finding]:
            for run in scenario_runs(view, name):
                reason = no_hooks_reason(run, ctx)
                yield finding(req_id, Grade.SKIPPED, reason, run.start.seq) if reason else judge_run(view, run, ctx)

        judged.__name__ = judged.__qualname__ = judge_run.__name__  # judge() names a rule that crashes by this
        return judge_run

    return register


@scenario_rule("FAIL-1", "unresolvable_thread")
def resolution_failure_surfaces(view: View, run: Run, ctx: Context) -> Finding:
    failed: list[str] = []
    soft: list[str] = []
    frames = run.frames
    err = error_view(frames[0].frame) if len(frames) == 1 else None
    if err is None or err.code != "THREAD_RESOLUTION_FAILED":
        kinds = ", ".join(str(r.type) for r in frames) or "nothing"
        failed.append(f"expected one THREAD_RESOLUTION_FAILED error as the run's only frame, got {kinds}")
    else:
        soft += err.deviations
        delay = frames[0].t - run.start.t
        if delay > ctx.limits.resolution_error_s:
            failed.append(f"the error came after {delay:.2f} s (limit {ctx.limits.resolution_error_s} s)")
    for conn in view.conns.values():
        if conn.user != run.user and any(
            run_id_of(r.frame) == run.run_id for r in conn.frames if run.run_id is not MISSING
        ):
            failed.append(f"{conn.label} of another user received this run's error")
    failed += _carries_on(view, run)
    return _grade(
        "FAIL-1", run, failed, soft, "THREAD_RESOLUTION_FAILED reached its user only; the connection carried on"
    )


def _carries_on(view: View, run: Run) -> list[str]:
    """The connection stays open and the next run on it (when the case made one) ends normally."""
    close = run.conn.close
    if close is not None and close.info.get("by") == "server" and close.t >= run.start.t:
        return [f"the server closed {run.conn.label} ({close.info.get('code')})"]
    later = [r for r in view.runs if r.conn is run.conn and r.start.seq > run.start.seq and not r.scenario]
    if later:
        terminal = later[0].terminal
        if terminal is None or terminal.type != "agent_completed":
            return [f"the next run on {run.conn.label} did not complete"]
    return []


def _grade(req_id: str, run: Run, failed: list[str], soft: list[str], ok: str) -> Finding:
    marks = [r.seq for r in run.frames[-2:]] or [run.start.seq]
    if failed:
        return finding(
            req_id, Grade.FAILED, f"scenario {run.scenario!r} on {run.conn.label}: {'; '.join(failed)}", *marks
        )
    if soft:
        return finding(req_id, Grade.NON_STRICT, f"scenario {run.scenario!r}: {'; '.join(soft)}", *marks)
    return finding(req_id, Grade.OK, f"scenario {run.scenario!r}: {ok}", *marks)


def _terminal_outcome(
    run: Run, accepted_codes: tuple[str, ...], ok_statuses: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    terminal = run.terminal
    if terminal is None:
        return ["no terminal frame: the failure was silent"], []
    if terminal.type == "agent_completed":
        status = table_value(terminal.frame, "status")
        if status in ok_statuses:
            return [], []
        return [f"agent_completed with status {status!r}, expected {' or '.join(ok_statuses)}"], []
    err = error_view(terminal.frame)
    if err is None:
        return [f"terminal frame {terminal.type}"], []
    if err.code in accepted_codes:
        return [], list(err.deviations)
    return [f"terminal error code {err.code!r}, expected {' or '.join(accepted_codes)}"], list(err.deviations)


@scenario_rule("FAIL-2", "tool_error")
def tool_error_surfaces(view: View, run: Run, ctx: Context) -> Finding:
    failed_tools = [
        r
        for r in run.frames
        if r.type == "tool_completed"
        and table_value(r.frame, "success") is False
        and isinstance(table_value(r.frame, "error"), str)
        and table_value(r.frame, "error")
    ]
    failed, soft = _terminal_outcome(run, ("TOOL_FAILED",), ("failed", "completed"))
    if not failed_tools:
        failed.insert(0, "no tool_completed with success false and a non-empty error")
    return _grade("FAIL-2", run, failed, soft, "the tool error surfaced and the run ended")


@scenario_rule("FAIL-3", "agent_crash")
def crash_surfaces(view: View, run: Run, ctx: Context) -> Finding:
    failed, soft = _terminal_outcome(run, ("AGENT_FAILED",), ("failed",))
    return _grade("FAIL-3", run, failed, soft, "the crash ended the run with a failure frame")
