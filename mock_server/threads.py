"""Thread ownership and the run→thread registry: in this process, or in Redis when replicas share users.

A thread belongs to the first user who starts a run on it (ISO-3); another user's start on it is refused with
``THREAD_ACCESS_DENIED``. The engine checks its in-memory owners synchronously (:meth:`ExecutionEngine.start`
never waits); with replicas, a user could claim on one replica a thread another user owns on another, so the run
task first asks Redis (:meth:`mock_server.replicas.RedisThreads.confirm`, ``SET NX GET``: atomic, the first claim wins everywhere) and
refuses there, before ``agent_started``. In one process :class:`LocalThreads` confirms at once, without awaiting.

The run→thread registry (resolution source 2 of the bridge) is written through to a Redis hash, so every replica's
runs in flight are visible in one place; reads stay local, because a run's events are only ever emitted by the
replica that runs it.
"""

from __future__ import annotations

__all__ = ["LocalThreads", "ThreadOwners"]


class ThreadOwners:
    """What the engine asks before a run emits anything: does ``user_id`` own ``thread_id`` everywhere?"""

    async def confirm(self, thread_id: str, user_id: str) -> bool:
        raise NotImplementedError


class LocalThreads(ThreadOwners):
    """One process: the engine's synchronous check was the whole answer."""

    async def confirm(self, thread_id: str, user_id: str) -> bool:
        return True
