"""L3's comparison: the golden path written plainly on Starlette and uvicorn, a bench fixture (not product code).

What the issue's independent generator measured the reference server against: one ASGI WebSocket endpoint that
checks the Bearer JWT (HS256, the same secret and claims as the reference server), greets with
``connection_established``, and answers each ``start_agent`` for ``researcher`` with the run's seven frames
(``agent_started``, ``agent_thinking``, then ``tool_executing``/``tool_completed`` for ``search`` and for
``summarize``, ``agent_completed``) in the canonical layout of PROTOCOL §4 — with the reference agent's pacing,
none: every frame is sent as soon as the one before it is, awaiting each ``send_text`` inline in the connection's
own handler. No outbox, no writer task, no run task; anything else a client sends is ignored. Started by
``bench/_serve.py plain`` on uvicorn's defaults (its own choice of loop, HTTP and WebSocket implementations).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

__all__ = ["app", "serve"]

POLICY_VIOLATION = 1008


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _hex(prefix: str, chars: int) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:chars]}"


def _dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


async def _researcher(send: Callable[[str, dict[str, Any]], Awaitable[None]], request: str) -> str:
    """The tools agent's golden path: think, ``search``, ``summarize``, answer with the summary."""
    await send("agent_thinking", {"reasoning": f"Planning: search for {request!r}, then summarize the hits.", "step_number": 1})
    hits = [{"title": f"{request}: {angle}", "rank": n} for n, angle in enumerate(("overview", "how it works", "common pitfalls"), 1)]
    summary = {"summary": f"Summary of {len(hits)} sources: " + "; ".join(hit["title"] for hit in hits)}
    for tool, parameters, results in (("search", {"query": request}, {"query": request, "hits": hits}), ("summarize", {"hits": hits}, summary)):
        execution = {"tool_name": tool, "execution_id": _hex("exec", 12)}
        await send("tool_executing", {**execution, "parameters": parameters})
        await send("tool_completed", {**execution, "success": True, "results": results, "duration_ms": 0.01})
    return summary["summary"]


def app(secret: str) -> Starlette:
    async def endpoint(ws: WebSocket) -> None:
        try:
            claims = jwt.decode(ws.headers.get("authorization", "").removeprefix("Bearer "), secret, algorithms=["HS256"],
                                audience="netra-platform", issuer="netra-auth-service", options={"require": ["sub", "iat", "exp", "jti"]})
        except jwt.PyJWTError:
            await ws.close(POLICY_VIOLATION)  # before accept: uvicorn answers the handshake 403
            return
        user = str(claims["sub"])
        await ws.accept()
        hello = {"user_id": user, "connection_id": _hex("conn", 12), "e2e": {"active": False, "source": None},
                 "features": {"scenarios": False, "query_token": True}, "environment": "development", "agents": ["researcher"]}
        await ws.send_text(_dumps({"type": "connection_established", "timestamp": _now(), "data": hello}))
        try:
            while True:
                message = json.loads(await ws.receive_text())
                payload = message.get("payload") or {}
                if message.get("type") != "start_agent" or payload.get("agent_name") != "researcher":
                    continue
                request = str(payload.get("user_request", ""))
                thread = payload.get("thread_id") or _hex("thread", 16)
                envelope = {"run_id": payload.get("run_id") or _hex(f"{thread}_run", 12), "thread_id": thread, "user_id": user,
                            "agent_name": "researcher"}

                async def send(kind: str, data: dict[str, Any]) -> None:
                    await ws.send_text(_dumps({"type": kind, **envelope, "timestamp": _now(), "data": data}))

                await send("agent_started", {"user_request": request})
                await send("agent_completed", {"status": "completed", "final_response": await _researcher(send, request)})
        except WebSocketDisconnect:
            pass

    return Starlette(routes=[WebSocketRoute("/ws", endpoint)])


async def serve(secret: str, ready: Callable[[str], None], done: asyncio.Event) -> None:
    """Listen on an ephemeral loopback port, call ``ready(url)``, stop once ``done`` is set."""
    server = uvicorn.Server(uvicorn.Config(app(secret), host="127.0.0.1", port=0, lifespan="off", access_log=False, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    ready(f"ws://127.0.0.1:{port}/ws")
    await done.wait()
    server.should_exit = True
    await task
