"""P3: WebSocket handshakes/s with token validation, reference server vs a bare websockets + pyjwt server, same run.

Both servers run in their own process: the reference server (full auth.py: extraction, pyjwt decode with
audience/issuer/required claims, claim checks, then ``connection_established``) and bench/_serve.py ``jwt`` (a
bare ``process_request`` doing one pyjwt decode, 403 on failure, then the same hello frame). One client process
opens ``--count`` connections per measurement, ``--concurrency`` at a time; an accepted handshake waits for the
hello frame and closes, a rejected one (bad signature) ends at the 403. Accepts and rejects, both servers,
alternate in every repetition; figures are medians.

    python bench/bench_handshakes.py [--count 1000] [--concurrency 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _common import Row, cpu_seconds, median, record, spawn, stop
from _serve import SECRET
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from mock_server.testing import mint_token


async def measure(url: str, token: str, count: int, concurrency: int, accept: bool) -> float:
    """Handshakes/s; raises if any outcome is not the expected one (101 + hello, or 403)."""
    left = count

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            try:
                async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, compression=None,
                                   ping_interval=None, proxy=None, open_timeout=30) as ws:
                    await ws.recv()
                assert accept, "a bad token was accepted"
            except InvalidStatus as exc:
                assert not accept and exc.response.status_code == 403, exc

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - began)


async def run(args: argparse.Namespace) -> list[Row]:
    good = mint_token(SECRET, "bench-user")
    bad = mint_token("not-the-secret-" + SECRET, "bench-user")
    servers = {name: spawn([name]) for name in ("mock", "jwt")}
    rates: dict[tuple[str, bool], list[float]] = {(name, ok): [] for name in servers for ok in (True, False)}
    cpu: dict[tuple[str, bool], list[float]] = {key: [] for key in rates}
    try:
        for name, (_, url) in servers.items():  # warm-up
            await measure(url, good, 100, args.concurrency, True)
        for _ in range(args.repeat):
            for (name, ok) in rates:
                process, url = servers[name]
                before = cpu_seconds(process.pid)
                rates[name, ok].append(await measure(url, good if ok else bad, args.count, args.concurrency, ok))
                cpu[name, ok].append((cpu_seconds(process.pid) - before) / args.count * 1e6)
    finally:
        for process, _ in servers.values():
            stop(process)
    rows = []
    for ok, label in ((True, "accept"), (False, "reject 403")):
        mock, bare = median(rates["mock", ok]), median(rates["jwt", ok])
        rows.append(Row(
            id=f"P3 handshakes {label}", figure=f"handshakes/s, {label}, {args.concurrency} concurrent",
            value=mock, unit="/s", ceiling=f"bare websockets+pyjwt {bare:,.0f}/s", ratio=mock / bare,
            detail=(f"server CPU per handshake: mock {median(cpu['mock', ok]):.0f} µs, bare {median(cpu['jwt', ok]):.0f} µs; "
                    f"median of {args.repeat}×{args.count}"),
        ))
    accept_cpu, reject_cpu = median(cpu["mock", True]), median(cpu["mock", False])
    rows.append(Row(
        id="P3 handshakes reject/accept cost", figure="reference server CPU per rejection vs per acceptance",
        value=reject_cpu, unit="µs", ceiling=f"accept {accept_cpu:.0f} µs", ratio=reject_cpu / accept_cpu,
        goal="rejection ≤ acceptance", met=reject_cpu <= accept_cpu,
    ))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    record("P3", asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
