"""The bundled reference server as a child process, for runs without ``--wsagent-target``.

The server runs as ``python -m mock_server`` (the harness never imports it) on a free port, with an explicit
environment: the caller's variables minus everything that would change the server's mode behind the harness's back
(``ENVIRONMENT``, the E2E fallback variables, every ``JWT_SECRET_*``, pytest's own variables, ``WSAGENT_FAULTS``,
``WSAGENT_VARIANTS``),
plus the secret the harness signs with. It prints ``READY ws://127.0.0.1:<port>/ws`` when it listens and exits when
its stdin closes, so it cannot outlive the harness even if the harness is killed.

Synchronous on purpose: a plain session fixture starts it before any event loop exists.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from harness.errors import TargetError
from harness.secrets import check_environment

__all__ = ["EmbeddedServer", "server_environment"]

READY = "READY "
STOP_TIMEOUT_S = 5.0
STDERR_TAIL = 600
"""Characters of the server's stderr quoted when it dies before it is ready."""
PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""Where ``mock_server`` sits beside ``harness`` in a source checkout (harmless on PYTHONPATH when installed)."""


def server_environment(
    secret: str,
    *,
    e2e_env: bool = False,
    extra_env: Mapping[str, str] | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The child's environment: ``base`` (default ``os.environ``) cleaned of mode-changing variables, plus ours."""
    dropped = ("ENVIRONMENT", "E2E_TESTING", "E2E_TEST_ENV", "WSAGENT_FAULTS", "WSAGENT_VARIANTS")
    env = {
        name: value
        for name, value in (os.environ if base is None else base).items()
        if name not in dropped and not name.startswith(("JWT_SECRET_", "PYTEST_"))
    }
    env["JWT_SECRET_KEY"] = secret
    env["PYTHONUNBUFFERED"] = "1"  # the READY line must not sit in a pipe buffer
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(PROJECT_ROOT), env.get("PYTHONPATH"))))
    if e2e_env:
        env["E2E_TESTING"] = "1"
    env.update(extra_env or {})
    return env


class EmbeddedServer:
    """A running reference server; create with :meth:`start`, end with :meth:`stop` (or use it as a context manager)."""

    def __init__(self, process: subprocess.Popen[str], url: str, environment: str, stderr: IO[bytes]) -> None:
        self.process = process
        self.url = url
        self.environment = environment
        self._stderr = stderr

    @classmethod
    def start(
        cls,
        environment: str = "development",
        *,
        secret: str,
        e2e_env: bool = False,
        extra_env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 15.0,
        log_path: Path | None = None,
    ) -> EmbeddedServer:
        """Start the server and return once it listens; raises :class:`TargetError` (one line) if it does not.

        The server's log (stderr) goes to ``log_path`` when given — the report folder keeps it, so a verdict can be
        explained from the server's side too — else to a temporary file read only for the startup error.
        """
        check_environment(environment)
        command = [
            sys.executable,
            "-P",
            "-m",
            "mock_server",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--environment",
            environment,
            "--exit-with-stdin",
            *extra_args,
        ]
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
        # closed by stop()
        stderr = tempfile.TemporaryFile() if log_path is None else open(log_path, "w+b")  # noqa: SIM115
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=server_environment(secret, e2e_env=e2e_env, extra_env=extra_env),
            text=True,
        )
        ready: queue.Queue[str | None] = queue.Queue()
        threading.Thread(
            target=_watch_stdout, args=(process.stdout, ready), name="wsagent server stdout", daemon=True
        ).start()
        try:
            line = ready.get(timeout=startup_timeout)
            problem = "exited before it was ready"
        except queue.Empty:
            line = None
            problem = f"did not print READY within {startup_timeout:g} s"
        server = cls(process, line[len(READY) :].strip() if line else "", environment, stderr)
        if line is None:
            tail = server._stderr_tail()
            server.stop()
            raise TargetError(
                f"wsagent: the embedded reference server ({environment}) {problem} (exit code {process.returncode})"
                + (f": {tail}" if tail else "")
            )
        return server

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 0

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        """Close stdin (the server's signal to exit), wait, then terminate and kill; safe to call twice."""
        process = self.process
        if process.stdin is not None and not process.stdin.closed:
            try:
                process.stdin.close()
            except OSError:
                pass  # the server is already gone
        for escalate in (None, process.terminate, process.kill):
            if escalate is not None:
                escalate()
            try:
                process.wait(STOP_TIMEOUT_S)
                break
            except subprocess.TimeoutExpired:
                continue
        if process.stdout is not None:
            process.stdout.close()
        self._stderr.close()

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace")
        return " | ".join(line.strip() for line in text.strip().splitlines())[-STDERR_TAIL:]

    def __enter__(self) -> EmbeddedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _watch_stdout(stdout: IO[str] | None, ready: queue.Queue[str | None]) -> None:
    """Hand the READY line (or ``None`` at EOF) to :meth:`EmbeddedServer.start`, then keep the pipe drained."""
    assert stdout is not None
    announced = False
    try:
        for line in stdout:
            if not announced and line.startswith(READY):
                ready.put(line)
                announced = True
    except (ValueError, OSError):
        pass  # stop() closed the pipe under us
    if not announced:
        ready.put(None)
