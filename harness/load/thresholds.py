"""k6-style thresholds: ``p99(start_to_started)<200ms``, ``violations==0``, ``runs_per_s>=50``.

A threshold is an aggregation of a latency (``p50``, ``p90``, ``p95``, ``p99``, ``max``, ``avg`` of one of
:data:`LATENCIES`, in ms; ``s`` and ``ms`` units accepted) or a counter of :data:`COUNTERS`, a comparison and a
number. Parsing happens before any user starts, so a typo costs one line and exit 2, never a wasted load run.
Evaluation reads the finished run's figures (:meth:`Threshold.check`); a latency nobody measured (no run ended)
breaks its threshold rather than passing it silently.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from harness.errors import ConfigError

__all__ = [
    "AGGREGATIONS",
    "COUNTERS",
    "DEFAULT_THRESHOLDS",
    "LATENCIES",
    "Threshold",
    "parse_threshold",
    "parse_thresholds",
]

LATENCIES = ("start_to_started", "start_to_first_event", "start_to_terminal", "event_gap")
"""Latencies measured per run from the recorded frames (ms): start message → agent_started, → first run event,
→ terminal frame, and the gaps between a run's consecutive events."""
AGGREGATIONS = ("p50", "p90", "p95", "p99", "max", "avg")
COUNTERS = ("runs", "events", "violations", "lost_events", "failed_handshakes", "runs_per_s", "events_per_s")
OPERATORS: Mapping[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_EXPRESSION = re.compile(
    r"\s*(?:(?P<agg>\w+)\((?P<latency>\w+)\)|(?P<counter>\w+))"
    r"\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s)?\s*"
)
DEFAULT_THRESHOLDS = ("violations==0",)
"""What must hold when no ``--threshold`` is given: a load run that broke the contract does not pass."""


@dataclass(frozen=True, slots=True)
class Threshold:
    text: str
    metric: str
    """``p99(start_to_started)`` or a counter name: the key of the figures :meth:`check` reads."""
    op: str
    value: float

    def check(self, figures: Mapping[str, float | None]) -> tuple[bool, float | None]:
        """Whether it holds, and the figure it was compared with (``None``: not measured, which breaks it)."""
        actual = figures.get(self.metric)
        if actual is None:
            return False, None
        return OPERATORS[self.op](actual, self.value), actual


def parse_threshold(text: str) -> Threshold:
    match = _EXPRESSION.fullmatch(text)
    if match is None:
        raise ConfigError(
            f"wsagent: threshold {text!r} is not 'AGG(LATENCY)<VALUE[ms|s]' or 'COUNTER<VALUE' (e.g. "
            "'p99(start_to_started)<200ms', 'violations==0')"
        )
    value = float(match["value"])
    if match["counter"]:
        if match["counter"] not in COUNTERS:
            raise ConfigError(f"wsagent: threshold {text!r}: {match['counter']!r} is not one of {', '.join(COUNTERS)}")
        if match["unit"]:
            raise ConfigError(f"wsagent: threshold {text!r}: a counter takes no unit")
        return Threshold(text.strip(), match["counter"], match["op"], value)
    if match["agg"] not in AGGREGATIONS:
        raise ConfigError(f"wsagent: threshold {text!r}: {match['agg']!r} is not one of {', '.join(AGGREGATIONS)}")
    if match["latency"] not in LATENCIES:
        raise ConfigError(f"wsagent: threshold {text!r}: {match['latency']!r} is not one of {', '.join(LATENCIES)}")
    milliseconds = value * 1000 if match["unit"] == "s" else value
    return Threshold(text.strip(), f"{match['agg']}({match['latency']})", match["op"], milliseconds)


def parse_thresholds(texts: Iterable[str]) -> tuple[Threshold, ...]:
    given = list(texts)
    return tuple(parse_threshold(text) for text in (given or DEFAULT_THRESHOLDS))
