"""wsagent's reference server: the agent-events WebSocket contract (docs/CONTRACT.md) implemented plainly,
with switchable faults that prove the conformance suite catches each bug.

Rooms mirror the system it models: environment → secrets → auth / e2e (handshake) → manager (who is connected)
→ bridge (the only exit for run events) → agents / tools / engine (runs) → server (the port). Run it with
``python -m mock_server``, or in-process with ``async with run_server(ServerConfig(...)) as server``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wsagent")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0"

# Imported after __version__: server.py reads it for the Server header and /health.
from mock_server.environment import ServerEnvironment  # noqa: E402
from mock_server.faults import Faults  # noqa: E402
from mock_server.server import MockServer, ServerConfig, run_server  # noqa: E402

__all__ = ["Faults", "MockServer", "ServerConfig", "ServerEnvironment", "__version__", "run_server"]
