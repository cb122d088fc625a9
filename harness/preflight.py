"""Can the harness drive this target at all? If not, stop the run with one line instead of judging noise.

Two checks per process and target, both unrecorded (they are diagnoses, not cases):

1. **Handshake**, before the first connection of any case. A valid token must open a connection by Bearer or by
   subprotocol and get a first frame. If neither does, no verdict would mean anything: an upgrade followed by
   silence (an echo server, a wrong path), no answer at all (down, TLS mismatch), 401/403 with the contract's
   AUTH_FAILED body (the harness and the target disagree on the secret), 401/403 without it (a proxy or a firewall
   refused, not the backend), or another status (a 404 for a wrong path, a proxy's 502). One working transport is
   enough: the rules judge a missing one (AUTH-2, AUTH-3).
2. **Golden run**, right after it, before any case sends anything (a flood must not delay it), but enforced at the
   first run a case starts (:func:`check_runs`), so AUTH cases alone never need a target that runs agents.
   The configured start message, sent for the tools agent, must be answered with an agent event
   within the open timeout plus :data:`GOLDEN_GRACE_S`. Silence, or only errors, means a wrong template, agent name
   or id form: every case would wait out its timeout for nothing (14 minutes against the real Netra backend with a
   template it cannot route), so the run stops with a line quoting what was sent and what came back, and naming the
   setting to change.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

from harness.errors import SecretMismatch, TargetError
from harness.normalize import ERROR_TYPES, EVENTS
from harness.rules.auth import auth_failed_body
from harness.transcript import Record, Transcript
from harness.view import error_code

if TYPE_CHECKING:
    from harness.client import Session
    from harness.config import HarnessConfig
    from harness.targets import Target

__all__ = ["GOLDEN_GRACE_S", "check_runs", "check_target", "unanswered"]

GOLDEN_GRACE_S = 3.0
"""Seconds past the open timeout that the golden run's start message may take to get its ``agent_started``."""
QUOTE = 240
"""Characters of the sent start message quoted in the stop line."""


def unanswered(target: Target, error: str | None) -> TargetError:
    """No HTTP answer at all (timeout, reset, refused) to a valid token: the harness cannot judge this target."""
    hint = "; is the target plain ws:// rather than wss://?" if target.url.startswith("wss://") else ""
    return TargetError(
        f"wsagent: {target.shown} did not answer the WebSocket handshake ({error or 'no response'}){hint}"
    )


async def check_target(session: Session, target: Target, config: HarnessConfig) -> None:
    """Both checks; marks ``target.checked``. A failed handshake raises a one-line :class:`TargetError` at once; a
    failed golden run is kept in ``target.runs_refused`` for :func:`check_runs`."""
    user = _user(target)
    token = target.tokens.valid(user)
    transport = await _handshake(session, target, config, token)
    try:
        await _golden_run(session, target, config, user, token, transport)
    except TargetError as exc:
        target.runs_refused = str(exc)
    target.checked = True


def check_runs(target: Target) -> None:
    """Before a case starts a run: stop with the golden run's line if the target did not start it."""
    if target.runs_refused:
        raise TargetError(target.runs_refused)


def _user(target: Target) -> str:
    return target.tokens.user(f"wsagent-{secrets.token_hex(4)}-preflight")  # the form of every case's users


