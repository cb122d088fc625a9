"""P4 (client): the recording harness's overhead vs a bare websockets client receiving the same frames, same run.

bench/_serve.py ``burst`` sends a hello and ``--frames`` researcher event frames as fast as it can, then closes.
The bare client counts ``recv()`` results; the harness client is :class:`harness.client.Session` /
:class:`harness.client.Connection` (redaction, JSON parse, one :class:`~harness.transcript.Record` per frame,
terminal index), waiting with ``wait_closed``. Both alternate in every repetition; figures are medians.
Overhead = bare rate / harness rate - 1 (the goal is ≤ 10 %). A third client, the harness with the cyclic garbage
collector off for the receive, is measured in the same alternation as a diagnosis (details column): the recorded
frames stay alive, so the collector's passes over them are part of the harness's cost.

    python bench/bench_client.py [--frames 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Awaitable, Callable

from _common import Row, median, record, spawn, stop
from _serve import SECRET
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from harness.client import Session
from mock_server.testing import mint_token


async def bare(url: str, token: str) -> tuple[int, float]:
    began = time.perf_counter()
    count = 0
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, compression=None, max_size=None,
                       ping_interval=None, proxy=None) as ws:
        try:
            while True:
                await ws.recv()
                count += 1
        except ConnectionClosed:
            pass
    return count, time.perf_counter() - began


async def harness(url: str, token: str) -> tuple[int, float]:
    began = time.perf_counter()
    async with Session(url, secret=SECRET, default_timeout=120) as session:
        conn = await session.connect("bench-user", token)
        await conn.wait_closed()
        count = sum(1 for r in conn.received if r.text is not None)
    return count, time.perf_counter() - began


async def harness_without_gc(url: str, token: str) -> tuple[int, float]:
    gc.disable()
    try:
        return await harness(url, token)
    finally:
        gc.enable()


async def run(args: argparse.Namespace) -> list[Row]:
    token = mint_token(SECRET, "bench-user")
    server, url = spawn(["burst", "--frames", str(args.frames)])
    clients: dict[str, Callable[[str, str], Awaitable[tuple[int, float]]]] = {
        "bare": bare, "harness": harness, "harness, collector off": harness_without_gc,
    }
    rates: dict[str, list[float]] = {name: [] for name in clients}
    try:
        await bare(url, token)
        await harness(url, token)
        for _ in range(args.repeat):
            for name, client in clients.items():
                count, seconds = await client(url, token)
                assert count == args.frames + 1, (name, count)
                rates[name].append(count / seconds)
    finally:
        stop(server)
    mine, ceiling, no_gc = median(rates["harness"]), median(rates["bare"]), median(rates["harness, collector off"])
    overhead = ceiling / mine - 1
    return [Row(
        id="P4 client overhead", figure="frames/s received and recorded by harness Session/Connection",
        value=mine, unit="frames/s", ceiling=f"bare websockets client {ceiling:,.0f} frames/s", ratio=mine / ceiling,
        goal="overhead ≤ 10 %", met=overhead <= 0.10,
        detail=f"overhead {overhead:.0%} ({ceiling / no_gc - 1:.0%} with the collector off: {no_gc:,.0f} frames/s); "
        f"median of {args.repeat}×{args.frames} frames; " + ", ".join(f"{name} {[round(r) for r in rates[name]]}" for name in clients),
    )]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    record("P4", asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
