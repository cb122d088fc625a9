"""L1, L2 and the load RSS: ``wsagent load`` (Locust) at scale against the reference server, one process or replicas.

    python bench/bench_load.py rss --users 150 --minutes 10     RSS of a local `wsagent load` process over a long run
    python bench/bench_load.py l1 --users 1000 --seconds 60     Locust (master + 2 workers) vs the bare generator
    python bench/bench_load.py l2 --users 1000 --seconds 30     two replicas over Redis vs one server process

``rss`` samples VmRSS of the load process (the embedded reference server is its child and not counted) every
10 s: passing runs are dropped once judged, so it must stay flat. ``l1`` runs, alternately on the same reference
server (bench/_serve.py ``mock``), ``wsagent load --master`` with two ``--worker`` processes, and the bare generator
(:func:`bare`: asyncio, :class:`harness.client.Session` recording, no Locust, no judging) with two processes; both
closed-loop (start → terminal frame → think time) for the same users, think time and duration. Runs/s per core
is runs/s divided by the generator's CPU seconds per second (from ``wait4``'s rusage of its processes). ``l2``
runs the same Locust load against one reference-server process, and against two replicas sharing a
redis-server (each worker drives one replica), alternately; events/s and p99 start→agent_started from load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, Row, median, raise_nofile, record, spawn, stop
from _serve import SECRET

THINK_S = 1.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSAGENT_")}
    env.update(WSAGENT_SECRET=SECRET, PYTHONPATH=str(ROOT))
    return env


def wait_rusage(process: subprocess.Popen[Any]) -> float:
    """Wait for ``process`` and return its user+system CPU seconds (the kernel's own account, children excluded)."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def locust(report: Path, targets: list[str], users: int, seconds: float, *, think: float = THINK_S) -> dict[str, Any]:
    """Master + one worker per target; load.json plus the CPU seconds of the three Locust processes."""
    port = free_port()
    base = [sys.executable, "-m", "harness.cli", "load", "--report-dir", str(report), "--master-port", str(port)]
    env = environment()
    master = subprocess.Popen([*base, "--master", "--expect-workers", str(len(targets)), "--users", str(users),
                               "--spawn-rate", str(max(users // 5, 1)), "--run-time", f"{seconds:g}s", "--threshold", "runs>0"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    workers = [subprocess.Popen([*base, "--worker", "--target", url, "--think-time", str(think)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for url in targets]
    cpu = wait_rusage(master) + sum(wait_rusage(w) for w in workers)
    data = json.loads((report / "load.json").read_text())
    data["cpu_s"] = cpu
    return data


async def _bare_users(url: str, users: int, seconds: float, think: float, offset: int) -> dict[str, Any]:
    from harness.client import Session
    from mock_server.testing import mint_token

    deadline = time.monotonic() + seconds
    runs = events = 0
    latencies: list[float] = []
    async with Session(url, secret=SECRET, open_timeout=60, default_timeout=60) as session:

        async def user(n: int) -> None:
            nonlocal runs, events
            name = f"bare{offset + n}"
            conn = await session.connect(name, mint_token(SECRET, name))
            while time.monotonic() < deadline:
                since = len(conn.received)
                handle = await conn.start_run("researcher", "load test", uses_tools=True)
                terminal = await conn.wait_for_terminal(handle.run_id)
                if terminal is None or time.monotonic() > deadline:
                    return
                frames = conn.received[since:]
                started = next((r for r in frames if r.type == "agent_started"), None)
                if started is not None and handle.record is not None:
                    latencies.append((started.t - handle.record.t) * 1000)
                runs += 1
                events += sum(r.type not in (None, "heartbeat", "pong") for r in frames)
                session.transcript.records.clear()  # flat memory, like the load's judged-and-dropped slices
                conn.received.clear()
                await asyncio.sleep(think)

        await asyncio.gather(*(user(n) for n in range(users)))
    return {"runs": runs, "events": events, "latencies": latencies}


def bare_child(url: str, users: int, seconds: float, offset: int) -> None:
    raise_nofile(users + 256)
    print(json.dumps(asyncio.run(_bare_users(url, users, seconds, THINK_S, offset))), flush=True)


def bare(url: str, users: int, seconds: float, procs: int = 2) -> dict[str, Any]:
    """The bare generator in ``procs`` processes: runs, events, start→agent_started latencies, CPU seconds."""
    share = users // procs
    children = [subprocess.Popen([sys.executable, __file__, "bare-child", url, str(share), str(seconds), str(i * share)],
                                 stdout=subprocess.PIPE, text=True, env=environment()) for i in range(procs)]
    outs = [json.loads(child.stdout.read()) for child in children]  # type: ignore[union-attr]
    cpu = sum(wait_rusage(child) for child in children)
    latencies = sorted(x for out in outs for x in out["latencies"])
    return {"runs": sum(o["runs"] for o in outs), "events": sum(o["events"] for o in outs), "cpu_s": cpu,
            "p99": latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan")}


def l1(users: int, seconds: float, repeat: int) -> None:
    raise_nofile(users * 4 + 256)
    server, url = spawn(["mock"])
    reps: list[tuple[dict[str, Any], dict[str, Any]]] = []
    try:
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as tmp:
                ours = locust(Path(tmp), [url, url], users, seconds)
            reps.append((ours, bare(url, users, seconds)))
    finally:
        stop(server)
    per_core = [(o["runs"] / o["cpu_s"], b["runs"] / b["cpu_s"]) for o, b in reps]
    runs_s = median([o["runs_per_s"] for o, _ in reps])
    detail = (
        f"{users} users, think {THINK_S:g} s, {seconds:g} s, median of {repeat}; Locust master + 2 workers: runs/s "
        f"{[round(o['runs_per_s'], 1) for o, _ in reps]}, p99 start→agent_started {[o['latencies']['start_to_started'].get('p99') for o, _ in reps]} ms, "
        f"events lost {[o['lost_events'] for o, _ in reps]}, violations {[o['violations'] for o, _ in reps]}, CPU s {[round(o['cpu_s'], 1) for o, _ in reps]}; "
        f"bare generator (2 procs, records, no judging): runs/s {[round(b['runs'] / seconds, 1) for _, b in reps]}, "
        f"p99 {[round(b['p99'], 1) for _, b in reps]} ms, CPU s {[round(b['cpu_s'], 1) for _, b in reps]}; "
        f"runs per CPU-second Locust vs bare {[(round(a, 1), round(b, 1)) for a, b in per_core]}"
    )
    ratio = median([a / b for a, b in per_core])
    rows = [
        Row("L1 locust runs/s", f"{users} users × researcher on Locust (master + 2 workers), every run judged", runs_s, "runs/s",
            ceiling=f"bare generator {median([b['runs'] / seconds for _, b in reps]):.1f} runs/s", ratio=None, detail=detail),
        Row("L1 locust runs/s per core", "runs per CPU-second of the generator: Locust (judging) vs the bare generator", median([a for a, _ in per_core]),
            "runs/cpu-s", ceiling=f"bare {median([b for _, b in per_core]):.1f} runs/cpu-s", ratio=ratio),
        Row("L1 locust p99 start→started", f"{users} users, p99 start→agent_started as Locust users recorded it",
            median([o["latencies"]["start_to_started"].get("p99") or float("nan") for o, _ in reps]), "ms"),
        Row("L1 locust events lost", f"{users} users, frames a run needed and never got", median([o["lost_events"] for o, _ in reps]), "events",
            goal="0", met=all(o["lost_events"] == 0 for o, _ in reps)),
    ]
    record("L1", rows)


def l2(users: int, seconds: float, repeat: int) -> None:
    raise_nofile(users * 4 + 256)
    if shutil.which("redis-server") is None:
        sys.exit("bench_load l2 needs redis-server (apt-get install redis-server)")
    reps: list[tuple[dict[str, Any], dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", tmp],
                                 stdout=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        time.sleep(0.5)  # a benchmark script, not a test: redis-server listens well within this
        try:
            for n in range(repeat):
                one, one_url = spawn(["mock"])
                try:
                    single = locust(Path(tmp) / f"one{n}", [one_url, one_url], users, seconds)
                finally:
                    stop(one)
                pair = [spawn(["mock", "--redis", url]) for _ in range(2)]
                try:
                    shared = locust(Path(tmp) / f"two{n}", [u for _, u in pair], users, seconds)
                finally:
                    for process, _ in pair:
                        stop(process)
                reps.append((single, shared))
        finally:
            redis.terminate()
            redis.wait()
    events = [(s["events_per_s"], t["events_per_s"]) for s, t in reps]
    p99 = [(s["latencies"]["start_to_started"].get("p99"), t["latencies"]["start_to_started"].get("p99")) for s, t in reps]
    detail = (f"{users} users, think {THINK_S:g} s, {seconds:g} s each, median of {repeat}, all on one 2-core machine (Locust master + "
              f"2 workers, the server(s) and redis-server share the 2 cores); events/s one process vs two replicas {events}; "
              f"p99 start→agent_started ms {p99}; violations {[(s['violations'], t['violations']) for s, t in reps]}; "
              f"lost {[(s['lost_events'], t['lost_events']) for s, t in reps]}")
    ratio = median([t / s for s, t in events])
    rows = [
        Row("L2 replicas events/s", f"{users} users, events/s: two replicas over Redis vs one server process", median([t for _, t in events]),
            "events/s", ceiling=f"one process {median([s for s, _ in events]):,.0f} events/s", ratio=ratio, detail=detail),
        Row("L2 replicas p99 start→started", f"{users} users, p99 start→agent_started: two replicas over Redis vs one process",
            median([t or float("nan") for _, t in p99]), "ms", ceiling=f"one process {median([s or float('nan') for s, _ in p99]):.0f} ms"),
    ]
    record("L2", rows)


def rss(users: int, minutes: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = environment()
        load = subprocess.Popen([sys.executable, "-m", "harness.cli", "load", "--users", str(users), "--run-time", f"{minutes:g}m",
                                 "--report-dir", tmp, "--threshold", "runs>0"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples: list[tuple[float, float]] = []
        began = time.monotonic()
        while load.poll() is None:
            try:
                status = Path(f"/proc/{load.pid}/status").read_text()
            except OSError:
                break
            kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            samples.append((time.monotonic() - began, kib / 1024))
            time.sleep(10)
        data = json.loads((Path(tmp) / "load.json").read_text())
    at = {m: next((mb for t, mb in samples if t >= m * 60), samples[-1][1]) for m in (1, minutes / 2, minutes)}
    detail = (f"local `wsagent load`, {users} users, think {THINK_S:g} s, {minutes:g} min, {data['runs']:,} runs judged "
              f"({data['runs_per_s']:.0f}/s), {data['violations_total']} violations; RSS of the load process (MiB) at 1 min "
              f"{at[1]:.1f}, {minutes / 2:g} min {at[minutes / 2]:.1f}, {minutes:g} min {at[minutes]:.1f}, max {max(mb for _, mb in samples):.1f}")
    record("L RSS", [Row("L RSS 10 min", f"RSS of a `wsagent load` process over {minutes:g} min ({users} users)", at[minutes], "MiB",
                         ceiling=f"at 1 min {at[1]:.1f} MiB", ratio=at[minutes] / at[1], goal="flat", met=at[minutes] <= at[1] * 1.1, detail=detail)])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "bare-child":
        bare_child(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=("rss", "l1", "l2"))
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if args.which == "rss":
        rss(args.users, args.minutes)
    elif args.which == "l1":
        l1(args.users, args.seconds, args.repeat)
    else:
        l2(args.users, args.seconds, args.repeat)


if __name__ == "__main__":
    main()
