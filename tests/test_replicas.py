"""Reference-server replicas sharing users through a real redis-server (``python -m mock_server --redis URL``).

A user's tabs on two replicas each get every event of the user's runs, whichever replica runs them; other users get
none; a replica stopped mid-run closes its own connections while users on the other replica carry on; and the
isolation suite, run unchanged through a round-robin balancer in front of two replicas, passes.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from harness.client import Session
from harness.embedded import EmbeddedServer
from harness.grades import Grade
from harness.judge import judge
from harness.tokens import TokenFactory
from tests.replicas import Balancer, redis_server, replica
from tests.shell import WSAGENT, user_env, wsagent

SECRET = "replica-test-secret-0123456789abcdef0123456789"
TIMEOUT_S = 15.0


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def two(redis_url: str) -> Iterator[tuple[EmbeddedServer, EmbeddedServer]]:
    first, second = replica(redis_url, SECRET), replica(redis_url, SECRET)
    yield first, second
    first.stop()
    second.stop()


TOKENS = TokenFactory(SECRET, "development")


def grades(session: Session, *ids: str) -> dict[str, Grade | None]:
    verdict = judge(session.transcript, ids=ids)
    return {req_id: verdict.grade(req_id) for req_id in ids}


async def test_a_users_tabs_on_two_replicas_each_get_every_event_and_nobody_else_does(two: tuple[EmbeddedServer, EmbeddedServer]) -> None:
    a, b = two
    async with Session(a.url, secret=SECRET) as on_a, Session(b.url, secret=SECRET, transcript=on_a.transcript) as on_b:
        alice_a = await on_a.connect("alice", TOKENS.valid("alice"), label="alice@a")
        alice_b = await on_b.connect("alice", TOKENS.valid("alice"), label="alice@b")
        bob_b = await on_b.connect("bob", TOKENS.valid("bob"), label="bob@b")
        for starter, other in ((alice_a, alice_b), (alice_b, alice_a)):  # a run on each replica
            run = await starter.start_run("researcher", "replicas", uses_tools=True)
            assert await starter.wait_for_terminal(run.run_id, TIMEOUT_S) is not None
            assert await other.wait_for_terminal(run.run_id, TIMEOUT_S) is not None
        bob_run = await bob_b.start_run("researcher", "mine", uses_tools=True)
        assert await bob_b.wait_for_terminal(bob_run.run_id, TIMEOUT_S) is not None
        for conn in (alice_a, alice_b, bob_b):
            assert await conn.barrier(TIMEOUT_S) is not None
        events = [r for r in alice_b.received if r.type in ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")]
        assert len(events) == 14  # both runs, 7 events each, once
        assert grades(on_a, "ISO-1", "ISO-2", "EVT-2", "EVT-8") == dict.fromkeys(("ISO-1", "ISO-2", "EVT-2", "EVT-8"), Grade.OK)


async def test_a_stopped_replica_closes_its_connections_and_users_on_the_other_carry_on(two: tuple[EmbeddedServer, EmbeddedServer]) -> None:
    a, b = two
    async with Session(a.url, secret=SECRET) as on_a, Session(b.url, secret=SECRET, transcript=on_a.transcript) as on_b:
        alice_a = await on_a.connect("alice", TOKENS.valid("alice"), e2e=True, label="alice@a")
        alice_b = await on_b.connect("alice", TOKENS.valid("alice"), label="alice@b")
        bob_b = await on_b.connect("bob", TOKENS.valid("bob"), label="bob@b")
        slow = await alice_a.start_run("researcher", "slow", scenario="slow_tool", uses_tools=True)
        assert await alice_b.wait_for(lambda r: r.type == "tool_executing", TIMEOUT_S) is not None  # in flight on a
        a.process.terminate()  # SIGTERM: the replica shuts down gracefully
        closed = await alice_a.wait_closed(TIMEOUT_S)
        assert closed is not None
        assert closed.info["code"] == 1001
        ended = await alice_b.wait_for_terminal(slow.run_id, TIMEOUT_S)  # the cancelled run's terminal frame reached b too
        assert ended is not None
        assert ended.frame["data"]["status"] == "failed"
        for conn in (alice_b, bob_b):
            run = await conn.start_run("researcher", "still here", uses_tools=True)
            terminal = await conn.wait_for_terminal(run.run_id, TIMEOUT_S)
            assert terminal is not None
            assert terminal.frame["data"]["status"] == "completed"
        assert alice_b.open
        assert bob_b.open


async def test_thread_ownership_is_shared_between_replicas(two: tuple[EmbeddedServer, EmbeddedServer]) -> None:
    a, b = two
    async with Session(a.url, secret=SECRET) as on_a, Session(b.url, secret=SECRET) as on_b:
        alice = await on_a.connect("alice", TOKENS.valid("alice"), label="alice@a")
        mallory = await on_b.connect("mallory", TOKENS.valid("mallory"), label="mallory@b")
        owned = await alice.start_run("researcher", "mine", thread_id="thread_shared_owner_test", uses_tools=True)
        assert (await alice.wait_for_terminal(owned.run_id, TIMEOUT_S)).frame["type"] == "agent_completed"
        taken = await mallory.start_run("researcher", "theirs", thread_id="thread_shared_owner_test", uses_tools=True)
        refused = await mallory.wait_for_terminal(taken.run_id, TIMEOUT_S)
        assert refused is not None
        assert refused.frame["type"] == "error"
        assert "THREAD_ACCESS_DENIED" in json.dumps(refused.frame)


def test_a_replica_that_cannot_reach_redis_stops_with_one_line() -> None:
    env = dict(os.environ, JWT_SECRET_KEY=SECRET)
    done = subprocess.run([sys.executable, "-m", "mock_server", "--port", "0", "--redis", "redis://127.0.0.1:9/0"],
                          capture_output=True, text=True, env=env, timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("mock_server: cannot reach Redis at redis://127.0.0.1:9/0")


def test_the_isolation_suite_passes_with_each_users_connections_spread_over_two_replicas(two: tuple[EmbeddedServer, EmbeddedServer], tmp_path: Path) -> None:
    a, b = two
    with Balancer([a.port, b.port]).running() as balancer:
        args = ("run", "--target", balancer.url, "--only", "isolation", "--report-dir", str(tmp_path), "--no-html")
        done = wsagent(*args, env=user_env(WSAGENT_SECRET=SECRET))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    rows = json.loads((tmp_path / "conformance.json").read_text())["requirements"]
    assert {i: rows[i]["grade"] for i in ("ISO-1", "ISO-2", "ISO-3", "ISO-4")} == dict.fromkeys(("ISO-1", "ISO-2", "ISO-3", "ISO-4"), "OK")


async def test_wsagent_serve_starts_replicas_that_share_users(redis_url: str) -> None:
    env = user_env(JWT_SECRET_KEY=SECRET)
    serving = subprocess.Popen([*WSAGENT, "serve", "--replicas", "2", "--port", "0", "--redis", redis_url],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert serving.stdout is not None
        urls = [line.split()[1] for line in itertools.islice(serving.stdout, 2)]  # each replica prints its READY line
        assert len(set(urls)) == 2
        async with Session(urls[0], secret=SECRET) as first, Session(urls[1], secret=SECRET) as second:
            here = await first.connect("alice", TOKENS.valid("alice"))
            there = await second.connect("alice", TOKENS.valid("alice"))
            run = await here.start_run("researcher", "two replicas", uses_tools=True)
            assert await there.wait_for_terminal(run.run_id, TIMEOUT_S) is not None
    finally:
        serving.terminate()
        assert serving.wait(30) == 0


async def test_runs_in_flight_and_thread_owners_are_kept_in_redis(two: tuple[EmbeddedServer, EmbeddedServer], redis_url: str) -> None:
    a, _ = two
    shared = redis.Redis.from_url(redis_url, decode_responses=True)
    async with Session(a.url, secret=SECRET) as session:
        alice = await session.connect("alice", TOKENS.valid("alice"), e2e=True)
        run = await alice.start_run("researcher", "slow", scenario="slow_tool", uses_tools=True)
        assert await alice.wait_for(lambda r: r.type == "tool_executing", TIMEOUT_S) is not None  # provably in flight
        # both written before agent_started left: the registry entry is queued on the replica's one Redis writer
        # ahead of the ownership claim, whose answer the run awaits before its first event
        assert shared.hget("wsagent:run-threads", run.run_id) == run.thread_id
        assert shared.get(f"wsagent:thread-owner:{run.thread_id}") == "alice"
        assert await alice.wait_for_terminal(run.run_id, TIMEOUT_S) is not None
