"""L3: first-event latency at 1,000 (and 500) users: baseline, working tree and a plain server, side by side.

    python bench/bench_first_event.py [--users 1000 500] [--against 0cfd21e] [--repeat 5]

Three servers, each in its own process, alternate within every repetition (ABC rounds): the reference server as
committed at ``--against`` (``git archive``; today's code before L3), the working tree's reference server, and
bench/plain_server.py (the golden path on plain Starlette/uvicorn, the issue's comparison). Each measurement is
bench_concurrency.py's P2 burst (:func:`bench_concurrency.once`): every user connected, then all start one
researcher run at once, from 2 client processes, every run judged. Figures, medians over the repetitions: p99
start→``agent_started`` (goal: half the baseline's at 1,000 users) and runs/s (users / time until the last
terminal frame; goal: not below the baseline's), with the ratios to the baseline and to the plain server.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import Row, checkout, median, raise_nofile, record, spawn, stop
from bench_concurrency import once

PATHS = ("mock_server",)
SIDES = ("baseline", "now", "plain")


def measure(side: str, baseline: Path, users: int, procs: int) -> dict[str, float]:
    server, url = spawn(["plain" if side == "plain" else "mock"], **({"tree": baseline} if side == "baseline" else {}))
    try:
        rep = once(url, server.pid, users, procs, 0.0, 100, False)
    finally:
        stop(server)
    return {"p99": rep["p99"], "p50": rep["p50"], "runs_s": rep["completed"] / rep["wall"],
            "complete": rep["completed"] == users and not rep["failed"]}


def rows(users: int, against: str, results: dict[str, list[dict[str, float]]]) -> list[Row]:
    p99 = {side: median([r["p99"] for r in reps]) for side, reps in results.items()}
    runs = {side: median([r["runs_s"] for r in reps]) for side, reps in results.items()}
    per_rep = "; ".join(
        f"{side}: p99 ms {[round(r['p99']) for r in reps]}, p50 ms {[round(r['p50']) for r in reps]}, runs/s {[round(r['runs_s']) for r in reps]}"
        for side, reps in results.items()
    )
    clean = {side: all(r["complete"] for r in reps) for side, reps in results.items()}
    detail = (f"{users} users, all starts at once, 2 client procs, median of {len(results['now'])} rounds alternating "
              f"{against} / working tree / plain Starlette-uvicorn; {per_rep}; every run completed and judged clean: {clean}; "
              f"p99 working tree vs plain {p99['now'] / p99['plain']:.2f}×, baseline vs plain {p99['baseline'] / p99['plain']:.2f}×; "
              f"runs/s working tree vs plain {runs['now'] / runs['plain']:.2f}×, baseline vs plain {runs['baseline'] / runs['plain']:.2f}×")
    return [
        Row(f"L3 first event p99 {users}", f"{users} users × researcher at once, p99 start→agent_started, working tree vs {against}",
            p99["now"], "ms", ceiling=f"{against} {p99['baseline']:.0f} ms, plain {p99['plain']:.0f} ms", ratio=p99["now"] / p99["baseline"],
            goal="≤ 0.5× baseline" if users == 1000 else "", met=p99["now"] <= 0.5 * p99["baseline"] if users == 1000 else None, detail=detail),
        Row(f"L3 throughput {users}", f"{users} users × researcher at once, runs/s until the last terminal frame, working tree vs {against}",
            runs["now"], "runs/s", ceiling=f"{against} {runs['baseline']:.0f} runs/s, plain {runs['plain']:.0f} runs/s",
            ratio=runs["now"] / runs["baseline"], goal="≥ 0.95× baseline (noise)", met=runs["now"] >= runs["baseline"] * 0.95),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1000, 500])
    parser.add_argument("--against", default="0cfd21e", help="the baseline commit (default: before L3)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--procs", type=int, default=2)
    args = parser.parse_args()
    raise_nofile(max(args.users) * 2 + 256)
    results = {users: {side: [] for side in SIDES} for users in args.users}
    with tempfile.TemporaryDirectory() as folder:
        baseline = checkout(args.against, folder, *PATHS)
        for _ in range(args.repeat):
            for users in args.users:
                for side in SIDES:
                    results[users][side].append(measure(side, baseline, users, args.procs))
    record("L3", [row for users in args.users for row in rows(users, args.against, results[users])])


if __name__ == "__main__":
    main()
