"""ExecutionEngine: turns a start message into a run task, and guarantees every started run one terminal frame.

:meth:`ExecutionEngine.start` is synchronous and cheap: it validates the request (scenario gate, agent, ids,
thread ownership) and either raises :class:`RunRefused` — the caller answers with one ``error`` carrying the
given ``run_id``, and no run starts — or schedules the run as a task and returns. The message loop therefore
never waits for an agent (ROB-6).

Inside a run, the agent talks to a :class:`RunEmitter`, which sends every event through the bridge (the engine's
notifier) and feeds the heartbeat: after :data:`HEARTBEAT_S` of silence the user gets a ``heartbeat``. After its
``agent_started`` a run waits its turn in :class:`FirstFramesFirst` before the agent goes on, so a start never
waits behind the rest of every run started before it (the bundled agents never suspend on their own). The run
ends in exactly one terminal frame: ``agent_completed`` (``completed``, or ``failed`` after a tool failure, an
agent crash, or a cancellation), or the bridge's ``THREAD_RESOLUTION_FAILED`` error.

Scenarios (PROTOCOL §5) are honoured only on an E2E connection (e2e.py already refuses E2E in production).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mock_server.agents import AgentRegistry, AgentSpec
from mock_server.bridge import AgentWebSocketBridge, ExecutionContext
from mock_server.errors import InjectedAgentCrash, RunRefused, ThreadResolutionError, ToolFailed
from mock_server.faults import NO_FAULTS, FaultName, Faults
from mock_server.protocol import ErrorCode, StartAgent, error_frame, new_id
from mock_server.threads import LocalThreads, ThreadOwners
from mock_server.tools import NO_HOOKS, ToolDispatcher, ToolHooks
from mock_server.variants import NO_VARIANTS, VariantName, Variants

__all__ = ["GOING_ON_PER_TURN", "HEARTBEAT_S", "SLOW_TOOL_S", "ExecutionEngine", "FirstFramesFirst", "RunEmitter", "RunRequest", "Scenario"]

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0
"""Silence during a run after which the user gets a heartbeat (PROTOCOL EVT-7)."""
SLOW_TOOL_S = 3.0
"""How long the first tool takes under the ``slow_tool`` scenario (PROTOCOL §5)."""
GOING_ON_PER_TURN = 8
"""Runs released past ``agent_started`` per event-loop iteration (:class:`FirstFramesFirst`): a researcher run's
remaining six events cost ~0.3 ms, so a new start waits at most a few milliseconds per hop behind them."""


class Scenario(StrEnum):
    UNRESOLVABLE_THREAD = "unresolvable_thread"
    TOOL_ERROR = "tool_error"
    AGENT_CRASH = "agent_crash"
    SLOW_TOOL = "slow_tool"


TOOL_SCENARIOS = frozenset({Scenario.TOOL_ERROR, Scenario.SLOW_TOOL})


@dataclass(frozen=True, slots=True)
class RunRequest:
    """A start message with who sent it: the token's ``sub`` and whether the connection is E2E."""

    user_id: str
    start: StartAgent
    e2e_active: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    final_response: str
    error: str | None = None
    code: ErrorCode | None = None
    """The error code a failed run ends with instead of ``agent_completed`` (the ``tool_failed_terminal`` variant)."""


