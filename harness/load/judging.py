"""Judging load runs with the suite's own rule engine, in small batches, and measuring them on the way.

Each finished run arrives as a slice (:mod:`harness.load.recorder`). ISO-1 is judged across users — the rule
needs at least two users in a transcript to say that each received only their own frames — so a slice waits until
a slice of another user arrives; the two are judged together, once, by :func:`harness.judge.judge` with the IDs of
:data:`RUN_IDS`, and dropped. At most one slice ever waits, so memory stays flat however long the load runs.
:meth:`Judging.flush` judges a slice left waiting when the load stops (EVT only: it has no partner).

The metrics come from the same :class:`~harness.view.View` reading the rules use: no second parser of frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.catalog import CATALOG
from harness.grades import Finding, fails
from harness.judge import judge
from harness.rules import Context
from harness.transcript import Transcript
from harness.view import Run, View

__all__ = ["RUN_IDS", "Judged", "Judging", "RunFigures", "measure", "titled"]

RUN_IDS = ("EVT-1", "EVT-2", "EVT-3", "EVT-4", "EVT-5", "EVT-6", "EVT-7", "EVT-8", "ISO-1")
"""What every load run is judged for: the event rules when it ends, ISO-1 across the users of its batch."""


@dataclass(frozen=True, slots=True)
class RunFigures:
    """One run measured from its recorded frames; latencies in ms, ``None`` when the frame never came."""

    start_to_started: float | None
    start_to_first_event: float | None
    start_to_terminal: float | None
    gaps: tuple[float, ...]
    events: int
    lost: tuple[str, ...]
    """The frames the run needed and never got (no agent_started, a tool without its completion, no terminal)."""


@dataclass
class Judged:
    """One judged batch: its runs' figures, the violations (FAILED, or NON-STRICT when strict) and the transcript."""

    runs: list[RunFigures]
    violations: list[Finding]
    transcript: Transcript


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def measure(run: Run) -> RunFigures:
    t0 = run.start.t
    frames = run.frames
    started = next((r.t for r in frames if r.type == "agent_started"), None)
    terminal = run.terminal
    executing = {
        str(r.frame.get("data", {}).get("execution_id"))
        for r in frames
        if r.type == "tool_executing" and isinstance(r.frame.get("data"), dict)
    }
    completed = {
        str(r.frame.get("data", {}).get("execution_id"))
        for r in frames
        if r.type == "tool_completed" and isinstance(r.frame.get("data"), dict)
    }
    lost = []
    if started is None:
        lost.append("agent_started")
    lost += [f"tool_completed {execution}" for execution in sorted(executing - completed)]
    if terminal is None:
        lost.append("terminal frame")
    return RunFigures(
        start_to_started=None if started is None else _ms(started - t0),
        start_to_first_event=_ms(frames[0].t - t0) if frames else None,
        start_to_terminal=None if terminal is None else _ms(terminal.t - t0),
        gaps=tuple(_ms(b.t - a.t) for a, b in zip(frames, frames[1:])),
        events=len(run.events),
        lost=tuple(lost),
    )


@dataclass
class Judging:
    """The batcher of one load process. ``add`` each finished slice; ``flush`` when the load stops."""

    context: Context = field(default_factory=Context)
    strict: bool = False
    _waiting: tuple[str, Transcript] | None = None

    def add(self, user: str, piece: Transcript) -> Judged | None:
        """Judge ``piece`` with the waiting slice of another user; ``None`` while it waits for such a partner."""
        waiting = self._waiting
        if waiting is None:
            self._waiting = (user, piece)
            return None
        if waiting[0] == user:  # only one user is running: judge what waits alone, let this one wait
            self._waiting = (user, piece)
            return self._judge([waiting[1]])
        self._waiting = None
        return self._judge([waiting[1], piece])

    def flush(self) -> Judged | None:
        waiting, self._waiting = self._waiting, None
        return self._judge([waiting[1]]) if waiting else None

    def _judge(self, pieces: list[Transcript]) -> Judged:
        batch = Transcript(meta=dict(pieces[0].meta))
        for piece in pieces:
            for r in piece:
                batch.add(r.conn, r.user, r.t, r.direction, r.kind, text=r.text, info=r.info, note=r.note)
        verdict = judge(batch, self.context, ids=RUN_IDS)
        runs = [measure(run) for run in View(batch).runs]
        return Judged(runs, [f for f in verdict.findings if fails(f.grade, self.strict)], batch)


def titled(finding: Finding) -> str:
    """The Locust error text of a violation: the requirement's title, the same for every run, so Locust's error
    table holds one row per ID however many runs break it (the run's own message is in the kept transcript)."""
    return CATALOG[finding.rule].title
