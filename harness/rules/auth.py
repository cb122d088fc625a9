"""Handshake rules: AUTH-1..5 (PROTOCOL §1) and E2E-1..3 (PROTOCOL §2).

Each handshake record carries the harness's intent in its note: the token kind it presented (``valid`` or a bad
kind of :mod:`harness.tokens`), the transport, and whether E2E headers were sent. The rules compare the outcome
with what that intent requires.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from harness.grades import Finding, Grade
from harness.normalize import ERROR_TYPES, MISSING, error_view, table
from harness.rules.base import Context, finding, rule
from harness.view import Conn, Run, View, error_code

AUTH5_KINDS = frozenset({"wrong_secret", "other_env_claim"})
JWT_TRANSPORTS = ("subprotocol", "subprotocol_raw", "bearer_and_subprotocol")
"""Transports that offer a ``jwt.`` entry, which the target must select (AUTH-3)."""
HEADER_TRANSPORTS = ("bearer", "bearer_and_subprotocol", "query")
"""Transports whose valid token AUTH-2 expects accepted: the Bearer header (whose token wins over a ``jwt.`` entry
beside it) and, outside production, ``?token=`` (docs/CONTRACT.md, Decision 37)."""
HEADER_TOO_LARGE = (400, 413, 431)
"""Statuses an HTTP stack gives a 64 KiB header line before auth runs. The contract sets no size limit on tokens,
and every HTTP server has one: such a refusal never reached auth, so it leaves AUTH-1 unexercised (Decision 2)."""


_BEFORE_AUTH = "not exercised: the HTTP layer refused the 64 KiB header line before auth could judge the token"


def token_kind(conn: Conn) -> str:
    return str(conn.note.get("token", "valid"))


def expects_rejection(conn: Conn, ctx: Context) -> bool:
    """A bad token, or a valid one in the query string of a production target."""
    kind = token_kind(conn)
    if kind != "valid":
        return True
    return conn.note.get("transport") == "query" and ctx.production


def judge_rejection(conn: Conn) -> tuple[Grade, str, bool] | None:
    """Grade a handshake that must be refused: (grade, what happened, whether a session was granted).

    ``None`` when there was no handshake. No HTTP answer at all is this case's finding, not a run abort (the
    preflight alone decides that a target does not answer). The 64 KiB token refused or dropped by an HTTP layer's
    header limit (aiohttp answers 400 at 8,190 bytes a line) never reached auth: SKIPPED with that reason
    (docs/CONTRACT.md, Decision 2). Any other token dropped without an answer FAILED: the contract wants 403.
    """
    hs = conn.handshake
    if hs is None:
        return None
    status = hs.info.get("status")
    if status is None:
        error = hs.info.get("error") or "no response"
        if token_kind(conn) == "oversized":
            return Grade.SKIPPED, f"{_BEFORE_AUTH}: no HTTP answer it could read ({error})", False
        return Grade.FAILED, f"no HTTP answer ({error}); the contract wants 403 with AUTH_FAILED", False
    if status in HEADER_TOO_LARGE and token_kind(conn) == "oversized":
        return Grade.SKIPPED, f"{_BEFORE_AUTH}: HTTP {status}", False
    if status != 101:
        return (*_judge_refusal_body(status, hs.info.get("body") or ""), False)
    texts = [r for r in conn.received if r.kind.value in ("text", "binary")]
    close = conn.close
    if len(texts) == 1:
        err = error_view(texts[0].frame)
        if err is not None and err.code == "AUTH_FAILED" and close is not None and close.info.get("code") == 1008:
            return (
                Grade.NON_STRICT,
                "accepted the upgrade, then sent AUTH_FAILED and closed 1008 (refuse before the upgrade)",
                False,
            )
    first = texts[0].type if texts else "nothing"
    return Grade.FAILED, f"the upgrade was accepted (first frame: {first})", True


def auth_failed_body(body: str) -> bool:
    """Is ``body`` the contract's refusal (PROTOCOL §1): a JSON object with ``error_code`` AUTH_FAILED and a message?

    What tells a backend's own refusal from a proxy's or a firewall's 401/403 page."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return (
        isinstance(data, Mapping) and data.get("error_code") == "AUTH_FAILED" and isinstance(data.get("message"), str)
    )


def _judge_refusal_body(status: int, body: str) -> tuple[Grade, str]:
    if status not in (401, 403):
        return Grade.FAILED, f"refused with HTTP {status}; the contract wants 403 (or 401)"
    if not body.strip():
        return Grade.NON_STRICT, f"HTTP {status} with an empty body (the contract wants an AUTH_FAILED JSON body)"
    if not auth_failed_body(body):
        return Grade.FAILED, f"HTTP {status} body is not JSON with error_code AUTH_FAILED and a message: {body[:120]!r}"
    return Grade.OK, f"HTTP {status} with AUTH_FAILED"


def _frames(conn: Conn) -> tuple[int, ...]:
    return (conn.handshake.seq,) if conn.handshake else ()


