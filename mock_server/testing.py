"""Helpers for testing the reference server without the harness: tokens, and a socket stand-in that records.

:func:`mint_token` signs the contract's valid claim set (override or drop claims to make bad ones).
:class:`RecordingSink` is a :class:`~mock_server.manager.Sink` that keeps what a connection was sent, so the
manager, bridge and engine can be exercised without a network: await :meth:`RecordingSink.frames_until` instead
of sleeping.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt

from mock_server.auth import AUDIENCE, ISSUER

__all__ = ["DROP", "RecordingSink", "claims_for", "mint_token"]

DROP: Any = object()
"""A claim override that removes the claim."""
WAIT_S = 5.0


def claims_for(sub: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "type": "access",
        "email": f"{sub}@example.invalid",
        "permissions": ["read", "write"],
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not DROP}


def mint_token(secret: str, sub: str = "alice", *, algorithm: str = "HS256", **overrides: Any) -> str:
    """An HS256 token for ``sub`` (valid unless ``overrides`` break it)."""
    return jwt.encode(claims_for(sub, **overrides), secret, algorithm=algorithm)


class RecordingSink:
    """A fake socket: ``send`` records the JSON frame, ``close`` records the code."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self._arrived = asyncio.Queue[dict[str, Any]]()

    async def send(self, message: str) -> None:
        frame = json.loads(message)
        self.frames.append(frame)
        self._arrived.put_nowait(frame)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)

    async def frames_until(self, done: Callable[[dict[str, Any]], bool], timeout: float = WAIT_S) -> list[dict[str, Any]]:
        """Frames from now on, up to and including the first one for which ``done`` is true."""
        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            while True:
                frame = await self._arrived.get()
                seen.append(frame)
                if done(frame):
                    return seen
