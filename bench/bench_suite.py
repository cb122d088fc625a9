"""P5: wall time of the whole conformance suite against the embedded reference server, serial and with ``-n 2``.

Runs ``wsagent run --report-dir <tmp>`` as a user would (a subprocess, embedded server included), serially and with
``-n 2``, and the same two without the cases that wait on the contract's deliberate delay (``suites/waits.py``
``SLOW_TOOL_S``; the cases are found by scanning suites/ for the name, and deselected with ``-k``). The wait
cases' own durations come from the run's junit.xml. Configurations alternate in every repetition; medians.

    python bench/bench_suite.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from _common import ROOT, Row, median, record

WSAGENT = Path(__import__("sys").executable).with_name("wsagent")


def wait_cases() -> list[str]:
    """Test functions in suites/ whose body uses ``SLOW_TOOL_S``."""
    names = []
    for path in sorted((ROOT / "suites").glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef) and node.name.startswith("test_"):
                if any(isinstance(n, ast.Name) and n.id == "SLOW_TOOL_S" for n in ast.walk(node)):
                    names.append(node.name)
    return names


def run_suite(workers: int, deselect: list[str]) -> tuple[float, dict[str, float], int]:
    with tempfile.TemporaryDirectory() as tmp:
        command = [str(WSAGENT), "run", "--report-dir", tmp, "-n", str(workers)]
        if deselect:
            command += ["--", "-k", " and ".join(f"not {name}" for name in deselect)]
        began = time.perf_counter()
        done = subprocess.run(command, cwd=tmp, capture_output=True, text=True)
        wall = time.perf_counter() - began
        if done.returncode != 0:
            raise RuntimeError(f"{command} exited {done.returncode}: {done.stdout[-2000:]}{done.stderr[-2000:]}")
        cases = {case.get("name", ""): float(case.get("time", 0)) for case in ET.parse(Path(tmp) / "junit.xml").iter("testcase")}
    return wall, cases, len(cases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    waits = wait_cases()
    configs = {("serial", False): (0, []), ("-n 2", False): (2, []), ("serial", True): (0, waits), ("-n 2", True): (2, waits)}
    walls: dict[tuple[str, bool], list[float]] = {key: [] for key in configs}
    counts: dict[tuple[str, bool], int] = {}
    wait_times: dict[str, list[float]] = {name: [] for name in waits}
    for _ in range(args.repeat):
        for key, (workers, deselect) in configs.items():
            wall, cases, count = run_suite(workers, deselect)
            walls[key].append(wall)
            counts[key] = count
            if key == ("serial", False):
                for name in waits:
                    wait_times[name].append(next((t for case, t in cases.items() if case.startswith(name)), float("nan")))
    waits_text = ", ".join(f"{name} {median(times):.2f} s" for name, times in wait_times.items())
    rows = []
    for (mode, excluded), values in walls.items():
        wall = median(values)
        goal, met = ("≤ 15 s", wall <= 15) if mode == "-n 2" and excluded else ("", None)
        what = f"without the {len(waits)} deliberate-wait cases" if excluded else "whole suite"
        rows.append(Row(
            id=f"P5 suite {mode}{' no waits' if excluded else ''}", figure=f"wsagent run, {mode}, {what} ({counts[(mode, excluded)]} cases)",
            value=wall, unit="s", goal=goal, met=met,
            detail=f"median of {args.repeat}: {[round(v, 2) for v in values]}" + ("" if excluded else f"; deliberate waits (serial): {waits_text}"),
        ))
    record("P5", rows)


if __name__ == "__main__":
    main()
