"""The harness against hostile targets: it must end with a verdict or a reason, never hang or spew tracebacks.

Why: a user points ``wsagent run`` at a staging backend that may be down, half-deployed or broken. Whatever the
target does — never answer the handshake, go silent after the upgrade, send garbage or a 10 MiB frame, close or die
mid-run — the user must get exit code 1 (FAILED) or 2 (could not run) with a readable reason, within a bounded
time, and a readable ``conformance.json`` when one is written.

Each target is a tiny purpose-built server in this file on 127.0.0.1 port 0 (the killed one is a child process
that SIGKILLs itself the moment a run starts, so "mid-run" needs no timing). The harness runs exactly as a user
runs it, ``python -m harness.cli run --target ... --only ...``, with 2 s timeouts; the test awaits the harness
process, never sleeps.
"""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from http import HTTPStatus
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.exceptions import ConnectionClosed
from tests.shell import WSAGENT, user_env

ROOT = Path(__file__).resolve().parent.parent
SECRET = "hostile-test-secret-0123456789abcdef"
HARNESS_LIMIT_S = 60.0
"""Bound on one harness run against a hostile target (2 s timeouts; the slowest case waits a few of them)."""
TEN_MIB = 10 * 2**20
HELLO = {"type": "connection_established", "data": {"user_id": "?", "connection_id": "conn_hostile", "e2e": {"active": False, "source": None}}}
Selection = tuple[list[str], list[str]]
AUTH_CASE: Selection = (["--only", "AUTH-2"], [])
"""One case: connect with a valid Bearer token and read the first frame."""
RUN_CASE: Selection = (["--only", "EVT-1"], ["-k", "test_tool_agent_run"])
"""One case: a researcher run, judged by EVT-1..8."""


@dataclass(frozen=True)
class HarnessRun:
    code: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None


async def run_harness(url: str, report_dir: Path, selection: Selection) -> HarnessRun:
    """``python -m harness.cli run`` against ``url``, as a user runs it; killed (and failed) past the bound."""
    only, extra = selection
    command = [
        *WSAGENT, "run", "--target", url, *only, "--report-dir", str(report_dir),
        "--", "--wsagent-timeout=2", "--wsagent-open-timeout=2", "-p", "no:cacheprovider", *extra,
    ]
    env = user_env(JWT_SECRET_KEY=SECRET, ENVIRONMENT="development")
    process = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), HARNESS_LIMIT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"the harness did not finish within {HARNESS_LIMIT_S:g} s against {url}")
    summary = report_dir / "conformance.json"
    report = json.loads(summary.read_text(encoding="utf-8")) if summary.exists() else None
    assert process.returncode is not None
    return HarnessRun(process.returncode, out.decode(errors="replace"), err.decode(errors="replace"), report)


def assert_not_conformant(run: HarnessRun, ids: tuple[str, ...]) -> None:
    """Exit 1 or 2, a reason the user can read, no traceback storm, and no hostile behaviour reported OK."""
    assert run.code in (1, 2), (run.code, run.stdout[-2000:], run.stderr[-2000:])
    assert run.stderr.count("Traceback") == 0, run.stderr[-3000:]
    assert len(run.stderr.strip().splitlines()) <= 1, run.stderr[-3000:]
    reasons = [line for line in run.stdout.splitlines() if any(word in line for word in ("FAILED", "ERROR", "Exit:", "wsagent:"))]
    assert reasons, run.stdout[-3000:]
    if run.report is not None:
        grades = {req_id: run.report["requirements"][req_id]["grade"] for req_id in ids}
        assert "OK" not in grades.values(), grades
        assert run.report["aborted"] or any(grade in ("FAILED", "ERROR") for grade in grades.values()), grades


@asynccontextmanager
async def ws_target(handler: Callable[[ServerConnection], Awaitable[None]]) -> AsyncIterator[str]:
    """A websockets server that upgrades any request to /ws and hands the connection to ``handler``."""
    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None, ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws"


async def keep_reading(ws: ServerConnection) -> None:
    try:
        async for _ in ws:
            pass
    except ConnectionClosed:
        pass


# --- targets ------------------------------------------------------------------------------------------------------


async def test_target_that_never_answers_the_handshake(tmp_path: Path) -> None:
    """TCP accepts, the HTTP upgrade is read and never answered."""
    held: list[asyncio.StreamWriter] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        run = await run_harness(f"ws://127.0.0.1:{port}/ws", tmp_path, AUTH_CASE)
    finally:
        for writer in held:
            writer.close()
        server.close()
    assert_not_conformant(run, ("AUTH-2",))
    assert run.code == 2, run.stdout[-2000:]
    assert "did not answer the WebSocket handshake" in run.stdout, run.stdout[-2000:]


