"""P1: events/s the reference server delivers to one user, against the raw ceiling of the same stack, same run.

No bundled agent makes many tool calls (researcher: 2, calculator: 1), so the workload is consecutive researcher
runs over one connection (7 events each, zero-delay tools): ``--window`` runs in flight at a time (1 = strictly
one after the other), ``--runs`` runs per repetition. The ceiling is a bare ``websockets`` server (bench/_serve.py
``stream``) that answers each start message with the same seven JSON frames, pre-serialised. Both servers run in
their own process; one bare ``websockets`` client measures both, alternately, in every repetition; figures are
medians. Measured with permessage-deflate off (the reference server's setting) and on. ``--against REF`` adds the
reference server as committed at REF (``git archive``) to the same alternation, for a before/after ratio.
``--accel`` adds the reference server started with ``WSAGENT_NO_ACCEL=1`` (no uvloop, no orjson) beside the default
one (both when installed), and writes the on/off rows ("P1 accelerators ...").

    python bench/bench_throughput.py [--runs 1500] [--window 1 16] [--repeat 3] [--against HEAD] [--accel]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time

from _common import Row, accelerators, checkout, cpu_seconds, median, record, spawn, stop
from _serve import SECRET
from websockets.asyncio.client import connect

from mock_server.testing import mint_token

USER = "bench-user"


async def measure(url: str, runs: int, window: int, compression: str | None) -> float:
    """Events/s over ``runs`` researcher runs, ``window`` in flight; counts run events only (not hello/pong)."""
    token = mint_token(SECRET, USER)
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, compression=compression,
                       max_size=None, ping_interval=None, proxy=None) as ws:
        await ws.recv()  # connection_established
        sent = done = events = 0
        tag = time.monotonic_ns()

        async def start_one() -> None:
            nonlocal sent
            thread = f"thread_{tag}_{sent}"
            payload = {"agent_name": "researcher", "user_request": "q", "run_id": f"{thread}_run_1", "thread_id": thread}
            sent += 1
            await ws.send(json.dumps({"type": "start_agent", "payload": payload}))

        began = time.perf_counter()
        for _ in range(min(window, runs)):
            await start_one()
        while done < runs:
            message = await ws.recv()
            if '"agent_' in message or '"tool_' in message:
                events += 1
            if message.startswith('{"type":"agent_completed"'):
                done += 1
                if sent < runs:
                    await start_one()
        return events / (time.perf_counter() - began)


async def run(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    tmp = tempfile.TemporaryDirectory()
    for compression in args.compression:
        servers = {name: spawn([name, "--compression", compression]) for name in ("mock", "stream")}
        if args.accel:
            servers["mock off"] = spawn(["mock", "--compression", compression], env={"WSAGENT_NO_ACCEL": "1"})
        if args.against:
            servers["before"] = spawn(["mock", "--compression", compression], checkout(args.against, tmp.name, "mock_server"))
        try:
            for window in args.window:
                rates: dict[str, list[float]] = {name: [] for name in servers}
                cpu: dict[str, list[float]] = {name: [] for name in servers}
                for name in ("mock", "mock off"):
                    if name in servers:
                        await measure(servers[name][1], 50, window, None if compression == "none" else "deflate")  # warm-up
                for _ in range(args.repeat):
                    for name, (process, url) in servers.items():
                        before = cpu_seconds(process.pid)
                        rates[name].append(await measure(url, args.runs, window, None if compression == "none" else "deflate"))
                        cpu[name].append((cpu_seconds(process.pid) - before) / (args.runs * 7) * 1e6)
                mock, ceiling = median(rates["mock"]), median(rates["stream"])
                ratio = mock / ceiling
                before = ""
                if args.against:
                    before = f"; mock at {args.against} {[round(r) for r in rates['before']]} ({mock / median(rates['before']):.2f}× now)"
                rows.append(Row(
                    id=f"P1 throughput w{window} {compression}",
                    figure=f"events/s to one user, researcher runs, {window} in flight, compression {compression}",
                    value=mock, unit="events/s", ceiling=f"bare websockets {ceiling:,.0f} events/s", ratio=ratio,
                    goal="≥ 0.8× ceiling", met=ratio >= 0.8,
                    detail=f"server CPU per event: mock {median(cpu['mock']):.1f} µs, ceiling {median(cpu['stream']):.1f} µs"
                    + (f", mock at {args.against} {median(cpu['before']):.1f} µs" if args.against else "")
                    + f"; median of {args.repeat}×{args.runs} runs; mock {[round(r) for r in rates['mock']]}, ceiling {[round(r) for r in rates['stream']]}{before}",
                ))
                if args.accel:
                    off = median(rates["mock off"])
                    rows.append(Row(
                        id=f"P1 accelerators w{window} {compression}",
                        figure=f"events/s to one user, reference server with accelerators ({accelerators()}) vs WSAGENT_NO_ACCEL=1, "
                        f"{window} in flight, compression {compression}",
                        value=mock, unit="events/s", ceiling=f"accelerators off {off:,.0f} events/s", ratio=mock / off,
                        detail=f"server CPU per event: on {median(cpu['mock']):.1f} µs, off {median(cpu['mock off']):.1f} µs; "
                        f"median of {args.repeat}×{args.runs} runs; on {[round(r) for r in rates['mock']]}, off {[round(r) for r in rates['mock off']]}",
                    ))
        finally:
            for process, _ in servers.values():
                stop(process)
    tmp.cleanup()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1500)
    parser.add_argument("--window", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--compression", nargs="+", default=["none", "deflate"], choices=("none", "deflate"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--against", default="", help="also measure the reference server as committed at this git ref")
    parser.add_argument("--accel", action="store_true", help="also measure the reference server with WSAGENT_NO_ACCEL=1 (accelerators off)")
    record("P1", asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