def _describe(conn: Conn) -> str:
    note = conn.note
    return f"{token_kind(conn)} token via {note.get('transport', '?')} on {conn.label}"


@rule("AUTH-1")
def bad_tokens_refused(view: View, ctx: Context) -> Iterator[Finding]:
    for conn in view.conns.values():
        if not expects_rejection(conn, ctx) or token_kind(conn) in AUTH5_KINDS or conn.note.get("e2e"):
            continue
        judged = judge_rejection(conn)
        if judged is None:
            continue
        grade, what, granted = judged
        if granted and conn.e2e_active:
            continue  # the target itself runs this connection as E2E: E2E-2 judges it
        yield finding("AUTH-1", grade, f"{_describe(conn)}: {what}", *_frames(conn))


@rule("AUTH-5")
def other_environment_refused(view: View, ctx: Context) -> Iterator[Finding]:
    for conn in view.conns.values():
        if token_kind(conn) not in AUTH5_KINDS or conn.note.get("e2e"):
            continue
        judged = judge_rejection(conn)
        if judged is None:
            continue
        grade, what, granted = judged
        if granted:
            who = conn.hello_field("user_id")
            what += f" and the session runs as user_id {who!r}" if who is not MISSING else ""
        yield finding("AUTH-5", grade, f"{_describe(conn)}: {what}", *_frames(conn))


def _accepted_with_hello(conn: Conn, req_id: str) -> Finding | None:
    """None when the valid token was accepted and the first frame is connection_established."""
    hs = conn.handshake
    status = hs.info.get("status") if hs else None
    if status != 101:
        body = (hs.info.get("body") or "")[:160] if hs else ""
        return finding(
            req_id,
            Grade.FAILED,
            f"valid token via {conn.note.get('transport')} refused: HTTP {status} {body}",
            *_frames(conn),
        )
    hello = conn.hello
    if hello is None or hello.type != "connection_established":
        got = hello.type if hello else "no frame"
        seq = (hello.seq,) if hello else _frames(conn)
        return finding(
            req_id, Grade.FAILED, f"first frame on {conn.label} is {got}, expected connection_established", *seq
        )
    return None


def _valid_on(view: View, ctx: Context, transports: tuple[str, ...]) -> Iterator[Conn]:
    for conn in view.conns.values():
        hs = conn.handshake
        if hs is None or hs.info.get("status") is None or token_kind(conn) != "valid" or expects_rejection(conn, ctx):
            continue
        if conn.note.get("transport") in transports:
            yield conn


def _header_token_used(conn: Conn) -> Finding:
    """AUTH-2 on an accepted connection: with a ``jwt.`` entry beside the Bearer header, the session must not be
    the entry's user (PROTOCOL §1: the header's token is used)."""
    seq = (conn.hello.seq,) if conn.hello else _frames(conn)
    other = conn.note.get("subprotocol_user")
    if other is not None and other != conn.user and conn.hello_field("user_id") == other:
        what = f"the session is {other!r}, the jwt. entry's user: the subprotocol token won over the Bearer header's"
        return finding("AUTH-2", Grade.FAILED, f"{conn.label}: {what}", *seq)
    return finding("AUTH-2", Grade.OK, f"{conn.label}: valid token via {conn.note.get('transport')} accepted", *seq)


@rule("AUTH-2")
def bearer_accepted(view: View, ctx: Context) -> Iterator[Finding]:
    for conn in _valid_on(view, ctx, HEADER_TRANSPORTS):
        yield _accepted_with_hello(conn, "AUTH-2") or _header_token_used(conn)


@rule("AUTH-3")
def subprotocol_accepted(view: View, ctx: Context) -> Iterator[Finding]:
    for conn in _valid_on(view, ctx, JWT_TRANSPORTS):
        problem = _accepted_with_hello(conn, "AUTH-3")
        if problem:
            yield problem
            continue
        offered = [e for e in conn.note.get("offered", []) if isinstance(e, str) and e.startswith("jwt.")]
        selected = conn.handshake.info.get("subprotocol")  # type: ignore[union-attr]
        if offered and selected == offered[0]:
            yield finding(
                "AUTH-3", Grade.OK, f"{conn.label}: selected subprotocol is the offered jwt. entry", *_frames(conn)
            )
        else:
            yield finding(
                "AUTH-3",
                Grade.FAILED,
                f"{conn.label}: selected subprotocol {selected!r}, expected the exact entry {offered[:1]}",
                *_frames(conn),
            )


@rule("AUTH-4")
def user_id_is_sub(view: View, ctx: Context) -> Iterator[Finding]:
    for conn in view.conns.values():
        if not conn.accepted or token_kind(conn) != "valid" or conn.hello is None:
            continue
        hello = conn.hello
        if hello.type != "connection_established":
            continue  # AUTH-2/3 report the missing hello
        lookup = table(hello.frame, "user_id")
        if lookup.value != conn.user:
            yield finding(
                "AUTH-4",
                Grade.FAILED,
                f"{conn.label}: connection_established user_id {lookup.value!r}, token sub {conn.user!r}",
                hello.seq,
            )
        elif lookup.deviation:
            yield finding("AUTH-4", Grade.NON_STRICT, f"{conn.label}: {lookup.deviation}", hello.seq)
        else:
            yield finding("AUTH-4", Grade.OK, f"{conn.label}: user_id equals sub", hello.seq)


