"""AgentWebSocketBridge: the only exit for run events, and where a run's thread is resolved.

Every run event leaves through a ``notify_*`` method, which resolves the run's thread (five priorities, below),
builds the canonical frame of PROTOCOL §4 (``type, run_id, thread_id, user_id, agent_name, timestamp, data``) and
hands it to :class:`~mock_server.manager.WebSocketManager`, routed by the run's *user* — never by thread (the
backend's ``send_to_thread`` used the thread id as a user id).

Thread resolution, per event:
  1. the thread id passed with the notification;
  2. the run→thread registry (:class:`ThreadRunRegistry`, filled by the engine when a run starts);
  3. the run's execution context;
  4. the run id's pattern ``thread_<t>_run_<r>`` → ``thread_<t>``;
  5. failure: :class:`ThreadResolutionError` naming the run id, the elapsed time and all five sources.
Unlike the backend, a failure is not a silent drop: the run's user gets ``THREAD_RESOLUTION_FAILED`` carrying
the run id, and the error propagates so the engine ends the run there (that error is its terminal frame).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mock_server.errors import ThreadResolutionError
from mock_server.faults import NO_FAULTS, FaultName, Faults
from mock_server.manager import WebSocketManager
from mock_server.protocol import ErrorCode, error_frame, heartbeat_frame, new_id, utc_timestamp
from mock_server.variants import NO_VARIANTS, VariantName, Variants

__all__ = ["AgentWebSocketBridge", "ExecutionContext", "ThreadRunRegistry", "thread_from_run_id"]

log = logging.getLogger(__name__)

RUN_ID_PATTERN = re.compile(r"(thread_[^\s]+?)_run_[^\s]+")


@dataclass(eq=False)
class ExecutionContext:
    """One run's identity and clock, created by the engine and read by the bridge (resolution source 3)."""

    run_id: str
    thread_id: str | None
    user_id: str
    agent_name: str
    user_request: str
    scenario: str | None = None
    resolvable: bool = True
    """False for the ``unresolvable_thread`` scenario: all five resolution sources are disabled."""
    started_wall: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_mono: float = field(default_factory=time.monotonic)


class ThreadRunRegistry:
    """run id → thread id for the runs in flight (resolution source 2)."""

    def __init__(self) -> None:
        self._threads: dict[str, str] = {}

    def register(self, run_id: str, thread_id: str) -> None:
        self._threads[run_id] = thread_id

    def unregister(self, run_id: str) -> None:
        self._threads.pop(run_id, None)

    def get(self, run_id: str) -> str | None:
        return self._threads.get(run_id)


def thread_from_run_id(run_id: str) -> str | None:
    """``thread_<t>_run_<r>`` names thread ``thread_<t>`` (resolution source 4)."""
    match = RUN_ID_PATTERN.fullmatch(run_id)
    return match.group(1) if match else None


