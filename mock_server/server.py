"""The WebSocket front door: one port, ``/health``, auth before the upgrade, and the per-connection message loop.

Request flow (websockets asyncio ``serve``):
1. ``process_request`` answers ``GET /health`` itself, refuses other paths with 404, and runs e2e.py and auth.py
   on ``/ws``: a rejection is an HTTP 403 with an ``AUTH_FAILED`` JSON body, before any upgrade (AUTH-1) — or,
   under the ``accept_then_close`` variant, an upgrade followed by one ``AUTH_FAILED`` frame and close 1008.
2. ``select_subprotocol`` echoes the exact ``jwt.<...>`` entry auth used (AUTH-3).
3. The handler sends ``connection_established``, registers the connection with the manager, and reads frames.
   Each frame is handled synchronously and quickly — parse, answer or start a run task — so one client's flood
   never holds the loop (ROB-6). Every error is a frame; the connection stays open. websockets itself closes
   1009 above :data:`~mock_server.protocol.MAX_MESSAGE_BYTES` and 1007 on invalid UTF-8 (ROB-3).

Compression is off: permessage-deflate halves loopback throughput for small JSON frames and buys nothing on the
loopback interface the harness uses. Shutdown (:meth:`MockServer.close`) stops accepting, lets every run send
its terminal frame, then closes each connection 1001 after its queued frames; nothing is sent after that.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import websockets.http11
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.server import ServerProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from mock_server import __version__
from mock_server.agents import AgentRegistry
from mock_server.auth import AuthRejection, AuthSettings, HandshakeRequest, UserContext, authenticate
from mock_server.e2e import E2EState, detect_e2e
from mock_server.engine import HEARTBEAT_S, SLOW_TOOL_S, ExecutionEngine, RunRequest
from mock_server.environment import ServerEnvironment
from mock_server.errors import ProtocolError
from mock_server.fanout import Fanout, LocalFanout
from mock_server.faults import NO_FAULTS, FaultName, Faults
from mock_server.manager import ClientConnection, WebSocketManager
from mock_server.protocol import (
    MAX_MESSAGE_BYTES,
    ErrorCode,
    Ignored,
    Ping,
    StartAgent,
    error_frame,
    new_id,
    parse_client_message,
    pong_frame,
    utc_timestamp,
)
from mock_server.secrets import get_unified_jwt_secret, secret_source
from mock_server.variants import NO_VARIANTS, VariantName, Variants

if TYPE_CHECKING:
    from mock_server.replicas import RedisThreads

__all__ = ["HEALTH_PATH", "WS_PATH", "MockServer", "ServerConfig", "run_server"]

log = logging.getLogger(__name__)

WS_PATH = "/ws"
HEALTH_PATH = "/health"
MAX_HEADER_LINE = 256 * 1024
"""websockets answers 431 (plain text) to header lines over 8 KiB before ``process_request`` runs; the contract
wants every bad token — an oversized one included — refused by auth with a 403 JSON body, so lines up to 256 KiB
are read and auth refuses tokens over its own limit."""
AIOHTTP_MAX_LINE = 8190
"""aiohttp's default ``max_line_size``: the ``short_header_limit`` variant drops a request with a longer line."""
AUDIT_WRITE_S = 0.010
"""The awaited audit write per frame of the ``shared_frame_queue`` fault."""
GOING_AWAY = 1001
UNSUPPORTED_DATA = 1003
POLICY_VIOLATION = 1008
BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    environment: ServerEnvironment = ServerEnvironment()
    faults: Faults = NO_FAULTS
    variants: Variants = NO_VARIANTS
    host: str = "127.0.0.1"
    port: int = 0
    path: str = WS_PATH
    heartbeat_s: float = HEARTBEAT_S
    slow_tool_s: float = SLOW_TOOL_S
    redis_url: str | None = None
    """Share users with other replicas through this Redis (``--redis``); ``None``: one process, all in memory."""


@dataclass(frozen=True, slots=True)
class _Admission:
    """What ``process_request`` learned about a connection, picked up by ``select_subprotocol`` and the handler."""

    user: UserContext
    e2e: E2EState


