"""The embedded reference server: a clean child environment, a one-line error when it dies, a clean stop."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from harness.client import Session
from harness.embedded import EmbeddedServer, server_environment
from harness.errors import TargetError
from harness.tokens import TokenFactory

SECRET = "embedded-test-secret-0123456789abcdef"
HAS_SERVER = (Path(__file__).resolve().parent.parent / "mock_server" / "__main__.py").is_file()
needs_server = pytest.mark.skipif(not HAS_SERVER, reason="mock_server/__main__.py does not exist yet")


def test_child_environment_is_explicit() -> None:
    base = {
        "PATH": "/bin",
        "ENVIRONMENT": "production",
        "E2E_TESTING": "1",
        "E2E_TEST_ENV": "x",
        "JWT_SECRET_KEY": "outer",
        "JWT_SECRET_STAGING": "outer-staging",
        "PYTEST_XDIST_WORKER": "gw0",
        "PYTEST_CURRENT_TEST": "t",
        "WSAGENT_FAULTS": "some_fault",
        "WSAGENT_TARGET": "kept",
    }
    env = server_environment(SECRET, base=base)
    assert env["JWT_SECRET_KEY"] == SECRET
    assert env["PATH"] == "/bin"
    assert env["WSAGENT_TARGET"] == "kept"
    for gone in ("ENVIRONMENT", "E2E_TESTING", "E2E_TEST_ENV", "JWT_SECRET_STAGING", "PYTEST_XDIST_WORKER", "PYTEST_CURRENT_TEST", "WSAGENT_FAULTS"):
        assert gone not in env
    with_e2e = server_environment(SECRET, e2e_env=True, extra_env={"WSAGENT_FAULTS": "drop_pong"}, base=base)
    assert with_e2e["E2E_TESTING"] == "1"
    assert with_e2e["WSAGENT_FAULTS"] == "drop_pong"


def test_death_before_ready_is_one_line_with_stderr() -> None:
    with pytest.raises(TargetError) as caught:
        EmbeddedServer.start("development", secret=SECRET, extra_args=["--no-such-option"], startup_timeout=10)
    message = str(caught.value)
    assert "\n" not in message
    assert "before it was ready" in message
    assert "no-such-option" in message or "mock_server" in message  # argparse's complaint, or the missing module
    assert SECRET not in message


@needs_server
async def test_reference_server_starts_answers_and_stops() -> None:
    server = EmbeddedServer.start("test", secret=SECRET, e2e_env=True)
    try:
        assert server.url == f"ws://127.0.0.1:{server.port}/ws"
        assert server.port > 0
        assert server.environment == "test"
        async with httpx.AsyncClient() as http:
            health = (await http.get(server.health_url)).json()
        assert health["status"] == "ok"
        assert health["environment"] == "test"
        async with Session(server.url, secret=SECRET, environment="test") as session:
            conn = await session.connect("alice", TokenFactory(SECRET, "test").valid("alice"))
        assert conn.accepted
        assert conn.hello is not None
        assert conn.hello.type == "connection_established"
        assert conn.hello.frame["data"]["e2e"] == {"active": True, "source": "env"}
    finally:
        server.stop()
    assert server.process.returncode is not None
    server.stop()  # idempotent


@needs_server
def test_context_manager_stops_the_server() -> None:
    with EmbeddedServer.start("development", secret=SECRET) as server:
        assert server.pid > 0
    assert server.process.poll() is not None
