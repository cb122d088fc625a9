"""Robustness and leak rules: ROB-1..6 and SEC-2 (PROTOCOL §6).

A robustness case marks each bad thing it sends with ``note={"probe": KIND}`` and follows it with a barrier
(``ping``); the probe's answer is what arrived between the probe and the next ``pong``. SEC-2 reads the
redaction markers that the recording client put where the token or the secret appeared.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from harness.grades import Finding, Grade
from harness.normalize import error_view
from harness.rules.base import Context, finding, rule
from harness.rules.events import time_limits
from harness.transcript import MARKERS, Direction, Kind, Record
from harness.view import Conn, View

ERROR_PROBES = {
    "invalid_json": ("ROB-1", "JSON_PARSE_ERROR"),
    "not_object": ("ROB-2", "INVALID_MESSAGE"),
    "no_type": ("ROB-2", "INVALID_MESSAGE"),
    "unknown_type": ("ROB-2", "UNKNOWN_MESSAGE_TYPE"),
    "binary": ("ROB-4", "BINARY_NOT_SUPPORTED"),
}
CLOSE_PROBES = {"oversize": 1009, "invalid_utf8": 1007}


def probes(view: View, kinds: tuple[str, ...]) -> Iterator[tuple[Conn, Record]]:
    for conn in view.conns.values():
        for record in conn.sent:
            if record.note.get("probe") in kinds:
                yield conn, record


def answer(conn: Conn, probe: Record) -> list[Record]:
    """What the server sent after ``probe``, up to and including the first ``pong``."""
    window: list[Record] = []
    for record in conn.received:
        if record.seq <= probe.seq:
            continue
        window.append(record)
        if record.type == "pong":
            break
    return window


def server_close_after(conn: Conn, probe: Record) -> Record | None:
    close = conn.close
    if close is not None and close.info.get("by") == "server" and close.seq > probe.seq:
        return close
    return None


def _carried_on(window: list[Record], error: Record) -> bool:
    """Evidence that the connection still answered after ``error``: the barrier's pong, or any later text frame (a
    target that never answers application pings is ROB-5's failure, not a reason to fail ROB-1, 2 or 4 as well)."""
    return any(r.type == "pong" or (r.seq > error.seq and r.kind is Kind.TEXT) for r in window)


def _judge_error_probe(conn: Conn, probe: Record, code: str) -> tuple[Grade, str]:
    window = answer(conn, probe)
    errors = [(r, e) for r in window if (e := error_view(r.frame)) is not None]
    close = server_close_after(conn, probe)
    matching = [(r, e) for r, e in errors if e.code == code]
    kind = probe.note["probe"]
    if kind == "binary" and not matching and close is not None and close.info.get("code") == 1003:
        return (
            Grade.NON_STRICT,
            "binary frame answered by close 1003 (the contract prefers a BINARY_NOT_SUPPORTED error)",
        )
    if close is not None:
        return (
            Grade.FAILED,
            f"{kind}: the server closed the connection ({close.info.get('code')} {close.info.get('reason', '')!r})",
        )
    if not matching:
        got = ", ".join(str(e.code) for _, e in errors) or ", ".join(str(r.type) for r in window) or "nothing"
        return Grade.FAILED, f"{kind}: expected error {code}, got {got}"
    record, error = matching[0]
    if not _carried_on(window, record):
        return (
            Grade.FAILED,
            f"{kind}: nothing came after the error (no pong to the barrier ping, no later frame): the connection "
            "stopped answering",
        )
    if error.deviations:
        return Grade.NON_STRICT, f"{kind}: {code} with {'; '.join(error.deviations)}"
    return Grade.OK, f"{kind}: {code}, connection carried on"


def _judge_error_probes(view: View, req_id: str) -> Iterator[Finding]:
    for kind, (rid, code) in ERROR_PROBES.items():
        if rid != req_id:
            continue
        for conn, probe in probes(view, (kind,)):
            grade, what = _judge_error_probe(conn, probe, code)
            yield finding(req_id, grade, f"{conn.label} {what}", probe.seq)


@rule("ROB-1")
def invalid_json(view: View, ctx: Context) -> Iterator[Finding]:
    yield from _judge_error_probes(view, "ROB-1")
    for conn, probe in probes(view, ("invalid_json",)):
        later = [run for run in view.runs if run.conn is conn and run.start.seq > probe.seq]
        if later and (later[0].terminal is None or later[0].terminal.type != "agent_completed"):
            yield finding(
                "ROB-1",
                Grade.FAILED,
                f"{conn.label}: the next run after invalid JSON did not complete",
                later[0].start.seq,
            )


