"""SIGTERM to ``python -m mock_server`` with runs in flight: every run ends loudly, every connection closes 1001.

Why: the harness stops its embedded server and CI stops staging servers while runs are in flight; a run must never
end in silence (PROTOCOL §5, "no silent failures") and a client must learn the server is going away (1001) rather
than see a dropped TCP connection (1006). The server is the real command, as a user starts it; ``slow_tool`` on an
E2E connection keeps a run in flight, and the signal is sent once ``tool_executing`` has arrived — a frame, not
a sleep. Several users and a second tab prove that *every* connection gets the same orderly end.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import struct
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mock_server.testing import mint_token

ROOT = Path(__file__).resolve().parent.parent
SECRET = "shutdown-test-secret-0123456789abcdef"
WAIT_S = 10.0
E2E_HEADERS = {"X-Test-Type": "e2e", "X-Test-Environment": "development", "X-E2E-Test": "true", "X-Test-Mode": "true"}


@asynccontextmanager
async def server_process() -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """``python -m mock_server --port 0`` and its URL from the READY line; killed if a test leaves it running."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_SECRET", "E2E_", "WSAGENT_", "ENVIRONMENT"))}
    env.update(JWT_SECRET_KEY=SECRET, PYTHONUNBUFFERED="1")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mock_server", "--port", "0", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), WAIT_S)).decode()
        assert line.startswith("READY ws://"), line
        yield process, line.split()[1]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def open_as(url: str, user: str) -> ClientConnection:
    headers = {"Authorization": f"Bearer {mint_token(SECRET, user)}", **E2E_HEADERS}
    ws = await connect(url, additional_headers=headers, open_timeout=WAIT_S, ping_interval=None)
    hello = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
    assert hello["type"] == "connection_established"
    assert hello["data"]["e2e"]["active"] is True
    return ws


async def start_slow_run(ws: ClientConnection, run_id: str) -> None:
    """Start a ``slow_tool`` run and return once its tool is executing (the run is in flight)."""
    payload = {"agent_name": "researcher", "user_request": "q", "scenario": "slow_tool", "run_id": run_id, "thread_id": f"thread_{run_id}"}
    await ws.send(json.dumps({"type": "start_agent", "payload": payload}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        if frame["type"] == "tool_executing" and frame["run_id"] == run_id:
            return


class RawClient:
    """A WebSocket client on a bare socket: it sees every byte the server sends, so "nothing after the close frame"
    is checked on the wire (a websockets client stops reading at the close and would hide a late frame)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, url: str, user: str) -> RawClient:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        key = base64.b64encode(os.urandom(16)).decode()
        headers = {"Host": parts.netloc, "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": key,
                   "Sec-WebSocket-Version": "13", "Authorization": f"Bearer {mint_token(SECRET, user)}", **E2E_HEADERS}
        writer.write((f"GET {parts.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode())
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
        assert response.startswith(b"HTTP/1.1 101"), response
        client = cls(reader, writer)
        assert json.loads((await client.frame())[1])["type"] == "connection_established"
        return client

    def send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        size = len(payload)
        header = bytes([0x80 | opcode]) + (bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + struct.pack("!H", size))
        self.writer.write(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    async def frame(self) -> tuple[int, bytes]:
        """The next frame as (opcode, payload); (-1, b"") at EOF."""
        try:
            first, second = await asyncio.wait_for(self.reader.readexactly(2), WAIT_S)
        except asyncio.IncompleteReadError:
            return -1, b""
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await self.reader.readexactly(size)

    async def after_close(self) -> tuple[list[dict[str, Any]], int, list[int]]:
        """Text frames up to the close frame, its code, and the opcodes of anything the server sent after it."""
        frames: list[dict[str, Any]] = []
        while True:
            opcode, payload = await self.frame()
            assert opcode != -1, "the connection ended without a close frame"
            if opcode == 0x1:
                frames.append(json.loads(payload))
            elif opcode == 0x8:
                break
        self.send(0x8, payload[:2])  # complete the closing handshake
        late = []
        while (opcode := (await self.frame())[0]) != -1:
            late.append(opcode)
        self.writer.close()
        return frames, struct.unpack("!H", payload[:2])[0], late


async def rest_until_close(ws: ClientConnection) -> tuple[list[dict[str, Any]], ConnectionClosed]:
    """Every frame still to come, and the close that ended them."""
    frames: list[dict[str, Any]] = []
    try:
        while True:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), WAIT_S)))
    except ConnectionClosed as closed:
        return frames, closed


async def test_sigterm_ends_runs_then_closes_every_connection_1001() -> None:
    async with server_process() as (process, url):
        alice = await open_as(url, "alice")
        alice_tab = await open_as(url, "alice")
        bob = await open_as(url, "bob")
        idle = await open_as(url, "carol")
        raw = await RawClient.open(url, "dave")
        await start_slow_run(alice, "run_alice")
        await start_slow_run(bob, "run_bob")
        payload = {"agent_name": "researcher", "user_request": "q", "scenario": "slow_tool", "run_id": "run_dave", "thread_id": "thread_dave"}
        raw.send(0x1, json.dumps({"type": "start_agent", "payload": payload}).encode())
        while json.loads((await raw.frame())[1])["type"] != "tool_executing":
            pass
        process.send_signal(signal.SIGTERM)
        raw_frames, raw_code, late = await raw.after_close()
        ends = {name: await rest_until_close(ws) for name, ws in (("alice", alice), ("alice_tab", alice_tab), ("bob", bob), ("idle", idle))}
        assert await asyncio.wait_for(process.wait(), WAIT_S) == 0
        assert process.stderr is not None
        log = (await process.stderr.read()).decode()
    assert "Traceback" not in log, log
    assert raw_code == 1001, (raw_code, late)
    assert late == [], (raw_code, late)
    assert [f["type"] for f in raw_frames if f["type"] != "heartbeat"] == ["tool_completed", "agent_completed"], raw_frames
    for name, (frames, closed) in ends.items():
        assert closed.rcvd is not None, (name, closed)
        assert closed.rcvd.code == 1001, (name, closed)
        assert closed.rcvd_then_sent is True, f"{name}: the server, not the client, must close first"
        runs = [f for f in frames if f["type"] != "heartbeat"]
        if name == "idle":
            assert runs == [], runs
            continue
        run_id = "run_bob" if name == "bob" else "run_alice"
        expected = ["tool_completed", "agent_completed"]
        if name == "alice_tab":  # a second tab receives every event of the user's run (ISO-2), from the start
            expected = ["agent_started", "agent_thinking", "tool_executing", *expected]
        assert [f["type"] for f in runs] == expected, (name, runs)
        assert {f["run_id"] for f in runs} == {run_id}, (name, runs)
        assert runs[-1]["data"]["status"] == "failed", runs[-1]
