"""L3: the reference server's first-event latency at 1,000 users, working tree against a baseline commit, side by side.

    python bench/bench_first_event.py [--users 1000] [--against 144e859] [--repeat 3]

Both servers run as bench/_serve.py ``mock`` — the baseline from ``git archive`` of ``--against`` — and alternate
within each repetition. Each repetition is bench_concurrency.py's P2 measurement (:func:`bench_concurrency.once`):
every user connected, then all start one researcher run at once, from 2 client processes, every run judged.
Figures: p99 start→``agent_started`` (goal: half the baseline's) and runs/s (users / time until the last terminal
frame; goal: not below the baseline's).
"""

from __future__ import annotations

import argparse
import tempfile

from _common import Row, checkout, median, raise_nofile, record, spawn, stop
from bench_concurrency import once

PATHS = ("mock_server", "bench/_serve.py", "bench/_common.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--against", default="144e859", help="the baseline commit (default: before issue 15)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--procs", type=int, default=2)
    args = parser.parse_args()
    raise_nofile(args.users * 2 + 256)
    results: dict[str, list[dict[str, float]]] = {"baseline": [], "now": []}
    with tempfile.TemporaryDirectory() as folder:
        baseline = checkout(args.against, folder, *PATHS)
        for _ in range(args.repeat):
            for side, tree in (("baseline", baseline), ("now", None)):
                server, url = spawn(["mock"], **({"tree": tree} if tree else {}))
                try:
                    rep = once(url, server.pid, args.users, args.procs, 0.0, 100, False)
                finally:
                    stop(server)
                results[side].append({"p99": rep["p99"], "p50": rep["p50"], "runs_s": rep["completed"] / rep["wall"],
                                      "complete": rep["completed"] == args.users and not rep["failed"]})
    p99 = {side: median([r["p99"] for r in reps]) for side, reps in results.items()}
    runs = {side: median([r["runs_s"] for r in reps]) for side, reps in results.items()}
    detail = (f"{args.users} users, all starts at once, {args.procs} client procs, median of {args.repeat}, alternating; "
              f"p99 ms now {[round(r['p99'], 1) for r in results['now']]} vs {args.against} {[round(r['p99'], 1) for r in results['baseline']]}; "
              f"p50 ms now {[round(r['p50'], 1) for r in results['now']]} vs {[round(r['p50'], 1) for r in results['baseline']]}; "
              f"runs/s now {[round(r['runs_s']) for r in results['now']]} vs {[round(r['runs_s']) for r in results['baseline']]}; "
              f"every run completed and judged clean: now {all(r['complete'] for r in results['now'])}, baseline {all(r['complete'] for r in results['baseline'])}")
    record("L3", [
        Row("L3 first event p99", f"{args.users} users × researcher at once, p99 start→agent_started, working tree vs {args.against}",
            p99["now"], "ms", ceiling=f"{args.against} {p99['baseline']:.0f} ms", ratio=p99["now"] / p99["baseline"],
            goal="≤ 0.5× baseline", met=p99["now"] <= 0.5 * p99["baseline"], detail=detail),
        Row("L3 throughput", f"{args.users} users × researcher at once, runs/s until the last terminal frame, working tree vs {args.against}",
            runs["now"], "runs/s", ceiling=f"{args.against} {runs['baseline']:.0f} runs/s", ratio=runs["now"] / runs["baseline"],
            goal="≥ 0.95× baseline (noise)", met=runs["now"] >= runs["baseline"] * 0.95),
    ])


if __name__ == "__main__":
    main()
