"""Switchable variants: legitimate ways real backends differ from the canonical server, none of them a bug.

A variant is modelled like a fault (:mod:`mock_server.faults`): a catalog entry, a frozen :class:`Variants` value
handed to every room, and a local branch in the room where the real behaviour would live — ``protocol.py`` spells
error frames ``error_message``, ``bridge.py`` puts event fields at the top level, ``server.py`` accepts a bad token
and closes 1008, ``engine.py`` refuses every scenario or ends a failed run with an error frame. Faults are bugs the
suite must catch; variants are designs the suite must *not* fail, so the self-test (tests/test_selftest.py) treats
them oppositely: under a variant an ID may be NON-STRICT only where the variant declares it (``lenient``, the
contract's tolerated spellings), and FAILED only where the variant declares it does not offer what the ID demands
(``unoffered``: ``no_pong`` and ROB-5 alone, docs/CONTRACT.md Decision 28). Enable with ``--variant NAME``
(repeatable) or ``WSAGENT_VARIANTS=a,b``; list with ``--list-variants [--json]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from mock_server.errors import UnknownVariant
from mock_server.switches import Switches

__all__ = ["CATALOG", "NO_VARIANTS", "Variant", "VariantName", "Variants"]


class VariantName(StrEnum):
    # protocol.py
    ERROR_MESSAGE = "error_message"
    NO_CHAT = "no_chat"
    # bridge.py
    FLAT_EVENTS = "flat_events"
    PAYLOAD_EVENTS = "payload_events"
    UNIX_TIMESTAMPS = "unix_timestamps"
    INTEGER_EXECUTION_IDS = "integer_execution_ids"
    # server.py handshake and message loop
    ACCEPT_THEN_CLOSE = "accept_then_close"
    SHORT_HEADER_LIMIT = "short_header_limit"
    NO_PONG = "no_pong"
    # engine.py (and the features server.py announces)
    NO_HOOKS = "no_hooks"
    UNKNOWN_SCENARIOS = "unknown_scenarios"
    TOOL_FAILED_TERMINAL = "tool_failed_terminal"
    FOREIGN_THREAD_RUNS_FOR_CALLER = "foreign_thread_runs_for_caller"


@dataclass(frozen=True, slots=True)
class Variant:
    """One legitimate difference: the IDs the contract grades NON-STRICT under it (``lenient``, ID → why), the IDs
    whose clause it does not offer and therefore fails (``unoffered``, ID → which clause), where it lives, and what
    it does."""

    name: VariantName
    lenient: Mapping[str, str]
    unoffered: Mapping[str, str]
    room: str
    description: str

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name.value,
            "lenient": dict(self.lenient),
            "unoffered": dict(self.unoffered),
            "room": self.room,
            "description": self.description,
        }

    def as_line(self) -> str:
        """``NAME  description  [NON-STRICT: IDs]  [FAILED: IDs]`` (two spaces between the columns)."""
        parts = [self.name.value, self.description]
        if self.lenient:
            parts.append("NON-STRICT: " + ",".join(self.lenient))
        if self.unoffered:
            parts.append("FAILED: " + ",".join(self.unoffered))
        return "  ".join(parts)


def _variant(name: VariantName, room: str, description: str, *, lenient: dict[str, str] | None = None,
             unoffered: dict[str, str] | None = None) -> Variant:
    return Variant(name, MappingProxyType(lenient or {}), MappingProxyType(unoffered or {}), room, description)


SPELLED = "the expected error frame arrives spelled error_message (PROTOCOL §4, §8 'Error spellings everywhere')"
AUTH1_FORM = "accept, one AUTH_FAILED error frame, close 1008: AUTH-1's NON-STRICT form"

V = VariantName
CATALOG: Mapping[VariantName, Variant] = MappingProxyType({variant.name: variant for variant in (
    _variant(V.ERROR_MESSAGE, "protocol.py",
             'every error frame is {"type":"error_message","error_code":...,"error_message":"<text>"} (run_id kept)',
             lenient={"ROB-1": SPELLED, "ROB-2": SPELLED, "ROB-4": SPELLED, "FAIL-1": SPELLED, "FAIL-4": SPELLED,
                      "E2E-3": SPELLED}),
    _variant(V.NO_CHAT, "protocol.py",
             "no user_message / chat (optional in PROTOCOL §3): they get UNKNOWN_MESSAGE_TYPE like any unknown type"),
    _variant(V.FLAT_EVENTS, "bridge.py", "event fields at the top level of the frame instead of in data",
             lenient={"EVT-4": "fields outside data (PROTOCOL §4)"}),
    _variant(V.PAYLOAD_EVENTS, "bridge.py", "event fields under payload instead of data",
             lenient={"EVT-4": "fields under payload instead of data (PROTOCOL §4)"}),
    _variant(V.UNIX_TIMESTAMPS, "bridge.py", "event timestamps are Unix seconds (a float) instead of ISO-8601 strings",
             lenient={"EVT-6": "a Unix float instead of ISO-8601 (PROTOCOL EVT-6)"}),
    _variant(V.INTEGER_EXECUTION_IDS, "bridge.py",
             "tool execution ids are JSON integers (a database sequence) instead of strings (PROTOCOL §8: either)"),
    _variant(V.ACCEPT_THEN_CLOSE, "server.py",
             "a bad token is accepted at the HTTP level, then one AUTH_FAILED error frame and close 1008",
             lenient={"AUTH-1": AUTH1_FORM, "AUTH-5": f"{AUTH1_FORM}, which AUTH-5 refers to",
                      "E2E-2": f"{AUTH1_FORM}, which E2E-2 refers to"}),
    _variant(V.SHORT_HEADER_LIMIT, "server.py",
             "the HTTP layer drops a request whose header line exceeds 8,190 bytes, without an answer (as aiohttp does)"),
    _variant(V.NO_PONG, "server.py", "no application pong: {\"type\":\"ping\"} is not answered (WebSocket pings are)",
             unoffered={"ROB-5": "ROB-5 demands the application pong; lacking it fails ROB-5 and nothing else"}),
    _variant(V.NO_HOOKS, "engine.py", "no scenario hooks: every scenario request is refused with E2E_NOT_ALLOWED; features.scenarios false"),
    _variant(V.UNKNOWN_SCENARIOS, "engine.py",
             "no scenario hooks: on an E2E connection every scenario is refused with UNKNOWN_SCENARIO; features.scenarios false"),
    _variant(V.TOOL_FAILED_TERMINAL, "engine.py",
             "a run whose tool failed ends with an error TOOL_FAILED (a crashed agent's with AGENT_FAILED) "
             "carrying its run_id, instead of agent_completed failed"),
    _variant(V.FOREIGN_THREAD_RUNS_FOR_CALLER, "engine.py",
             "a thread_id another user created is run for the caller (no THREAD_ACCESS_DENIED); only the caller "
             "sees it"),
)})


class Variants(Switches[VariantName]):
    """The enabled variants; every room gets this value and asks :meth:`enabled` at its variant's branch."""

    __slots__ = ()
    KIND = VariantName
    UNKNOWN = UnknownVariant
    LISTING = "--list-variants"


NO_VARIANTS = Variants()
