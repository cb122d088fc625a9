"""Client messages in, non-event frames out (PROTOCOL §3, §4 "Other frames", §6).

:func:`parse_client_message` turns one text frame into a typed message or raises :class:`ProtocolError`, which
the server answers with an ``error`` frame while the connection stays open. Which agents exist is the engine's
business (UNKNOWN_AGENT); everything about the shape of a message is decided here. Event frames are built by
the bridge, the only exit for run events.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from mock_server.errors import ProtocolError
from mock_server.faults import NO_FAULTS, FaultName, Faults
from mock_server.variants import NO_VARIANTS, VariantName, Variants

__all__ = [
    "MAX_MESSAGE_BYTES",
    "ClientMessage",
    "ErrorCode",
    "Ignored",
    "Ping",
    "StartAgent",
    "error_frame",
    "heartbeat_frame",
    "new_id",
    "parse_client_message",
    "pong_frame",
    "utc_timestamp",
]

MAX_MESSAGE_BYTES = 2**20
"""1 MiB: websockets closes 1009 above it (PROTOCOL §6, ROB-3)."""
CHAT_TYPES = frozenset({"user_message", "chat"})
CHAT_AGENT = "echo"
DEFAULT_AGENT = "researcher"
"""What the ``chat_runs_default_agent`` fault runs for ``user_message``/``chat`` instead of ``echo``."""


class ErrorCode(StrEnum):
    AUTH_FAILED = "AUTH_FAILED"
    JSON_PARSE_ERROR = "JSON_PARSE_ERROR"
    INVALID_MESSAGE = "INVALID_MESSAGE"
    UNKNOWN_MESSAGE_TYPE = "UNKNOWN_MESSAGE_TYPE"
    UNKNOWN_AGENT = "UNKNOWN_AGENT"
    E2E_NOT_ALLOWED = "E2E_NOT_ALLOWED"
    UNKNOWN_SCENARIO = "UNKNOWN_SCENARIO"
    THREAD_ACCESS_DENIED = "THREAD_ACCESS_DENIED"
    THREAD_RESOLUTION_FAILED = "THREAD_RESOLUTION_FAILED"
    TOOL_FAILED = "TOOL_FAILED"
    AGENT_FAILED = "AGENT_FAILED"
    BINARY_NOT_SUPPORTED = "BINARY_NOT_SUPPORTED"


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class StartAgent:
    """``start_agent`` (or ``user_message``/``chat``, which run agent ``echo``)."""

    agent_name: str
    user_request: str
    thread_id: str | None = None
    run_id: str | None = None
    scenario: str | None = None
    claimed_user_id: str | None = None
    """A ``user_id`` the client put in the payload: kept only so the SEC-1 fault can misuse it."""


@dataclass(frozen=True, slots=True)
class Ignored:
    """A message dropped without an answer; only the UNKNOWN_TYPE_IGNORED and INVALID_MESSAGE_IGNORED faults produce it."""

    type: str


ClientMessage = Ping | StartAgent | Ignored


def new_id(prefix: str, hex_chars: int = 16) -> str:
    """A fresh id such as ``thread_3f2a...``: random, so ids never collide across users or restarts."""
    return f"{prefix}_{secrets.token_hex((hex_chars + 1) // 2)[:hex_chars]}"


def utc_timestamp(moment: datetime | None = None) -> str:
    """ISO-8601 in UTC with an explicit offset, e.g. ``2025-01-01T12:00:00.000001+00:00``."""
    return (moment or datetime.now(UTC)).isoformat(timespec="microseconds")


def error_frame(
    code: ErrorCode | str,
    message: str,
    *,
    run_id: str | None = None,
    details: dict[str, Any] | None = None,
    variants: Variants = NO_VARIANTS,
) -> dict[str, Any]:
    """The ``error`` frame of PROTOCOL §4; under the ``error_message`` variant the spelling many backends use
    (``type`` and the text both ``error_message``, no details), which the contract grades NON-STRICT."""
    if variants.enabled(VariantName.ERROR_MESSAGE):
        spelled: dict[str, Any] = {"type": "error_message", "error_code": str(code), "error_message": message}
        if run_id is not None:
            spelled["run_id"] = run_id
        return spelled
    frame: dict[str, Any] = {"type": "error", "error_code": str(code), "message": message}
    if run_id is not None:
        frame["run_id"] = run_id
    frame["details"] = details or {}
    frame["timestamp"] = utc_timestamp()
    return frame


def pong_frame() -> dict[str, Any]:
    return {"type": "pong", "timestamp": utc_timestamp()}


def heartbeat_frame() -> dict[str, Any]:
    return {"type": "heartbeat", "timestamp": utc_timestamp()}


def _optional_str(payload: dict[str, Any], name: str, run_id: str | None) -> str | None:
    """An optional string field; ``null`` and ``""`` count as omitted."""
    value = payload.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"payload.{name} must be a string", run_id)
    return value


def _required_str(payload: dict[str, Any], name: str, run_id: str | None) -> str:
    value = payload.get(name)
    if not isinstance(value, str):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"payload.{name} must be a string", run_id)
    return value


def _start(kind: str, message: dict[str, Any], faults: Faults = NO_FAULTS) -> StartAgent:
    payload = message.get("payload")
    if not isinstance(payload, dict):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"{kind} needs a payload object")
    given_run = payload.get("run_id")
    run_id = given_run if isinstance(given_run, str) and given_run else None
    if kind in CHAT_TYPES:
        chat_agent = DEFAULT_AGENT if faults.enabled(FaultName.CHAT_RUNS_DEFAULT_AGENT) else CHAT_AGENT
        agent, request = chat_agent, _required_str(payload, "message", run_id)
    else:
        agent, request = _required_str(payload, "agent_name", run_id), _required_str(payload, "user_request", run_id)
    claimed = payload.get("user_id")
    return StartAgent(
        agent_name=agent,
        user_request=request,
        thread_id=_optional_str(payload, "thread_id", run_id),
        run_id=_optional_str(payload, "run_id", run_id),
        scenario=_optional_str(payload, "scenario", run_id),
        claimed_user_id=claimed if isinstance(claimed, str) else None,
    )


def _json_int(digits: str) -> int | float:
    """A JSON integer. Past Python's int-conversion digit limit (4,300) it becomes a float: the number is valid JSON
    (RFC 8259 sets no limit), so ``{"type":"ping","n":<5,000 digits>}`` gets its pong, not JSON_PARSE_ERROR."""
    try:
        return int(digits)
    except ValueError:
        return float(digits)


def parse_client_message(text: str, faults: Faults = NO_FAULTS, variants: Variants = NO_VARIANTS) -> ClientMessage:
    """One text frame as a typed message; :class:`ProtocolError` for anything the contract answers with an error."""
    try:
        message = json.loads(text, parse_int=_json_int)
    except (ValueError, RecursionError) as exc:
        if faults.enabled(FaultName.INVALID_JSON_CLOSES_CONNECTION):
            raise  # escapes the message loop: websockets closes 1011
        reason = "nesting too deep" if isinstance(exc, RecursionError) else "not valid JSON"
        raise ProtocolError(ErrorCode.JSON_PARSE_ERROR, f"message is {reason}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        if faults.enabled(FaultName.INVALID_MESSAGE_IGNORED):
            return Ignored(type(message).__name__)
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "a message must be a JSON object with a string type")
    kind = message["type"]
    if kind == "ping":
        return Ping()
    if kind == "start_agent" or (kind in CHAT_TYPES and not variants.enabled(VariantName.NO_CHAT)):
        return _start(kind, message, faults)
    if faults.enabled(FaultName.UNKNOWN_TYPE_IGNORED):
        return Ignored(kind)
    raise ProtocolError(ErrorCode.UNKNOWN_MESSAGE_TYPE, "unknown message type; known: ping, start_agent, user_message, chat")
