"""``wsagent serve --replicas N --redis URL``: N reference-server processes on N ports sharing users through Redis.

What a multi-replica backend behind a load balancer looks like, on one machine: each replica is
``python -m mock_server --redis URL`` (the harness never imports the server), on ``--port``, ``--port``+1, ...
(``--port 0``: each picks a free port). Every replica prints its own ``READY ws://...`` line. Ctrl-C or SIGTERM
stops them all; if one exits on its own, the others are stopped too and its exit code is returned.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Sequence
from types import FrameType

__all__ = ["serve_replicas"]

STOP_TIMEOUT_S = 10.0


def serve_replicas(command: Sequence[str], replicas: int, first_port: int) -> int:
    """Start ``replicas`` copies of ``command`` (which lacks ``--port``) and wait until one ends or we are stopped."""
    processes = [
        subprocess.Popen([*command, "--port", str(first_port + i if first_port else 0)]) for i in range(replicas)
    ]

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        code = _first_exit(processes)
    except KeyboardInterrupt:
        pass
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
    return code


def _first_exit(processes: list[subprocess.Popen[bytes]]) -> int:
    """The exit code of the first replica to end (a supervisor's check every 0.2 s; nothing here is timing-critical)."""
    while True:
        for process in processes:
            code = process.poll()
            if code is not None:
                return code
        time.sleep(0.2)
