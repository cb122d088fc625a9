"""Who is connected: a per-user registry of open connections, and delivery to exactly one user's connections.

Every connection owns an outbox drained by its own writer task, so a producer (a run, the message loop) never
waits on one client's network: a slow tab cannot stall another user's run, and frames leave each connection in
the order they were queued (a ``pong`` queued after an event is sent after it — the harness's barrier relies on
that). :meth:`WebSocketManager.send_to_user` serialises a frame once and queues the same text on each of the
user's connections (ISO-2), and on nobody else's (ISO-1).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from mock_server.accel import encode as dumps  # compact JSON text; orjson's when active (accel.activate)
from mock_server.auth import UserContext
from mock_server.e2e import E2EState
from mock_server.fanout import Fanout, LocalFanout
from mock_server.faults import NO_FAULTS, FaultName, Faults

__all__ = ["ClientConnection", "Sink", "WebSocketManager", "dumps"]

log = logging.getLogger(__name__)


class Sink(Protocol):
    """What a connection needs from the socket; websockets' ServerConnection fits, and so does a test fake."""

    async def send(self, message: str) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str


class ClientConnection:
    """One open WebSocket of one user. Call :meth:`start` once, then :meth:`deliver`; :meth:`stop` when it ends."""

    def __init__(self, sink: Sink, user: UserContext, e2e: E2EState, connection_id: str) -> None:
        self.sink = sink
        self.user = user
        self.e2e = e2e
        self.connection_id = connection_id
        self._outbox: deque[str | _Close] = deque()
        self._idle: asyncio.Future[None] | None = None
        """Set while the writer waits for a frame: the first one queued wakes it (a deque and one future, without an
        asyncio.Queue's put/get bookkeeping per frame; L3 in bench/README.md)."""
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def user_id(self) -> str:
        return self.user.user_id

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write(), name=f"writer {self.connection_id}")

    def deliver(self, text: str) -> None:
        """Queue one serialised frame; dropped once the connection is closing."""
        if not self._closing:
            self._queue(text)

    def send_frame(self, frame: Mapping[str, Any]) -> None:
        self.deliver(dumps(frame))

    def close(self, code: int, reason: str) -> None:
        """Close after every frame already queued has been sent; nothing queued afterwards is sent."""
        if not self._closing:
            self._closing = True
            self._queue(_Close(code, reason))

    def _queue(self, item: str | _Close) -> None:
        self._outbox.append(item)
        idle, self._idle = self._idle, None
        if idle is not None and not idle.done():
            idle.set_result(None)

    async def wait_closed(self) -> None:
        if self._writer is not None:
            await asyncio.shield(self._writer)

    async def stop(self) -> None:
        """The socket is gone: stop writing (frames still queued have nowhere to go)."""
        self._closing = True
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass

    async def _write(self) -> None:
        outbox = self._outbox
        while True:
            if not outbox:  # no suspension while frames wait
                self._idle = asyncio.get_running_loop().create_future()
                await self._idle
                continue
            item = outbox.popleft()
            try:
                if isinstance(item, _Close):
                    await self.sink.close(item.code, item.reason)
                    return
                await self.sink.send(item)
            except Exception as exc:  # the peer went away mid-send; the message loop notices and cleans up
                log.debug("connection %s: send failed (%s)", self.connection_id, type(exc).__name__)
                self._closing = True
                return


class WebSocketManager:
    """The per-user connection registry. ``add`` on connect, ``remove`` on disconnect, ``send_to_user`` to deliver."""

    def __init__(self, faults: Faults = NO_FAULTS) -> None:
        self._faults = faults
        self._by_user: dict[str, list[ClientConnection]] = {}
        self.fanout: Fanout = LocalFanout()
        """Where ``send_to_user`` also publishes, for the user's connections on other replicas (none by default)."""

    def add(self, conn: ClientConnection) -> None:
        if self._faults.enabled(FaultName.NEWEST_CONNECTION_ONLY):
            self._by_user[conn.user_id] = [conn]
            return
        registered = self._by_user.setdefault(conn.user_id, [])
        registered.append(conn)
        if self._faults.enabled(FaultName.CONNECTION_REGISTERED_TWICE):
            registered.append(conn)

    def remove(self, conn: ClientConnection) -> bool:
        """Forget ``conn``; true when its user has no connection left."""
        remaining = [c for c in self._by_user.get(conn.user_id, []) if c is not conn]
        if remaining:
            self._by_user[conn.user_id] = remaining
            return False
        self._by_user.pop(conn.user_id, None)
        return True

    def connections_of(self, user_id: str) -> tuple[ClientConnection, ...]:
        return tuple(self._by_user.get(user_id, ()))

    def all_connections(self) -> tuple[ClientConnection, ...]:
        return tuple(conn for conns in self._by_user.values() for conn in conns)

    @property
    def connection_count(self) -> int:
        return len({id(conn) for conn in self.all_connections()})

    def send_to_user(self, user_id: str, frame: Mapping[str, Any]) -> int:
        """Queue ``frame`` on every connection of ``user_id`` (serialised once); returns the number of deliveries."""
        text = dumps(frame)
        if self._faults.enabled(FaultName.BROADCAST_TO_ALL_CONNECTIONS):
            targets = self.all_connections()
        else:
            targets = self.connections_of(user_id)
        for conn in targets:
            conn.deliver(text)
        self.fanout.publish(user_id, text)
        return len(targets)

    def deliver_local(self, user_id: str, text: str) -> None:
        """Queue a frame another replica sent to ``user_id`` on this replica's connections of that user."""
        for conn in self.connections_of(user_id):
            conn.deliver(text)

    async def close_all(self, code: int, reason: str) -> None:
        """Close every connection after its queued frames (graceful shutdown: 1001)."""
        conns = {id(conn): conn for conn in self.all_connections()}.values()
        for conn in conns:
            conn.close(code, reason)
        await asyncio.gather(*(conn.wait_closed() for conn in conns), return_exceptions=True)
