"""The requirement catalog: every ID of the contract with its section, area and title.

The ID is the key that ties together the contract (docs/CONTRACT.md), the rule that judges it (harness.rules),
the suite cases that exercise it (``@pytest.mark.requirement("ID")``) and the reference-server fault that proves
the case catches its breakage. Grep an ID to find all four.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

__all__ = ["AREAS", "CATALOG", "CONTRACT_VERSION", "SUITES", "Area", "Requirement", "requirement", "selection"]

CONTRACT_VERSION = "v1"
SUITES = Path(__file__).resolve().parent.parent / "suites"
"""wsagent's own cases, installed beside this package; found by path, not by importing ``suites``, which a folder
of that name in the user's working directory could shadow."""


class Area(str, Enum):
    """Contract areas; the value is the Allure epic and the ``--only`` selector."""

    AUTH = "auth"
    E2E = "e2e"
    EVENTS = "events"
    ISOLATION = "isolation"
    FAILURES = "failures"
    ROBUSTNESS = "robustness"
    SECURITY = "security"


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str
    area: Area
    section: str
    title: str


_ROWS: tuple[tuple[str, Area, str, str], ...] = (
    ("AUTH-1", Area.AUTH, "1", "Bad tokens are rejected before the upgrade with 403/401 and an AUTH_FAILED body"),
    ("AUTH-2", Area.AUTH, "1", "A valid Bearer token is accepted; the first frame is connection_established"),
    ("AUTH-3", Area.AUTH, "1", "A valid subprotocol token is accepted and its exact jwt. entry is selected"),
    ("AUTH-4", Area.AUTH, "1", "connection_established.data.user_id equals the token's sub"),
    ("AUTH-5", Area.AUTH, "1", "Another environment's secret or env claim is rejected, never a default user"),
    ("E2E-1", Area.E2E, "2", "E2E mode is detected from headers, else from the env fallback, and reported"),
    ("E2E-2", Area.E2E, "2", "E2E mode never skips token verification"),
    ("E2E-3", Area.E2E, "2", "In production E2E headers and variables grant nothing"),
    ("EVT-1", Area.EVENTS, "4", "A run yields every event kind its agent implies"),
    ("EVT-2", Area.EVENTS, "4", "One agent_started first, one terminal frame last, nothing after it"),
    ("EVT-3", Area.EVENTS, "4", "Every tool_executing is paired with one tool_completed by execution_id"),
    ("EVT-4", Area.EVENTS, "4", "Required fields are present with the right JSON types"),
    ("EVT-5", Area.EVENTS, "4", "run_id, thread_id, user_id and agent_name are stable and match the request"),
    ("EVT-6", Area.EVENTS, "4", "Timestamps parse and never decrease within a run"),
    ("EVT-7", Area.EVENTS, "4", "Runs start, progress and finish within the time limits; heartbeats fill silence"),
    ("EVT-8", Area.EVENTS, "4", "Each event is delivered once per connection"),
    ("ISO-1", Area.ISOLATION, "4", "Concurrent users receive only their own frames, and all of them"),
    ("ISO-2", Area.ISOLATION, "4", "Every connection of a user receives every event of the user's runs"),
    ("ISO-3", Area.ISOLATION, "4", "Server-created thread ids are unique across users"),
    ("ISO-4", Area.ISOLATION, "4", "A client closing mid-run affects no other user; /health stays 200"),
    ("FAIL-1", Area.FAILURES, "5", "An unresolvable thread surfaces as THREAD_RESOLUTION_FAILED to its user only"),
    ("FAIL-2", Area.FAILURES, "5", "A tool error surfaces as a failed tool_completed and a non-success end"),
    ("FAIL-3", Area.FAILURES, "5", "An agent crash ends the run with a failure terminal frame"),
    ("FAIL-4", Area.FAILURES, "5", "A scenario that is not refused is honoured, never silently ignored"),
    ("ROB-1", Area.ROBUSTNESS, "6", "Invalid JSON gets JSON_PARSE_ERROR and the connection carries on"),
    ("ROB-2", Area.ROBUSTNESS, "6", "Non-objects get INVALID_MESSAGE, unknown types UNKNOWN_MESSAGE_TYPE"),
    ("ROB-3", Area.ROBUSTNESS, "6", "Oversize messages close 1009, invalid UTF-8 closes 1007"),
    ("ROB-4", Area.ROBUSTNESS, "6", "A binary frame gets BINARY_NOT_SUPPORTED, never a crash"),
    ("ROB-5", Area.ROBUSTNESS, "6", "Application ping gets pong; protocol pings are answered"),
    ("ROB-6", Area.ROBUSTNESS, "6", "A misbehaving client does not delay other users past the time limits"),
    ("SEC-1", Area.SECURITY, "6", "No client can start or observe a run as another user"),
    ("SEC-2", Area.SECURITY, "6", "No frame, body, header or close reason leaks the token or the secret"),
)

CATALOG: dict[str, Requirement] = {row[0]: Requirement(*row) for row in _ROWS}
AREAS: dict[Area, tuple[str, ...]] = {area: tuple(r.id for r in CATALOG.values() if r.area is area) for area in Area}


def selection(values: Iterable[str]) -> set[str]:
    """``--only``'s comma-separated areas and requirement IDs, in any case (``evt-1``, ``Auth``), canonically spelled;
    :class:`ValueError` naming what is neither."""
    areas = {a.value for a in Area}
    chosen: set[str] = set()
    bad: list[str] = []
    for value in (v.strip() for raw in values for v in raw.split(",")):
        if value.upper() in CATALOG:
            chosen.add(value.upper())
        elif value.lower() in areas:
            chosen.add(value.lower())
        elif value:
            bad.append(value)
    if bad:
        raise ValueError(
            f"wsagent: --only takes areas ({', '.join(a.value for a in Area)}) or requirement IDs, not {', '.join(bad)}"
        )
    return chosen


def requirement(req_id: str) -> Requirement:
    """The catalog entry, with a readable error for a mistyped ID."""
    try:
        return CATALOG[req_id]
    except KeyError:
        raise KeyError(f"unknown requirement ID {req_id!r}; known: {', '.join(CATALOG)}") from None
