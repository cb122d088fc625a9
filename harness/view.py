"""A transcript seen as connections and runs: the shared reading every rule starts from.

Built once per judgement. A *run* is one start message the harness sent (a SENT record whose note has ``start``)
plus the run frames that answer it on the same connection. Frames are matched to a run by the ``run_id`` the
client gave; when the target ignored it or the client gave none, by the first unclaimed ``agent_started`` (or
error) after the start message that carries no id of another start (PROTOCOL §4 and §8: only EVT-5 fails for an
ignored id).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from harness.normalize import (
    ERROR_TYPES,
    EVENTS,
    KNOWN_TYPES,
    MISSING,
    RUN_TYPES,
    envelope_value,
    error_view,
    run_id_of,
    table_value,
)
from harness.transcript import Direction, Kind, Record, Transcript

__all__ = ["Conn", "Run", "View"]


@dataclass
class Conn:
    """One connection attempt: its handshake, what it sent and received, and how it ended."""

    label: str
    user: str | None
    handshake: Record | None = None
    sent: list[Record] = field(default_factory=list)
    received: list[Record] = field(default_factory=list)
    close: Record | None = None

    @property
    def accepted(self) -> bool:
        return self.handshake is not None and self.handshake.info.get("status") == 101

    @property
    def note(self) -> Mapping[str, Any]:
        return self.handshake.note if self.handshake else {}

    @property
    def opened_at(self) -> float:
        return self.handshake.t if self.handshake else 0.0

    @property
    def closed_at(self) -> float | None:
        return self.close.t if self.close else None

    @cached_property
    def frames(self) -> list[Record]:
        """Received text frames that are JSON objects."""
        return [r for r in self.received if r.kind is Kind.TEXT and isinstance(r.frame, dict)]

    @cached_property
    def hello(self) -> Record | None:
        """The first received frame (it must be ``connection_established``)."""
        for record in self.received:
            if record.kind in (Kind.TEXT, Kind.BINARY):
                return record
        return None

    def hello_field(self, name: str) -> Any:
        hello = self.hello
        if hello is None or hello.type != "connection_established":
            return MISSING
        return table_value(hello.frame, name)

    @property
    def e2e_active(self) -> bool:
        e2e = self.hello_field("e2e")
        return isinstance(e2e, Mapping) and e2e.get("active") is True

    @property
    def features(self) -> Mapping[str, Any]:
        features = self.hello_field("features")
        return features if isinstance(features, Mapping) else {}

    @cached_property
    def keyed(self) -> dict[Any, list[tuple[tuple[Any, ...], Record]]]:
        """EVT-8's keyed events on this connection, grouped by run id (built once, read per run)."""
        groups: dict[Any, list[tuple[tuple[Any, ...], Record]]] = {}
        for record in self.frames:
            key = event_key(record)
            if key is not None:
                groups.setdefault(key[0], []).append((key, record))
        return groups

    @cached_property
    def received_times(self) -> list[float] | None:
        """``t`` of every received record when they never decrease (a live recording), else ``None``; lets a rule
        bisect to a run's start instead of walking the connection from its first frame for every run."""
        times = [record.t for record in self.received]
        return times if all(a <= b for a, b in zip(times, times[1:])) else None

    def idless_errors(self, start: Record) -> list[Record]:
        """Errors without a run id received after ``start`` and before the next message this connection sent: what
        can answer a start when the target drops the run id (a refusal must carry the given one, PROTOCOL §5)."""
        later = [r.seq for r in self.sent if r.seq > start.seq]
        until = later[0] if later else float("inf")
        return [
            r
            for r in self.frames
            if start.seq < r.seq < until and r.type in ERROR_TYPES and not isinstance(run_id_of(r.frame), str)
        ]

    def open_during(self, start: float, end: float) -> bool:
        """Was this connection open over the whole interval (so it should have seen the user's events)?"""
        closed = self.closed_at
        return self.accepted and self.opened_at <= start and (closed is None or closed >= end)