async def test_target_behind_a_proxy_that_refuses_with_its_own_page(tmp_path: Path) -> None:
    """Every upgrade gets a firewall's 403 page: not the contract's AUTH_FAILED body, so not a secret mismatch."""

    def firewall(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(HTTPStatus.FORBIDDEN, "<html>403 Forbidden by the web application firewall</html>\n")

    async with serve(keep_reading, "127.0.0.1", 0, process_request=firewall) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        run = await run_harness(f"ws://127.0.0.1:{port}/ws", tmp_path, AUTH_CASE)
    assert_not_conformant(run, ("AUTH-2",))
    assert run.code == 2, run.stderr[-2000:]
    assert "without the contract's AUTH_FAILED body" in run.stderr, run.stderr[-2000:]
    assert "secret" not in run.stderr, run.stderr[-2000:]


async def test_target_that_upgrades_then_goes_silent(tmp_path: Path) -> None:
    async with ws_target(keep_reading) as url:
        run = await run_harness(url, tmp_path, AUTH_CASE)
    assert_not_conformant(run, ("AUTH-2",))
    assert run.code == 2, run.stderr[-2000:]
    assert "accepts the upgrade but sends nothing within 2 s" in run.stderr, run.stderr[-2000:]


async def test_echo_server_instead_of_an_agent_backend(tmp_path: Path) -> None:
    """A generic WebSocket server (a wrong path, a test echo service) stops the whole run in seconds, not after
    every case has waited out its timeout."""

    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with ws_target(echo) as url:
        run = await run_harness(url, tmp_path, ([], []))
    assert_not_conformant(run, ("AUTH-2", "EVT-1"))
    assert run.code == 2, run.stderr[-2000:]
    assert "not even the contract's connection_established" in run.stderr, run.stderr[-2000:]


async def test_target_that_sends_garbage(tmp_path: Path) -> None:
    async def garbage(ws: ServerConnection) -> None:
        await ws.send("<html>502 Bad Gateway</html>")
        async for _ in ws:
            await ws.send("\x00garbage{{{ not json")

    async with ws_target(garbage) as url:
        run = await run_harness(url, tmp_path, RUN_CASE)
    assert_not_conformant(run, ("EVT-1", "EVT-2"))  # EVT-2 fails the silent run; EVT-1 has nothing to judge


async def test_target_that_sends_a_ten_mebibyte_frame(tmp_path: Path) -> None:
    async def flood(ws: ServerConnection) -> None:
        await ws.send("x" * TEN_MIB)
        await keep_reading(ws)

    async with ws_target(flood) as url:
        run = await run_harness(url, tmp_path, AUTH_CASE)
    assert_not_conformant(run, ("AUTH-2",))


async def test_target_that_closes_mid_run(tmp_path: Path) -> None:
    async def closes(ws: ServerConnection) -> None:
        await ws.send(json.dumps(HELLO))
        async for message in ws:
            if '"start_agent"' in str(message):
                run_id = json.loads(message)["payload"]["run_id"]
                await ws.send(json.dumps({"type": "agent_started", "run_id": run_id, "data": {"user_request": "?"}}))
                await ws.close(1011, "internal error")
                return

    async with ws_target(closes) as url:
        run = await run_harness(url, tmp_path, RUN_CASE)
    assert_not_conformant(run, ("EVT-1", "EVT-2"))


KILLED_SERVER = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys
    from websockets.asyncio.server import serve

    async def handler(ws):
        await ws.send(json.dumps({"type": "connection_established", "data": {"user_id": "?", "connection_id": "c"}}))
        async for message in ws:
            if '"start_agent"' in str(message):
                run_id = json.loads(message)["payload"]["run_id"]
                await ws.send(json.dumps({"type": "agent_started", "run_id": run_id, "data": {"user_request": "?"}}))
                os.kill(os.getpid(), signal.SIGKILL)  # dies mid-run, without a close frame

    async def main():
        async with serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
            print(next(iter(server.sockets)).getsockname()[1], flush=True)
            await asyncio.get_running_loop().create_future()

    asyncio.run(main())
    """
)


async def test_target_killed_mid_run(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", KILLED_SERVER, stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        port = int((await asyncio.wait_for(process.stdout.readline(), 15)).decode())
        run = await run_harness(f"ws://127.0.0.1:{port}/ws", tmp_path, RUN_CASE)
        assert await asyncio.wait_for(process.wait(), 15) == -9, "the target must have killed itself mid-run"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert_not_conformant(run, ("EVT-1", "EVT-2"))
