"""The reference server over real sockets, in-process on port 0: handshake, runs, robustness, shutdown, faults.

Every wait is on a frame (a run's terminal frame, or the ``pong`` of a ``ping`` barrier: frames leave a connection
in order, so everything sent before the ``pong`` has arrived) or on a close; no test sleeps or times anything.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mock_server.environment import Environment, ServerEnvironment
from mock_server.faults import FaultName, Faults
from mock_server.server import MockServer, ServerConfig, run_server
from mock_server.testing import mint_token

SECRET = "socket-test-secret-0123456789abcdef01"
WAIT_S = 5.0
E2E_HEADERS = {"X-Test-Type": "e2e", "X-Test-Environment": "development", "X-E2E-Test": "true", "X-Test-Mode": "true"}
FIVE = ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "tool_executing", "tool_completed", "agent_completed"]


def config(*faults: FaultName, environment: Environment = Environment.DEVELOPMENT, **kw: Any) -> ServerConfig:
    env = ServerEnvironment(name=environment, jwt_secret_key=SECRET)
    return ServerConfig(environment=env, faults=Faults(frozenset(faults)), **kw)


@pytest.fixture
async def server() -> AsyncIterator[MockServer]:
    async with run_server(config(heartbeat_s=0.1, slow_tool_s=0.6)) as running:
        yield running


def b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@asynccontextmanager
async def client(
    server: MockServer, sub: str = "alice", *, token: str | None = None, via: str = "bearer", e2e: bool = False
) -> AsyncIterator[tuple[ClientConnection, dict[str, Any]]]:
    """A connection presenting ``token`` (default: a valid one for ``sub``) ``via`` a transport, and its hello frame."""
    token = mint_token(SECRET, sub) if token is None else token
    headers = dict(E2E_HEADERS) if e2e else {}
    url, subprotocols = server.url, None
    if via == "bearer":
        headers["Authorization"] = f"Bearer {token}"
    elif via in ("subprotocol", "raw"):
        subprotocols = ["jwt-auth", f"jwt.{b64url(token) if via == 'subprotocol' else token}"]
    elif via == "query":
        url += f"?token={token}"
    async with connect(url, additional_headers=headers, subprotocols=subprotocols, open_timeout=WAIT_S) as ws:  # type: ignore[arg-type]
        yield ws, await recv(ws)


async def recv(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))


async def until(ws: ClientConnection, done: Any) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await recv(ws)
        frames.append(frame)
        if done(frame):
            return frames


async def barrier(ws: ClientConnection) -> list[dict[str, Any]]:
    """What the server sent before answering a ping."""
    await ws.send('{"type": "ping"}')
    return (await until(ws, lambda f: f["type"] == "pong"))[:-1]


async def run(ws: ClientConnection, agent: str = "researcher", request: str = "websockets", **payload: Any) -> list[dict[str, Any]]:
    """Start a run (with client-made ids unless given) and return its frames up to the terminal one."""
    thread = payload.setdefault("thread_id", f"thread_{uuid.uuid4().hex[:12]}")
    run_id = payload.setdefault("run_id", f"{thread}_run_{uuid.uuid4().hex[:8]}")
    await ws.send(json.dumps({"type": "start_agent", "payload": {"agent_name": agent, "user_request": request, **payload}}))
    frames = await until(ws, lambda f: f.get("run_id") == run_id and f["type"] in ("agent_completed", "error"))
    return [f for f in frames if f.get("run_id") == run_id]


def kinds(frames: list[dict[str, Any]]) -> list[str]:
    return [f["type"] for f in frames]


async def refusal(server: MockServer, **kw: Any) -> httpx.Response:
    """The HTTP response to an upgrade that must be refused."""
    with pytest.raises(InvalidStatus) as caught:
        async with client(server, **kw):
            pass
    response = caught.value.response
    return httpx.Response(response.status_code, headers=list(response.headers.raw_items()), content=bytes(response.body or b""))


# --- handshake ------------------------------------------------------------------------------------------------


async def test_golden_path(server: MockServer) -> None:
    async with client(server, "alice") as (ws, hello):
        assert hello["type"] == "connection_established"
        data = hello["data"]
        assert data["user_id"] == "alice"
        assert data["connection_id"].startswith("conn_")
        assert data["e2e"] == {"active": False, "source": None}
        assert data["features"] == {"scenarios": False, "query_token": True}
        frames = await run(ws)
        assert kinds(frames) == FIVE
        assert {f["user_id"] for f in frames} == {"alice"}
        assert len({f["thread_id"] for f in frames}) == 1


@pytest.mark.parametrize("via", ["subprotocol", "raw"])
async def test_subprotocol_token_is_accepted_and_its_exact_entry_selected(server: MockServer, via: str) -> None:
    token = mint_token(SECRET, "bob")
    async with client(server, token=token, via=via) as (ws, hello):
        assert ws.subprotocol == f"jwt.{b64url(token) if via == 'subprotocol' else token}"
        assert hello["data"]["user_id"] == "bob"


async def test_bearer_with_subprotocol_still_selects_the_entry(server: MockServer) -> None:
    entry = f"jwt.{b64url(mint_token(SECRET, 'someone-else'))}"
    headers = {"Authorization": f"Bearer {mint_token(SECRET, 'alice')}"}
    async with connect(server.url, additional_headers=headers, subprotocols=["jwt-auth", entry]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == entry
        assert (await recv(ws))["data"]["user_id"] == "alice"


async def test_query_token_outside_production(server: MockServer) -> None:
    async with client(server, "carol", via="query") as (_, hello):
        assert hello["data"]["user_id"] == "carol"


EXPIRED = mint_token(SECRET, "eve", iat=900_000, exp=1_000_000)
OVERSIZED = mint_token(SECRET, "eve", padding="x" * 64 * 1024)


@pytest.mark.parametrize(
    ("token", "via"),
    [(EXPIRED, "bearer"), (EXPIRED, "subprotocol"), (EXPIRED, "raw"), (EXPIRED, "query"), (OVERSIZED, "bearer"), (OVERSIZED, "subprotocol"), ("", "none")],
    ids=["bearer", "subprotocol", "raw", "query", "oversized", "oversized-subprotocol", "none"],
)
async def test_bad_tokens_get_403_json_before_the_upgrade_without_the_token(server: MockServer, token: str, via: str) -> None:
    response = await refusal(server, token=token, via=via)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error_code"] == "AUTH_FAILED"
    assert isinstance(body["message"], str)
    if token:
        assert token not in response.text
        assert b64url(token) not in response.text
        assert token not in str(response.headers)
    assert SECRET not in response.text


async def test_production_refuses_query_tokens_and_grants_no_e2e() -> None:
    async with run_server(config(environment=Environment.PRODUCTION)) as prod:
        response = await refusal(prod, via="query")
        assert response.status_code == 403
        assert "production" in response.json()["message"]
        async with client(prod, e2e=True) as (ws, hello):
            assert hello["data"]["e2e"] == {"active": False, "source": None}
            assert hello["data"]["features"] == {"scenarios": False, "query_token": False}
            [error] = await run(ws, scenario="agent_crash")
            assert (error["error_code"], error["type"]) == ("E2E_NOT_ALLOWED", "error")


async def test_health_and_unknown_paths(server: MockServer) -> None:
    async with httpx.AsyncClient() as http:
        health = await http.get(server.health_url)
        missing = await http.get(server.health_url.replace("/health", "/nope"))
    assert health.status_code == 200
    assert health.headers["content-type"] == "application/json"
    assert {k: health.json()[k] for k in ("status", "environment")} == {"status": "ok", "environment": "development"}
    assert isinstance(health.json()["version"], str)
    assert missing.status_code == 404


async def test_e2e_connection(server: MockServer) -> None:
    async with client(server, e2e=True) as (ws, hello):
        assert hello["data"]["e2e"] == {"active": True, "source": "headers"}
        assert hello["data"]["features"]["scenarios"] is True
        [error] = await run(ws, scenario="melt_down")
        assert error["error_code"] == "UNKNOWN_SCENARIO"


# --- runs -----------------------------------------------------------------------------------------------------


async def test_user_message_and_chat_run_echo(server: MockServer) -> None:
    async with client(server) as (ws, _):
        for kind in ("user_message", "chat"):
            await ws.send(json.dumps({"type": kind, "payload": {"message": "hi", "run_id": f"r-{kind}"}}))
            frames = await until(ws, lambda f: f["type"] == "agent_completed")
            assert kinds(frames) == ["agent_started", "agent_thinking", "agent_completed"]
            assert frames[0]["agent_name"] == "echo"


async def test_server_created_ids_are_unique_across_users(server: MockServer) -> None:
    async with client(server, "alice") as (alice, _), client(server, "bob") as (bob, _):
        threads = set()
        for ws in (alice, bob):
            await ws.send(json.dumps({"type": "start_agent", "payload": {"agent_name": "echo", "user_request": "x"}}))
            frames = await until(ws, lambda f: f["type"] == "agent_completed")
            threads.add(frames[0]["thread_id"])
            assert frames[0]["run_id"].startswith(f"{frames[0]['thread_id']}_run_")
        assert len(threads) == 2


async def test_every_tab_receives_every_event(server: MockServer) -> None:
    async with client(server, "alice") as (first, _), client(server, "alice") as (second, _):
        frames = await run(first)
        seen = [f for f in await barrier(second) if f.get("run_id") == frames[0]["run_id"]]
        assert seen == frames


async def test_concurrent_users_see_only_their_own_frames(server: MockServer) -> None:
    users = [f"user{n}" for n in range(6)]
    async with asyncio.TaskGroup() as group:
        for user in users:
            group.create_task(one_user(server, user))


async def one_user(server: MockServer, user: str) -> None:
    async with client(server, user) as (ws, _):
        frames = await run(ws, "echo" if user.endswith(("1", "3")) else "researcher")
        assert {f["user_id"] for f in frames} == {user}
        leftovers = await barrier(ws)
        assert all(f["type"] == "heartbeat" for f in leftovers)


async def test_payload_user_id_and_another_users_thread(server: MockServer) -> None:
    async with client(server, "victim") as (victim, _), client(server, "attacker") as (attacker, _):
        owned = await run(victim, "echo")
        spoofed = await run(attacker, "echo", user_id="victim")
        assert {f["user_id"] for f in spoofed} == {"attacker"}
        [denied] = await run(attacker, "echo", thread_id=owned[0]["thread_id"])
        assert denied["error_code"] == "THREAD_ACCESS_DENIED"
        assert [f for f in await barrier(victim) if f["type"] != "heartbeat"] == []


async def test_scenarios_end_loudly(server: MockServer) -> None:
    async with client(server, e2e=True) as (ws, _), client(server, "bystander", e2e=True) as (other, _):
        [error] = await run(ws, scenario="unresolvable_thread")
        assert error["error_code"] == "THREAD_RESOLUTION_FAILED"
        assert kinds(await run(ws, scenario="tool_error"))[-2:] == ["tool_completed", "agent_completed"]
        assert (await run(ws, scenario="agent_crash"))[-1]["data"]["status"] == "failed"
        assert kinds(await run(ws)) == FIVE
        assert await barrier(other) == []


async def test_heartbeat_during_slow_tool(server: MockServer) -> None:
    async with client(server, e2e=True) as (ws, _):
        await ws.send(json.dumps({"type": "start_agent", "payload": {"agent_name": "researcher", "user_request": "q", "scenario": "slow_tool"}}))
        frames = await until(ws, lambda f: f["type"] == "agent_completed")
        types = kinds(frames)
        assert "heartbeat" in types[types.index("tool_executing"):types.index("tool_completed")]


async def test_a_client_leaving_mid_run_harms_nobody(server: MockServer) -> None:
    async with client(server, "stayer", e2e=True) as (stayer, _):
        async with client(server, "leaver", e2e=True) as (leaver, _):
            await leaver.send(json.dumps({"type": "start_agent", "payload": {"agent_name": "researcher", "user_request": "q", "scenario": "slow_tool"}}))
            await until(leaver, lambda f: f["type"] == "tool_executing")
        assert kinds(await run(stayer)) == FIVE
        async with httpx.AsyncClient() as http:
            assert (await http.get(server.health_url)).status_code == 200


# --- robustness -----------------------------------------------------------------------------------------------

PROBES = [
    ('{"type": "start_agent", ', "JSON_PARSE_ERROR"),
    ("[1, 2, 3]", "INVALID_MESSAGE"),
    ('{"payload": {}}', "INVALID_MESSAGE"),
    ('{"type": "make_coffee"}', "UNKNOWN_MESSAGE_TYPE"),
    ('{"type": "start_agent", "payload": {"agent_name": "nobody", "user_request": "x", "run_id": "r0"}}', "UNKNOWN_AGENT"),
    (b"\x00\x01binary", "BINARY_NOT_SUPPORTED"),
]


@pytest.mark.parametrize(("probe", "code"), PROBES, ids=[code for _, code in PROBES])
async def test_bad_input_gets_an_error_and_the_connection_carries_on(server: MockServer, probe: str | bytes, code: str) -> None:
    async with client(server, "alice") as (ws, _), client(server, "bob") as (bob, _):
        await ws.send(probe)
        bystander = asyncio.create_task(run(bob))
        [error] = [f for f in await barrier(ws) if f["type"] != "heartbeat"]
        assert (error["type"], error["error_code"], error["details"]) == ("error", code, {})
        assert error["message"]
        assert kinds(await run(ws)) == FIVE
        assert kinds(await bystander) == FIVE


async def test_ping_pong_and_protocol_pings(server: MockServer) -> None:
    async with client(server) as (ws, _):
        assert await barrier(ws) == []
        await asyncio.wait_for(await ws.ping(), WAIT_S)


async def test_one_mebibyte_is_accepted(server: MockServer) -> None:
    async with client(server) as (ws, _):
        prefix = '{"type": "ping", "pad": "'
        await ws.send(prefix + "x" * (2**20 - len(prefix) - 2) + '"}')
        assert (await recv(ws))["type"] == "pong"


@pytest.mark.parametrize(("payload", "code"), [("x" * (2**20 + 1), 1009), (b'{"type": "\xff\xfe"}', 1007)], ids=["oversize", "invalid_utf8"])
async def test_oversize_and_invalid_utf8_close_the_connection(server: MockServer, payload: str | bytes, code: int) -> None:
    async with client(server, "alice") as (ws, _), client(server, "bob") as (bob, _):
        await ws.send(payload, text=True)
        with pytest.raises(ConnectionClosed) as closed:
            await until(ws, lambda f: False)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == code
        assert kinds(await run(bob)) == FIVE


async def test_a_flood_does_not_stop_other_users(server: MockServer) -> None:
    async with client(server, "mallory") as (noisy, _), client(server, "calm") as (calm, _):
        for n in range(1000):
            await noisy.send(f'{{"type": "flood", "n": {n}')
        assert kinds(await run(calm)) == FIVE
        answers = await barrier(noisy)
        assert len(answers) == 1000
        assert {f["error_code"] for f in answers} == {"JSON_PARSE_ERROR"}


async def test_graceful_shutdown_ends_runs_then_closes_1001() -> None:
    async with run_server(config(slow_tool_s=30)) as srv:
        ws = await connect(srv.url, additional_headers={"Authorization": f"Bearer {mint_token(SECRET)}", **E2E_HEADERS})
        await recv(ws)
        await ws.send(json.dumps({"type": "start_agent", "payload": {"agent_name": "researcher", "user_request": "q", "scenario": "slow_tool"}}))
        await until(ws, lambda f: f["type"] == "tool_executing")
        await srv.close()
    rest = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            rest.append(await recv(ws))
    assert kinds(rest) == ["tool_completed", "agent_completed"]
    assert rest[-1]["data"]["status"] == "failed"
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1001


# --- faults that only show on the wire -------------------------------------------------------------------------


@asynccontextmanager
async def faulty(*faults: FaultName, **kw: Any) -> AsyncIterator[MockServer]:
    async with run_server(config(*faults, **kw)) as srv:
        yield srv


async def test_fault_subprotocol_not_echoed() -> None:
    async with faulty(FaultName.SUBPROTOCOL_NOT_ECHOED) as srv:
        async with client(srv, via="subprotocol") as (ws, _):
            assert ws.subprotocol is None


async def test_fault_hello_user_id_from_email() -> None:
    async with faulty(FaultName.HELLO_USER_ID_FROM_EMAIL) as srv, client(srv, "alice") as (_, hello):
        assert hello["data"]["user_id"] == "alice@example.invalid"


async def test_fault_token_echoed_in_rejection() -> None:
    async with faulty(FaultName.TOKEN_ECHOED_IN_REJECTION) as srv:
        assert EXPIRED in (await refusal(srv, token=EXPIRED)).text


async def test_fault_e2e_in_production() -> None:
    async with faulty(FaultName.E2E_IN_PRODUCTION, environment=Environment.PRODUCTION) as srv, client(srv, e2e=True) as (_, hello):
        assert hello["data"]["e2e"]["active"] is True


@pytest.mark.parametrize(
    ("fault", "probe", "close_code"),
    [
        (FaultName.INVALID_JSON_CLOSES_CONNECTION, "{broken", 1011),
        (FaultName.BINARY_FRAME_CRASHES_HANDLER, b"\x00\x01", 1011),
        (FaultName.BINARY_FRAME_CLOSES_1003, b"\x00\x01", 1003),
    ],
)
async def test_faults_that_close_the_connection(fault: FaultName, probe: str | bytes, close_code: int) -> None:
    async with faulty(fault) as srv, client(srv) as (ws, _):
        await ws.send(probe)
        with pytest.raises(ConnectionClosed) as closed:
            await until(ws, lambda f: False)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == close_code


async def test_fault_no_message_size_limit() -> None:
    async with faulty(FaultName.NO_MESSAGE_SIZE_LIMIT) as srv, client(srv) as (ws, _):
        await ws.send("x" * (2**20 + 1))
        assert [f["error_code"] for f in await barrier(ws)] == ["JSON_PARSE_ERROR"]


async def test_fault_unknown_type_ignored() -> None:
    async with faulty(FaultName.UNKNOWN_TYPE_IGNORED) as srv, client(srv) as (ws, _):
        await ws.send('{"type": "make_coffee"}')
        assert await barrier(ws) == []


async def test_fault_no_pong() -> None:
    async with faulty(FaultName.NO_PONG) as srv, client(srv) as (ws, _):
        await ws.send('{"type": "ping"}')
        frames = await run(ws, "echo")
        assert "pong" not in kinds(frames)
        assert frames[-1]["type"] == "agent_completed"


async def test_fault_e2e_headers_ignored() -> None:
    async with faulty(FaultName.E2E_HEADERS_IGNORED) as srv, client(srv, e2e=True) as (_, hello):
        assert hello["data"]["e2e"] == {"active": False, "source": None}
