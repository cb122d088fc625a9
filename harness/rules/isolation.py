"""Isolation rules: ISO-1..4 (PROTOCOL §4) and SEC-1 (PROTOCOL §6).

These read the whole transcript of a multi-user case: every frame each connection received is checked against
the runs its user started, so a leak shows as the exact frame that reached the wrong user.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

from harness.grades import Finding, Grade
from harness.normalize import MISSING, RUN_TYPES, envelope_value, run_id_of, table_value
from harness.rules.base import Context, finding, rule
from harness.rules.failures import no_hooks_reason, scenario_runs
from harness.transcript import Record
from harness.view import Conn, Run, View, event_key


def foreign_frames(view: View, conn: Conn) -> list[tuple[Record, str]]:
    """Frames on ``conn`` that belong to another user: a foreign user_id, or a run its user did not start.

    ``connection_established`` is not one: the connection's own identity, AUTH-4's to judge; nor is a frame of a run
    this user started (PROTOCOL §8: ISO-1 fires only when another user's run or data reached a user)."""
    own_runs = view.run_ids_by_user.get(conn.user, set())
    leaks: list[tuple[Record, str]] = []
    for record in conn.frames:
        if record.type == "connection_established":
            continue
        if record.type in RUN_TYPES and isinstance(own := run_id_of(record.frame), str) and own in own_runs:
            continue  # a run this user started, whatever user it claims to act for: SEC-1 and EVT-5 judge that
        user = envelope_value(record.frame, "user_id")
        if isinstance(user, str) and user != conn.user:
            leaks.append((record, f"{record.type} #{record.seq} for user_id {user!r}"))
            continue
        if record.type in RUN_TYPES:
            rid = run_id_of(record.frame)
            if isinstance(rid, str) and rid not in own_runs:
                leaks.append((record, f"{record.type} #{record.seq} of run {rid!r}, not started by {conn.user!r}"))
    return leaks


@rule("ISO-1")
def only_own_frames(view: View, ctx: Context) -> Iterator[Finding]:
    """Only another user's frames fail ISO-1 (PROTOCOL §8): a run of this user that never ended is EVT-2's."""
    if len(view.users) < 2:
        return
    for user in sorted(view.users):
        leaks = [leak for conn in view.conns_of(user) for leak in foreign_frames(view, conn)]
        if leaks:
            texts = [text for _, text in leaks]
            yield finding(
                "ISO-1",
                Grade.FAILED,
                f"user {user!r}: {'; '.join(texts[:5])}",
                *[record.seq for record, _ in leaks][:8],
            )
        else:
            yield finding("ISO-1", Grade.OK, f"user {user!r}: only their own frames")


def _keys(conn: Conn, run_ids: set[Any]) -> tuple[set[tuple[Any, ...]], float | None]:
    """The events of a run (by any of its ids) that reached ``conn``, and when the last of them arrived."""
    keys: set[tuple[Any, ...]] = set()
    last: float | None = None
    for record in conn.frames:
        rid = run_id_of(record.frame)
        if record.type is not None and isinstance(rid, str) and rid in run_ids:
            keys.add(event_key(record) or (rid, record.type))
            last = record.t
    return keys, last


@rule("ISO-2")
def every_tab(view: View, ctx: Context) -> Iterator[Finding]:
    """Every connection of the user open over the run gets every event of it that reached any of them, the
    starting tab included (a server that serves only the newest tab starves the one that asked)."""
    for run in view.runs:
        if run.scenario or run.refusal:
            continue
        conns = view.conns_of(run.user)
        if len(conns) < 2:
            continue
        ids = {rid for rid in (run.run_id, run.given_run_id, *run.run_ids) if isinstance(rid, str)}
        seen = {conn.label: _keys(conn, ids) for conn in conns}
        wanted = set().union(*(keys for keys, _ in seen.values()))
        ends = [last for _, last in seen.values() if last is not None]
        if not wanted or not ends:
            continue
        tabs = [conn for conn in conns if conn.open_during(run.start.t, max(ends))]
        for conn in tabs if len(tabs) > 1 else ():
            missing = wanted - seen[conn.label][0]
            if missing:
                names = ", ".join(sorted({str(key[1]) for key in missing}))
                yield finding(
                    "ISO-2", Grade.FAILED, f"run {sorted(ids)[0]!r}: {conn.label} missed {names}", run.start.seq
                )
            else:
                yield finding(
                    "ISO-2", Grade.OK, f"run {sorted(ids)[0]!r}: {conn.label} received all {len(wanted)} events"
                )


@rule("ISO-3")
def unique_threads(view: View, ctx: Context) -> Iterator[Finding]:
    owners: dict[Any, set[str | None]] = {}
    marks: dict[Any, int] = {}
    for run in view.runs:
        if run.spec.get("thread_id"):
            continue
        started = next((r for r in run.events if r.type == "agent_started"), None)
        if started is None:
            continue
        thread = envelope_value(started.frame, "thread_id")
        if thread is MISSING or not isinstance(thread, Hashable):
            continue  # a malformed thread id is EVT-4's finding
        owners.setdefault(thread, set()).add(run.user)
        marks.setdefault(thread, started.seq)
    if len({user for users in owners.values() for user in users}) < 2:
        return
    shared = {thread: users for thread, users in owners.items() if len(users) > 1}
    for thread, users in shared.items():
        yield finding(
            "ISO-3",
            Grade.FAILED,
            f"server-created thread {thread!r} given to users {sorted(map(str, users))}",
            marks[thread],
        )
    if not shared:
        yield finding("ISO-3", Grade.OK, f"{len(owners)} server-created thread ids, all distinct across users")


@rule("ISO-4")
def disconnect_harms_nobody(view: View, ctx: Context) -> Iterator[Finding]:
    closes = [run for run in view.runs if _left_mid_run(run)]
    if not closes:
        yield from _no_hooks_for_slow_runs(view, ctx)
        return
    first = min(run.conn.closed_at or 0.0 for run in closes)
    leavers = {run.user for run in closes}
    for run in view.runs:
        if run.user in leavers or run.start.t > first or run.refusal or run.scenario not in (None, "slow_tool"):
            continue
        terminal = run.terminal
        status = table_value(terminal.frame, "status") if terminal is not None else MISSING
        if terminal is not None and terminal.type == "agent_completed" and status == "completed":
            yield finding("ISO-4", Grade.OK, f"run {run.run_id!r} of {run.user!r} completed despite the disconnect")
        else:
            got = f"{terminal.type} status {status!r}" if terminal is not None else "no terminal frame"
            marks = (terminal.seq,) if terminal is not None else (run.start.seq,)
            yield finding(
                "ISO-4",
                Grade.FAILED,
                f"run {run.run_id!r} of {run.user!r} after another client left mid-run: {got}",
                *marks,
            )
    for probe in view.http:
        if probe.t >= first:
            grade = Grade.OK if probe.info.get("status") == 200 else Grade.FAILED
            yield finding(
                "ISO-4", grade, f"/health answered {probe.info.get('status')} after the disconnect", probe.seq
            )


def _no_hooks_for_slow_runs(view: View, ctx: Context) -> Iterator[Finding]:
    """SKIPPED when nothing was in flight because the target refused the ``slow_tool`` runs that keep runs open."""
    for run in scenario_runs(view, "slow_tool"):
        reason = no_hooks_reason(run, ctx)
        if reason:
            yield finding("ISO-4", Grade.SKIPPED, f"no run was in flight when a client left: {reason}", run.start.seq)
            return


def _left_mid_run(run: Run) -> bool:
    close = run.conn.close
    if close is None or close.info.get("by") != "client" or close.t < run.start.t:
        return False
    terminal = run.terminal
    return terminal is None or terminal.t > close.t


@rule("SEC-1")
def no_impersonation(view: View, ctx: Context) -> Iterator[Finding]:
    threads_of: dict[Any, set[str | None]] = {}
    for run in view.runs:  # a thread is a user's once a run of theirs named it or the target gave it to them
        named = [run.spec.get("thread_id")] + [envelope_value(record.frame, "thread_id") for record in run.events[:1]]
        for thread in named:
            if isinstance(thread, str) and thread:  # a malformed thread id is EVT-4's finding
                threads_of.setdefault(thread, set()).add(run.user)
    for run in view.runs:
        claimed = run.spec.get("claims_user")
        borrowed = run.spec.get("thread_id") in threads_of and threads_of[run.spec.get("thread_id")] - {run.user}
        if not claimed and not borrowed:
            continue
        problems: list[str] = []
        marks: list[int] = []
        for record in run.events:
            user = envelope_value(record.frame, "user_id")
            if user != run.user:
                problems.append(f"{record.type} #{record.seq} runs as user_id {user!r}")
                marks.append(record.seq)
        rid = run.run_id if run.run_id is not MISSING else run.given_run_id  # nothing came back to the starter
        for conn in view.conns.values():
            if conn.user == run.user:
                continue
            for record in conn.frames:
                if rid not in (MISSING, None) and run_id_of(record.frame) == rid:
                    problems.append(f"{record.type} #{record.seq} of this run reached {conn.label}")
                    marks.append(record.seq)
        for record, text in foreign_frames(view, run.conn):
            problems.append(f"{run.conn.label} observed {text}")
            marks.append(record.seq)
        attempt = f"payload user_id {claimed!r}" if claimed else f"thread {run.spec.get('thread_id')!r} of another user"
        if problems:
            yield finding("SEC-1", Grade.FAILED, f"{run.user!r} with {attempt}: {'; '.join(problems[:5])}", *marks[:8])
        else:
            yield finding("SEC-1", Grade.OK, f"{run.user!r} with {attempt}: nothing crossed users", run.start.seq)
