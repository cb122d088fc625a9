"""E2E test detection (PROTOCOL §2): headers first, then the process's env fallback, never in production.

Stricter than the backend it models, on purpose: the backend counted *any* header whose name contained "test" or
"e2e" and any value *containing* "1" or "true"; here only the four named headers count, and only when the whole
value (case-insensitive, trimmed) is one of :data:`TRUTHY`. E2E mode only unlocks the scenario hooks of §5; it
never touches authentication (see auth.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from mock_server.environment import Environment, ServerEnvironment
from mock_server.faults import NO_FAULTS, FaultName, Faults

__all__ = ["E2E_HEADERS", "TRUTHY", "E2ESource", "E2EState", "INACTIVE", "detect_e2e", "headers_say_e2e"]

E2E_HEADERS = frozenset({"x-test-type", "x-test-environment", "x-e2e-test", "x-test-mode"})
TRUTHY = frozenset({"1", "true", "yes", "on", "e2e", "test", "development", "staging"})
NARROW_TRUTHY = frozenset({"1", "true", "e2e"})
"""What a server with the ``e2e_header_values_narrowed`` fault counts."""
CANONICAL_SPELLINGS = frozenset({"X-Test-Type", "X-Test-Environment", "X-E2E-Test", "X-Test-Mode"})
"""The only spellings a server with the ``e2e_header_case_sensitive`` fault sees."""


class E2ESource(StrEnum):
    HEADERS = "headers"
    ENV = "env"


@dataclass(frozen=True, slots=True)
class E2EState:
    active: bool
    source: E2ESource | None

    def as_json(self) -> dict[str, object]:
        """The ``connection_established.data.e2e`` object."""
        return {"active": self.active, "source": self.source.value if self.source else None}


INACTIVE = E2EState(False, None)


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in TRUTHY


def _counts(name: str, value: str, faults: Faults) -> bool:
    if faults.enabled(FaultName.E2E_HEADER_CASE_SENSITIVE):
        named = name in CANONICAL_SPELLINGS
    else:
        named = name.lower() in E2E_HEADERS
    if faults.enabled(FaultName.E2E_FALSE_COUNTS):
        return named
    if faults.enabled(FaultName.E2E_HEADER_VALUES_NARROWED):
        return named and value.strip().lower() in NARROW_TRUTHY
    return named and _truthy(value)


def headers_say_e2e(headers: Iterable[tuple[str, str]], faults: Faults = NO_FAULTS) -> bool:
    """Does one of the E2E headers carry a counting value? The environment is not consulted here."""
    return any(_counts(name, value, faults) for name, value in headers)


def detect_e2e(headers: Iterable[tuple[str, str]], env: ServerEnvironment, faults: Faults = NO_FAULTS) -> E2EState:
    """Is this connection E2E test traffic, and why? ``headers`` are the handshake's raw (name, value) pairs."""
    if env.production and not faults.enabled(FaultName.E2E_IN_PRODUCTION):
        return INACTIVE
    by_headers = not faults.enabled(FaultName.E2E_HEADERS_IGNORED) and headers_say_e2e(headers, faults)
    test_env = bool(env.e2e_test_env) and not faults.enabled(FaultName.E2E_TEST_ENV_FALLBACK_IGNORED)
    by_env = (_truthy(env.e2e_testing) or test_env) and not faults.enabled(FaultName.E2E_ENV_FALLBACK_IGNORED)
    if by_env and faults.enabled(FaultName.E2E_ENV_WINS_OVER_HEADERS):
        return E2EState(True, E2ESource.ENV)
    if by_headers:
        return E2EState(True, E2ESource.HEADERS)
    if by_env:
        return E2EState(True, E2ESource.ENV)
    if env.name is Environment.DEVELOPMENT and faults.enabled(FaultName.E2E_ALWAYS_ON_IN_DEVELOPMENT):
        return E2EState(True, E2ESource.ENV)
    return INACTIVE