@dataclass
class Run:
    """One start message and the frames that answer it on the connection that sent it."""

    start: Record
    conn: Conn
    run_id: Any = MISSING
    matched_by: str | None = None
    """How the frames were found: ``given`` (the run_id the client gave), ``arrival`` (the first run after the start),
    ``thread`` (only frames carrying the start's thread id), or ``None`` (nothing answered)."""
    frames: list[Record] = field(default_factory=list)
    run_ids: tuple[str, ...] = ()
    """Further run ids whose frames carry this start's thread id (a target that changes ids mid-run)."""

    @cached_property
    def spec(self) -> Mapping[str, Any]:
        return self.start.note["start"]

    @property
    def user(self) -> str | None:
        return self.conn.user

    @property
    def agent(self) -> Any:
        return self.spec.get("agent")

    @property
    def scenario(self) -> str | None:
        return self.spec.get("scenario")

    @property
    def given_run_id(self) -> str | None:
        return self.spec.get("run_id")

    @property
    def unknown(self) -> list[str]:
        """Types the contract does not know that carry this run's id (a ``reasoning`` where thinking was due)."""
        return [
            str(r.type)
            for r in self.conn.frames
            if r.type not in KNOWN_TYPES and r.type is not None and run_id_of(r.frame) == self.run_id
        ]

    @cached_property
    def events(self) -> list[Record]:
        """The run's event frames (read by most rules; built once, after the view has matched the run's frames)."""
        return [r for r in self.frames if r.type in EVENTS]

    @cached_property
    def label(self) -> str:
        """How findings name the run: its id (or the id the harness gave), agent and connection."""
        agent = f" ({self.agent})" if self.agent else ""
        return f"run {self.run_id if self.run_id is not MISSING else self.given_run_id!r}{agent} on {self.conn.label}"

    @cached_property
    def terminal(self) -> Record | None:
        """The first terminal frame: ``agent_completed`` or an error carrying the run id."""
        for record in self.frames:
            if record.type == "agent_completed" or record.type in ERROR_TYPES:
                return record
        return None

    @property
    def silence(self) -> str:
        """What a run that got no frame at all is told: nothing came, and for how long the harness waited (or why
        it did not wait: a run of the same shape got nothing earlier)."""
        learned = self.spec.get("learned")
        if isinstance(learned, str) and learned:
            return f"no frame of the run arrived, and it was not waited for: {learned}"
        waited = self.spec.get("timeout")
        return "no frame of the run arrived" + (f" within {waited:g} s" if isinstance(waited, int | float) else "")

    @property
    def refusal(self) -> bool:
        """A run whose only frame is one error: a refusal (EVT-1, 4, 6, 7, 8 do not apply)."""
        return len(self.frames) == 1 and self.frames[0].type in ERROR_TYPES

    @property
    def declined(self) -> str | None:
        """Why a start in an optional form (``user_message``/``chat``, PROTOCOL §3) was not run: the target answered
        it with an error carrying no run id (UNKNOWN_MESSAGE_TYPE, say), or with nothing at all ("targets *may* accept"
        it, so silence is no evidence of a broken run). ``None`` for every other run."""
        form = self.spec.get("optional")
        if not form or (self.frames and not self.refusal):
            return None
        answers = self.frames or self.conn.idless_errors(self.start)
        errors = [r for r in answers if not isinstance(run_id_of(r.frame), str)]
        if not answers:
            return f"the target does not accept the optional {form} message (no answer; PROTOCOL §3: targets may)"
        if not errors:
            return None
        code = error_code(errors[0])
        return f"the target does not accept the optional {form} message (it answered {code}, PROTOCOL §3)"

    @property
    def ended_at(self) -> float | None:
        terminal = self.terminal
        return terminal.t if terminal else None