class RunEmitter:
    """One run's events: what an agent's ``steps`` and the tool dispatcher call. Every event resets the heartbeat's
    clock (:attr:`last_sent`)."""

    def __init__(self, notifier: AgentWebSocketBridge, ctx: ExecutionContext, *, hooks: ToolHooks, faults: Faults) -> None:
        self._notifier = notifier
        self.ctx = ctx
        self._loop = asyncio.get_running_loop()
        self.last_sent = self._loop.time()
        """Loop time of the run's latest frame (the heartbeat's clock)."""
        self._steps = 0
        self._hooks = hooks
        self._faults = faults
        self._tools: ToolDispatcher | None = None
        """Made at the first tool call: a run waiting for its turn holds as few objects as it can (L3)."""

    def _sent(self) -> None:
        self.last_sent = self._loop.time()

    def started(self) -> None:
        self._notifier.notify_agent_started(self.ctx)
        self._sent()

    def think(self, reasoning: str) -> None:
        self._steps += 1
        self._notifier.notify_agent_thinking(self.ctx, reasoning, self._steps)
        self._sent()

    async def use_tool(self, tool_name: str, parameters: dict[str, Any]) -> dict[str, Any]:
        if self._tools is None:
            self._tools = ToolDispatcher(self, hooks=self._hooks, faults=self._faults)
        return await self._tools.execute(tool_name, parameters)

    def tool_executing(self, tool_name: str, execution_id: str, parameters: dict[str, Any]) -> None:
        self._notifier.notify_tool_executing(self.ctx, tool_name, execution_id, parameters)
        self._sent()

    def tool_completed(
        self, tool_name: str, execution_id: str, *, success: bool, duration_ms: float, results: Any = None, error: str | None = None
    ) -> None:
        self._notifier.notify_tool_completed(
            self.ctx, tool_name, execution_id, success=success, duration_ms=duration_ms, results=results, error=error
        )
        self._sent()

    def completed(self, outcome: Outcome) -> None:
        if outcome.code is not None:
            self._notifier.notify_run_failed(self.ctx, outcome.code, outcome.error or "the run failed")
        else:
            self._notifier.notify_agent_completed(
                self.ctx, status=outcome.status, final_response=outcome.final_response, error=outcome.error
            )
        self._sent()


class FirstFramesFirst:
    """Where started runs wait, after their ``agent_started``, for their turn to go on.

    The bundled agents never suspend, so without a turn a run emits its whole stream in one step, and with 1,000
    starts in a burst the last one's ``agent_started`` is built and written only after ~999 × 7 other events
    (L3 in bench/README.md: the first frame waited behind ~3,500 other runs' events). Here a started run
    yields; :data:`GOING_ON_PER_TURN` waiting runs go on per event-loop iteration, oldest first. Every iteration
    also reads the sockets, so the start messages that arrived meanwhile, and the writers of the first frames
    already queued, run before the next few runs go on; nothing waits for ever, since every iteration releases
    some. Frames within a run keep their order; only runs of a burst interleave (as concurrent runs may).
    """

    def __init__(self, per_turn: int = GOING_ON_PER_TURN) -> None:
        self._per_turn = per_turn
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._releasing = False

    def turn(self) -> asyncio.Future[None]:
        """Await it: done when this run may go on (cancellable: a cancelled run simply leaves the queue). A bare
        future, not a coroutine: the thousand runs of a burst wait in as few objects as possible, since each one
        that survives a collection brings the next full one closer (a 70 ms pause at 1,000 users)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._waiting.append(future)
        if not self._releasing:
            self._releasing = True
            loop.call_soon(self._release)
        return future

    def _release(self) -> None:
        waiting, released = self._waiting, 0
        while waiting and released < self._per_turn:
            future = waiting.popleft()
            if not future.done():  # done: its run was cancelled while it waited
                future.set_result(None)
                released += 1
        self._releasing = bool(waiting)
        if waiting:
            asyncio.get_running_loop().call_soon(self._release)


class _Heartbeat:
    """A run's silence filler: one loop timer that reads the run's :attr:`RunEmitter.last_sent` when it fires — a
    ``heartbeat`` after ``period_s`` of silence, else re-armed for the rest of the period. No task, and nothing per
    event beyond the emitter's clock reading."""

    def __init__(self, notifier: AgentWebSocketBridge, emitter: RunEmitter, period_s: float) -> None:
        self._notifier = notifier
        self._emitter = emitter
        self._period_s = period_s
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_at(emitter.last_sent + period_s, self._fire)

    def _fire(self) -> None:
        due = self._emitter.last_sent + self._period_s
        if self._loop.time() >= due:
            self._notifier.notify_heartbeat(self._emitter.ctx.user_id)
            due = self._loop.time() + self._period_s
        self._timer = self._loop.call_at(due, self._fire)

    def cancel(self) -> None:
        self._timer.cancel()


