"""What every benchmark shares: medians, the machine line, and the results file the README table is built from.

Each benchmark calls :func:`record` with its rows; rows are keyed by ``id`` in ``bench/results.json`` (a benchmark
replaces only its own rows) and the table between the markers in ``bench/README.md`` is regenerated from the file.
Benchmarks are scripts, never timed unit tests: machines are shared and noisy, so every figure is the median of
several repetitions and every ratio is measured side by side in one run.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results.json"
README = BENCH / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Row:
    """One line of the results table: what was measured, against what, and whether the goal is met."""

    id: str
    figure: str
    value: float
    unit: str
    ceiling: str = ""
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None
    detail: str = ""


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0]  # shared machine: how busy it was when the row was written
    return f"{socket.gethostname()}: {os.cpu_count()} cpu {cpu}, Python {platform.python_version()}, {platform.system()}, load {load:.1f}"


def accelerators() -> str:
    found = []
    for name in ("uvloop", "orjson"):
        try:
            __import__(name)
            found.append(name)
        except ImportError:
            pass
    return ", ".join(found) or "none"


def raise_nofile(wanted: int) -> int:
    """Raise the soft open-files limit towards ``wanted`` (up to the hard limit); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def cpu_seconds(pid: int | None = None) -> float:
    """User+system CPU seconds of a process (this one by default), read from /proc."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class GcClock:
    """Wall time spent in cyclic garbage collection, per generation (``gc.callbacks``): a full collection walks
    every live object, and with thousands of connections that is a pause the event loop cannot hide."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.counts = [0, 0, 0]
        self._began = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._began
            self.counts[info["generation"]] += 1

    def reset(self) -> None:
        self.seconds, self.counts = [0.0, 0.0, 0.0], [0, 0, 0]

    def summary(self) -> dict[str, float]:
        return {"gc_s": sum(self.seconds), "gc_gen2_s": self.seconds[2], "gc_gen2_n": self.counts[2]}


def record(benchmark: str, rows: Iterable[Row]) -> None:
    """Replace ``benchmark``'s rows in results.json, stamp them, and rebuild the README table."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"rows": []}
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    new = [{**asdict(row), "benchmark": benchmark, "date": stamp, "machine": machine(), "accelerators": accelerators()} for row in rows]
    ids = {row["id"] for row in new}
    kept = [row for row in data["rows"] if row["id"] not in ids]
    data["rows"] = sorted(kept + new, key=lambda row: row["id"])
    RESULTS.write_text(json.dumps(data, indent=1) + "\n")
    write_table(data["rows"])
    for row in new:
        print(json.dumps(row))


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def write_table(rows: list[dict[str, object]]) -> None:
    """The README table (one line per row) and, under it, each row's details (repetitions, CPU, causes)."""
    lines = [
        BEGIN,
        "| id | figure | value | ceiling / baseline (same run) | ratio | goal | met | date | machine |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}×"
        met = {True: "yes", False: "**no**", None: ""}[row["met"]]  # type: ignore[index]
        lines.append(
            f"| {row['id']} | {row['figure']} | {_fmt(float(row['value']))} {row['unit']} | {row['ceiling']} | {ratio} "  # type: ignore[arg-type]
            f"| {row['goal']} | {met} | {row['date']} | {row['machine']}; accelerators: {row['accelerators']} |"
        )
    details = [f"- **{row['id']}**: {row['detail']}" for row in rows if row["detail"]]
    if details:
        lines += ["", "Details:", "", *details]
    lines.append(END)
    text = README.read_text() if README.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    README.write_text(head + "\n".join(lines) + tail)


def python() -> str:
    return sys.executable


def spawn(args: Sequence[str], tree: Path = ROOT, env: Mapping[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """Start a helper server (``bench/_serve.py ...``) importing the project from ``tree``, with ``env`` added to
    this process's environment (e.g. ``WSAGENT_NO_ACCEL=1``); returns it and its URL."""
    process = subprocess.Popen(
        [python(), str(BENCH / "_serve.py"), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=tree,
        env={**os.environ, **(env or {}), "PYTHONPATH": str(tree)},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("READY "):
        process.kill()
        raise RuntimeError(f"helper server did not start: {line!r}")
    return process, line.split(None, 1)[1].strip()


def checkout(ref: str, folder: str, *paths: str) -> Path:
    """``paths`` as committed at ``ref``, extracted into ``folder`` (read-only git: ``git archive``)."""
    archive = subprocess.run(["git", "archive", ref, *paths], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    return Path(folder)


def stop(process: subprocess.Popen[str]) -> None:
    if process.stdin is not None:
        process.stdin.close()  # the helper exits when its stdin closes
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