async def _handshake(session: Session, target: Target, config: HarnessConfig, token: str | None) -> str:
    """The first transport by which a valid token opens a connection with a first frame."""
    answers = {transport: await session.attempt(token, transport) for transport in ("bearer", "subprotocol")}
    for transport, (status, first) in answers.items():
        if status == 101 and first is not None:
            return transport
    if any(status == 101 for status, _ in answers.values()):
        raise TargetError(
            f"wsagent: {target.shown} accepts the upgrade but sends nothing within {config.open_timeout:g} s, "
            "not even the contract's connection_established: is this an agent-events backend, and the right path?"
        )
    status, detail = answers["bearer"]
    detail = detail or ""
    if status is None:
        raise unanswered(target, detail)
    if status not in (401, 403):
        raise TargetError(
            f"wsagent: {target.shown} refuses the upgrade for valid tokens with HTTP {status} {detail[:100]!r}; check "
            "the target URL and its path"
        )
    if not auth_failed_body(detail):
        raise TargetError(
            f"wsagent: {target.shown} refuses the upgrade for valid tokens with HTTP {status} but without the "
            "contract's "
            f"AUTH_FAILED body, so not the backend's auth (a proxy or a firewall?): {detail[:100]!r}"
        )
    if config.token_file is not None:
        raise SecretMismatch(
            f"wsagent: the target rejects the tokens of {config.token_file} (HTTP {status}): are they valid for it?"
        )
    raise SecretMismatch(
        f"wsagent: the target rejects freshly minted valid tokens (HTTP {status}) on both Bearer and subprotocol: "
        f"the harness's secret ({config.secret_source}) does not match the target's"
        + (
            ""
            if config.environment != "development"
            else "; if the target is not a development server, give its --environment"
        )
    )


async def _golden_run(
    session: Session, target: Target, config: HarnessConfig, user: str, token: str | None, transport: str
) -> None:
    """One run of the tools agent with the configured start message, on a connection of its own, unrecorded."""
    from harness.client import Session as Client  # the client stack loads only when a target is driven

    wait = config.open_timeout + GOLDEN_GRACE_S
    async with Client(
        session.url,
        Transcript(),
        secret=session.secret,
        environment=session.environment,
        open_timeout=config.open_timeout,
        default_timeout=wait,
        extra_headers=session.extra_headers,
        ssl=session.ssl,
        start_template=config.start_template,
        thread_ids=config.thread_ids,
        run_ids=config.run_ids,
    ) as client:
        e2e = config.e2e == "headers"
        conn = await client.connect(user, token, transport=transport, e2e=e2e)  # type: ignore[arg-type]
        handle = await conn.start_run(config.agents.tools, "wsagent preflight: a golden run", uses_tools=True)
        if handle.record is None:
            raise TargetError(
                f"wsagent: {target.shown} closed the connection before the golden run's start message could be sent"
            )
        start = handle.record.seq
        answer = await conn.wait_for(lambda r: r.seq > start and (r.type in EVENTS or r.type in ERROR_TYPES), wait)
        if answer is not None and answer.type in EVENTS:
            return  # the target runs what it is sent; the cases judge how
        came = [r for r in conn.received if r.seq > handle.record.seq]
        raise TargetError(_silent_line(target, config, handle.record.text or "", came, wait))


def _silent_line(target: Target, config: HarnessConfig, sent: str, came: list[Record], waited: float) -> str:
    """What was sent, what came back instead of an agent event, and the setting to change."""
    frames = [r for r in came if r.type is not None and r.type not in ("heartbeat", "pong")]
    if not frames:
        got = (
            f"nothing within {waited:g} s"
            if not came or came[-1].type in ("heartbeat", "pong")
            else f"a {came[-1].kind.value} record"
        )
    else:
        shown = []
        for record in frames[:3]:
            code = error_code(record)
            shown.append(f"{record.type}{f' {code}' if code else ''}")
        got = ", ".join(shown) + " and no agent event"
    profile = f" (profile {config.profile.name!r}, key start-template)" if config.profile else ""
    return (
        f"wsagent: {target.shown} did not start the golden run: sent {_quote(sent)}, got {got}; "
        f"check --wsagent-start-template{profile}, --wsagent-agents (tools={config.agents.tools}) and "
        "--wsagent-thread-id"
    )


def _quote(text: str) -> str:
    try:
        compact = json.dumps(json.loads(text), separators=(",", ":"))
    except ValueError:
        compact = text
    return compact if len(compact) <= QUOTE else compact[: QUOTE - 1] + "…"