@dataclass(eq=False)
class _Run:
    ctx: ExecutionContext
    task: asyncio.Task[None] | None = None
    cancel_reason: str = "cancelled"
    heartbeat: _Heartbeat | None = None
    """Armed when the run goes on past its turn (a heartbeat due meanwhile fires at once)."""


class ExecutionEngine:
    """Starts, tracks and ends runs. Build it on a registry whose ``set_websocket_manager`` has been called."""

    def __init__(
        self,
        registry: AgentRegistry,
        faults: Faults = NO_FAULTS,
        *,
        heartbeat_s: float = HEARTBEAT_S,
        slow_tool_s: float = SLOW_TOOL_S,
        variants: Variants = NO_VARIANTS,
    ) -> None:
        self._registry = registry
        self._notifier = registry.bridge  # fails now, not silently later, if the registry is not wired
        self._faults = faults
        self._variants = variants
        self._heartbeat_s = heartbeat_s
        self._slow_tool_s = slow_tool_s
        self._runs: dict[str, _Run] = {}
        self._thread_owners: dict[str, str] = {}
        self.owners: ThreadOwners = LocalThreads()
        """Asked before a run emits anything; replicas share ownership through it (:mod:`mock_server.threads`)."""
        self._thread_counters: defaultdict[str, Iterator[int]] = defaultdict(lambda: itertools.count(1))
        self._turns = FirstFramesFirst()
        self._closing = False

    @property
    def active_runs(self) -> int:
        return len(self._runs)

    # --- starting -----------------------------------------------------------------------------------------------

    def start(self, request: RunRequest) -> ExecutionContext | None:
        """Validate and schedule a run; :class:`RunRefused` (carrying the given run id) when none starts (``None``, no
        answer at all, only under the ``unknown_agent_silent`` fault)."""
        start = request.start
        given_run = start.run_id
        if self._closing:
            raise RunRefused(ErrorCode.AGENT_FAILED, "the server is shutting down; no new runs", given_run)
        scenario = None if self._faults.enabled(FaultName.SCENARIO_IGNORED) else self._scenario(request)
        spec = self._registry.get(start.agent_name)
        if spec is None:
            if self._faults.enabled(FaultName.UNKNOWN_AGENT_SILENT):
                log.warning("no agent %r: start message dropped", start.agent_name)
                return None
            known = ", ".join(self._registry.names)
            refused_run = None if self._faults.enabled(FaultName.UNKNOWN_AGENT_REFUSED_WITHOUT_RUN_ID) else given_run
            raise RunRefused(ErrorCode.UNKNOWN_AGENT, f"unknown agent; known: {known}", refused_run)
        if scenario in TOOL_SCENARIOS and not spec.uses_tools:
            raise RunRefused(ErrorCode.UNKNOWN_SCENARIO, f"scenario {scenario} needs an agent that uses tools", given_run)
        user_id = request.user_id
        if start.claimed_user_id and self._faults.enabled(FaultName.PAYLOAD_USER_ID_OVERRIDES_SUB):
            user_id = start.claimed_user_id
        if start.thread_id and self._faults.enabled(FaultName.RUN_USER_FROM_THREAD_OWNER):
            user_id = self._thread_owners.get(start.thread_id, user_id)
        given_thread = None if self._faults.enabled(FaultName.GIVEN_THREAD_ID_IGNORED) else start.thread_id
        thread_id = self._thread_for(user_id, given_thread, given_run)
        run_id = self._run_id_for(thread_id, given_run)
        ctx = ExecutionContext(
            run_id=run_id,
            thread_id=thread_id,
            user_id=user_id,
            agent_name=spec.name,
            user_request=start.user_request,
            scenario=scenario,
            resolvable=scenario is not Scenario.UNRESOLVABLE_THREAD,
        )
        self._launch(ctx, spec)
        return ctx

    @property
    def offers_scenarios(self) -> bool:
        """False under the no-hooks variants: a backend built without test hooks (``features.scenarios``)."""
        return not (self._variants.enabled(VariantName.NO_HOOKS) or self._variants.enabled(VariantName.UNKNOWN_SCENARIOS))

    @property
    def shares_threads(self) -> bool:
        """Under the ``foreign_thread_runs_for_caller`` variant another user's thread id is run for the caller (the
        other answer PROTOCOL §3 allows besides THREAD_ACCESS_DENIED); the run is still the caller's alone."""
        return self._variants.enabled(VariantName.FOREIGN_THREAD_RUNS_FOR_CALLER)

    def _scenario(self, request: RunRequest) -> Scenario | None:
        name = request.start.scenario
        if name is None:
            return None
        loaded = self.offers_scenarios and not self._faults.enabled(FaultName.SCENARIO_HOOKS_NOT_LOADED)
        offered = tuple(Scenario) if loaded else ()
        scenario = next((known for known in offered if known.value == name), None)
        if scenario is None and self._faults.enabled(FaultName.UNKNOWN_SCENARIO_CHECKED_BEFORE_E2E):
            self._unknown_scenario(offered, request.start.run_id)
        gated = not request.e2e_active and not self._faults.enabled(FaultName.SCENARIO_WITHOUT_E2E_HONOURED)
        if gated or self._variants.enabled(VariantName.NO_HOOKS):
            raise RunRefused(ErrorCode.E2E_NOT_ALLOWED, "scenarios are honoured only on E2E connections outside production", request.start.run_id)
        if scenario is None and self._faults.enabled(FaultName.UNKNOWN_SCENARIO_RUNS_PLAIN) and loaded:
            return None
        if scenario is None:
            self._unknown_scenario(offered, request.start.run_id)
        return scenario

    @staticmethod
    def _unknown_scenario(offered: tuple[Scenario, ...], run_id: str | None) -> None:
        listed = ", ".join(known.value for known in offered) or "none"
        raise RunRefused(ErrorCode.UNKNOWN_SCENARIO, f"unknown scenario; known: {listed}", run_id)

    def _thread_for(self, user_id: str, given: str | None, run_id: str | None) -> str:
        """The given thread if no other user owns it, else a new one (unique across users, unless faulted)."""
        if given is not None:
            owner = self._thread_owners.setdefault(given, user_id)
            if owner != user_id and not self.shares_threads:
                raise RunRefused(ErrorCode.THREAD_ACCESS_DENIED, "this thread belongs to another user", run_id)
            return given
        if self._faults.enabled(FaultName.PER_USER_THREAD_COUNTER):
            thread = f"thread_{next(self._thread_counters[user_id])}"
        else:
            thread = new_id("thread")
        self._thread_owners[thread] = user_id
        return thread

    def _run_id_for(self, thread_id: str, given: str | None) -> str:
        if given is not None and not self._faults.enabled(FaultName.GIVEN_RUN_ID_IGNORED):
            if given in self._runs:
                raise RunRefused(ErrorCode.INVALID_MESSAGE, "run_id is already in use by a running run", given)
            return given
        return new_id(f"{thread_id}_run", 12)

    def _launch(self, ctx: ExecutionContext, spec: AgentSpec) -> None:
        if ctx.resolvable and ctx.thread_id:
            self._notifier.registry.register(ctx.run_id, ctx.thread_id)
        hooks = NO_HOOKS
        if ctx.scenario in TOOL_SCENARIOS:
            hooks = ToolHooks(
                fail_first=ctx.scenario is Scenario.TOOL_ERROR,
                delay_first_s=self._slow_tool_s if ctx.scenario is Scenario.SLOW_TOOL else 0.0,
            )
        emitter = RunEmitter(self._notifier, ctx, hooks=hooks, faults=self._faults)
        run = _Run(ctx)
        self._runs[ctx.run_id] = run
        run.task = asyncio.get_running_loop().create_task(self._execute(run, spec, emitter), name=f"run {ctx.run_id}")

    # --- running ------------------------------------------------------------------------------------------------

    async def _execute(self, run: _Run, spec: AgentSpec, emitter: RunEmitter) -> None:
        try:
            thread = run.ctx.thread_id
            if thread and not self.shares_threads and not await self.owners.confirm(thread, run.ctx.user_id):
                refusal = error_frame(ErrorCode.THREAD_ACCESS_DENIED, "this thread belongs to another user", run_id=run.ctx.run_id)
                self._notifier.manager.send_to_user(run.ctx.user_id, refusal)
                return
            outcome = await self._drive(run, spec, emitter)
            if outcome is not None:
                emitter.completed(outcome)
        except ThreadResolutionError:
            pass  # the bridge sent THREAD_RESOLUTION_FAILED to the user: that error is the run's terminal frame
        finally:
            if run.heartbeat is not None:
                run.heartbeat.cancel()
            self._notifier.registry.unregister(run.ctx.run_id)
            self._runs.pop(run.ctx.run_id, None)

    async def _drive(self, run: _Run, spec: AgentSpec, emitter: RunEmitter) -> Outcome | None:
        """Run the agent; the outcome its terminal frame reports (``None``: send none — only as a fault)."""
        try:
            emitter.started()
            if self._faults.enabled(FaultName.DUPLICATE_AGENT_STARTED):
                emitter.started()
            if run.ctx.scenario is Scenario.AGENT_CRASH:
                raise InjectedAgentCrash("scenario agent_crash: the agent raised after agent_started")
            await self._turns.turn()
            if not self._faults.enabled(FaultName.NO_HEARTBEAT):
                run.heartbeat = _Heartbeat(self._notifier, emitter, self._heartbeat_s)
            return Outcome("completed", await spec.run(run.ctx.user_request, emitter))
        except ThreadResolutionError:
            raise
        except asyncio.CancelledError:
            return Outcome("failed", "", f"run cancelled: {run.cancel_reason}")
        except ToolFailed as exc:
            return Outcome("failed", "", str(exc), self._terminal_error(ErrorCode.TOOL_FAILED))
        except Exception as exc:
            if self._faults.enabled(FaultName.CRASH_LEAVES_NO_TERMINAL):
                log.error("agent %s crashed in run %s: %s", spec.name, run.ctx.run_id, exc)
                return None
            crashed = f"agent {spec.name} crashed: {type(exc).__name__}: {exc}"
            return Outcome("failed", "", crashed, self._terminal_error(ErrorCode.AGENT_FAILED))

    def _terminal_error(self, code: ErrorCode) -> ErrorCode | None:
        """The error a failed run ends with under ``tool_failed_terminal`` (PROTOCOL FAIL-2, FAIL-3 accept it), else
        ``None``: the canonical ``agent_completed`` with status ``failed``."""
        return code if self._variants.enabled(VariantName.TOOL_FAILED_TERMINAL) else None

    # --- ending -------------------------------------------------------------------------------------------------

    def user_left(self, user_id: str) -> None:
        """The user's last connection closed: nobody can see their runs, so cancel them (theirs only)."""
        everyone = self._faults.enabled(FaultName.DISCONNECT_CANCELS_ALL_RUNS)
        self._cancel((run for run in self._runs.values() if everyone or run.ctx.user_id == user_id), "the user disconnected")

    async def wait_idle(self) -> None:
        """Return once every run started so far has ended (tests; shutdown uses it after cancelling)."""
        await asyncio.gather(*(run.task for run in list(self._runs.values()) if run.task is not None), return_exceptions=True)

    async def shutdown(self) -> None:
        """Refuse new runs, cancel the running ones (each still sends its terminal frame) and wait for them."""
        self._closing = True
        self._cancel(self._runs.values(), "the server is shutting down")
        await self.wait_idle()

    def _cancel(self, runs: Iterable[_Run], reason: str) -> None:
        for run in list(runs):
            if run.task is not None and not run.task.done():
                run.cancel_reason = reason
                run.task.cancel()
