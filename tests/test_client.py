"""The recording client against a tiny in-test server (not mock_server): it records, redacts and waits, never judges.

The server authenticates in ``process_request`` (403 with a JSON body that leaks the token, to prove redaction),
echoes the ``jwt.`` subprotocol, answers ``ping`` and ``start_agent``, and obeys a few test commands.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from harness.client import Session
from harness.tokens import TokenFactory
from harness.transcript import SECRET as SECRET_MARK
from harness.transcript import SIGNATURE, TOKEN, TOKEN_B64, Direction, Kind, Transcript, b64url

SECRET = "in-test-secret-0123456789abcdef-xyz"
TOKENS = TokenFactory(SECRET, "development")


def presented_token(request: Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[len("Bearer "):]
    for entry in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        entry = entry.strip()
        if entry.startswith("jwt."):
            raw = entry[4:]
            if raw.count(".") == 2:
                return raw
            return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    return parse_qs(urlsplit(request.path).query).get("token", [None])[0]


def process_request(connection: ServerConnection, request: Request) -> Response | None:
    token = presented_token(request)
    try:
        jwt.decode(token or "", SECRET, algorithms=["HS256"], audience="netra-platform", issuer="netra-auth-service")
    except jwt.PyJWTError:
        body = json.dumps({"error_code": "AUTH_FAILED", "message": f"rejected token {token}"})
        response = connection.respond(HTTPStatus.FORBIDDEN, body)
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        response.headers["X-Echo-Token"] = str(token)
        return response
    return None


def select_subprotocol(connection: ServerConnection, offered: Any) -> Any:
    if connection.request and "X-Select-Unoffered" in connection.request.headers:
        return "jwt.unoffered"
    return next((p for p in offered if p.startswith("jwt.")), None)


async def handler(ws: ServerConnection) -> None:
    assert ws.request is not None
    token = presented_token(ws.request) or ""
    sub = jwt.decode(token, options={"verify_signature": False})["sub"]
    e2e = {k: v for k, v in ws.request.headers.raw_items() if k.lower().startswith("x-")}
    await ws.send(json.dumps({"type": "connection_established", "data": {"user_id": sub, "headers": e2e}}))
    async for message in ws:
        if isinstance(message, bytes):
            await ws.send(json.dumps({"type": "got_binary", "size": len(message)}))
            await ws.send(b"\x00" * 7)
            continue
        frame = json.loads(message)
        kind = frame.get("type")
        if kind == "ping":
            await ws.send('{"type":"pong"}')
        elif kind == "start_agent":
            run_id = frame["payload"].get("run_id") or "thread_srv_run_1"
            await ws.send(json.dumps({"type": "agent_started", "run_id": run_id, "data": {"user_request": "x"}}))
            if frame["payload"].get("scenario") == "crash":
                await ws.send(json.dumps({"type": "error", "error_code": "AGENT_FAILED", "data": {"run_id": run_id}}))
            else:
                await ws.send(json.dumps({"type": "agent_completed", "payload": {"run_id": run_id, "status": "completed"}}))
        elif kind == "leak":
            await ws.send(json.dumps({"type": "leak", "token": token, "b64": b64url(token), "secret": SECRET}))
        elif kind == "close_me":
            await ws.close(4001, f"bye {token.rsplit('.', 1)[1]}")


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0, process_request=process_request, select_subprotocol=select_subprotocol) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws"


@pytest.fixture
async def session(url: str) -> AsyncIterator[Session]:
    async with Session(url, Transcript(), secret=SECRET, open_timeout=5, default_timeout=5) as session:
        yield session


def leaks(transcript: Transcript, *secrets: str) -> list[str]:
    text = transcript.dumps()
    return [s for s in secrets if s in text]


async def test_bearer_connection_records_handshake_hello_and_both_directions(session: Session) -> None:
    token = TOKENS.valid("alice")
    conn = await session.connect("alice", token)
    assert conn.accepted
    assert conn.status == 101
    assert conn.label == "alice#1"
    assert conn.hello is not None
    assert conn.hello.type == "connection_established"
    assert conn.hello.frame["data"]["user_id"] == "alice"
    assert await conn.send_json({"type": "ping"}, note={"probe": "ping"})
    pong = await conn.wait_for(lambda r: r.type == "pong")
    assert pong is not None
    handshake, sent = session.transcript[0], session.transcript[2]
    assert handshake.kind is Kind.HANDSHAKE
    assert handshake.direction is Direction.RECEIVED
    assert handshake.info["status"] == 101
    assert handshake.info["error"] is None
    assert handshake.note == {"token": "valid", "transport": "bearer", "e2e": False, "offered": [], "path": "/ws"}
    assert (sent.direction, sent.kind, sent.type, sent.note) == (Direction.SENT, Kind.TEXT, "ping", {"probe": "ping"})
    assert pong.seq > sent.seq
    assert pong.user == "alice"
    assert pong.conn == "alice#1"
    assert not leaks(session.transcript, token, SECRET)


async def test_rejection_is_recorded_not_raised_and_redacted(session: Session) -> None:
    token = TOKENS.bad("expired")
    assert token is not None
    conn = await session.connect(None, token, token_kind="expired")
    assert not conn.accepted
    assert conn.status == 403
    assert conn.hello is None
    info = conn.handshake.info if conn.handshake else {}
    assert json.loads(info["body"]) == {"error_code": "AUTH_FAILED", "message": f"rejected token {TOKEN}"}
    assert info["headers"]["x-echo-token"] == TOKEN
    assert info["headers"]["content-type"] == "application/json"
    assert info["error"] is None
    assert conn.handshake
    assert conn.handshake.note["token"] == "expired"
    assert conn.label == "anonymous#1"
    assert not await conn.send_text("hello?")
    assert await conn.wait_for(lambda r: True, 1) is None
    assert not leaks(session.transcript, token, token.rsplit(".", 1)[1])


@pytest.mark.parametrize(("transport", "marker"), [("subprotocol", TOKEN_B64), ("subprotocol_raw", TOKEN)])
async def test_subprotocol_token_is_offered_selected_and_redacted(session: Session, transport: Any, marker: str) -> None:
    token = TOKENS.valid("bob")
    conn = await session.connect("bob", token, transport=transport)
    assert conn.accepted
    assert conn.subprotocol == f"jwt.{marker}"
    assert conn.handshake
    assert conn.handshake.note["offered"] == ["jwt-auth", f"jwt.{marker}"]
    assert conn.handshake.info["headers"]["sec-websocket-protocol"] == f"jwt.{marker}"
    assert not leaks(session.transcript, token, b64url(token))


async def test_broken_upgrade_keeps_the_response_and_the_error(url: str) -> None:
    async with Session(url, secret=SECRET, extra_headers={"X-Select-Unoffered": "1"}) as session:
        conn = await session.connect("bob", TOKENS.valid("bob"), transport="subprotocol")
    assert not conn.accepted
    assert conn.status == 101
    assert conn.subprotocol == "jwt.unoffered"
    assert conn.handshake
    assert "unoffered" in conn.handshake.info["error"]


async def test_query_transport_keeps_the_token_out_of_the_path(session: Session) -> None:
    token = TOKENS.valid("carol")
    conn = await session.connect("carol", token, transport="query")
    assert conn.accepted
    assert conn.handshake
    assert conn.handshake.note["path"] == "/ws"
    assert not leaks(session.transcript, token)


async def test_missing_token_and_e2e_headers(session: Session) -> None:
    refused = await session.connect(None, None, token_kind="missing", e2e=True)
    assert refused.status == 403
    assert refused.handshake
    assert refused.handshake.note["e2e"] is True
    conn = await session.connect("dave", TOKENS.valid("dave"), e2e=True)
    assert conn.hello is not None
    headers = conn.hello.frame["data"]["headers"]
    assert headers == {"X-Test-Type": "e2e", "X-Test-Environment": "development", "X-E2E-Test": "true", "X-Test-Mode": "true"}


async def test_chosen_e2e_headers_are_sent_as_spelled_and_noted_with_whether_they_count(session: Session) -> None:
    counting = await session.connect("gina", TOKENS.valid("gina"), e2e_headers=[("x-e2e-test", "Yes")])
    other = await session.connect("gina", TOKENS.valid("gina"), e2e_headers=[("X-Test-Mode", "false")])
    assert counting.hello is not None
    assert other.hello is not None
    assert counting.hello.frame["data"]["headers"] == {"x-e2e-test": "Yes"}
    assert other.hello.frame["data"]["headers"] == {"X-Test-Mode": "false"}
    assert counting.handshake
    assert other.handshake
    assert (counting.handshake.note["e2e"], other.handshake.note["e2e"]) == (True, False)
    assert other.handshake.note["e2e_headers"] == [["X-Test-Mode", "false"]]


async def test_bearer_and_subprotocol_sends_both_tokens_and_redacts_both(session: Session) -> None:
    header, entry = TOKENS.valid("hal"), TOKENS.valid("ivy")
    conn = await session.connect("hal", header, transport="bearer_and_subprotocol", subprotocol_token=("ivy", entry))
    assert conn.hello is not None
    assert conn.hello.frame["data"]["user_id"] == "hal"  # the in-test server reads the header first
    assert conn.handshake
    assert conn.handshake.note["subprotocol_user"] == "ivy"
    assert conn.handshake.note["offered"] == ["jwt-auth", f"jwt.{TOKEN_B64}"]
    assert conn.subprotocol == f"jwt.{TOKEN_B64}"
    assert not leaks(session.transcript, header, entry)


async def test_connection_refused_is_recorded(url: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with Session(f"ws://127.0.0.1:{port}/ws", secret=SECRET) as session:
        conn = await session.connect("erin", TOKENS.valid("erin"))
    assert not conn.accepted
    assert conn.status is None
    assert conn.handshake
    assert conn.handshake.info["error"]
    assert "\n" not in conn.handshake.info["error"]


async def test_frames_are_redacted_before_they_are_stored(session: Session) -> None:
    token = TOKENS.valid("frank")
    conn = await session.connect("frank", token)
    await conn.send_json({"type": "leak"})
    leak = await conn.wait_for(lambda r: r.type == "leak")
    assert leak is not None
    assert leak.frame == {"type": "leak", "token": TOKEN, "b64": TOKEN_B64, "secret": SECRET_MARK}
    assert not leaks(session.transcript, token, b64url(token), SECRET)


async def test_wait_for_terminal_by_run_id_in_payload_or_data(session: Session) -> None:
    conn = await session.connect("gina", TOKENS.valid("gina"))
    done = await conn.start_run("echo", "hi", uses_tools=False)
    crashed = await conn.start_run("researcher", "hi", scenario="crash")
    assert done.run_id
    assert crashed.run_id
    assert done.thread_id
    assert done.run_id.startswith(f"{done.thread_id}_run_")
    assert done.thread_id.startswith("thread_")
    terminal = await conn.wait_for_terminal(crashed.run_id)
    assert terminal is not None
    assert terminal.type == "error"
    first = await conn.wait_for_terminal(done.run_id)
    assert first is not None
    assert first.type == "agent_completed"
    assert first.seq < terminal.seq
    assert done.record
    assert done.record.note["start"] == {
        "agent": "echo", "request": "hi", "run_id": done.run_id, "thread_id": done.thread_id, "scenario": None, "uses_tools": False,
    }


async def test_unnamed_run_terminal_is_claimed_once(session: Session) -> None:
    conn = await session.connect("hank", TOKENS.valid("hank"))
    handle = await conn.start_run("echo", "hi", run_id=None, thread_id=None)
    assert handle.run_id is None
    assert handle.record is not None
    assert "run_id" not in handle.record.frame["payload"]
    assert "thread_id" not in handle.record.frame["payload"]
    terminal = await conn.wait_for_terminal(None)
    assert terminal is not None
    assert terminal.frame["payload"]["run_id"] == "thread_srv_run_1"
    assert await conn.wait_for_terminal(None, 0.05) is None  # handed out once


async def test_template_placeholders_and_dropped_keys(url: str) -> None:
    template = json.dumps({
        "type": "start_agent",
        "payload": {"agent_name": "{agent}", "user_request": "{request}", "run_id": "{run_id}", "thread_id": "{thread_id}",
                    "scenario": "{scenario}", "labels": ["{scenario}", "fixed"], "title": "{agent} on {thread_id}", "n": 1},
    })
    async with Session(url, secret=SECRET, start_template=template) as session:
        conn = await session.connect("ivy", TOKENS.valid("ivy"))
        handle = await conn.start_run("echo", "say {run_id}", run_id="r-1", thread_id=None, claims_user="victim")
    assert handle.record is not None
    assert handle.record.frame == {
        "type": "start_agent",
        "payload": {"agent_name": "echo", "user_request": "say {run_id}", "run_id": "r-1", "labels": ["fixed"],
                    "title": "echo on ", "n": 1, "user_id": "victim"},
    }
    assert handle.record.note["start"]["claims_user"] == "victim"
    assert handle.run_id == "r-1"
    assert handle.thread_id is None


async def test_barrier_waits_past_a_probes_own_pong(session: Session) -> None:
    conn = await session.connect("jack", TOKENS.valid("jack"))
    await conn.send_json({"type": "ping"}, note={"probe": "ping"})
    pong = await conn.barrier()
    pongs = [r for r in conn.received if r.type == "pong"]
    assert pong is not None
    assert pong is pongs[1]


async def test_binary_both_ways_and_protocol_ping(session: Session) -> None:
    conn = await session.connect("kim", TOKENS.valid("kim"))
    assert await conn.send_bytes(b"\x01\x02\x03", note={"probe": "binary"})
    got = await conn.wait_for(lambda r: r.kind is Kind.BINARY)
    assert got is not None
    assert got.info == {"size": 7}
    sent = [r for r in session.transcript if r.direction is Direction.SENT and r.kind is Kind.BINARY]
    assert [r.info for r in sent] == [{"size": 3}]
    assert await conn.ws_ping()
    assert [r.info for r in session.transcript if r.kind is Kind.PING] == [{"answered": True}]


async def test_closes_are_recorded_with_code_and_who(session: Session) -> None:
    token = TOKENS.valid("liz")
    by_server = await session.connect("liz", token)
    by_client = await session.connect("liz", token)
    await by_server.send_json({"type": "close_me"})
    close = await by_server.wait_closed()
    assert close is not None
    assert close.direction is Direction.RECEIVED
    assert close.info == {"code": 4001, "reason": f"bye {SIGNATURE}", "by": "server"}
    assert not leaks(session.transcript, token.rsplit(".", 1)[1])
    assert not await by_server.send_json({"type": "ping"})
    assert not await by_server.ws_ping()
    assert len(by_server.received) == 2  # hello and the close: nothing recorded for sends on a closed connection
    await by_client.close()
    assert by_client.closed is not None
    assert by_client.closed.direction is Direction.SENT
    assert by_client.closed.info == {"code": 1000, "reason": "", "by": "client"}
    assert await by_client.wait_for(lambda r: r.type == "pong") is None


async def test_session_exit_closes_every_connection(url: str) -> None:
    async with Session(url, secret=SECRET) as session:
        conns = [await session.connect(f"u{n}", TOKENS.valid(f"u{n}")) for n in range(3)]
    assert all(c.closed is not None for c in conns)
    assert [c.closed.info["by"] for c in conns if c.closed] == ["client"] * 3
    closes = [r for r in session.transcript if r.kind is Kind.CLOSE]
    assert len(closes) == 3
    assert all(r.t >= 0 for r in session.transcript)