@rule("ROB-2")
def invalid_messages(view: View, ctx: Context) -> Iterator[Finding]:
    yield from _judge_error_probes(view, "ROB-2")


@rule("ROB-3")
def size_and_encoding(view: View, ctx: Context) -> Iterator[Finding]:
    for conn, probe in probes(view, tuple(CLOSE_PROBES)):
        kind = probe.note["probe"]
        wanted = CLOSE_PROBES[kind]
        close = server_close_after(conn, probe)
        code = close.info.get("code") if close else None
        grade = Grade.OK if code == wanted else Grade.FAILED
        got = f"close {code}" if close else "no close from the server"
        yield finding("ROB-3", grade, f"{conn.label} {kind}: {got}, expected close {wanted}", probe.seq)


@rule("ROB-4")
def binary_frames(view: View, ctx: Context) -> Iterator[Finding]:
    yield from _judge_error_probes(view, "ROB-4")


@rule("ROB-5")
def ping_pong(view: View, ctx: Context) -> Iterator[Finding]:
    for conn, probe in probes(view, ("ping",)):
        answered = any(r.type == "pong" for r in answer(conn, probe))
        grade = Grade.OK if answered else Grade.FAILED
        yield finding(
            "ROB-5", grade, f"{conn.label}: application ping {'answered' if answered else 'got no pong'}", probe.seq
        )
    for record in view.transcript:
        if record.kind is Kind.PING:
            answered = bool(record.info.get("answered"))
            grade = Grade.OK if answered else Grade.FAILED
            yield finding(
                "ROB-5", grade, f"{record.conn}: protocol ping {'answered' if answered else 'unanswered'}", record.seq
            )


@rule("ROB-6")
def others_unaffected(view: View, ctx: Context) -> Iterator[Finding]:
    noisy = [(conn, probe) for conn, probe in probes(view, tuple(ERROR_PROBES) + tuple(CLOSE_PROBES) + ("flood",))]
    if not noisy:
        return
    since = min(probe.t for _, probe in noisy)
    noisy_users = {conn.user for conn, _ in noisy}
    limits = ctx.limits
    for run in view.runs:  # a calm run that got nothing at all was delayed past every limit: ROB-6's evidence too
        if run.scenario or run.refusal or run.user in noisy_users or run.start.t < since:
            continue
        problems, _ = time_limits(run, limits)
        end = run.ended_at
        count = len(noisy)
        if problems:
            yield finding(
                "ROB-6",
                Grade.FAILED,
                f"run {run.run_id!r} of {run.user!r} during {count} bad frames: {', '.join(problems)}",
                run.start.seq,
            )
        else:
            took = end - run.start.t if end is not None else 0.0
            yield finding(
                "ROB-6",
                Grade.OK,
                f"run {run.run_id!r} of {run.user!r} finished in {took:.2f} s during {count} bad frames",
                run.start.seq,
            )


MARKER_PREFIX = os.path.commonprefix(MARKERS)
"""What every redaction marker starts with: one substring search rules out all of them for nearly every frame."""


def _marked(text: str) -> bool:
    return MARKER_PREFIX in text and any(m in text for m in MARKERS)


def _leaks(record: Record) -> list[str]:
    places: list[str] = []
    if record.text and _marked(record.text):
        places.append(f"{record.type or record.kind.value} frame")
    kind, info = record.kind, record.info
    if kind is Kind.CLOSE and _marked(str(info.get("reason", ""))):
        places.append("close reason")
    if kind in (Kind.HANDSHAKE, Kind.HTTP):
        if _marked(str(info.get("body", ""))):
            places.append("HTTP body")
        headers = {k: v for k, v in (info.get("headers") or {}).items() if k.lower() != "sec-websocket-protocol"}
        if _marked(str(headers)):
            places.append("response header")
    return places


@rule("SEC-2")
def nothing_leaks(view: View, ctx: Context) -> Iterator[Finding]:
    checked = 0
    for record in view.transcript:
        if record.direction is not Direction.RECEIVED:
            continue
        checked += 1
        places = _leaks(record)
        if places:
            yield finding(
                "SEC-2",
                Grade.FAILED,
                f"{record.conn}: the token or the secret appears in a {', '.join(places)}",
                record.seq,
            )
    if checked:
        yield finding("SEC-2", Grade.OK, f"{checked} received items carry no token and no secret")
