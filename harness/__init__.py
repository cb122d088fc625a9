"""wsagent harness: record WebSocket sessions with an agent-events backend and judge them against the contract.

The public surface is what this module exports; everything else is an implementation detail that may move.
Exports load on first use (PEP 562), so ``import harness.judge`` stays free of websockets and asyncio: the rule
engine is pure and can judge a saved transcript without the client stack.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("wsagent")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0"

_EXPORTS = {
    "BAD_TOKENS": "harness.tokens",
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
    "Requirement": "harness.catalog",
    "RunHandle": "harness.client",
    "SecretMismatch": "harness.errors",
    "Session": "harness.client",
    "Target": "harness.targets",
    "TargetError": "harness.errors",
    "TokenFactory": "harness.tokens",
    "Transcript": "harness.transcript",
    "Verdict": "harness.judge",
    "judge": "harness.judge",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    return getattr(import_module(module), name)
