"""The rule registry and the context a judgement needs besides the transcript.

A rule is a pure function ``(view, context) -> iterable of Finding`` registered under its requirement ID with
:func:`rule`. Rules import neither sockets nor asyncio and never raise on bad input: the judge turns an exception
inside a rule into a FAILED finding that says so, because a crash on odd frames is itself a verdict on the frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from harness.catalog import CATALOG
from harness.grades import Finding, Grade
from harness.view import View

__all__ = ["RULES", "Context", "Limits", "Rule", "rule"]


@dataclass(frozen=True, slots=True)
class Limits:
    """EVT-7's time limits in seconds (configurable: a slow staging target may need more)."""

    start_s: float = 2.0
    run_s: float = 30.0
    silence_s: float = 15.0
    resolution_error_s: float = 2.0
    slow_tool_s: float = 3.0


@dataclass(frozen=True, slots=True)
class Context:
    """What the case knows beyond the frames: environment and declared capabilities.

    ``capabilities`` holds names such as ``e2e_env`` (the target runs with the E2E env fallback) and ``no_e2e_env``
    (it is known to run without it); without either, E2E-1's inactive/env clauses are not judged.
    """

    environment: str = "development"
    limits: Limits = field(default_factory=Limits)
    capabilities: frozenset[str] = frozenset()

    @property
    def production(self) -> bool:
        return self.environment == "production"


Rule = Callable[[View, Context], Iterable[Finding]]
RULES: dict[str, list[Rule]] = {}


def rule(req_id: str) -> Callable[[Rule], Rule]:
    """Register a rule function under a requirement ID of the catalog."""
    if req_id not in CATALOG:
        raise KeyError(f"unknown requirement ID {req_id!r}")

    def register(func: Rule) -> Rule:
        RULES.setdefault(req_id, []).append(func)
        return func

    return register


def finding(req_id: str, grade: Grade, message: str, *frames: int) -> Finding:
    return Finding(req_id, grade, message, tuple(frames))