class _ShortHeaderLimit(ServerConnection):
    """The ``short_header_limit`` variant: an HTTP layer like aiohttp's, which drops a connection whose request
    header line exceeds :data:`AIOHTTP_MAX_LINE` bytes without sending any answer. It reads the request head before
    websockets does, so neither websockets' own 431 nor auth's 403 is ever sent for such a request."""

    _head: bytearray | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._head = bytearray()
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._head is not None:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            head = self._head if end < 0 else self._head[:end]
            if max(len(line) for line in head.split(b"\r\n")) > AIOHTTP_MAX_LINE:
                self._head = None
                self.transport.close()  # no response at all; websockets sees the handshake end with EOF
                return
            if end >= 0:
                self._head = None
        super().data_received(data)


class _FaultyStack(ServerConnection):
    """The WebSocket stack under the handler, with the faults that live there: incoming control frames swallowed
    (``websocket_pings_ignored``: a WebSocket ping gets no pong) or text decoded leniently (``invalid_utf8_replaced``:
    invalid UTF-8 becomes U+FFFD instead of closing 1007). ROB-3 and ROB-5 judge them."""

    def __init__(self, protocol: ServerProtocol, *args: Any, faults: Faults, **kwargs: Any) -> None:
        receive = protocol.recv_frame

        def recv_frame(frame: Frame) -> None:
            if frame.opcode is Opcode.PING and faults.enabled(FaultName.WEBSOCKET_PINGS_IGNORED):
                return
            if frame.opcode is Opcode.TEXT and faults.enabled(FaultName.INVALID_UTF8_REPLACED):
                frame = dataclasses.replace(frame, data=frame.data.decode("utf-8", "replace").encode())
            receive(frame)

        protocol.recv_frame = recv_frame  # type: ignore[method-assign]
        super().__init__(protocol, *args, **kwargs)


STACK_FAULTS = (FaultName.WEBSOCKET_PINGS_IGNORED, FaultName.INVALID_UTF8_REPLACED)


def _allow_long_header_lines() -> None:
    websockets.http11.MAX_LINE_LENGTH = max(websockets.http11.MAX_LINE_LENGTH, MAX_HEADER_LINE)


def _json_response(connection: ServerConnection, status: int, body: Mapping[str, Any]) -> Response:
    response = connection.respond(status, json.dumps(body))
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response


