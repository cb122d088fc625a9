"""Fan-out of each user's frames to every replica that holds one of that user's connections.

Without ``--redis`` the server is one process and :class:`LocalFanout` does nothing: the manager's local delivery
is all there is (the embedded default). With ``--redis URL`` several replicas share users: a user's two tabs may
sit on two replicas while their run executes on one of them.

:class:`mock_server.replicas.RedisFanout` publishes every frame the manager delivers to a user (``send_to_user``) on the user's channel
``wsagent:user:<id>``, tagged with the publishing replica. A replica subscribes to a user's channel while it holds
one of the user's connections, and delivers what others publish there to those local connections; its own
messages it skips, because it already delivered them locally, in order, without the round trip. A connection
is greeted (``connection_established``) only once its replica's subscription is confirmed by Redis, so a client
that has its hello misses nothing another replica publishes afterwards. One publisher task sends in the order
frames were queued, so each replica's stream per user keeps the run's order (EVT-2 across replicas).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["Deliver", "Fanout", "LocalFanout", "user_channel"]

PREFIX = "wsagent:user:"
SEPARATOR = "\n"
"""Between the publishing replica's id and the frame text: frames are compact JSON (no raw newline), ids have none."""

Deliver = Callable[[str, str], None]
"""``(user_id, text)``: queue a serialised frame on the user's connections of this replica."""


def user_channel(user_id: str) -> str:
    return PREFIX + user_id


class Fanout(Protocol):
    """What the server asks of the fan-out; the manager calls :meth:`publish` for every frame sent to a user."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def join(self, user_id: str) -> None:
        """A connection of ``user_id`` opened here: return once frames published for them elsewhere reach us."""

    async def leave(self, user_id: str) -> None:
        """The last connection of ``user_id`` here closed."""

    def publish(self, user_id: str, text: str) -> None: ...


class LocalFanout:
    """One process, everything in memory: local delivery is complete, so there is nothing to fan out."""

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def join(self, user_id: str) -> None:
        return None

    async def leave(self, user_id: str) -> None:
        return None

    def publish(self, user_id: str, text: str) -> None:
        return None
