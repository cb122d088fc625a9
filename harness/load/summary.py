"""``load.json`` and ``load.md``: what a load run measured, what it found, and whether its thresholds held.

Built by the process that sees every user's figures (the master, or the only process of a local run) from
Locust's aggregated statistics, which :mod:`harness.load.runner` reads into a :class:`LoadReport`. The file shapes
follow ``conformance.json``/``conformance.md``: a JSON document for machines, a Markdown page for people.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.catalog import CATALOG
from harness.load.thresholds import AGGREGATIONS, LATENCIES, Threshold

__all__ = ["LoadReport", "ThresholdResult"]


@dataclass(frozen=True)
class ThresholdResult:
    threshold: str
    holds: bool
    actual: float | None


@dataclass
class LoadReport:
    """One load run's figures. Latencies in ms by name and aggregation; ``None`` where nothing was measured."""

    target: str
    environment: str
    users: int
    workers: int
    duration_s: float
    runs: int
    events: int
    lost_events: int
    handshakes: int
    failed_handshakes: int
    violations: dict[str, int]
    latencies: dict[str, dict[str, float | None]]
    thresholds: list[ThresholdResult] = field(default_factory=list)

    @property
    def runs_per_s(self) -> float:
        return self.runs / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.duration_s if self.duration_s > 0 else 0.0

    def figures(self) -> dict[str, float | None]:
        """Every figure a threshold can name (:mod:`harness.load.thresholds`)."""
        figures: dict[str, float | None] = {
            "runs": self.runs,
            "events": self.events,
            "violations": sum(self.violations.values()),
            "lost_events": self.lost_events,
            "failed_handshakes": self.failed_handshakes,
            "runs_per_s": self.runs_per_s,
            "events_per_s": self.events_per_s,
        }
        for name in LATENCIES:
            for agg in AGGREGATIONS:
                figures[f"{agg}({name})"] = self.latencies.get(name, {}).get(agg)
        return figures

    def check(self, thresholds: tuple[Threshold, ...]) -> bool:
        """Evaluate ``thresholds`` into :attr:`thresholds`; true when all hold."""
        figures = self.figures()
        self.thresholds = [ThresholdResult(t.text, *t.check(figures)) for t in thresholds]
        return all(result.holds for result in self.thresholds)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            runs_per_s=round(self.runs_per_s, 3),
            events_per_s=round(self.events_per_s, 3),
            violations_total=sum(self.violations.values()),
        )
        return data

    def write(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "load.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        (directory / "load.md").write_text(self.markdown(), encoding="utf-8")

    def markdown(self) -> str:
        broken = [t for t in self.thresholds if not t.holds]
        verdict = "every threshold holds" if not broken else f"{len(broken)} threshold(s) broken"
        lines = [
            "# wsagent load",
            "",
            f"Target `{self.target}` ({self.environment}); {self.users} users on {max(self.workers, 1)} process(es) "
            "for "
            f"{self.duration_s:.1f} s; {verdict}.",
            "",
            "| figure | value |",
            "|---|---|",
            f"| runs | {self.runs} ({self.runs_per_s:.1f}/s) |",
            f"| events | {self.events} ({self.events_per_s:.1f}/s) |",
            f"| lost events | {self.lost_events} |",
            f"| handshakes (failed) | {self.handshakes} ({self.failed_handshakes}) |",
            f"| violations | {sum(self.violations.values())} |",
            "",
            "| latency (ms) | " + " | ".join(AGGREGATIONS) + " |",
            "|---|" + "---|" * len(AGGREGATIONS),
        ]
        for name in LATENCIES:
            values = self.latencies.get(name, {})
            lines.append(f"| {name} | " + " | ".join(_ms(values.get(agg)) for agg in AGGREGATIONS) + " |")
        if self.violations:
            lines += ["", "## Violations", "", "| ID | runs | requirement |", "|---|---|---|"]
            lines += [f"| {i} | {n} | {CATALOG[i].title} |" for i, n in sorted(self.violations.items())]
            lines += [
                "",
                "A sample of the violating transcripts is in `load-transcripts/` beside this file (where each "
                "worker ran); `wsagent check FILE` explains each.",
            ]
        if self.thresholds:
            lines += ["", "## Thresholds", "", "| threshold | actual | holds |", "|---|---|---|"]
            lines += [
                f"| `{t.threshold}` | {_ms(t.actual)} | {'yes' if t.holds else '**no**'} |" for t in self.thresholds
            ]
        return "\n".join(lines) + "\n"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"