class AgentWebSocketBridge:
    """Build, resolve and route run events. Created by ``AgentRegistry.set_websocket_manager``."""

    def __init__(self, manager: WebSocketManager, faults: Faults = NO_FAULTS, variants: Variants = NO_VARIANTS) -> None:
        self.manager = manager
        self.registry = ThreadRunRegistry()
        self._faults = faults
        self._variants = variants

    # --- resolution ---------------------------------------------------------------------------------------------

    def resolve_thread_id(self, run_id: str, thread_id: str | None = None, context: ExecutionContext | None = None) -> str:
        """The run's thread by the five priorities; :class:`ThreadResolutionError` when none names it."""
        began = time.perf_counter()
        disabled = context is not None and not context.resolvable
        if not disabled:  # fast path, once per event: the first source that names the thread, nothing recorded
            found = thread_id or self.registry.get(run_id) or (context.thread_id if context else None) or thread_from_run_id(run_id)
            if found:
                return found
        sources = (
            ("1 thread id passed with the notification", lambda: thread_id, "none passed"),
            ("2 run->thread registry", lambda: self.registry.get(run_id), "no entry"),
            ("3 the run's execution context", lambda: context.thread_id if context else None, "no thread id"),
            ("4 run id pattern thread_<t>_run_<r>", lambda: thread_from_run_id(run_id), "no match"),
        )
        tried: list[str] = []
        for label, source, miss in sources:
            if disabled:
                tried.append(f"{label}: disabled for this run")
                continue
            found = source()
            if found:
                return found
            tried.append(f"{label}: {miss}")
        elapsed_ms = (time.perf_counter() - began) * 1000
        raise ThreadResolutionError(
            f"thread resolution failed for run_id={run_id!r} after {elapsed_ms:.3f} ms; "
            f"{'; '.join(tried)}; 5 failure: raised, not dropped",
            run_id,
        )

    # --- events -------------------------------------------------------------------------------------------------

    def notify_agent_started(self, ctx: ExecutionContext, *, thread_id: str | None = None) -> bool:
        data = {} if self._faults.enabled(FaultName.USER_REQUEST_MISSING) else {"user_request": ctx.user_request}
        return self._emit(ctx, "agent_started", data, thread_id)

    def notify_agent_thinking(self, ctx: ExecutionContext, reasoning: str, step_number: int, *, thread_id: str | None = None) -> bool:
        if self._faults.enabled(FaultName.THINKING_DROPPED):
            return False
        step: int | str = str(step_number) if self._faults.enabled(FaultName.STEP_NUMBER_AS_STRING) else step_number
        return self._emit(ctx, "agent_thinking", {"reasoning": reasoning, "step_number": step}, thread_id)

    def notify_tool_executing(
        self, ctx: ExecutionContext, tool_name: str, execution_id: str, parameters: dict[str, Any], *, thread_id: str | None = None
    ) -> bool:
        data: dict[str, Any] = {"tool_name": tool_name, "execution_id": self._wire_id(execution_id)}
        if not self._faults.enabled(FaultName.TOOL_PARAMETERS_MISSING):
            data["parameters"] = parameters
        return self._emit(ctx, "tool_executing", data, thread_id)

    def notify_tool_completed(
        self,
        ctx: ExecutionContext,
        tool_name: str,
        execution_id: str,
        *,
        success: bool,
        duration_ms: float,
        results: Any = None,
        error: str | None = None,
        thread_id: str | None = None,
    ) -> bool:
        if self._faults.enabled(FaultName.FRESH_EXECUTION_ID_ON_COMPLETION):
            execution_id = new_id("exec")
        data: dict[str, Any] = {"tool_name": tool_name, "execution_id": self._wire_id(execution_id), "success": success}
        if success:
            data["results"] = results
        else:
            data["error"] = error or "tool failed"
        if not self._faults.enabled(FaultName.DURATION_MS_MISSING):
            data["duration_ms"] = round(duration_ms, 3)
        if self._faults.enabled(FaultName.COMPLETION_WITHOUT_EXECUTION_ID):
            del data["execution_id"]
        return self._emit(ctx, "tool_completed", data, thread_id)

    def _wire_id(self, execution_id: str) -> str | int:
        """The execution id as sent: an integer under ``integer_execution_ids`` (the hex of ``exec_<hex>``, so the
        executing and completed frames of one call agree without any state)."""
        if self._variants.enabled(VariantName.INTEGER_EXECUTION_IDS):
            return int(execution_id.rsplit("_", 1)[-1], 16)
        return execution_id

    def notify_agent_completed(
        self, ctx: ExecutionContext, *, status: str, final_response: str, error: str | None = None, thread_id: str | None = None
    ) -> bool:
        data = {"status": status}
        if not self._faults.enabled(FaultName.FINAL_RESPONSE_MISSING):
            data["final_response"] = final_response
        if error:
            data["error"] = error
        return self._emit(ctx, "agent_completed", data, thread_id)

    def notify_run_failed(self, ctx: ExecutionContext, code: str, message: str) -> None:
        """End a failed run with an ``error`` carrying its run id instead of ``agent_completed`` (the
        ``tool_failed_terminal`` variant; PROTOCOL FAIL-2 and FAIL-3 accept either terminal frame)."""
        self.manager.send_to_user(ctx.user_id, error_frame(code, message, run_id=ctx.run_id, variants=self._variants))

    def notify_heartbeat(self, user_id: str) -> None:
        """Silence filler during a run (no run fields: it belongs to the connection, not the run)."""
        self.manager.send_to_user(user_id, heartbeat_frame())

    # --- the exit -----------------------------------------------------------------------------------------------

    def _timestamp(self, ctx: ExecutionContext) -> str | float:
        """Wall time derived from the monotonic clock, so a run's timestamps never decrease (NTP steps included);
        Unix seconds under the ``unix_timestamps`` variant."""
        elapsed = timedelta(seconds=time.monotonic() - ctx.started_mono)
        backwards = self._faults.enabled(FaultName.CLOCK_GOES_BACKWARDS)
        moment = ctx.started_wall - elapsed if backwards else ctx.started_wall + elapsed
        return moment.timestamp() if self._variants.enabled(VariantName.UNIX_TIMESTAMPS) else utc_timestamp(moment)

    def _emit(self, ctx: ExecutionContext, kind: str, data: dict[str, Any], thread_id: str | None) -> bool:
        """Resolve, build, route. A resolution failure reaches the user, then propagates to end the run."""
        try:
            thread = self.resolve_thread_id(ctx.run_id, thread_id, ctx)
        except ThreadResolutionError as exc:
            if self._faults.enabled(FaultName.RESOLUTION_FAILURE_SWALLOWED):
                log.warning("EMISSION BLOCKED: %s dropped for run %s", kind, ctx.run_id)
                return False
            details = {"event": kind, "sources": 5}
            failure = error_frame(ErrorCode.THREAD_RESOLUTION_FAILED, str(exc), run_id=ctx.run_id, details=details, variants=self._variants)
            self.manager.send_to_user(ctx.user_id, failure)
            raise
        frame: dict[str, Any] = {
            "type": kind,
            "run_id": ctx.run_id,
            "thread_id": thread,
            "user_id": ctx.user_id,
            "agent_name": ctx.agent_name,
            "timestamp": self._timestamp(ctx),
        }
        if self._faults.enabled(FaultName.AGENT_NAME_MISSING):
            del frame["agent_name"]
        if self._variants.enabled(VariantName.FLAT_EVENTS):  # the backends that put every field at the top level
            frame.update(data)
        elif self._variants.enabled(VariantName.PAYLOAD_EVENTS):  # the backends that mirror the client's payload
            frame["payload"] = data
        else:
            frame["data"] = data
        self.manager.send_to_user(ctx.user_id, frame)
        return True
