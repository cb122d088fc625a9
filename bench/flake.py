"""Flake hunt: run the whole conformance suite N times and report every requirement ID whose grade changed.

Why: a conformance verdict is only worth something if it is stable — an ID that is OK on one run and FAILED on the
next against the same target makes users distrust every FAILED. Timing-sensitive rules (EVT-7, ISO-4, ROB-6) under
``-n 2`` are the usual suspects. Each run is the real command a user types, ``python -m harness.cli run -n 2
--report-dir <dir>/<i>``, and its ``conformance.json`` is read back.

    python bench/flake.py                      # 30 runs against the embedded reference server
    python bench/flake.py --runs 5 -- --target ws://host/ws

Exit code 0 when every ID kept one grade (and every run produced a report), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Run:
    index: int
    exit_code: int
    seconds: float
    grades: dict[str, str] = field(default_factory=dict)
    messages: dict[str, list[str]] = field(default_factory=dict)


def run_once(index: int, report_dir: Path, workers: str, extra: Sequence[str]) -> Run:
    command = [sys.executable, "-m", "harness.cli", "run", "-n", workers, "--report-dir", str(report_dir), *extra]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    run = Run(index, done.returncode, time.monotonic() - started)
    summary = report_dir / "conformance.json"
    if summary.exists():
        data = json.loads(summary.read_text(encoding="utf-8"))
        for req_id, row in data["requirements"].items():
            run.grades[req_id] = row["grade"]
            run.messages[req_id] = list(row.get("messages", []))
    return run


def unstable(runs: Sequence[Run]) -> dict[str, Counter[str]]:
    """ID → how often each grade came, for the IDs that did not get the same grade in every run."""
    ids = sorted({req_id for run in runs for req_id in run.grades})
    counts = {req_id: Counter(run.grades.get(req_id, "MISSING") for run in runs) for req_id in ids}
    return {req_id: count for req_id, count in counts.items() if len(count) > 1}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", "-N", type=int, default=30, help="how many full runs (default 30)")
    parser.add_argument("--workers", "-n", default="2", help="pytest-xdist workers per run (default 2)")
    parser.add_argument("--keep", type=Path, help="keep the report folders here (default: a temporary folder)")
    parser.add_argument("extra", nargs="*", help="more `wsagent run` arguments, after --")
    args = parser.parse_args(argv)
    base = args.keep or Path(tempfile.mkdtemp(prefix="wsagent-flake-"))
    runs: list[Run] = []
    for index in range(args.runs):
        run = run_once(index, base / str(index), args.workers, args.extra)
        runs.append(run)
        summary = Counter(run.grades.values())
        print(f"run {index + 1:>3}/{args.runs}: exit {run.exit_code}, {run.seconds:5.1f} s, " + ", ".join(f"{v} {k}" for k, v in sorted(summary.items())), flush=True)
    missing = [run.index for run in runs if not run.grades]
    flaky = unstable([run for run in runs if run.grades])
    exits = Counter(run.exit_code for run in runs)
    print(f"\n{len(runs)} runs, exit codes {dict(exits)}, {sum(r.seconds for r in runs) / max(len(runs), 1):.1f} s per run; reports in {base}")
    if missing:
        print(f"runs without conformance.json: {missing}")
    if not flaky:
        print("stable: every requirement ID had the same grade in every run")
    for req_id, count in flaky.items():
        print(f"UNSTABLE {req_id}: " + ", ".join(f"{grade} ×{n}" for grade, n in count.most_common()))
        odd = count.most_common()[-1][0]
        for run in runs:
            if run.grades.get(req_id) == odd:
                for message in run.messages.get(req_id, [])[:3]:
                    print(f"    run {run.index + 1}: {message.splitlines()[0][:200]}")
                break
    return 1 if flaky or missing else 0


if __name__ == "__main__":
    sys.exit(main())
