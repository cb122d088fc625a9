"""The reference server's run rooms, without sockets: protocol, calculator, manager, bridge, engine, fault catalog.

Connections are :class:`RecordingSink` stand-ins registered with a real manager; tests wait on frames (a run's
terminal frame, or a barrier frame queued behind everything else), never on the clock.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mock_server import faults as faults_module
from mock_server import manager as manager_module
from mock_server.agents import AgentRegistry
from mock_server.auth import Transport, UserContext
from mock_server.bridge import AgentWebSocketBridge, ExecutionContext, thread_from_run_id
from mock_server.calculator import MAX_EXPONENT, evaluate, find_expression
from mock_server.e2e import E2ESource, E2EState, INACTIVE
from mock_server.engine import GOING_ON_PER_TURN, ExecutionEngine, RunRequest
from mock_server.errors import CalculationError, ProtocolError, RunRefused, ThreadResolutionError
from mock_server.faults import CATALOG, NO_FAULTS, FaultName, Faults
from mock_server.manager import ClientConnection, WebSocketManager
from mock_server.protocol import Ignored, Ping, StartAgent, error_frame, parse_client_message
from mock_server.testing import RecordingSink

E2E = E2EState(True, E2ESource.HEADERS)
FIVE = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")
RESEARCHER_STREAM = ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "tool_executing", "tool_completed", "agent_completed"]
REQUIREMENT_IDS = (
    "AUTH-1", "AUTH-2", "AUTH-3", "AUTH-4", "AUTH-5", "E2E-1", "E2E-2", "E2E-3",
    "EVT-1", "EVT-2", "EVT-3", "EVT-4", "EVT-5", "EVT-6", "EVT-7", "EVT-8",
    "ISO-1", "ISO-2", "ISO-3", "ISO-4", "FAIL-1", "FAIL-2", "FAIL-3", "FAIL-4",
    "ROB-1", "ROB-2", "ROB-3", "ROB-4", "ROB-5", "ROB-6", "SEC-1", "SEC-2",
)  # fmt: skip
PROTOCOL_MD = Path("/work/shared/spec/PROTOCOL.md")
MOCK_SERVER = Path(manager_module.__file__).parent


def user_context(user_id: str) -> UserContext:
    return UserContext(user_id, f"{user_id}@example.invalid", (), {"sub": user_id}, Transport.BEARER, None)


class World:
    """A manager, bridge and engine wired as the server wires them, with recorded connections."""

    def __init__(self, faults: Faults = NO_FAULTS, **engine_kw: Any) -> None:
        self.faults = faults
        self.manager = WebSocketManager(faults)
        self.registry = AgentRegistry(faults=faults)
        self.bridge = self.registry.set_websocket_manager(self.manager)
        self.engine = ExecutionEngine(self.registry, faults, **engine_kw)
        self.conns: list[ClientConnection] = []

    def connect(self, user_id: str = "alice", e2e: E2EState = INACTIVE) -> tuple[RecordingSink, ClientConnection]:
        sink = RecordingSink()
        conn = ClientConnection(sink, user_context(user_id), e2e, f"conn_{len(self.conns)}")
        conn.start()
        self.manager.add(conn)
        self.conns.append(conn)
        return sink, conn

    def start(self, user_id: str = "alice", agent: str = "researcher", request: str = "websockets", *, e2e: bool = False, **payload: Any) -> ExecutionContext:
        return self.engine.start(RunRequest(user_id, StartAgent(agent, request, **payload), e2e_active=e2e))

    async def close(self) -> None:
        await self.engine.shutdown()
        for conn in self.conns:
            await conn.stop()


@pytest.fixture
async def world() -> Any:
    w = World()
    yield w
    await w.close()


def terminal_of(run_id: str) -> Any:
    def done(frame: dict[str, Any]) -> bool:
        return frame.get("run_id") == run_id and frame["type"] in ("agent_completed", "error")

    return done


async def barrier(sink: RecordingSink, conn: ClientConnection) -> list[dict[str, Any]]:
    """Everything queued for ``conn`` before now (the marker frame is queued behind it)."""
    conn.send_frame({"type": "barrier"})
    return (await sink.frames_until(lambda f: f["type"] == "barrier"))[:-1]


def types(frames: list[dict[str, Any]]) -> list[str]:
    return [f["type"] for f in frames if f["type"] != "heartbeat"]


# --- protocol -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"type": "start_agent", ', "JSON_PARSE_ERROR"),
        ("[" * 100_000, "JSON_PARSE_ERROR"),
        ("[1, 2, 3]", "INVALID_MESSAGE"),
        ('"ping"', "INVALID_MESSAGE"),
        ('{"payload": {}}', "INVALID_MESSAGE"),
        ('{"type": 7}', "INVALID_MESSAGE"),
        ('{"type": "make_coffee"}', "UNKNOWN_MESSAGE_TYPE"),
        ('{"type": "start_agent"}', "INVALID_MESSAGE"),
        ('{"type": "start_agent", "payload": {"user_request": "x"}}', "INVALID_MESSAGE"),
        ('{"type": "user_message", "payload": {"content": "x"}}', "INVALID_MESSAGE"),
    ],
)
def test_bad_messages_raise_protocol_errors(text: str, code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_message(text)
    assert caught.value.code == code


def test_field_errors_carry_the_given_run_id() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_message('{"type": "start_agent", "payload": {"agent_name": "echo", "user_request": 5, "run_id": "r1"}}')
    assert (caught.value.code, caught.value.run_id) == ("INVALID_MESSAGE", "r1")


def test_good_messages() -> None:
    assert parse_client_message('{"type": "ping"}') == Ping()
    text = '{"type": "start_agent", "payload": {"agent_name": "researcher", "user_request": "q", "thread_id": "", "run_id": "r", "scenario": null, "user_id": "mallory"}}'
    assert parse_client_message(text) == StartAgent("researcher", "q", None, "r", None, "mallory")
    for kind in ("user_message", "chat"):
        assert parse_client_message(f'{{"type": "{kind}", "payload": {{"message": "hi"}}}}') == StartAgent("echo", "hi")


def test_error_frame_shape() -> None:
    frame = error_frame("UNKNOWN_AGENT", "no such agent", run_id="r1")
    assert {k: frame[k] for k in ("type", "error_code", "message", "run_id", "details")} == {
        "type": "error", "error_code": "UNKNOWN_AGENT", "message": "no such agent", "run_id": "r1", "details": {}
    }
    assert "run_id" not in error_frame("JSON_PARSE_ERROR", "bad")
    assert datetime.fromisoformat(frame["timestamp"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_protocol_faults() -> None:
    with pytest.raises(ValueError):
        parse_client_message("{broken", Faults(frozenset({FaultName.INVALID_JSON_CLOSES_CONNECTION})))
    assert parse_client_message('{"type": "x"}', Faults(frozenset({FaultName.UNKNOWN_TYPE_IGNORED}))) == Ignored("x")


# --- calculator -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [("(6 + 1) * 6", 42), ("7 / 2", 3.5), ("7 // 2", 3), ("-7 % 3", 2), ("2 ** 10", 1024), ("-(3 - 5)", 2), ("+4", 4),
     ("2 ** -1", 0.5), ("1.5 * 4", 6.0), ("((((1))))", 1), ("10 - 2 - 3", 5), ("2 ** 3 ** 2", 512)],
)
def test_calculator_evaluates_arithmetic(expression: str, value: float) -> None:
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    "expression",
    ["__import__('os')", "x + 1", "(1).real", "abs(-1)", "[1][0]", "'a' * 3", "1 < 2", "lambda: 1", "True + 1",
     "1 if 1 else 2", "2 ** 1000", f"2 ** {MAX_EXPONENT + 1}", "(2 ** 100) ** 100", "9" * 300, "1 / 0", "1 % 0",
     "(-8) ** 0.5", "1e308 * 10", "1 +", "", "1; 2"],
)
def test_calculator_refuses_everything_else(expression: str) -> None:
    with pytest.raises(CalculationError):
        evaluate(expression)


@pytest.mark.parametrize(
    ("text", "expression"),
    [("what is (6 + 1) * 6?", "(6 + 1) * 6"), ("compute 2**8 please.", "2**8"), ("12 / 4", "12 / 4"), ("hello there", None),
     ("what is 2.5 * 4.", "2.5 * 4")],
)
def test_expression_is_found_in_the_request(text: str, expression: str | None) -> None:
    assert find_expression(text) == expression


# --- manager --------------------------------------------------------------------------------------------------


async def test_send_to_user_reaches_every_tab_of_that_user_only_and_serialises_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    tabs = [world.connect("alice") for _ in range(3)]
    bob_sink, bob = world.connect("bob")
    calls = []
    real = manager_module.dumps
    monkeypatch.setattr(manager_module, "dumps", lambda frame: calls.append(frame) or real(frame))
    assert world.manager.send_to_user("alice", {"type": "hello"}) == 3
    assert len(calls) == 1
    for sink, conn in tabs:
        assert types(await barrier(sink, conn)) == ["hello"]
    assert await barrier(bob_sink, bob) == []


async def test_remove_reports_the_last_connection(world: World) -> None:
    (_, first), (_, second) = world.connect("alice"), world.connect("alice")
    assert world.manager.connection_count == 2
    assert world.manager.remove(first) is False
    assert world.manager.remove(second) is True
    assert world.manager.connections_of("alice") == ()


async def test_close_all_flushes_then_closes(world: World) -> None:
    sink, conn = world.connect("alice")
    conn.send_frame({"type": "last"})
    await world.manager.close_all(1001, "bye")
    assert types(sink.frames) == ["last"]
    assert sink.closed == (1001, "bye")
    conn.send_frame({"type": "too late"})
    assert types(sink.frames) == ["last"]


@pytest.mark.parametrize(
    ("fault", "alice_counts", "bob_count"),
    [(FaultName.CONNECTION_REGISTERED_TWICE, [2, 2], 0), (FaultName.NEWEST_CONNECTION_ONLY, [0, 1], 0), (FaultName.BROADCAST_TO_ALL_CONNECTIONS, [1, 1], 1)],
)
async def test_manager_faults(fault: FaultName, alice_counts: list[int], bob_count: int) -> None:
    w = World(Faults(frozenset({fault})))
    alice = [w.connect("alice"), w.connect("alice")]
    bob = w.connect("bob")
    w.manager.send_to_user("alice", {"type": "event"})
    got = [types(await barrier(sink, conn)).count("event") for sink, conn in alice]
    assert got == alice_counts
    assert types(await barrier(*bob)).count("event") == bob_count
    await w.close()


# --- bridge: thread resolution ---------------------------------------------------------------------------------


def context(run_id: str = "r1", thread_id: str | None = None, resolvable: bool = True) -> ExecutionContext:
    return ExecutionContext(run_id, thread_id, "alice", "researcher", "q", resolvable=resolvable)


@pytest.fixture
def bridge() -> AgentWebSocketBridge:
    return AgentWebSocketBridge(WebSocketManager())


def test_priority_1_the_thread_id_passed_with_the_notification(bridge: AgentWebSocketBridge) -> None:
    bridge.registry.register("thread_p_run_1", "thread_registry")
    ctx = context("thread_p_run_1", "thread_context")
    assert bridge.resolve_thread_id("thread_p_run_1", "thread_passed", ctx) == "thread_passed"


def test_priority_2_the_registry(bridge: AgentWebSocketBridge) -> None:
    bridge.registry.register("thread_p_run_1", "thread_registry")
    assert bridge.resolve_thread_id("thread_p_run_1", None, context("thread_p_run_1", "thread_context")) == "thread_registry"


def test_priority_3_the_execution_context(bridge: AgentWebSocketBridge) -> None:
    assert bridge.resolve_thread_id("thread_p_run_1", None, context("thread_p_run_1", "thread_context")) == "thread_context"


def test_priority_4_the_run_id_pattern(bridge: AgentWebSocketBridge) -> None:
    assert bridge.resolve_thread_id("thread_abc_run_def", None, context("thread_abc_run_def")) == "thread_abc"
    bridge.registry.register("r1", "thread_x")
    bridge.registry.unregister("r1")
    with pytest.raises(ThreadResolutionError):
        bridge.resolve_thread_id("r1")


@pytest.mark.parametrize(
    ("run_id", "thread"),
    [("thread_abc_run_1", "thread_abc"), ("thread_a_b_run_c_run_d", "thread_a_b"), ("run_123", None), ("thread__run_x", None),
     ("thread_abc", None), ("thread_abc_run_", None), ("xthread_a_run_b", None)],
)
def test_run_id_pattern(run_id: str, thread: str | None) -> None:
    assert thread_from_run_id(run_id) == thread


def test_priority_5_failure_names_the_run_the_time_and_all_five_sources(bridge: AgentWebSocketBridge) -> None:
    with pytest.raises(ValueError) as caught:
        bridge.resolve_thread_id("run_orphan", None, context("run_orphan"))
    message = str(caught.value)
    assert isinstance(caught.value, ThreadResolutionError)
    assert caught.value.run_id == "run_orphan"
    assert "run_orphan" in message
    assert re.search(r"\d+\.\d+ ms", message)
    for source in ("1 thread id passed", "2 run->thread registry", "3 the run's execution context", "4 run id pattern", "5 failure"):
        assert source in message


def test_a_disabled_context_turns_off_every_source(bridge: AgentWebSocketBridge) -> None:
    bridge.registry.register("thread_a_run_b", "thread_a")
    with pytest.raises(ThreadResolutionError) as caught:
        bridge.resolve_thread_id("thread_a_run_b", "thread_a", context("thread_a_run_b", "thread_a", resolvable=False))
    assert str(caught.value).count("disabled") == 4


async def test_a_resolution_failure_reaches_the_user_and_propagates(world: World) -> None:
    sink, conn = world.connect("alice")
    with pytest.raises(ThreadResolutionError):
        world.bridge.notify_agent_started(context("run_orphan"))
    [frame] = await barrier(sink, conn)
    assert (frame["type"], frame["error_code"], frame["run_id"]) == ("error", "THREAD_RESOLUTION_FAILED", "run_orphan")


# --- engine: runs ---------------------------------------------------------------------------------------------


async def run_frames(sink: RecordingSink, ctx: ExecutionContext) -> list[dict[str, Any]]:
    return [f for f in await sink.frames_until(terminal_of(ctx.run_id)) if f["type"] != "heartbeat"]


def check_envelope(frames: list[dict[str, Any]], ctx: ExecutionContext) -> None:
    stamps = [datetime.fromisoformat(f["timestamp"]) for f in frames]
    assert all(stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0 for stamp in stamps)  # type: ignore[union-attr]
    assert stamps == sorted(stamps)
    for frame in frames:
        assert set(frame) == {"type", "run_id", "thread_id", "user_id", "agent_name", "timestamp", "data"}
        assert (frame["run_id"], frame["thread_id"], frame["user_id"], frame["agent_name"]) == (ctx.run_id, ctx.thread_id, ctx.user_id, ctx.agent_name)


async def test_researcher_run_streams_the_five_events_in_order(world: World) -> None:
    sink, _ = world.connect("alice")
    ctx = world.start("alice", "researcher", "websockets")
    frames = await run_frames(sink, ctx)
    assert types(frames) == RESEARCHER_STREAM
    check_envelope(frames, ctx)
    started, thinking, search, searched, summarize, summarized, completed = (f["data"] for f in frames)
    assert started == {"user_request": "websockets"}
    assert thinking["step_number"] == 1
    assert isinstance(thinking["reasoning"], str)
    assert [search["tool_name"], summarize["tool_name"]] == ["search", "summarize"]
    assert (search["execution_id"], summarize["execution_id"]) == (searched["execution_id"], summarized["execution_id"])
    assert search["execution_id"] != summarize["execution_id"]
    assert searched["success"] is True
    assert isinstance(searched["results"], dict)
    assert searched["duration_ms"] >= 0
    assert completed["status"] == "completed"
    assert completed["final_response"] == summarized["results"]["summary"]


async def test_a_burst_of_starts_gets_every_first_frame_before_any_run_goes_on(world: World) -> None:
    """L3: the bundled agents never suspend, so without FirstFramesFirst the first run of a burst would send its
    whole stream before the second run's ``agent_started``. One connection sees the server's global order."""
    sink, _ = world.connect("alice")
    runs = [world.start("alice", "researcher", f"q{n}") for n in range(3 * GOING_ON_PER_TURN)]
    running = {ctx.run_id for ctx in runs}

    def all_ended(frame: dict[str, Any]) -> bool:
        if frame["type"] == "agent_completed":
            running.discard(frame["run_id"])
        return not running

    frames = [f for f in await sink.frames_until(all_ended) if f["type"] != "heartbeat"]
    firsts = frames[: len(runs)]
    assert [(f["type"], f["run_id"]) for f in firsts] == [("agent_started", ctx.run_id) for ctx in runs]
    for ctx in runs:  # and each run's own stream is whole and in order
        assert types([f for f in frames if f["run_id"] == ctx.run_id]) == RESEARCHER_STREAM


async def test_server_created_ids(world: World) -> None:
    sink, _ = world.connect("alice")
    ctx = world.start("alice", "echo", "hi")
    frames = await run_frames(sink, ctx)
    assert re.fullmatch(r"thread_[0-9a-f]+", ctx.thread_id or "")
    assert re.fullmatch(rf"{ctx.thread_id}_run_[0-9a-f]+", ctx.run_id)
    assert types(frames) == ["agent_started", "agent_thinking", "agent_completed"]
    assert frames[-1]["data"] == {"status": "completed", "final_response": "You said: hi"}
    same_thread = world.start("alice", "echo", "again", thread_id=ctx.thread_id)
    assert same_thread.thread_id == ctx.thread_id
    assert same_thread.run_id.startswith(f"{ctx.thread_id}_run_")
    await run_frames(sink, same_thread)


async def test_given_ids_are_kept(world: World) -> None:
    sink, _ = world.connect("alice")
    ctx = world.start("alice", "echo", "hi", thread_id="my-thread", run_id="my-run")
    check_envelope(await run_frames(sink, ctx), ctx)
    assert (ctx.thread_id, ctx.run_id) == ("my-thread", "my-run")


async def test_calculator(world: World) -> None:
    sink, _ = world.connect("alice")
    frames = await run_frames(sink, world.start("alice", "calculator", "what is (6 + 1) * 6?"))
    assert frames[2]["data"]["parameters"] == {"expression": "(6 + 1) * 6"}
    assert frames[3]["data"]["results"] == {"expression": "(6 + 1) * 6", "value": 42}
    assert frames[-1]["data"]["final_response"] == "(6 + 1) * 6 = 42"


async def test_a_refused_calculation_is_a_paired_failed_tool_and_a_failed_run(world: World) -> None:
    sink, _ = world.connect("alice")
    frames = await run_frames(sink, world.start("alice", "calculator", "what is 1 / 0"))
    assert types(frames) == ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"]
    assert frames[3]["data"]["success"] is False
    assert "division by zero" in frames[3]["data"]["error"]
    assert frames[-1]["data"]["status"] == "failed"


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"agent": "nobody"}, "UNKNOWN_AGENT"),
        ({"scenario": "tool_error"}, "E2E_NOT_ALLOWED"),
        ({"scenario": "tool_error", "agent": "nobody"}, "E2E_NOT_ALLOWED"),
        ({"scenario": "no_such_scenario", "e2e": True}, "UNKNOWN_SCENARIO"),
        ({"scenario": "slow_tool", "e2e": True, "agent": "echo"}, "UNKNOWN_SCENARIO"),
    ],
)
async def test_refusals_carry_the_run_id_and_start_nothing(world: World, kw: dict[str, Any], code: str) -> None:
    sink, conn = world.connect("alice")
    with pytest.raises(RunRefused) as caught:
        world.start("alice", run_id="thread_t_run_r", thread_id="thread_t", **kw)
    assert (caught.value.code, caught.value.run_id) == (code, "thread_t_run_r")
    assert world.engine.active_runs == 0
    assert await barrier(sink, conn) == []


async def test_another_users_thread_is_refused(world: World) -> None:
    alice, _ = world.connect("alice")
    bob, bob_conn = world.connect("bob")
    ctx = world.start("alice", "echo", "mine")
    await run_frames(alice, ctx)
    with pytest.raises(RunRefused) as caught:
        world.start("bob", "echo", "yours?", thread_id=ctx.thread_id, run_id="bob-run")
    assert (caught.value.code, caught.value.run_id) == ("THREAD_ACCESS_DENIED", "bob-run")
    await run_frames(alice, world.start("alice", "echo", "still mine", thread_id=ctx.thread_id))
    assert await barrier(bob, bob_conn) == []


async def test_a_running_run_id_cannot_be_reused(world: World) -> None:
    sink, _ = world.connect("alice")
    first = world.start("alice", "echo", "one", run_id="dup")
    with pytest.raises(RunRefused) as caught:
        world.start("alice", "echo", "two", run_id="dup")
    assert caught.value.code == "INVALID_MESSAGE"
    await run_frames(sink, first)


async def test_payload_user_id_never_overrides_sub(world: World) -> None:
    alice, _ = world.connect("alice")
    bob, bob_conn = world.connect("bob")
    ctx = world.start("alice", "echo", "as bob", claimed_user_id="bob")
    assert {f["user_id"] for f in await run_frames(alice, ctx)} == {"alice"}
    assert await barrier(bob, bob_conn) == []


# --- engine: scenarios ----------------------------------------------------------------------------------------


async def test_unresolvable_thread_is_one_error_to_its_user_only(world: World) -> None:
    alice, _ = world.connect("alice", E2E)
    bob, bob_conn = world.connect("bob", E2E)
    ctx = world.start("alice", scenario="unresolvable_thread", run_id="thread_t_run_r", thread_id="thread_t", e2e=True)
    [error] = await run_frames(alice, ctx)
    assert (error["type"], error["error_code"], error["run_id"]) == ("error", "THREAD_RESOLUTION_FAILED", "thread_t_run_r")
    assert "thread_t_run_r" in error["message"]
    assert "disabled" in error["message"]
    assert await barrier(bob, bob_conn) == []
    assert types(await run_frames(alice, world.start("alice", e2e=True)))[-1] == "agent_completed"


async def test_tool_error_is_a_failed_tool_then_a_failed_run(world: World) -> None:
    sink, _ = world.connect("alice", E2E)
    frames = await run_frames(sink, world.start("alice", scenario="tool_error", e2e=True))
    assert types(frames) == ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"]
    failed = frames[3]["data"]
    assert failed["success"] is False
    assert failed["error"]
    assert failed["duration_ms"] >= 0
    assert "results" not in failed
    assert failed["execution_id"] == frames[2]["data"]["execution_id"]
    assert frames[-1]["data"]["status"] == "failed"
    assert frames[-1]["data"]["final_response"] == ""


async def test_agent_crash_ends_failed_right_after_started(world: World) -> None:
    sink, _ = world.connect("alice", E2E)
    frames = await run_frames(sink, world.start("alice", scenario="agent_crash", e2e=True))
    assert types(frames) == ["agent_started", "agent_completed"]
    assert frames[-1]["data"]["status"] == "failed"
    assert "crash" in frames[-1]["data"]["error"]


async def test_slow_tool_gets_a_heartbeat_before_the_tool_completes() -> None:
    w = World(heartbeat_s=0.05, slow_tool_s=0.4)
    sink, _ = w.connect("alice", E2E)
    ctx = w.start("alice", scenario="slow_tool", e2e=True)
    frames = await sink.frames_until(terminal_of(ctx.run_id))
    kinds = [f["type"] for f in frames]
    first_done = kinds.index("tool_completed")
    assert "heartbeat" in kinds[kinds.index("tool_executing"):first_done]
    assert set(frames[kinds.index("heartbeat")]) == {"type", "timestamp"}
    assert frames[-1]["data"]["status"] == "completed"
    await w.close()


async def both_in_slow_tools(w: World) -> tuple[tuple[RecordingSink, ExecutionContext], tuple[RecordingSink, ExecutionContext]]:
    alice, _ = w.connect("alice", E2E)
    bob, _ = w.connect("bob", E2E)
    runs = (alice, w.start("alice", scenario="slow_tool", e2e=True)), (bob, w.start("bob", scenario="slow_tool", e2e=True))
    for sink, _ctx in runs:
        await sink.frames_until(lambda f: f["type"] == "tool_executing")
    return runs


async def test_a_user_leaving_cancels_their_runs_only() -> None:
    w = World(heartbeat_s=5, slow_tool_s=5)
    (alice, alice_run), (bob, bob_run) = await both_in_slow_tools(w)
    w.engine.user_left("alice")
    alice_end = await run_frames(alice, alice_run)
    assert types(alice_end) == ["tool_completed", "agent_completed"]
    assert alice_end[-1]["data"]["status"] == "failed"
    assert w.engine.active_runs == 1
    await w.close()  # shutdown cancels bob's run, which still ends in a terminal frame
    assert (await run_frames(bob, bob_run))[-1]["data"]["error"] == "run cancelled: the server is shutting down"
    with pytest.raises(RunRefused):
        w.start("bob")


def test_an_unwired_registry_is_refused() -> None:
    with pytest.raises(RuntimeError, match="set_websocket_manager"):
        ExecutionEngine(AgentRegistry())


# --- engine and bridge faults: each visibly changes the run ---------------------------------------------------


async def faulted_run(fault: FaultName, *, scenario: str | None = None, **kw: Any) -> list[dict[str, Any]]:
    w = World(Faults(frozenset({fault})))
    sink, conn = w.connect("alice", E2E)
    ctx = w.start("alice", scenario=scenario, e2e=True, **kw)
    if fault in (FaultName.RESOLUTION_FAILURE_SWALLOWED, FaultName.CRASH_LEAVES_NO_TERMINAL):
        await asyncio.wait_for(w.engine.wait_idle(), 5)
        frames = await barrier(sink, conn)
    else:
        frames = await sink.frames_until(lambda f: f["type"] == "agent_completed")
        frames += await barrier(sink, conn)
    await w.close()
    assert all(f.get("run_id") in (ctx.run_id, None) for f in frames)
    return [f for f in frames if f["type"] != "heartbeat"]


async def test_fault_thinking_dropped() -> None:
    assert "agent_thinking" not in types(await faulted_run(FaultName.THINKING_DROPPED))


async def test_fault_fresh_execution_id_on_completion() -> None:
    frames = await faulted_run(FaultName.FRESH_EXECUTION_ID_ON_COMPLETION)
    opened = {f["data"]["execution_id"] for f in frames if f["type"] == "tool_executing"}
    closed = {f["data"]["execution_id"] for f in frames if f["type"] == "tool_completed"}
    assert opened
    assert not opened & closed


async def test_fault_step_number_as_string() -> None:
    [thinking] = [f for f in await faulted_run(FaultName.STEP_NUMBER_AS_STRING) if f["type"] == "agent_thinking"]
    assert thinking["data"]["step_number"] == "1"


async def test_fault_duration_ms_missing() -> None:
    assert all("duration_ms" not in f["data"] for f in await faulted_run(FaultName.DURATION_MS_MISSING) if f["type"] == "tool_completed")


async def test_fault_clock_goes_backwards() -> None:
    stamps = [datetime.fromisoformat(f["timestamp"]) for f in await faulted_run(FaultName.CLOCK_GOES_BACKWARDS)]
    assert stamps[-1] < stamps[0]


async def test_fault_resolution_failure_swallowed() -> None:
    assert await faulted_run(FaultName.RESOLUTION_FAILURE_SWALLOWED, scenario="unresolvable_thread") == []


async def test_fault_crash_leaves_no_terminal() -> None:
    assert types(await faulted_run(FaultName.CRASH_LEAVES_NO_TERMINAL, scenario="agent_crash")) == ["agent_started"]


async def test_fault_completed_before_tool_completed() -> None:
    kinds = types(await faulted_run(FaultName.COMPLETED_BEFORE_TOOL_COMPLETED))
    assert kinds.index("agent_completed") < len(kinds) - 1
    assert kinds[-1] == "tool_completed"


async def test_fault_tool_error_reported_as_success() -> None:
    frames = await faulted_run(FaultName.TOOL_ERROR_REPORTED_AS_SUCCESS, scenario="tool_error")
    assert all(f["data"]["success"] for f in frames if f["type"] == "tool_completed")
    assert frames[-1]["data"]["status"] == "completed"


async def test_fault_duplicate_agent_started() -> None:
    assert types(await faulted_run(FaultName.DUPLICATE_AGENT_STARTED)).count("agent_started") == 2


async def test_fault_given_run_id_ignored() -> None:
    frames = await faulted_run(FaultName.GIVEN_RUN_ID_IGNORED, run_id="thread_t_run_given", thread_id="thread_t")
    assert {f["run_id"] for f in frames} != {"thread_t_run_given"}


async def test_fault_scenario_ignored() -> None:
    frames = await faulted_run(FaultName.SCENARIO_IGNORED, scenario="tool_error")
    assert frames[-1]["data"]["status"] == "completed"


async def test_fault_payload_user_id_overrides_sub() -> None:
    w = World(Faults(frozenset({FaultName.PAYLOAD_USER_ID_OVERRIDES_SUB})))
    victim, _ = w.connect("victim")
    w.start("mallory", "echo", "hi", claimed_user_id="victim")
    frames = await victim.frames_until(lambda f: f["type"] == "agent_completed")
    assert {f["user_id"] for f in frames} == {"victim"}
    await w.close()


async def test_fault_per_user_thread_counter() -> None:
    w = World(Faults(frozenset({FaultName.PER_USER_THREAD_COUNTER})))
    w.connect("alice"), w.connect("bob")
    assert w.start("alice", "echo").thread_id == w.start("bob", "echo").thread_id == "thread_1"
    await w.close()


async def test_fault_disconnect_cancels_all_runs() -> None:
    w = World(Faults(frozenset({FaultName.DISCONNECT_CANCELS_ALL_RUNS})), heartbeat_s=5, slow_tool_s=5)
    _, (bob, bob_run) = await both_in_slow_tools(w)
    w.engine.user_left("alice")
    assert (await run_frames(bob, bob_run))[-1]["data"]["error"] == "run cancelled: the user disconnected"
    await w.close()


async def test_fault_no_heartbeat() -> None:
    w = World(Faults(frozenset({FaultName.NO_HEARTBEAT})), heartbeat_s=0.05, slow_tool_s=0.4)
    sink, _ = w.connect("alice", E2E)
    frames = await sink.frames_until(terminal_of(w.start("alice", scenario="slow_tool", e2e=True).run_id))
    assert "heartbeat" not in [f["type"] for f in frames]
    await w.close()


# --- the fault catalog ----------------------------------------------------------------------------------------


def declared() -> Iterator[tuple[str, str]]:
    for fault in CATALOG.values():
        yield from fault.breaks.items()


def test_every_requirement_id_has_a_fault() -> None:
    covered = {req_id for req_id, _ in declared()}
    assert covered == set(REQUIREMENT_IDS)
    source = Path(faults_module.__file__).read_text()
    assert all(f'"{req_id}"' in source for req_id in REQUIREMENT_IDS)


def test_the_hard_coded_ids_match_the_contract() -> None:
    if not PROTOCOL_MD.is_file():
        pytest.skip(f"{PROTOCOL_MD} is not on this machine")
    in_contract = set(re.findall(r"\*\*([A-Z0-9]+-\d+)\*\*", PROTOCOL_MD.read_text()))
    assert in_contract == set(REQUIREMENT_IDS)


def test_catalog_entries_are_well_formed() -> None:
    assert {grade for _, grade in declared()} <= {"FAILED", "NON-STRICT"}
    for fault in CATALOG.values():
        assert fault.breaks
        assert "\n" not in fault.description
        assert fault.as_line().split("  ")[0] == fault.name.value
        assert fault.as_json()["name"] == fault.name.value


def test_every_fault_lives_in_its_room() -> None:
    for fault in CATALOG.values():
        room = (MOCK_SERVER / fault.room).read_text()
        assert f"FaultName.{fault.name.name}" in room, f"{fault.name} is not branched on in {fault.room}"
