"""Errors of the reference server, in one place.

    MockServerError
    ├── StartupError                 the server must not start; ``str(exc)`` is one line for stderr (exit 2)
    │   ├── UnknownEnvironment       ENVIRONMENT / --environment names no contract environment
    │   ├── SecretNotConfigured      staging/production without JWT_SECRET_KEY or JWT_SECRET_<ENV>
    │   ├── UnknownFault             --fault / WSAGENT_FAULTS names no catalogued fault
    │   └── UnknownVariant           --variant / WSAGENT_VARIANTS names no catalogued variant
    ├── ProtocolError                a client frame the server answers with an ``error`` frame (code, message, run_id)
    │   └── RunRefused               a start message that starts no run (UNKNOWN_AGENT, E2E_NOT_ALLOWED, ...)
    ├── ThreadResolutionError        all five run→thread sources failed (also a ``ValueError``, as in the backend)
    ├── ToolFailed                   a tool raised; its failed ``tool_completed`` is already sent, the run ends failed
    ├── CalculationError             the calculator refused an expression (also a ``ValueError``)
    └── InjectedFailure              a failure a PROTOCOL §5 scenario asked for
        ├── InjectedToolError        ``tool_error``: the first tool raises
        └── InjectedAgentCrash       ``agent_crash``: the agent raises after ``agent_started``

Messages never contain a token or a secret: they reach clients in ``error`` frames and HTTP bodies.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CalculationError",
    "InjectedAgentCrash",
    "InjectedFailure",
    "InjectedToolError",
    "MockServerError",
    "ProtocolError",
    "RunRefused",
    "SecretNotConfigured",
    "StartupError",
    "ThreadResolutionError",
    "ToolFailed",
    "UnknownEnvironment",
    "UnknownFault",
    "UnknownVariant",
]


class MockServerError(Exception):
    """Base of every error the reference server raises on purpose."""


class StartupError(MockServerError):
    """A configuration the server refuses to start with; one line, printed without a traceback."""


class UnknownEnvironment(StartupError):
    pass


class SecretNotConfigured(StartupError):
    pass


class UnknownFault(StartupError):
    pass


class UnknownVariant(StartupError):
    pass


class ProtocolError(MockServerError):
    """A client frame answered with ``{"type": "error", "error_code": code, ...}``; the connection stays open."""

    def __init__(self, code: str, message: str, run_id: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.run_id = run_id
        self.details = details or {}


class RunRefused(ProtocolError):
    """A start message refused before any run frame: its ``error`` (with the given ``run_id``) is the whole run."""


class ThreadResolutionError(MockServerError, ValueError):
    """No source could name the run's thread; the message names the run id, the elapsed time and the five sources."""

    def __init__(self, message: str, run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id


class ToolFailed(MockServerError):
    """Raised to the agent after the dispatcher has reported the failed call; the run then ends ``failed``."""

    def __init__(self, tool_name: str, error: str) -> None:
        super().__init__(f"tool {tool_name} failed: {error}")
        self.tool_name = tool_name
        self.error = error


class CalculationError(MockServerError, ValueError):
    """The safe calculator refused an expression; the message says why (never evaluates anything unsafe)."""


class InjectedFailure(MockServerError, RuntimeError):
    """Raised by a scenario hook; handled exactly like the real failure it stands for."""


class InjectedToolError(InjectedFailure):
    pass


class InjectedAgentCrash(InjectedFailure):
    pass