class View:
    """Connections by label and runs in start order, computed once from a transcript."""

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript
        self.conns: dict[str, Conn] = {}
        self.http: list[Record] = []
        conns = self.conns
        http, handshake, close, sent = (
            Kind.HTTP,
            Kind.HANDSHAKE,
            Kind.CLOSE,
            Direction.SENT,
        )  # locals: one pass per record
        for record in transcript:
            kind = record.kind
            if kind is http:
                self.http.append(record)
                continue
            conn = conns.get(record.conn)
            if conn is None:
                conn = conns[record.conn] = Conn(record.conn, record.user)
            if kind is handshake:
                conn.handshake = record
            elif kind is close and conn.close is None:
                conn.close = record
            elif record.direction is sent:
                conn.sent.append(record)
            else:
                conn.received.append(record)
        self.runs: list[Run] = self._match_runs()

    def _match_runs(self) -> list[Run]:
        """Each start message gets the run frames that answer it on its connection (PROTOCOL §8, "Run matching").

        Frames carrying the ``run_id`` a start gave belong to that start. Otherwise a start takes the first
        unclaimed run after it that opens with ``agent_started`` or an error, leaving out runs that carry the
        ``run_id`` or ``thread_id`` another start gave, or another user's ``user_id``: those are that start's, or
        another user's (ISO-1 judges them), never this one's. A start nothing answers stays without frames.
        """
        starts = [
            (conn, r) for conn in self.conns.values() for r in conn.sent if isinstance(r.note.get("start"), Mapping)
        ]
        given_runs = {
            spec["run_id"]
            for _, r in starts
            if isinstance((spec := r.note["start"]).get("run_id"), str) and spec["run_id"]
        }
        threads: dict[Any, set[int]] = {}
        for _, r in starts:
            thread = r.note["start"].get("thread_id")
            if isinstance(thread, str) and thread:
                threads.setdefault(thread, set()).add(r.seq)
        runs: list[Run] = []
        for conn in self.conns.values():
            by_id: dict[Any, list[Record]] = {}
            for record in conn.frames:
                if record.type in RUN_TYPES:
                    rid = run_id_of(record.frame)
                    if isinstance(rid, str) and rid:
                        by_id.setdefault(rid, []).append(record)
            claimed: set[str] = set()
            mine = [Run(start, conn) for c, start in starts if c is conn]
            for run in mine:
                given = run.given_run_id
                if given and given in by_id and given not in claimed:
                    run.run_id, run.matched_by = given, "given"
                else:
                    candidates = (
                        (rid, records)
                        for rid, records in by_id.items()
                        if rid not in claimed
                        and rid not in given_runs
                        and self._may_answer(records, run.start, conn, threads)
                    )
                    run.run_id = self._first_after(candidates, run.start.seq)
                    run.matched_by = "arrival" if run.run_id is not MISSING else None
                if run.run_id is not MISSING:
                    claimed.add(run.run_id)
                    run.frames = by_id[run.run_id]
            self._claim_by_thread(mine, by_id, claimed, given_runs)
            self._claim_idless_errors(mine, conn)
            runs += mine
        runs.sort(key=lambda run: run.start.seq)
        return runs

    @staticmethod
    def _claim_idless_errors(runs: list[Run], conn: Conn) -> None:
        """A start that gave no run id can only be refused by an error without one (PROTOCOL §5: the refusal carries
        the *given* run id): the first such error after the start and before the next message the client sent."""
        taken: set[int] = set()
        for run in runs:
            if run.frames or run.given_run_id:
                continue
            for record in conn.idless_errors(run.start):
                if record.seq not in taken:
                    taken.add(record.seq)
                    run.frames = [record]
                    run.matched_by = "arrival"
                    break

    @staticmethod
    def _claim_by_thread(
        runs: list[Run], by_id: dict[Any, list[Record]], claimed: set[str], given_runs: set[str]
    ) -> None:
        """Runs under another ``run_id`` that carry a start's given thread id (as ``thread_id``, or as the ``run_id``
        itself) are that start's too: one start, several run ids, which EVT-2 and EVT-5 then judge. Of the starts that
        gave the thread, the latest before the frames takes them."""
        for rid, records in by_id.items():
            if rid in claimed or rid in given_runs:
                continue
            carried = {rid} | {
                thread for r in records if isinstance(thread := envelope_value(r.frame, "thread_id"), str)
            }
            owners = [
                run
                for run in runs
                if run.spec.get("thread_id") in carried
                and run.start.seq < records[0].seq
                and not _names_another_user(records, run.conn, run.spec.get("claims_user"))
            ]
            if owners:
                owner = owners[-1]
                claimed.add(rid)
                owner.frames = sorted([*owner.frames, *records], key=lambda r: r.seq)
                owner.run_ids += (rid,)
                if owner.run_id is MISSING:
                    owner.run_id, owner.matched_by = rid, "thread"

    @staticmethod
    def _may_answer(records: list[Record], start: Record, conn: Conn, threads: dict[Any, set[int]]) -> bool:
        """Could these frames (one run id, no given one) answer ``start``? Not when they name another user, or a
        thread that only other starts gave."""
        if _names_another_user(records, conn, start.note["start"].get("claims_user")):
            return False
        for record in records:
            thread = envelope_value(record.frame, "thread_id")
            if isinstance(thread, Hashable) and thread in threads and start.seq not in threads[thread]:
                return False
        return True

    @staticmethod
    def _first_after(candidates: Iterable[tuple[Any, list[Record]]], after: int) -> Any:
        best: tuple[int, Any] | None = None
        for rid, records in candidates:
            first = records[0]
            if first.seq > after and first.type in ("agent_started",) + ERROR_TYPES:
                if best is None or first.seq < best[0]:
                    best = (first.seq, rid)
        return best[1] if best else MISSING

    def obstacles(self) -> str:
        """What the transcript shows kept its runs and connections from being judged, in one line: the reason an ID
        that no rule judged is SKIPPED (refused scenarios, runs that got no frame, refused valid tokens)."""
        seen: dict[str, None] = {}
        for run in self.runs:
            if run.declined:
                seen[run.declined] = None
            elif run.refusal:
                code = error_code(run.frames[0])
                what = f"scenario {run.scenario!r}" if run.scenario else f"the run of {run.agent!r}"
                seen[f"the target refused {what} with {code}"] = None
            elif not run.frames:
                seen[f"{run.label}: {run.silence}"] = None
        for conn in self.conns.values():
            status = conn.handshake.info.get("status") if conn.handshake else None
            if conn.note.get("token", "valid") == "valid" and status not in (101, None):
                seen[f"{conn.label} was refused with HTTP {status}"] = None
        reasons = list(seen)
        if not reasons:
            return "the case's frames hold nothing this requirement judges"
        return "; ".join(reasons[:3]) + (f"; and {len(reasons) - 3} more" if len(reasons) > 3 else "")

    @cached_property
    def ordinary_runs(self) -> list[Run]:
        """Runs without a scenario that got an answer other than a refusal (what EVT-1, 4, 6, 7 and 8 judge). A run
        that got no frame at all is EVT-2's finding alone, reported once."""
        return [run for run in self.runs if not run.scenario and not run.refusal and run.frames]

    @cached_property
    def users(self) -> set[str]:
        return {c.user for c in self.conns.values() if c.accepted and c.user is not None}

    @cached_property
    def _conns_by_user(self) -> dict[str | None, list[Conn]]:
        by_user: dict[str | None, list[Conn]] = {}
        for conn in self.conns.values():
            if conn.accepted:
                by_user.setdefault(conn.user, []).append(conn)
        return by_user

    def conns_of(self, user: str | None) -> list[Conn]:
        """The accepted connections of ``user``."""
        return self._conns_by_user.get(user, [])

    @cached_property
    def run_ids_by_user(self) -> dict[str | None, set[Any]]:
        owners: dict[str | None, set[Any]] = {}
        for run in self.runs:
            owners.setdefault(run.user, set()).update((run.run_id, *run.run_ids))
            if run.given_run_id:
                owners[run.user].add(run.given_run_id)
        return owners

    @cached_property
    def unknown_types(self) -> dict[str, int]:
        """Frame types the contract does not know, with counts (a target's ``reasoning`` reads as exactly that)."""
        counts: dict[str, int] = {}
        for conn in self.conns.values():
            for record in conn.frames:
                kind = record.type
                if kind is not None and kind not in KNOWN_TYPES:
                    counts[kind] = counts.get(kind, 0) + 1
        return counts