class _SharedFrameQueue:
    """The ``shared_frame_queue`` bug: one task handles every connection's frames in arrival order, awaiting an audit
    write for each, so a client that floods queues every other user's messages behind its own."""

    def __init__(self, handle: Callable[[ClientConnection, str | bytes], None]) -> None:
        self._handle = handle
        self._queue: asyncio.Queue[tuple[ClientConnection, str | bytes]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def put(self, conn: ClientConnection, message: str | bytes) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain(), name="shared frame queue")
        self._queue.put_nowait((conn, message))

    async def _drain(self) -> None:
        while True:
            conn, message = await self._queue.get()
            await asyncio.sleep(AUDIT_WRITE_S)
            self._handle(conn, message)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class MockServer:
    """The reference server. Build, ``await start()``, ``await close()`` — or use :func:`run_server`."""

    def __init__(self, config: ServerConfig) -> None:
        env = config.environment
        self.config = config
        self.faults = config.faults
        self.variants = config.variants
        self.auth = AuthSettings(secret=get_unified_jwt_secret(env), environment=env.name)
        self.secret_source = secret_source(env)
        self.manager = WebSocketManager(self.faults)
        self.registry = AgentRegistry(faults=self.faults, variants=self.variants)
        self.bridge = self.registry.set_websocket_manager(self.manager)
        self.engine = ExecutionEngine(
            self.registry, self.faults, heartbeat_s=config.heartbeat_s, slow_tool_s=config.slow_tool_s, variants=self.variants
        )
        self.fanout: Fanout = LocalFanout()
        self.threads: RedisThreads | None = None
        if config.redis_url:  # a replica: users, thread ownership and the run registry shared through Redis
            from mock_server.replicas import RedisFanout, RedisThreads  # only replicas load the Redis client

            self.fanout = self.manager.fanout = RedisFanout(config.redis_url, self.manager.deliver_local)
            self.threads = self.bridge.registry = self.engine.owners = RedisThreads(config.redis_url)
        self._admitted: weakref.WeakKeyDictionary[ServerConnection, _Admission] = weakref.WeakKeyDictionary()
        self._refused: weakref.WeakKeyDictionary[ServerConnection, AuthRejection] = weakref.WeakKeyDictionary()
        """Upgrades whose token auth refused, kept only under the ``accept_then_close`` variant."""
        shared = self.faults.enabled(FaultName.SHARED_FRAME_QUEUE)
        self._shared_queue = _SharedFrameQueue(self._on_frame) if shared else None
        self._deliver = self._shared_queue.put if self._shared_queue else self._on_frame
        self._server: Server | None = None
        self._started = time.monotonic()
        self._closed = False

    # --- lifecycle ----------------------------------------------------------------------------------------------

    async def start(self) -> MockServer:
        _allow_long_header_lines()
        await self.fanout.start()  # before listening: a replica that cannot reach Redis must not take users
        if self.threads is not None:
            await self.threads.start()
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
            compression=None,
            create_connection=self._connection_class(),
            max_size=None if self.faults.enabled(FaultName.NO_MESSAGE_SIZE_LIMIT) else MAX_MESSAGE_BYTES,
            server_header=f"wsagent-mock-server/{__version__}",
        )
        log.info("listening on %s (environment %s, secret from %s)", self.url, self.config.environment.name.value, self.secret_source)
        if self.faults:
            log.warning("FAULTS ENABLED, this server is deliberately broken: %s", ", ".join(self.faults))
        if self.variants:
            log.info("variants: %s", ", ".join(self.variants))
        return self

    def _connection_class(self) -> Callable[..., ServerConnection] | None:
        if any(self.faults.enabled(fault) for fault in STACK_FAULTS):
            return functools.partial(_FaultyStack, faults=self.faults)
        return _ShortHeaderLimit if self.variants.enabled(VariantName.SHORT_HEADER_LIMIT) else None

    async def close(self) -> None:
        """Graceful shutdown; safe to call twice."""
        if self._closed or self._server is None:
            return
        self._closed = True
        self._server.close(close_connections=False)
        await self.engine.shutdown()
        if self._shared_queue is not None:
            await self._shared_queue.close()
        await self.manager.close_all(GOING_AWAY, "server shutting down")
        await self._server.wait_closed()
        await self.fanout.close()
        if self.threads is not None:
            await self.threads.close()
        log.info("stopped")

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not started")
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def url(self) -> str:
        return f"ws://{self._public_host}:{self.port}{self.config.path}"

    @property
    def health_url(self) -> str:
        return f"http://{self._public_host}:{self.port}{HEALTH_PATH}"

    @property
    def _public_host(self) -> str:
        host = self.config.host
        return "127.0.0.1" if host in ("", "0.0.0.0") else host

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "environment": self.config.environment.name.value,
            "version": __version__,
            "connections": self.manager.connection_count,
            "active_runs": self.engine.active_runs,
            "uptime_s": round(time.monotonic() - self._started, 3),
            "faults": list(self.faults),
            "variants": list(self.variants),
        }

    # --- handshake ----------------------------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path == HEALTH_PATH:
            if self.faults.enabled(FaultName.HEALTH_UNREADY_DURING_RUNS) and self.engine.active_runs:
                return _json_response(connection, 503, {**self.health(), "status": "busy"})
            return _json_response(connection, 200, self.health())
        if path != self.config.path:
            return _json_response(connection, 404, {"error_code": "NOT_FOUND", "message": f"no such path; use {self.config.path} or {HEALTH_PATH}"})
        headers = tuple(request.headers.raw_items())
        e2e = detect_e2e(headers, self.config.environment, self.faults)
        result = authenticate(HandshakeRequest(request.path, headers), self.auth, e2e_active=e2e.active, faults=self.faults)
        if isinstance(result, AuthRejection):
            log.debug("handshake refused: %s", result.reason)
            if self.variants.enabled(VariantName.ACCEPT_THEN_CLOSE):
                self._refused[connection] = result
                return None
            if self.faults.enabled(FaultName.REJECTION_BODY_EMPTY):
                return connection.respond(result.status, "")
            body = result.body()
            if self.faults.enabled(FaultName.REJECTION_BODY_WITHOUT_CODE):  # a web framework's default 403 body
                body = {"detail": result.reason}
            response = _json_response(connection, result.status, body)
            if self.faults.enabled(FaultName.AUTHORIZATION_ECHOED_IN_HEADER):  # a debugging middleware left on
                response.headers["X-Echo-Authorization"] = request.headers.get("Authorization", "")
            return response
        self._admitted[connection] = _Admission(result, e2e)
        return None

    def _select_subprotocol(self, connection: ServerConnection, subprotocols: Sequence[Subprotocol]) -> Subprotocol | None:
        admission = self._admitted.get(connection)
        refused = self._refused.get(connection)
        if self.faults.enabled(FaultName.SUBPROTOCOL_NOT_ECHOED):
            return None
        selected = admission.user.subprotocol if admission is not None else refused.subprotocol if refused is not None else None
        return Subprotocol(selected) if selected is not None and selected in subprotocols else None

    def _hello(self, conn: ClientConnection) -> dict[str, Any]:
        user_id = conn.user_id
        if self.faults.enabled(FaultName.HELLO_USER_ID_FROM_EMAIL):
            user_id = conn.user.email or user_id
        production = self.config.environment.production
        return {
            "type": "connection_established",
            "timestamp": utc_timestamp(),
            "data": {
                "user_id": user_id,
                "connection_id": conn.connection_id,
                "e2e": conn.e2e.as_json(),
                "features": {"scenarios": conn.e2e.active and self.engine.offers_scenarios, "query_token": not production},
                "environment": self.config.environment.name.value,
                "agents": list(self.registry.names),
                "server_version": __version__,
                **self._debug(),
            },
        }

    def _debug(self) -> dict[str, Any]:
        """Nothing; under the ``secret_in_hello`` fault, a debug block that dumps the auth settings (SEC-2)."""
        if not self.faults.enabled(FaultName.SECRET_IN_HELLO):
            return {}
        return {"debug": {"auth": {"secret": self.auth.secret, "environment": self.auth.environment.value}}}

    # --- message loop -------------------------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        refused = self._refused.pop(ws, None)
        if refused is not None:
            await self._refuse_after_upgrade(ws, refused)
            return
        admission = self._admitted.pop(ws, None)
        if admission is None:  # process_request admits every upgrade it lets through; never expected
            await ws.close(1011, "connection was not authenticated")
            return
        conn = ClientConnection(ws, admission.user, admission.e2e, new_id("conn", 12))
        await self.fanout.join(conn.user_id)  # greeted only once frames for this user from other replicas reach us
        conn.start()
        conn.send_frame(self._hello(conn))
        self.manager.add(conn)
        try:
            async for message in ws:
                self._deliver(conn, message)
        except ConnectionClosed:
            pass
        finally:
            if self.manager.remove(conn):
                self.engine.user_left(conn.user_id)
            await self.fanout.leave(conn.user_id)
            await conn.stop()

    async def _refuse_after_upgrade(self, ws: ServerConnection, rejection: AuthRejection) -> None:
        """The ``accept_then_close`` variant: the refusal as the connection's only frame, then close 1008."""
        try:
            await ws.send(json.dumps(error_frame(ErrorCode.AUTH_FAILED, rejection.message, variants=self.variants)))
            await ws.close(POLICY_VIOLATION, "authentication failed")
        except ConnectionClosed:
            pass

    def _on_frame(self, conn: ClientConnection, message: str | bytes) -> None:
        """Handle one frame without awaiting anything: answers are queued, runs are tasks."""
        if isinstance(message, bytes) and not self.faults.enabled(FaultName.BINARY_FRAME_CRASHES_HANDLER):
            if self.faults.enabled(FaultName.BINARY_FRAME_CLOSES_1003):
                conn.close(UNSUPPORTED_DATA, "binary frames are not supported")
            else:
                conn.send_frame(error_frame(ErrorCode.BINARY_NOT_SUPPORTED, "binary frames are not supported; send JSON text", variants=self.variants))
            return
        text: str = message  # type: ignore[assignment]  # bytes get here only under the crash fault, and crash below
        if text.startswith(BOM):  # some clients prefix a UTF-8 byte-order mark; JSON forbids it
            text = text[1:]
        try:
            parsed = parse_client_message(text, self.faults, self.variants)
            self._dispatch(conn, parsed)
        except ProtocolError as exc:
            conn.send_frame(error_frame(exc.code, exc.message, run_id=exc.run_id, details=exc.details, variants=self.variants))

    def _dispatch(self, conn: ClientConnection, message: Ping | StartAgent | Ignored) -> None:
        if isinstance(message, Ping):
            if not (self.faults.enabled(FaultName.NO_PONG) or self.variants.enabled(VariantName.NO_PONG)):
                conn.send_frame(pong_frame())
        elif isinstance(message, StartAgent):
            self.engine.start(RunRequest(conn.user_id, message, e2e_active=conn.e2e.active))


@asynccontextmanager
async def run_server(config: ServerConfig = ServerConfig()) -> AsyncIterator[MockServer]:
    """``async with run_server(config) as server:`` — a started server (``server.url``), closed gracefully after."""
    server = MockServer(config)
    await server.start()
    try:
        yield server
    finally:
        await server.close()
