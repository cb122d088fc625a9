"""One conformance case: its target, its users, its recorded transcript, and the judgement that ends it.

The ``wsagent`` fixture hands a test one :class:`Case`. The test drives traffic through it (connect, start runs,
send probes), then calls :meth:`Case.check`, which judges the transcript for the test's requirement IDs and turns
the grades into a pytest outcome: OK passes, FAILED fails with the findings and the frames, SKIPPED skips with the
reason, NON-STRICT passes with a warning (fails in strict mode).
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import httpx
import pytest

from harness.client import Connection, RunHandle, Session, Transport
from harness.config import Agents, HarnessConfig, safe_url
from harness.errors import ConfigError, TargetShutDown
from harness.grades import Finding, Grade, fails
from harness.judge import Verdict, context_meta, judge, judge_case
from harness.normalize import ERROR_TYPES, RUN_TYPES, TERMINAL_TYPES
from harness.preflight import check_runs, check_target, unanswered
from harness.rendering import describe, reproduce
from harness.rules import Context
from harness.targets import Target
from harness.transcript import Direction, Kind, Record, Transcript
from harness.view import View

__all__ = ["Case", "NonStrictWarning", "Outcome"]

GOING_AWAY = 1001
ABNORMAL = 1006


class NonStrictWarning(UserWarning):
    """A requirement passed NON-STRICT: the target deviates where the contract tolerates it."""


class Outcome:
    """The grades of one case, kept for the reports (travels from xdist workers in ``user_properties``)."""

    def __init__(self, verdict: Verdict, ids: Iterable[str], target: Target) -> None:
        self.grades: dict[str, Grade] = {req_id: verdict.grade(req_id) or Grade.SKIPPED for req_id in ids}
        self.verdict = verdict
        self.target = target

    def failing(self, strict: bool) -> list[Finding]:
        return [f for f in self.verdict.findings if f.rule in self.grades and fails(f.grade, strict)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "grades": {k: g.value for k, g in self.grades.items()},
            "findings": [f.to_dict() for f in self.verdict.findings if f.rule in self.grades],
            "unknown_types": self.verdict.unknown_types,
            "target": self.target.shown,
            "environment": self.target.environment,
            "server_version": self.target.version,
        }


class Case:
    """What a test drives; created per test by the ``wsagent`` fixture."""

    def __init__(
        self,
        config: HarnessConfig,
        target: Target,
        ids: tuple[str, ...],
        name: str,
        ssl_context: Any = None,
        *,
        bundled: bool = True,
    ) -> None:
        self.config = config
        self.target = target
        self.ids = ids
        self.name = name
        self.bundled = bundled
        """A case of wsagent's own suite (reproduced by ``wsagent run``), not a user's test (reproduced by
        ``pytest``)."""
        self.transcript = Transcript(meta={"case": name, "target": target.shown, "environment": target.environment})
        self.outcome: Outcome | None = None
        self._tag = uuid.uuid4().hex[:8]
        self._ssl = ssl_context
        self._sessions: dict[str, Session] = {}
        self._users: dict[str, str] = {}

    @property
    def agents(self) -> Agents:
        """The target's agent names by role (``tools``, ``plain``, ``calculator``; empty: the target has none)."""
        return self.config.agents

    def user(self, name: str = "alice") -> str:
        """A user id unique to this case, so concurrent cases never share a user (ISO rules judge across users)."""
        if name not in self._users:
            try:
                self._users[name] = self.target.tokens.user(f"wsagent-{self._tag}-{name}", taken=self._users.values())
            except ConfigError as exc:
                pytest.skip(str(exc).removeprefix("wsagent: "))
        return self._users[name]

    def use(self, target: Target) -> None:
        """Point the case at another target (production, E2E env) before it connects."""
        if self._sessions:
            raise RuntimeError("wsagent: choose the target before the first connection")
        self.target = target
        self.transcript.meta.update(target=target.shown, environment=target.environment)

    def _session(self) -> Session:
        session = self._sessions.get(self.target.url)
        if session is None:
            session = Session(
                self.target.url,
                self.transcript,
                secret=self.target.secret,
                environment=self.target.environment,
                open_timeout=self.config.open_timeout,
                default_timeout=self.config.timeout,
                extra_headers=dict(self.config.headers),
                ssl=self._ssl,
                start_template=self.config.start_template,
                thread_ids=self.config.thread_ids,
                run_ids=self.config.run_ids,
                learned=self.target.learned,
            )
            self._sessions[self.target.url] = session
        return session

    def token(self, user: str, kind: str = "valid") -> str | None:
        try:
            if kind == "valid":
                return self.target.tokens.valid(user)
            return self.target.tokens.bad(kind)
        except ConfigError as exc:
            pytest.skip(f"needs the signing secret ({exc})")

    async def connect(
        self,
        user: str | None = None,
        *,
        token: str = "valid",
        transport: Transport = "bearer",
        e2e: bool | None = None,
        e2e_headers: Sequence[tuple[str, str]] | None = None,
        subprotocol_user: str | None = None,
    ) -> Connection:
        """Open (or attempt) one connection; a refused handshake is recorded and returned, never raised (the
        target's preflight, on its first connection, may stop the run: see :mod:`harness.preflight`).

        ``e2e_headers`` sends exactly these headers instead of the E2E set; ``subprotocol_user``'s valid token goes
        in the ``jwt.`` entry of the ``bearer_and_subprotocol`` transport."""
        user = user if user is not None else self.user()
        if e2e_headers is not None:
            e2e = False
        if e2e is None:
            e2e = self.config.e2e == "headers"
        elif (e2e or e2e_headers) and self.config.e2e == "off":
            pytest.skip("this case sends the E2E headers, and --wsagent-e2e is off")
        raw = self.token(user, token)
        second = (subprotocol_user, self.token(subprotocol_user)) if subprotocol_user is not None else None
        session = self._session()
        if not session.started:
            await session.__aenter__()
        if not self.target.checked:
            await check_target(session, self.target, self.config)
        conn = await session.connect(
            user if token == "valid" else None,
            raw,
            transport=transport,
            e2e=e2e,
            token_kind=token,
            e2e_headers=e2e_headers,
            subprotocol_token=second,
        )
        if conn.hello is not None and conn.hello.type in ERROR_TYPES:
            # refused after the upgrade (AUTH-1's tolerated form, a query token in production too): the verdict needs
            # the close that follows the error
            await conn.wait_closed(self.config.open_timeout)
        return conn

    async def connect_ok(self, user: str | None = None, **kw: Any) -> Connection:
        """A connection that must be accepted for the case to mean anything; one that got no HTTP answer at all
        stops the run (a refusal is recorded and judged: the preflight showed valid tokens work on this target)."""
        conn = await self.connect(user, **kw)
        if not conn.accepted and conn.status is None and kw.get("token", "valid") == "valid":
            raise unanswered(self.target, conn.handshake.info.get("error") if conn.handshake else None)
        return conn

    async def run(
        self,
        conn: Connection,
        agent: str | None = None,
        request: str = "wsagent conformance run",
        *,
        timeout: float | None = None,
        **kw: Any,
    ) -> RunHandle:
        """Start a run and wait for its terminal frame (or the timeout; the rules judge what came).

        ``timeout`` replaces the configured one for runs the contract makes slow on purpose (``slow_tool``). A run of
        a shape the golden run did not prove (a scenario, or ids the server creates) that once got no frame at all
        from this target is not waited for again: it is judged at once, and the start note says why (a target that
        swallows such runs costs one timeout).
        """
        waited = self.config.timeout if timeout is None else timeout
        shape = _shape(kw)
        learned = self.target.learned.get(shape) if shape else None
        handle = await self.start(conn, agent, request, timeout=0.0 if learned else waited, learned=learned, **kw)
        if learned or handle.record is None:
            return handle
        terminal = await conn.wait_for_terminal(handle.run_id, waited, after=handle.record.seq)
        if terminal is None and shape and not conn.answered_since(handle.record.seq) and conn.open:
            self.target.learned[shape] = (
                f"a run of this shape ({shape}) got no frame within {waited:g} s in {self.name}"
            )
        elif terminal is not None:
            await conn.barrier(self.config.timeout)  # a frame the target sent after the terminal one is in too (EVT-2)
        return handle

    async def chat(self, conn: Connection, kind: str, request: str = "say hello back") -> RunHandle:
        """Start a run with the optional ``user_message``/``chat`` message (agent ``echo``, PROTOCOL §3) and wait for
        its end, or for the error that declines the form: the rules SKIP a target without it (``Run.declined``). A
        target that answers nothing within EVT-7's start limit does not offer the form either; it is not waited out."""
        check_runs(self.target)
        handle = await conn.start_chat(kind, request)
        start = handle.record
        if start is None:
            return handle

        def answered(record: Record) -> bool:  # the connection runs nothing else: any run frame is this start's
            return record.seq > start.seq and record.type in RUN_TYPES

        def ended(record: Record) -> bool:
            return answered(record) and record.type in TERMINAL_TYPES

        if await conn.wait_for(answered, self.config.limits.start_s) is None:
            return handle
        if await conn.wait_for(ended, self.config.timeout) is not None:
            await conn.barrier(self.config.timeout)
        return handle

    async def start(
        self, conn: Connection, agent: str | None = None, request: str = "wsagent conformance run", **kw: Any
    ) -> RunHandle:
        """Send a start message (the tools agent by default) without waiting for the run.

        A scenario needs a start template that can carry it: without ``{scenario}`` the target is offered no scenario
        hooks through it, and the case is SKIPPED with that reason (FAIL-1..4, PROTOCOL §5), never waited out.
        """
        if kw.get("scenario") and not conn.session.template.carries("scenario"):
            profile = f" (profile {self.config.profile.name!r})" if self.config.profile else ""
            pytest.skip(
                f"the start template{profile} has no {{scenario}} placeholder: no scenario hooks can be requested "
                "from this target"
            )
        agent = self.agents.tools if agent is None else agent
        if not agent:
            pytest.skip("the target has no agent for this role (--wsagent-agents or the profile's agents key)")
        uses_tools = kw.pop("uses_tools", agent != self.agents.plain)
        check_runs(self.target)
        handle = await conn.start_run(agent, request, uses_tools=uses_tools, **kw)
        if handle.record is None and _closed_by_server(conn.closed, ABNORMAL):
            raise TargetShutDown(
                f"wsagent: the target dropped {conn.label} without a close frame (1006) before the run could start: "
                "did it crash? nothing could be judged; rerun once it is back"
            )
        return handle

    def e2e_active(self, conn: Connection) -> bool:
        """Whether the target's ``connection_established`` says E2E mode is on for ``conn`` (judged as the rules do)."""
        view = View(self.transcript).conns.get(conn.label)
        return view is not None and view.e2e_active

    async def probe_health(self) -> int | None:
        """``GET /health`` on the target, recorded in the transcript (ISO-4 judges its status); ``None`` if
        unreachable."""
        session = self._session()
        status: int | None = None
        info: dict[str, Any] = {"url": safe_url(self.target.health_url)}
        try:
            async with httpx.AsyncClient(timeout=self.config.open_timeout, verify=self._ssl or True) as client:
                status = (await client.get(self.target.health_url)).status_code
        except httpx.HTTPError as exc:
            info["error"] = type(exc).__name__
        info["status"] = status
        self.transcript.add(
            "http", None, session.clock(), Direction.RECEIVED, Kind.HTTP, info=info, note={"probe": "health"}
        )
        return status

    def context(self) -> Context:
        return Context(
            environment=self.target.environment, limits=self.config.limits, capabilities=self.target.capabilities
        )

    def judge(self, ids: Iterable[str] | None = None) -> Verdict:
        return judge(self.transcript, self.context(), list(ids) if ids is not None else list(self.ids))

    def check(self, ids: Iterable[str] | None = None) -> Outcome:
        """Judge the case and end it: fail, skip or warn as the grades say."""
        wanted = tuple(ids) if ids is not None else self.ids
        if not wanted:
            raise RuntimeError("wsagent: mark the test with @pytest.mark.requirement('ID', ...) or pass ids to check()")
        self._raise_if_unjudgeable()
        context = self.context()
        self.transcript.meta.update(ids=list(wanted), **context_meta(context))  # `wsagent check` judges it the same way
        outcome = self.outcome = Outcome(judge_case(self.transcript, context, wanted), wanted, self.target)
        failing = outcome.failing(self.config.strict)
        if failing:
            pytest.fail(self.describe(failing), pytrace=False)
        grades = set(outcome.grades.values())
        if grades == {Grade.SKIPPED}:
            reasons = sorted({f.message for f in outcome.verdict.findings if f.grade is Grade.SKIPPED})
            pytest.skip("; ".join(reasons))
        for finding in outcome.verdict.findings:
            if finding.grade is Grade.NON_STRICT and finding.rule in outcome.grades:
                warnings.warn(NonStrictWarning(f"{finding.rule} NON-STRICT: {finding.message}"), stacklevel=2)
        return outcome

    def _raise_if_unjudgeable(self) -> None:
        """Stop (exit 2) where judging would blame the contract for what the harness could not observe: a valid
        token's handshake with no HTTP answer, or a target going away (close 1001) in the middle of a run."""
        view = View(self.transcript)
        for conn in view.conns.values():
            if (
                conn.handshake is not None
                and conn.handshake.info.get("status") is None
                and conn.note.get("token") == "valid"
            ):
                raise unanswered(
                    self.target, conn.handshake.info.get("error")
                )  # a bad token dropped unanswered is judged (AUTH-1)
        for run in view.runs:
            if run.terminal is None and _closed_by_server(run.conn.close, GOING_AWAY):
                raise TargetShutDown(
                    f"wsagent: the target closed {run.conn.label} with 1001 (going away) during run "
                    f"{run.given_run_id or '(unnamed)'}: "
                    "the run was interrupted, not judged; rerun once the target is back"
                )

    def describe(self, findings: list[Finding]) -> str:
        """Findings with the frames they point at and the command that reproduces them (:mod:`harness.rendering`)."""
        return describe(self.transcript, findings, self.reproduce(sorted({f.rule for f in findings})))

    def reproduce(self, ids: Iterable[str]) -> str:
        """The command line that repeats this verdict (:func:`harness.rendering.reproduce`)."""
        return reproduce(self.config, self.name, ids, bundled=self.bundled)

    async def aclose(self) -> None:
        for session in self._sessions.values():
            if session.started:
                await session.__aexit__(None, None, None)
        self._sessions.clear()


def _shape(kw: dict[str, Any]) -> str | None:
    """What a target may answer differently from the preflight's golden run, which proved ordinary runs answered: a
    scenario run, or a run whose ids the server must create. ``None`` for the golden run's own shape: one silent run
    of it is that case's finding, never a lesson for the others."""
    scenario = kw.get("scenario")
    server_ids = kw.get("run_id", 1) is None and kw.get("thread_id", 1) is None
    if not scenario and not server_ids:
        return None
    shape = f"scenario {scenario}" if scenario else "ordinary run"
    return f"{shape}, {'ids created by the server' if server_ids else 'ids given'}"


def _closed_by_server(close: Record | None, code: int) -> bool:
    """Did the target close the connection with ``code``?"""
    return close is not None and close.info.get("by") == "server" and close.info.get("code") == code
