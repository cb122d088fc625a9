"""P2: N users each running ``researcher`` at once through the recording harness; every frame judged afterwards.

The reference server runs in its own process (bench/_serve.py ``mock``). ``--procs`` client processes each open
their share of the users with :class:`harness.client.Session` (one connection per user, handshakes
``--connect-concurrency`` at a time), wait until every process is connected, then start one researcher run per
user — all at once, or spread evenly over ``--spread`` seconds — and wait for every terminal frame. Latency is
start message → ``agent_started`` as the harness recorded them (same clock). Then each process judges its own
transcript with :func:`harness.judge.judge` (every rule of the catalog) and reports what was delivered and judged.
CPU seconds of the client processes and of the server are read from /proc around the run phase.

    python bench/bench_concurrency.py --users 1000 [--procs 1] [--spread 0] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing as mp
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import GcClock, Row, cpu_seconds, median, percentile, raise_nofile, record, spawn, stop
from _serve import SECRET

RUN_EVENTS = 7


async def _client(url: str, users: range, spread: float, concurrency: int, freeze: bool, ready: Any, go: Any) -> dict[str, Any]:
    from harness.client import Session
    from harness.judge import judge
    from harness.view import View
    from mock_server.testing import mint_token

    tokens = {f"user{u}": mint_token(SECRET, f"user{u}") for u in users}
    gate = asyncio.Semaphore(concurrency)
    async with Session(url, secret=SECRET, open_timeout=60, default_timeout=120) as session:

        async def open_one(user: str) -> Any:
            async with gate:
                return await session.connect(user, tokens[user])

        conns = await asyncio.gather(*(open_one(user) for user in tokens))
        accepted = sum(conn.accepted for conn in conns)
        if freeze:  # diagnosis: move everything alive now out of the collector's reach (gen2 pauses stall the loop)
            gc.freeze()
        ready.put(accepted)
        await asyncio.to_thread(go.wait)
        gc_clock = GcClock()
        cpu0, t0 = cpu_seconds(), time.perf_counter()

        async def run_one(i: int, conn: Any) -> Any:
            if spread:
                await asyncio.sleep(spread * i / len(conns))
            handle = await conn.start_run("researcher", "q", uses_tools=True)
            terminal = await conn.wait_for_terminal(handle.run_id)
            return handle, terminal

        results = await asyncio.gather(*(run_one(i, conn) for i, conn in enumerate(conns)))
        run_wall, run_cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        gc_run = gc_clock.summary()
        latencies = []
        for (handle, _), conn in zip(results, conns):
            first = next((r for r in conn.received if r.type == "agent_started"), None)
            if first is not None and handle.record is not None:
                latencies.append((first.t - handle.record.t) * 1000)
        j0 = time.perf_counter()
        verdict = judge(session.transcript)
        judge_s = time.perf_counter() - j0
    view = View(session.transcript)
    delivered = sum(len(run.events) for run in view.runs)
    grades = Counter(f.grade.value for f in verdict.findings)
    failed = Counter(f.rule for f in verdict.findings if f.grade.value == "FAILED")
    return {
        "users": len(tokens), "accepted": accepted, "completed": sum(t is not None for _, t in results),
        "delivered": delivered, "judged_runs": len(view.runs), "grades": dict(grades), "latencies": latencies,
        "run_wall": run_wall, "run_cpu": run_cpu, "judge_s": judge_s, "failed": dict(failed), "gc_s": gc_run["gc_s"],
    }


def _worker(url: str, users: range, spread: float, concurrency: int, freeze: bool, ready: Any, go: Any, out: Any) -> None:
    raise_nofile(len(users) + 256)
    out.put(asyncio.run(_client(url, users, spread, concurrency, freeze, ready, go)))


def once(url: str, server_pid: int, users: int, procs: int, spread: float, concurrency: int, freeze: bool) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    share = -(-users // procs)
    parts = [range(i, min(users, i + share)) for i in range(0, users, share)]
    workers = [ctx.Process(target=_worker, args=(url, part, spread, concurrency, freeze, ready, go, out)) for part in parts]
    for worker in workers:
        worker.start()
    accepted = sum(ready.get(timeout=600) for _ in workers)
    server_cpu0, t0 = cpu_seconds(server_pid), time.perf_counter()
    go.set()
    results = [out.get(timeout=900) for _ in workers]
    wall = max(r["run_wall"] for r in results)
    server_cpu = cpu_seconds(server_pid) - server_cpu0  # includes the server's idle time while clients judge
    for worker in workers:
        worker.join()
    latencies = [x for r in results for x in r["latencies"]]
    grades: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for r in results:
        grades.update(r["grades"])
        failed.update(r["failed"])
    return {
        "accepted": accepted, "completed": sum(r["completed"] for r in results), "delivered": sum(r["delivered"] for r in results),
        "judged_runs": sum(r["judged_runs"] for r in results), "grades": dict(grades), "failed": dict(failed),
        "client_gc_s": max(r["gc_s"] for r in results),
        "p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99),
        "wall": wall, "client_cpu": sum(r["run_cpu"] for r in results), "server_cpu": server_cpu,
        "judge_s": max(r["judge_s"] for r in results), "elapsed": time.perf_counter() - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1000])
    parser.add_argument("--procs", type=int, default=1)
    parser.add_argument("--spread", type=float, default=0.0, help="seconds over which the starts are spread (0: all at once)")
    parser.add_argument("--connect-concurrency", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gc-freeze", action="store_true",
                        help="diagnosis: gc.freeze() in the clients once connected, and once a second in the server")
    parser.add_argument("--tag", default="", help="suffix for the row ids (e.g. to keep a burst and a paced row)")
    args = parser.parse_args()
    raise_nofile(max(args.users) * 2 + 256)
    rows = []
    for users in args.users:
        with tempfile.TemporaryDirectory() as tmp:
            gc_log = Path(tmp) / "server-gc.json"
            server, url = spawn(["mock", "--gc-log", str(gc_log)] + (["--gc-freeze"] if args.gc_freeze else []))
            try:
                reps = [once(url, server.pid, users, args.procs, args.spread, args.connect_concurrency, args.gc_freeze)
                        for _ in range(args.repeat)]
            finally:
                stop(server)
            server_gc = json.loads(gc_log.read_text()) if gc_log.exists() else {}
        lost = [users * RUN_EVENTS - r["delivered"] for r in reps]
        judged_all = all(r["judged_runs"] == users and r["completed"] == users for r in reps)
        p99 = median([r["p99"] for r in reps])
        share = median([r["client_cpu"] / r["wall"] for r in reps])
        of_all = median([r["client_cpu"] / (r["client_cpu"] + r["server_cpu"]) for r in reps])
        how = f"starts spread over {args.spread:g} s" if args.spread else "all starts at once"
        how += ", gc.freeze() in clients and server" if args.gc_freeze else ""
        detail = (
            f"{how}, {args.procs} client proc(s); median of {args.repeat}: p50 {median([r['p50'] for r in reps]):.1f} ms, "
            f"p95 {median([r['p95'] for r in reps]):.1f} ms, p99 {p99:.1f} ms (per rep {[round(r['p99'], 1) for r in reps]}); "
            f"events lost {lost}; all runs judged {judged_all}; grades {reps[-1]['grades']}"
            f"{' FAILED ' + str(reps[-1]['failed']) if reps[-1]['failed'] else ''}; "
            f"GC pauses: harness {median([r['client_gc_s'] for r in reps]):.2f} s per run phase, "
            f"server {server_gc.get('gc_s', float('nan')):.2f} s over all {args.repeat} reps incl. connecting "
            f"({server_gc.get('gc_gen2_n', 0)} full collections, {server_gc.get('gc_gen2_s', float('nan')):.2f} s); "
            f"run phase {median([r['wall'] for r in reps]):.2f} s, harness CPU {share:.0%} of a core "
            f"({median([r['client_cpu'] for r in reps]):.2f} s, {of_all:.0%} of harness+server CPU), "
            f"server CPU {median([r['server_cpu'] for r in reps]):.2f} s; "
            f"judging {median([r['judge_s'] for r in reps]):.2f} s"
        )
        goal, met = ("p99 ≤ 50 ms, no loss", p99 <= 50 and not any(lost) and judged_all) if users <= 1000 else ("no loss", not any(lost) and judged_all)
        rows.append(Row(id=f"P2 concurrency {users}{args.tag}", figure=f"{users} users × researcher, start→first event p99",
                        value=p99, unit="ms", goal=goal, met=met, detail=detail))
    record("P2", rows)


if __name__ == "__main__":
    main()
