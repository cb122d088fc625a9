"""Real parts for the replica tests: a redis-server on a free loopback port, reference-server replicas sharing it,
and a round-robin TCP balancer that spreads connections over the replicas as a load balancer in front of them would.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.embedded import EmbeddedServer

READY_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A throwaway redis-server (no persistence) on loopback; yields its URL once it accepts connections."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (.ci/run installs the Debian package redis-server)")
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the log says when it listens; no polling
            if "Ready to accept connections" in line:
                break
        else:
            pytest.fail(f"redis-server exited with {process.wait()} before it was ready")
        threading.Thread(target=process.stdout.read, daemon=True).start()  # keep the pipe drained
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def replica(redis_url: str, secret: str, *extra: str) -> EmbeddedServer:
    return EmbeddedServer.start("development", secret=secret, extra_args=["--redis", redis_url, *extra])


@dataclass
class Balancer:
    """Round-robin TCP forwarding on a free loopback port, in a thread of its own: connection n goes to upstream n % k."""

    upstreams: Sequence[int]
    port: int = 0

    @contextmanager
    def running(self) -> Iterator[Balancer]:
        loop = asyncio.new_event_loop()
        started = threading.Event()
        turn = itertools.cycle(self.upstreams)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except OSError:
                pass
            finally:
                writer.close()

        async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", next(turn))
            except OSError:
                writer.close()
                return
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        async def serve() -> None:
            server = await asyncio.start_server(forward, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            started.set()
            async with server:
                await server.serve_forever()

        task: list[asyncio.Task[None]] = []
        thread = threading.Thread(target=lambda: loop.run_until_complete(_keep(task, loop, serve())), daemon=True)
        thread.start()
        started.wait(READY_TIMEOUT_S)
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(task[0].cancel)
            thread.join(10)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


async def _keep(holder: list[asyncio.Task[None]], loop: asyncio.AbstractEventLoop, coro: object) -> None:
    holder.append(loop.create_task(coro))  # type: ignore[arg-type]
    try:
        await holder[0]
    except asyncio.CancelledError:
        pass
