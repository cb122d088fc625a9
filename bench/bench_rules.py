"""P4: how many recorded events per second the rule engine judges (every rule of the catalog).

Builds one transcript of USERS concurrent users, each running RUNS researcher runs (7 events a run, canonical
layout, plus connection frames), then times ``judge`` over it. Reports the median of REPEAT repetitions. No
socket, no JSON parsing in the timed part: frames are parsed once when recorded, as in a live session.

With ``--against REF`` (default ``HEAD``) the same benchmark also runs on the rule engine as committed at REF
(``git archive REF harness`` into a temporary folder), each side in its own process and alternating, so the
speed-up is measured side by side in one run. ``--against ''`` measures only the working tree.

``--breakdown`` measures, in one process, ``judge`` with no rule at all (only the shared view every rule starts
from) and with each requirement ID alone, and reports each ID's cost in µs per event on top of the view: where a
goal of 1 µs per event for the whole catalog stands against the interpreter.

    python bench/bench_rules.py [--users 200] [--runs 25] [--repeat 5] [--against HEAD] [--breakdown]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from datetime import datetime, timezone

from harness.catalog import CATALOG
from harness.judge import judge
from harness.transcript import Direction, Kind, Transcript


def build(users: int, runs: int) -> tuple[Transcript, int]:
    transcript = Transcript()
    t = 0.0
    events = 0
    for u in range(users):
        user, conn = f"user{u}", f"user{u}#1"
        transcript.add(conn, user, t, Direction.RECEIVED, Kind.HANDSHAKE, info={"status": 101}, note={"token": "valid", "transport": "bearer"})
        hello = {"type": "connection_established", "data": {"user_id": user, "connection_id": conn, "e2e": {"active": False, "source": None}, "features": {}}}
        transcript.add(conn, user, t, Direction.RECEIVED, Kind.TEXT, text=json.dumps(hello))
        for r in range(runs):
            run_id, thread = f"thread_{u}_{r}_run_{r}", f"thread_{u}_{r}"
            spec = {"agent": "researcher", "request": "q", "run_id": run_id, "thread_id": thread, "scenario": None, "uses_tools": True}
            start = {"type": "start_agent", "payload": {"agent_name": "researcher", "user_request": "q", "run_id": run_id, "thread_id": thread}}
            transcript.add(conn, user, t, Direction.SENT, Kind.TEXT, text=json.dumps(start), note={"start": spec})
            env = {"run_id": run_id, "thread_id": thread, "user_id": user, "agent_name": "researcher"}
            frames = [
                ("agent_started", {"user_request": "q"}),
                ("agent_thinking", {"reasoning": "plan", "step_number": 1}),
                ("tool_executing", {"tool_name": "search", "execution_id": "e1", "parameters": {}}),
                ("tool_completed", {"tool_name": "search", "execution_id": "e1", "success": True, "results": {}, "duration_ms": 1}),
                ("tool_executing", {"tool_name": "summarize", "execution_id": "e2", "parameters": {}}),
                ("tool_completed", {"tool_name": "summarize", "execution_id": "e2", "success": True, "results": {}, "duration_ms": 1}),
                ("agent_completed", {"status": "completed", "final_response": "ok"}),
            ]
            for kind, data in frames:
                t += 0.0001
                frame = {"type": kind, **env, "timestamp": datetime.fromtimestamp(1_764_064_800 + t, timezone.utc).isoformat(), "data": data}
                transcript.add(conn, user, t, Direction.RECEIVED, Kind.TEXT, text=json.dumps(frame))
                events += 1
    return transcript, events


def rate(transcript: Transcript, events: int, repeat: int, ids: Iterable[str] | None = None) -> float:
    """Median events/s of ``repeat`` judgements of ``transcript`` for ``ids`` (after one warm-up)."""
    judge(transcript, ids=ids)
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        judge(transcript, ids=ids)
        rates.append(events / (time.perf_counter() - start))
    return statistics.median(rates)


def measure(users: int, runs: int, repeat: int) -> float:
    """Median events/s of ``repeat`` judgements by every rule, on a transcript every rule grades OK."""
    transcript, events = build(users, runs)
    bad = [f for f in judge(transcript).findings if f.grade.value != "OK"]
    assert not bad, bad[:3]
    return rate(transcript, events, repeat)


def breakdown(users: int, runs: int, repeat: int) -> tuple[float, dict[str, float]]:
    """events/s of the view alone, and each ID's µs per event on top of it (IDs costing under 0.1 µs left out)."""
    transcript, events = build(users, runs)
    view_only = rate(transcript, events, repeat, ids=())
    costs = {req_id: 1e6 / rate(transcript, events, repeat, ids=[req_id]) - 1e6 / view_only for req_id in CATALOG}
    return view_only, {req_id: cost for req_id, cost in sorted(costs.items(), key=lambda kv: -kv[1]) if cost >= 0.1}


def child(tree: Path, args: argparse.Namespace) -> float:
    """One measurement in a fresh process whose ``harness`` package is the one in ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, __file__, "--child", "--users", str(args.users), "--runs", str(args.runs), "--repeat", "3"]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True, cwd=tree).stdout
    return float(json.loads(out.splitlines()[-1])["median_events_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--against", default="HEAD", help="git ref to compare with ('' for none)")
    parser.add_argument("--breakdown", action="store_true", help="the view alone and each ID's cost per event")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps({"median_events_per_s": measure(args.users, args.runs, args.repeat)}))
        return
    from _common import ROOT, Row, checkout, record

    if args.breakdown:
        view_only, costs = breakdown(args.users, args.runs, args.repeat)
        record("P4 floor", [Row(
            id="P4 rule engine, view only", figure="events/s of judge with no rule at all (the shared view every rule reads): the floor under P4",
            value=view_only, unit="events/s",
            detail="µs per event each ID adds on top: " + ", ".join(f"{k} {v:.2f}" for k, v in costs.items())
            + f"; sum {sum(costs.values()):.1f} µs",
        )])
        return

    events = args.users * args.runs * 7
    rates: dict[str, list[float]] = {"current": [], "baseline": []}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"current": ROOT}
        if args.against:
            trees["baseline"] = checkout(args.against, tmp, "harness")
        for _ in range(args.repeat):
            for name, tree in trees.items():
                rates[name].append(child(tree, args))
    rate = statistics.median(rates["current"])
    detail = f"median of {args.repeat} processes × 3 judgements of {events:,} events; {[round(r) for r in rates['current']]}"
    ceiling, ratio = "", None
    if rates["baseline"]:
        base = statistics.median(rates["baseline"])
        ceiling, ratio = f"{args.against} {base:,.0f} events/s", rate / base
        detail += f"; {args.against}: {[round(r) for r in rates['baseline']]}"
    record("P4", [Row(
        id="P4 rule engine", figure="events/s judged by every rule of the catalog (judge over a recorded transcript)",
        value=rate, unit="events/s", ceiling=ceiling, ratio=ratio, goal="≥ 1,000,000 events/s", met=rate >= 1_000_000, detail=detail,
    )])


if __name__ == "__main__":
    main()
