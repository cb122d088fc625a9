"""Reading a frame the way the contract allows targets to write it.

PROTOCOL §4: a frame's fields may sit under ``data``, under ``payload`` or at top level. Envelope fields (type,
run_id, thread_id, user_id, agent_name, timestamp) are read top level first, then ``data``, then ``payload``;
table fields are read ``data`` first, then ``payload``, then top level. The first copy wins. A copy found anywhere
but its canonical place, or a second copy that disagrees, is a *deviation*: the rule that reads the frame grades it
NON-STRICT. Errors may be spelled ``error_message`` with an ``error_message`` text (NON-STRICT too).

Nothing here raises on odd input: a frame that is not an object simply has no fields. Frames are parsed JSON,
so objects are plain ``dict``s (cheaper to test than ``Mapping`` on the hot path).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, NamedTuple

__all__ = [
    "ENVELOPE",
    "ERROR_TYPES",
    "EVENTS",
    "MISSING",
    "RUN_TYPES",
    "TERMINAL_TYPES",
    "ErrorView",
    "Lookup",
    "envelope",
    "envelope_value",
    "error_view",
    "run_id_of",
    "table",
    "table_value",
]

EVENTS: Final = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")
ERROR_TYPES: Final = ("error", "error_message")
ENVELOPE: Final = ("type", "run_id", "thread_id", "user_id", "agent_name", "timestamp")
KNOWN_TYPES: Final = frozenset(EVENTS + ERROR_TYPES + ("connection_established", "pong", "heartbeat"))
RUN_TYPES: Final = frozenset(EVENTS + ERROR_TYPES)
"""Frames that belong to a run: the five events, and errors (about a run when they carry its ``run_id``)."""
TERMINAL_TYPES: Final = frozenset(("agent_completed", *ERROR_TYPES))
"""Frames that end a run."""


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final[Any] = _Missing()


class Lookup(NamedTuple):
    """A field's value, where it was found (``top``, ``data``, ``payload`` or ``None``) and any deviation.

    A named tuple rather than a frozen dataclass: rules build one per field per frame, and a frozen dataclass costs
    twice as much to build (bench/bench_rules.py).
    """

    value: Any
    where: str | None
    deviation: str | None = None

    @property
    def present(self) -> bool:
        return self.where is not None


def _boxes(frame: dict[str, Any]) -> tuple[tuple[str, dict[str, Any]], ...]:
    data = frame.get("data")
    payload = frame.get("payload")
    top = ("top", frame)
    boxes = [top]
    if isinstance(data, dict):
        boxes.append(("data", data))
    if isinstance(payload, dict):
        boxes.append(("payload", payload))
    return tuple(boxes)


def _lookup(frame: Any, name: str, order: tuple[str, ...], canonical: str) -> Lookup:
    if not isinstance(frame, dict):
        return Lookup(MISSING, None)
    boxes = dict(_boxes(frame))
    found: Lookup | None = None
    for where in order:
        box = boxes.get(where)
        if box is None or name not in box:
            continue
        value = box[name]
        if found is None:
            deviation = None if where == canonical else f"{name} found in {where}, expected in {canonical}"
            found = Lookup(value, where, deviation)
        elif value != found.value and found.deviation is None:
            found = Lookup(found.value, found.where, f"{name} in {where} disagrees with {name} in {found.where}")
    return found or Lookup(MISSING, None)


def envelope(frame: Any, name: str) -> Lookup:
    """An envelope field: top level, then ``data``, then ``payload``."""
    if isinstance(frame, dict) and name in frame:  # fast path: the canonical layout, no nested copy to compare
        data = frame.get("data")
        if not (isinstance(data, dict) and name in data):
            payload = frame.get("payload")
            if not (isinstance(payload, dict) and name in payload):
                return Lookup(frame[name], "top")
    return _lookup(frame, name, ("top", "data", "payload"), "top")


def envelope_value(frame: Any, name: str) -> Any:
    """``envelope(frame, name).value`` without building the :class:`Lookup` (for rules that only compare values)."""
    if not isinstance(frame, dict):
        return MISSING
    value = frame.get(name, MISSING)
    return value if value is not MISSING else _nested_value(frame, name)


def table_value(frame: Any, name: str) -> Any:
    """``table(frame, name).value`` without building the :class:`Lookup`: ``data``, then ``payload``, then top."""
    if not isinstance(frame, dict):
        return MISSING
    value = _nested_value(frame, name)
    return value if value is not MISSING else frame.get(name, MISSING)


def _nested_value(frame: dict[str, Any], name: str) -> Any:
    """``name`` under ``data``, else under ``payload``, else ``MISSING``."""
    data = frame.get("data")
    if isinstance(data, dict) and name in data:
        return data[name]
    payload = frame.get("payload")
    if isinstance(payload, dict) and name in payload:
        return payload[name]
    return MISSING


def table(frame: Any, name: str) -> Lookup:
    """A table field (PROTOCOL §4 table): ``data``, then ``payload``, then top level."""
    if isinstance(frame, dict):
        data = frame.get("data")
        if isinstance(data, dict) and name in data and name not in frame and "payload" not in frame:
            return Lookup(data[name], "data")  # fast path: the canonical layout
    return _lookup(frame, name, ("data", "payload", "top"), "data")


def run_id_of(frame: Any) -> Any:
    """The frame's run id wherever it sits, or ``MISSING``; used to group frames into runs."""
    if isinstance(frame, dict):
        value = frame.get("run_id", MISSING)
        if value is not MISSING:
            return value
        for box in (frame.get("data"), frame.get("payload")):
            if isinstance(box, dict) and "run_id" in box:
                return box["run_id"]
    return MISSING


@dataclass(frozen=True, slots=True)
class ErrorView:
    """An ``error`` frame as the contract reads it, with the non-canonical spellings it had to accept."""

    code: Any
    message: Any
    run_id: Any
    deviations: tuple[str, ...]


def error_view(frame: Any) -> ErrorView | None:
    """The error a frame carries, or ``None`` when it is not an error frame."""
    if not isinstance(frame, dict) or frame.get("type") not in ERROR_TYPES:
        return None
    deviations: list[str] = []
    if frame["type"] == "error_message":
        deviations.append("type error_message instead of error")
    code = _first(frame, "error_code", deviations)
    message = _first(frame, "message", deviations)
    if message is MISSING:
        message = _first(frame, "error_message", deviations)
        if message is not MISSING:
            deviations.append("text in error_message instead of message")
    run_id = _first(frame, "run_id", deviations)
    return ErrorView(code, message, run_id, tuple(deviations))


def _first(frame: dict[str, Any], name: str, deviations: list[str]) -> Any:
    lookup = _lookup(frame, name, ("top", "data", "payload"), "top")
    if lookup.deviation:
        deviations.append(lookup.deviation)
    return lookup.value