def _names_another_user(records: list[Record], conn: Conn, claimed: Any = None) -> bool:
    """Do these frames carry a ``user_id`` other than the connection's user (another user's run: ISO-1's)? The user a
    start claims (SEC-1) is not another user for that start: its run acting as them is SEC-1's finding."""
    for record in records:
        user = envelope_value(record.frame, "user_id")
        if isinstance(user, str) and conn.user is not None and user not in (conn.user, claimed):
            return True
    return False


def error_code(record: Record) -> Any:
    """The ``error_code`` of an error frame in any spelling the contract knows (``None`` when there is none)."""
    err = error_view(record.frame)
    return err.code if err is not None and err.code is not MISSING else None


def event_key(record: Record) -> tuple[Any, ...] | None:
    """EVT-8's identity of an event: run, type and step number or execution id; ``None`` when it has no such key."""
    kind = record.type
    if kind == "agent_thinking":
        key = table_value(record.frame, "step_number")
    elif kind in ("tool_executing", "tool_completed"):
        key = table_value(record.frame, "execution_id")
    else:
        return None
    run_id = run_id_of(record.frame)
    if key is MISSING or not isinstance(key, Hashable) or not isinstance(run_id, Hashable):
        return None  # a malformed id is EVT-4's finding, not a key
    return (run_id, kind, key)
