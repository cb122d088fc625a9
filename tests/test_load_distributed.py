"""``wsagent load`` distributed with Locust's own master and workers, against two reference-server replicas over Redis.

One master and two worker processes on loopback; each worker drives one replica, and the replicas share users
through a real redis-server. The master's totals (carried by Locust from the workers) must equal the sum of what
each worker counted itself (``load-worker-<id>.json``). A replica fault that drops an event must show up as
violations under that event's requirement ID, in every process's totals alike, and make the master exit 1.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.replicas import free_port, redis_server, replica
from tests.shell import WSAGENT

SECRET = "distributed-load-secret-0123456789abcdef012345"
USERS = 200
RUN_TIME_S = 12
"""Long enough for every user to run several times at a think time of 1 s on a 2-core CI machine."""


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


def distributed_load(report_dir: Path, redis_url: str, *server_args: str) -> tuple[int, dict, list[dict]]:
    """Run master + 2 workers against 2 replicas; the master's exit code, load.json and each worker's own totals."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WSAGENT_", "PYTEST_"))}
    env["WSAGENT_SECRET"] = SECRET
    replicas = [replica(redis_url, SECRET, *server_args) for _ in range(2)]
    port = free_port()
    load = [*WSAGENT, "load", "--report-dir", str(report_dir), "--master-port", str(port)]
    started: list[subprocess.Popen[str]] = []
    try:
        master = subprocess.Popen([*load, "--master", "--expect-workers", "2", "--users", str(USERS), "--spawn-rate", "100",
                                   "--run-time", f"{RUN_TIME_S}s"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(master)
        workers = [subprocess.Popen([*load, "--worker", "--target", server.url], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True) for server in replicas]
        started += workers
        out, err = master.communicate(timeout=RUN_TIME_S + 90)
        for worker in workers:
            assert worker.wait(30) == 0, worker.stderr.read()[-2000:] if worker.stderr else ""
    finally:
        for process in started:  # whatever failed, leave no process behind
            if process.poll() is None:
                process.kill()
                process.wait()
        for server in replicas:
            server.stop()
    assert master.returncode in (0, 1), out + err[-3000:]
    shares = [json.loads(path.read_text()) for path in sorted(report_dir.glob("load-worker-*.json"))]
    return master.returncode, json.loads((report_dir / "load.json").read_text()), shares


def assert_totals_add_up(total: dict, shares: list[dict]) -> None:
    assert len(shares) == 2
    assert all(share["runs"] > 0 for share in shares)  # both workers ran users
    for name in ("runs", "events", "lost_events", "handshakes", "failed_handshakes"):
        assert total[name] == sum(share[name] for share in shares), name
    assert total["violations"] == dict(sum((Counter(share["violations"]) for share in shares), Counter()))
    assert total["handshakes"] == USERS


def test_master_totals_are_the_sum_of_the_workers_with_no_violation(tmp_path: Path, redis_url: str) -> None:
    code, total, shares = distributed_load(tmp_path, redis_url)
    assert code == 0
    assert_totals_add_up(total, shares)
    assert total["runs"] >= USERS * 2
    assert total["events"] == 7 * total["runs"]
    assert (total["violations_total"], total["lost_events"], total["failed_handshakes"]) == (0, 0, 0)
    assert total["workers"] == 2


def test_a_dropped_event_is_reported_under_its_id_and_fails_the_load(tmp_path: Path, redis_url: str) -> None:
    code, total, shares = distributed_load(tmp_path, redis_url, "--fault", "thinking_dropped")
    assert code == 1
    assert_totals_add_up(total, shares)
    assert set(total["violations"]) == {"EVT-1"}
    assert total["violations"]["EVT-1"] == total["runs"]
    kept = [path for share in shares for path in share["transcripts"]]
    assert kept
    assert all(Path(path).parent == tmp_path / "load-transcripts" for path in kept)