def _e2e_state(conn: Conn) -> Any:
    return conn.hello_field("e2e")


@rule("E2E-1")
def e2e_detected(view: View, ctx: Context) -> Iterator[Finding]:
    if ctx.production:
        if any(conn.accepted for conn in view.conns.values()):
            yield finding(
                "E2E-1", Grade.SKIPPED, "E2E-1 is judged outside production; in production E2E mode must be off (E2E-3)"
            )
        return
    for conn in view.conns.values():
        if not conn.accepted or token_kind(conn) != "valid" or conn.hello is None:
            continue
        if conn.note.get("e2e"):
            expected: dict[str, Any] = {"active": True, "source": "headers"}
        elif "e2e_env" in ctx.capabilities:
            expected = {"active": True, "source": "env"}
        elif "no_e2e_env" in ctx.capabilities:
            expected = {"active": False, "source": None}
        else:
            continue
        state = _e2e_state(conn)
        got = {k: state.get(k) for k in ("active", "source")} if isinstance(state, Mapping) else state
        grade = Grade.OK if got == expected else Grade.FAILED
        sent = conn.note.get("e2e_headers")
        headers = f" (headers sent: {sent!r})" if sent else ""
        yield finding("E2E-1", grade, f"{conn.label}: e2e {got!r}, expected {expected!r}{headers}", conn.hello.seq)


@rule("E2E-2")
def e2e_never_skips_auth(view: View, ctx: Context) -> Iterator[Finding]:
    """A bad token with the E2E headers must be refused. When the case also sent the same kind of token without them
    (a control) and that opened a session too, the target skips the check whatever the headers: AUTH-1's defect,
    not E2E mode's, and E2E-2 is SKIPPED with that reason (PROTOCOL §8: one defect, one ID)."""
    accepted_plain = {
        token_kind(conn)
        for conn in view.conns.values()
        if not conn.note.get("e2e") and not conn.e2e_active and _granted(conn)
    }
    for conn in view.conns.values():
        kind = token_kind(conn)
        if kind == "valid" or kind in AUTH5_KINDS:
            continue
        judged = judge_rejection(conn)
        if judged is None:
            continue
        grade, what, granted = judged
        if not (conn.note.get("e2e") or (granted and conn.e2e_active)):
            continue
        if granted and kind in accepted_plain:
            yield finding(
                "E2E-2",
                Grade.SKIPPED,
                f"the {kind} token opens a session without the E2E headers too: AUTH-1's finding, not E2E mode's",
                *_frames(conn),
            )
            continue
        if granted:
            grade = Grade.FAILED if ctx.production else Grade.NON_STRICT
            what += " with the E2E headers (E2E mode must never skip token verification)"
        yield finding("E2E-2", grade, f"{_describe(conn)} with E2E headers: {what}", *_frames(conn))


def _granted(conn: Conn) -> bool:
    judged = judge_rejection(conn)
    return judged is not None and judged[2]


def scenario_refusal(run: Run, code: str) -> tuple[Grade, str]:
    """Was a scenario start answered by exactly one error with ``code`` and the run's id, and nothing else?"""
    frames = run.frames
    if len(frames) == 1:
        err = error_view(frames[0].frame)
        if err is not None and err.code == code:
            if err.deviations:
                return Grade.NON_STRICT, f"refused with {code}, non-canonical: {'; '.join(err.deviations)}"
            return Grade.OK, f"refused with {code}"
    kinds = [f"{r.type} {error_code(r)}" if r.type in ERROR_TYPES else r.type for r in frames] or ["nothing"]
    return Grade.FAILED, f"expected one {code} error with the run's run_id, got {', '.join(map(str, kinds))}"


@rule("E2E-3")
def e2e_grants_nothing_in_production(view: View, ctx: Context) -> Iterator[Finding]:
    if ctx.production:
        for conn in view.conns.values():
            if conn.accepted and conn.hello is not None and conn.hello.type == "connection_established":
                state = _e2e_state(conn)
                active = isinstance(state, Mapping) and state.get("active") is True
                grade = Grade.FAILED if active else Grade.OK
                yield finding(
                    "E2E-3",
                    grade,
                    f"{conn.label} (E2E headers: {bool(conn.note.get('e2e'))}): e2e {state!r} in production",
                    conn.hello.seq,
                )
    for run in view.runs:
        if not run.scenario or (run.conn.e2e_active and not ctx.production):
            continue
        grade, what = scenario_refusal(run, "E2E_NOT_ALLOWED")
        where = "in production" if ctx.production else "on a connection whose E2E mode is inactive"
        yield finding(
            "E2E-3",
            grade,
            f"scenario {run.scenario!r} {where}: {what}",
            run.start.seq,
            *(r.seq for r in run.frames[:3]),
        )
