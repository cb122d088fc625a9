"""E2E test detection as the contract defines it (PROTOCOL §2): which headers the harness sends, and whether a
set of handshake headers counts as E2E.

One home for the harness's side of §2: the client sends :func:`default_headers`, and the rules (through
:attr:`harness.view.Conn.e2e_sent`) expect E2E mode wherever :func:`headers_count` says the headers sent count.
The reference server has its own copy (docs/CONTRACT.md, Decision 13: tester and testee share no code).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

__all__ = ["COUNTING_VALUES", "E2E_HEADERS", "default_headers", "headers_count"]

E2E_HEADERS: Final = ("X-Test-Type", "X-Test-Environment", "X-E2E-Test", "X-Test-Mode")
"""The four header names; a server compares them case-insensitively."""
COUNTING_VALUES: Final = frozenset(("1", "true", "yes", "on", "e2e", "test", "development", "staging"))
"""Values (case-insensitive, trimmed) that make one of :data:`E2E_HEADERS` count; any other value does not."""
_NAMES: Final = frozenset(name.lower() for name in E2E_HEADERS)


def default_headers(environment: str) -> list[tuple[str, str]]:
    """What the harness sends for E2E mode (PROTOCOL §2): all four headers together."""
    values = ("e2e", environment, "true", "true")
    return list(zip(E2E_HEADERS, values, strict=True))


def headers_count(headers: Iterable[tuple[str, str]] | Iterable[list[str]]) -> bool:
    """Does any header of the handshake make the connection E2E (a named header with a counting value)?"""
    return any(name.lower() in _NAMES and value.strip().lower() in COUNTING_VALUES for name, value in headers)
