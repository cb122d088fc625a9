"""The optional accelerators (``fast`` extra): same frames with and without, a switch that turns them off, and a
server that runs when they are not installed (CI installs only ``.[test]``). No timing here: bench/ measures."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from mock_server import accel
from mock_server import manager as manager_module
from mock_server.agents import AgentRegistry
from mock_server.auth import Transport, UserContext
from mock_server.e2e import INACTIVE
from mock_server.engine import ExecutionEngine, RunRequest
from mock_server.environment import ServerEnvironment
from mock_server.manager import ClientConnection, WebSocketManager
from mock_server.protocol import ErrorCode, StartAgent, error_frame, pong_frame
from mock_server.testing import RecordingSink, mint_token
from tests.shell import user_env

ROOT = Path(__file__).resolve().parent.parent
SECRET = "accel-test-secret-0123456789abcdef0123456789abcdef"
VOLATILE = ("timestamp", "execution_id", "duration_ms", "connection_id", "elapsed_ms")
BLOCK_ACCELERATORS = "import sys; sys.modules['uvloop'] = sys.modules['orjson'] = None; "
"""Prefix for ``python -c``: both imports raise ImportError, as on a machine without the extra."""


@pytest.fixture(autouse=True)
def restore_active() -> Iterator[None]:
    active = accel._active
    yield
    accel._active = active


@pytest.fixture
def not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "orjson", None)  # type: ignore[arg-type]


# --- the switch -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "on"), [(None, True), ("", True), ("0", True), ("1", False), ("yes", False)])
def test_wsagent_no_accel_is_read_into_the_environment_snapshot(value: str | None, on: bool) -> None:
    environ = {} if value is None else {"WSAGENT_NO_ACCEL": value}
    assert ServerEnvironment.from_mapping(environ).accelerators is on


def test_switched_off_means_the_standard_library_and_asyncio() -> None:
    off = accel.select(False)
    assert (off.names, off.loop_factory, off.encode) == ((), None, accel.stdlib_dumps)
    assert "WSAGENT_NO_ACCEL" in off.describe()


def test_not_installed_means_the_standard_library_and_asyncio(not_installed: None) -> None:
    chosen = accel.select(True)
    assert (chosen.names, chosen.loop_factory, chosen.encode) == ((), None, accel.stdlib_dumps)
    assert "pip install wsagent[fast]" in chosen.describe()
    accel.activate(True)
    assert manager_module.dumps({"type": "pong", "n": 1}) == '{"type":"pong","n":1}'


def test_installed_and_on_means_uvloop_and_orjson() -> None:
    pytest.importorskip("uvloop")
    orjson = pytest.importorskip("orjson")
    chosen = accel.select(True)
    assert chosen.names == ("uvloop", "orjson")
    assert chosen.loop_factory is sys.modules["uvloop"].new_event_loop
    accel.activate(True)
    sent = manager_module.dumps({"type": "pong"})
    assert isinstance(sent, str)
    assert sent == orjson.dumps({"type": "pong"}).decode()
    accel.activate(False)
    assert manager_module.dumps({"type": "pong"}) == accel.stdlib_dumps({"type": "pong"})


# --- same frames ----------------------------------------------------------------------------------------------


async def recorded_frames(monkeypatch: pytest.MonkeyPatch) -> list[Mapping[str, Any]]:
    """Every frame the server's rooms serialise for a few runs (researcher, calculator, echo, a tool error), an
    error and a pong, wired as the server wires them, without sockets."""
    frames: list[Mapping[str, Any]] = []

    def record(frame: Mapping[str, Any]) -> str:
        frames.append(frame)
        return accel.stdlib_dumps(frame)

    monkeypatch.setattr(manager_module, "dumps", record)
    manager = WebSocketManager()
    registry = AgentRegistry()
    registry.set_websocket_manager(manager)
    engine = ExecutionEngine(registry)
    sink = RecordingSink()
    user = UserContext("alice", "alice@example.invalid", (), {"sub": "alice"}, Transport.BEARER, None)
    conn = ClientConnection(sink, user, INACTIVE, "conn_0")
    conn.start()
    manager.add(conn)
    starts = [
        StartAgent("researcher", "websockets — déjà vu ✓ \u2028", thread_id="thread_a", run_id="thread_a_run_1"),
        StartAgent("calculator", "what is 2**40 / 3 + 1e-7?"),
        StartAgent("echo", "hi"),
        StartAgent("researcher", "q", scenario="tool_error"),
    ]
    pending = {engine.start(RunRequest("alice", start, e2e_active=start.scenario is not None)).run_id for start in starts}

    def last_terminal(frame: dict[str, Any]) -> bool:
        if frame["type"] in ("agent_completed", "error"):
            pending.discard(frame.get("run_id"))
        return not pending

    await sink.frames_until(last_terminal)
    conn.send_frame(error_frame(ErrorCode.JSON_PARSE_ERROR, "message is not valid JSON"))
    conn.send_frame(pong_frame())
    await engine.shutdown()
    await conn.stop()
    return frames


async def test_orjson_frames_parse_equal_to_the_standard_librarys(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("orjson")
    frames = await recorded_frames(monkeypatch)
    assert {"agent_started", "tool_executing", "tool_completed", "agent_completed", "error", "pong"} <= {f["type"] for f in frames}
    fast = accel.select(True).encode
    for frame in frames:
        text = fast(frame)
        assert isinstance(text, str)
        assert json.loads(text) == json.loads(accel.stdlib_dumps(frame))


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "x", "data": {"text": "déjà vu ✓ \u2028 \x00 </script>", "n": 2**63, "f": [0.1, 1e-05, 1e16, -0.0]}},
        {"type": "x", "data": {"big": 2**70}},  # past 64 bits: orjson refuses, the standard library writes it
        {"type": "x", "data": {1: "non-string key"}},  # orjson refuses, json writes "1"
        {"type": "x", "data": json.loads("[" * 300 + "]" * 300)},  # deeper than orjson's 254 levels
    ],
    ids=["text-and-numbers", "int-past-64-bits", "non-string-key", "deep-nesting"],
)
def test_orjson_and_the_standard_library_agree_on_awkward_frames(frame: dict[str, Any]) -> None:
    """Same value; the text differs only in float spelling (orjson ``0.00001``, json ``1e-05``)."""
    pytest.importorskip("orjson")
    assert json.loads(accel.select(True).encode(frame)) == json.loads(accel.stdlib_dumps(frame))


# --- the server process, on, off and without the extra ---------------------------------------------------------


def researcher_frames(code: str, env: Mapping[str, str]) -> tuple[list[dict[str, Any]], str]:
    """``python -c code`` (which runs the server), one researcher run; its frames, volatile fields blanked, and stderr."""
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0", "--exit-with-stdin"],
        cwd=ROOT, env=user_env(JWT_SECRET_KEY=SECRET, **env),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[1]
        frames = []
        with connect(url, additional_headers={"Authorization": f"Bearer {mint_token(SECRET)}"}, proxy=None) as ws:
            ws.recv(timeout=10)  # connection_established
            payload = {"agent_name": "researcher", "user_request": "déjà vu", "thread_id": "thread_t", "run_id": "thread_t_run_1"}
            ws.send(json.dumps({"type": "start_agent", "payload": payload}))
            while True:
                message = ws.recv(timeout=10)
                assert isinstance(message, str)
                frame = json.loads(message)
                if frame["type"] != "heartbeat":
                    frames.append(blank(frame))
                if frame["type"] in ("agent_completed", "error"):
                    break
    finally:
        _, stderr = process.communicate(input="", timeout=10)
    return frames, stderr


def blank(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "*" if k in VOLATILE else blank(v) for k, v in value.items()}
    if isinstance(value, list):
        return [blank(v) for v in value]
    return value


RUN_SERVER = "import sys; from mock_server.__main__ import main; sys.argv[0] = 'mock_server'; sys.exit(main(sys.argv[1:]))"


def test_the_server_sends_the_same_frames_with_accelerators_on_off_and_absent() -> None:
    on, on_log = researcher_frames(RUN_SERVER, {})
    off, off_log = researcher_frames(RUN_SERVER, {"WSAGENT_NO_ACCEL": "1"})
    absent, absent_log = researcher_frames(BLOCK_ACCELERATORS + RUN_SERVER, {})
    assert [f["type"] for f in on][0] == "agent_started"
    assert on[-1]["type"] == "agent_completed"
    assert on == off == absent
    installed = [name for name in ("uvloop", "orjson") if accel._optional(name) is not None]
    assert f"accelerators: {', '.join(installed) or 'none installed'}" in on_log
    assert "accelerators: none (switched off by WSAGENT_NO_ACCEL)" in off_log
    assert "accelerators: none installed (pip install wsagent[fast])" in absent_log
