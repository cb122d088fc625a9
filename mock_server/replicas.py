"""Everything a reference-server replica needs to share users with other replicas through Redis (``--redis URL``).

Imported only when ``--redis`` is given (the embedded default never loads the Redis client):

- :class:`RedisFanout`, the :class:`~mock_server.fanout.Fanout` that publishes each user's frames on the user's
  channel and delivers what other replicas publish to this replica's connections of that user;
- :class:`RedisThreads`, thread ownership (:class:`~mock_server.threads.ThreadOwners`) and the run→thread
  registry (:class:`~mock_server.bridge.ThreadRunRegistry`) in Redis;
- :func:`connect`, which checks the URL once at startup (a replica that cannot reach Redis must not take users:
  one line, exit 2), and :class:`Writer`, which sends commands queued by synchronous code — the manager's
  ``send_to_user``, the engine's registry — from one task, pipelined, in the order they were queued, so the
  message loop never waits on Redis.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from mock_server.bridge import ThreadRunRegistry
from mock_server.errors import StartupError
from mock_server.fanout import PREFIX, SEPARATOR, Deliver, user_channel
from mock_server.protocol import new_id
from mock_server.threads import ThreadOwners

__all__ = ["RedisFanout", "RedisThreads", "Writer", "connect"]

log = logging.getLogger(__name__)

OWNER_KEY = "wsagent:thread-owner:"
RUNS_KEY = "wsagent:run-threads"


async def connect(url: str) -> aioredis.Redis:
    client = aioredis.from_url(url)
    try:
        await client.ping()
    except (RedisError, OSError, ValueError) as exc:
        await client.aclose()
        raise StartupError(f"mock_server: cannot reach Redis at {url}: {exc}") from None
    return client


class Writer:
    """Redis commands (``("publish", channel, payload)``, ``("set", key, value, ...)``) sent in the order queued, in
    pipelined batches over one connection: however many runs start at once, a replica holds one command connection
    (a connection per concurrent command would exhaust the client's pool and Redis's descriptors at 1,000 users)."""

    def __init__(self, client: aioredis.Redis, name: str) -> None:
        self._client = client
        self._queue: asyncio.Queue[tuple[asyncio.Future[Any] | None, str, tuple[Any, ...], dict[str, Any]]] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._drain(), name=f"redis writer {name}")

    def put(self, command: str, *args: Any, **options: Any) -> None:
        """Queue a command whose answer nobody waits for."""
        self._queue.put_nowait((None, command, args, options))

    def ask(self, command: str, *args: Any, **options: Any) -> asyncio.Future[Any]:
        """Queue a command; the future gets Redis's answer (or the :class:`RedisError`/:class:`OSError`)."""
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((answer, command, args, options))
        return answer

    async def close(self) -> None:
        """Send what is still queued, then stop."""
        await self._queue.join()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _drain(self) -> None:
        queue = self._queue
        while True:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for _, command, args, options in batch:
                        getattr(pipe, command)(*args, **options)
                    answers = await pipe.execute(raise_on_error=False)
                for (future, *_), answer in zip(batch, answers):
                    if future is None or future.done():
                        continue
                    if isinstance(answer, Exception):
                        future.set_exception(answer)
                    else:
                        future.set_result(answer)
            except (RedisError, OSError) as exc:  # Redis went away: local work goes on, other replicas miss these
                log.error("%d Redis command(s) failed: %s", len(batch), exc)
                for future, *_ in batch:
                    if future is not None and not future.done():
                        future.set_exception(exc)
            finally:
                for _ in batch:
                    queue.task_done()


class RedisFanout:
    """Redis pub/sub between replicas: one writer task publishing, one subscriber connection, one channel per user."""

    def __init__(self, url: str, deliver: Deliver) -> None:
        self.url = url
        self.replica = new_id("replica", 12)
        self._deliver = deliver
        self._local: Counter[str] = Counter()
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._client: aioredis.Redis | None = None
        self._pubsub: PubSub | None = None
        self._writer: Writer | None = None
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._client = await connect(self.url)
        self._pubsub = self._client.pubsub()
        await self._pubsub.subscribe(f"wsagent:replica:{self.replica}")  # never idle: listen() ends with no channel
        self._writer = Writer(self._client, "publisher")
        self._listener = asyncio.get_running_loop().create_task(self._listen(), name="redis subscriber")
        log.info("replica %s shares users through Redis at %s", self.replica, self.url)

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._client is not None:
            await self._client.aclose()

    async def join(self, user_id: str) -> None:
        assert self._pubsub is not None
        self._local[user_id] += 1
        channel = user_channel(user_id)
        confirmed = self._confirmed.get(channel)
        if confirmed is None:
            confirmed = self._confirmed[channel] = asyncio.get_running_loop().create_future()
            await self._pubsub.subscribe(channel)
        await asyncio.shield(confirmed)

    async def leave(self, user_id: str) -> None:
        assert self._pubsub is not None
        self._local[user_id] -= 1
        if self._local[user_id] > 0:
            return
        del self._local[user_id]
        channel = user_channel(user_id)
        self._confirmed.pop(channel, None)
        await self._pubsub.unsubscribe(channel)

    def publish(self, user_id: str, text: str) -> None:
        assert self._writer is not None
        self._writer.put("publish", user_channel(user_id), self.replica + SEPARATOR + text)

    async def _listen(self) -> None:
        assert self._pubsub is not None
        async for message in self._pubsub.listen():
            channel = message["channel"].decode()
            if message["type"] == "subscribe":
                confirmed = self._confirmed.get(channel)
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
            elif message["type"] == "message" and channel.startswith(PREFIX):
                origin, _, text = message["data"].decode().partition(SEPARATOR)
                if origin != self.replica:
                    self._deliver(channel[len(PREFIX):], text)


class RedisThreads(ThreadRunRegistry, ThreadOwners):
    """Ownership claimed in Redis; the registry kept locally and written through to Redis."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._client = None
        self._writer: Writer | None = None

    async def start(self) -> None:
        self._client = await connect(self.url)
        self._writer = Writer(self._client, "registry")

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
        if self._client is not None:
            await self._client.aclose()

    async def confirm(self, thread_id: str, user_id: str) -> bool:
        """``SET NX GET``: the first claim wins on every replica. Without Redis no claim can be checked, so the run is
        refused (its user gets the refusal as the run's one terminal frame) rather than run on an unchecked thread."""
        assert self._writer is not None
        try:
            previous = await self._writer.ask("set", OWNER_KEY + thread_id, user_id, nx=True, get=True)
        except (RedisError, OSError) as exc:
            log.error("thread %s: ownership not checked, Redis failed: %s", thread_id, exc)
            return False
        return previous is None or previous.decode() == user_id

    def register(self, run_id: str, thread_id: str) -> None:
        super().register(run_id, thread_id)
        if self._writer is not None:
            self._writer.put("hset", RUNS_KEY, run_id, thread_id)

    def unregister(self, run_id: str) -> None:
        super().unregister(run_id)
        if self._writer is not None:
            self._writer.put("hdel", RUNS_KEY, run_id)
