"""wsagent harness: record WebSocket sessions with an agent-events backend and judge them against the contract.

The public surface is what this module exports (the ``wsagent`` fixture hands a test a :class:`Case`; its
``connect``, ``run``, ``start``, ``check`` and the :class:`Connection` it returns are what a test drives); everything
else is an implementation detail that may move. The package ships ``py.typed``: the exports are typed for a user.
Exports load on first use (PEP 562), so ``import harness.judge`` stays free of websockets and asyncio: the rule
engine is pure and can judge a saved transcript without the client stack.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("wsagent")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0"

_EXPORTS = {
    "Agents": "harness.config",
    "BAD_TOKENS": "harness.tokens",
    "BadToken": "harness.tokens",
    "CATALOG": "harness.catalog",
    "CONTRACT_VERSION": "harness.catalog",
    "Area": "harness.catalog",
    "Case": "harness.case",
    "ConfigError": "harness.errors",
    "Connection": "harness.client",
    "Context": "harness.rules",
    "Finding": "harness.grades",
    "Grade": "harness.grades",
    "HarnessConfig": "harness.config",
    "HarnessError": "harness.errors",
    "Limits": "harness.rules",
    "NonStrictWarning": "harness.case",
    "Outcome": "harness.case",
    "Profile": "harness.profiles",
    "Requirement": "harness.catalog",
    "RunHandle": "harness.client",
    "SecretMismatch": "harness.errors",
    "Session": "harness.client",
    "Target": "harness.targets",
    "TargetError": "harness.errors",
    "TokenFactory": "harness.tokens",
    "TokenSource": "harness.tokens",
    "Transport": "harness.client",
    "Transcript": "harness.transcript",
    "Verdict": "harness.judge",
    "judge": "harness.judge",
}

__all__ = sorted([*_EXPORTS, "__version__"])

if TYPE_CHECKING:  # what a type checker sees: the same names, typed (they load lazily at run time)
    from harness.case import Case, NonStrictWarning, Outcome
    from harness.catalog import CATALOG, CONTRACT_VERSION, Area, Requirement
    from harness.client import Connection, RunHandle, Session, Transport
    from harness.config import Agents, HarnessConfig
    from harness.errors import ConfigError, HarnessError, SecretMismatch, TargetError
    from harness.grades import Finding, Grade
    from harness.judge import Verdict, judge
    from harness.profiles import Profile
    from harness.rules import Context, Limits
    from harness.targets import Target
    from harness.tokens import BAD_TOKENS, BadToken, TokenFactory, TokenSource
    from harness.transcript import Transcript


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    return getattr(import_module(module), name)
