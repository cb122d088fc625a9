"""P4: how many recorded events per second the rule engine judges (every rule of the catalog).

Builds one transcript of USERS concurrent users, each running RUNS researcher runs (7 events a run, canonical
layout, plus connection frames), then times ``judge`` over it. Reports the median of REPEAT repetitions. No
socket, no JSON parsing in the timed part: frames are parsed once when recorded, as in a live session.

    python bench/bench_rules.py [--users 200] [--runs 25] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import datetime, timezone

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    transcript, events = build(args.users, args.runs)
    rates = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        verdict = judge(transcript)
        rates.append(events / (time.perf_counter() - start))
    bad = [f for f in verdict.findings if f.grade.value != "OK"]
    assert not bad, bad[:3]
    print(json.dumps({"benchmark": "P4 rule engine", "events": events, "median_events_per_s": round(statistics.median(rates)), "repeat": args.repeat}))


if __name__ == "__main__":
    main()
