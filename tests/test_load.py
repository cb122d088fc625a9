"""``wsagent load`` on one machine: thresholds, batch judging, and real Locust runs against the reference server.

The distributed runs (master, workers, replicas over Redis) are in tests/test_load_distributed.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import build_parser
from harness.errors import ConfigError
from harness.load.judging import Judging
from harness.load.options import settings_from
from harness.load.thresholds import parse_threshold, parse_thresholds
from harness.transcript import Transcript
from tests.scripts import Script, canonical_run
from tests.shell import user_env, wsagent

SECRET = "load-test-secret-that-must-never-be-written-0123456789"
LOAD_LIMIT_S = 90


def test_thresholds_parse_units_and_compare() -> None:
    latency = parse_threshold("p99(start_to_started) < 0.2s")
    assert (latency.metric, latency.op, latency.value) == ("p99(start_to_started)", "<", 200.0)
    assert latency.check({"p99(start_to_started)": 150.0}) == (True, 150.0)
    assert latency.check({"p99(start_to_started)": 250.0}) == (False, 250.0)
    assert latency.check({}) == (False, None)  # not measured breaks it: no run ended is no pass
    assert [t.text for t in parse_thresholds([])] == ["violations==0"]
    assert parse_threshold("runs_per_s>=10").check({"runs_per_s": 12.5}) == (True, 12.5)


@pytest.mark.parametrize("text", ["p99(start)<1", "p42(event_gap)<1", "violations<1ms", "bogus==0", "p99(event_gap)~1"])
def test_bad_threshold_is_one_config_line(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^wsagent: threshold "):
        parse_threshold(text)


def _slice(user: str, run: str, *, foreign: str | None = None) -> Transcript:
    script = Script().connect(f"{user}#1", user).start(f"{user}#1", f"thread_{run}_run_1", f"thread_{run}")
    frames = canonical_run(user, f"thread_{run}_run_1", f"thread_{run}")
    if foreign:  # another user's frame slipped into this user's connection
        frames.insert(1, canonical_run(foreign, "thread_x_run_1", "thread_x")[1])
    return script.recv_all(f"{user}#1", frames).transcript


def test_judging_pairs_users_so_iso1_is_judged_and_measures_each_run() -> None:
    judging = Judging()
    assert judging.add("alice", _slice("alice", "a")) is None  # waits for another user's slice
    judged = judging.add("bob", _slice("bob", "b", foreign="carol"))
    assert judged is not None
    assert [f.rule for f in judged.violations] == ["ISO-1"]
    assert "carol" in judged.violations[0].message
    assert [run.events for run in judged.runs] == [7, 7]
    assert [run.lost for run in judged.runs] == [()] * len(judged.runs)
    assert all(run.start_to_started is not None for run in judged.runs)
    assert judging.flush() is None  # nothing left waiting: memory holds at most one slice


def test_a_lone_user_is_judged_without_waiting_forever() -> None:
    judging = Judging()
    judging.add("alice", _slice("alice", "a"))
    judged = judging.add("alice", _slice("alice", "b"))
    assert judged is not None
    assert len(judged.runs) == 1
    assert judged.violations == []
    flushed = judging.flush()
    assert flushed is not None
    assert len(flushed.runs) == 1


def load(report_dir: Path, *args: str, server_args: str = "") -> subprocess.CompletedProcess[str]:
    env = user_env(WSAGENT_SECRET=SECRET, WSAGENT_SERVER_ARGS=server_args)
    return wsagent("load", "--report-dir", str(report_dir), *args, env=env, timeout=LOAD_LIMIT_S)


def test_local_load_against_the_reference_server_judges_every_run(tmp_path: Path) -> None:
    done = load(tmp_path, "--users", "10", "--run-time", "3s", "--think-time", "0.2", "--threshold", "violations==0", "--threshold", "p99(start_to_started)<2s")
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads((tmp_path / "load.json").read_text())
    assert data["runs"] > 10
    assert data["events"] == 7 * data["runs"]  # researcher: 7 events per run, none lost
    assert (data["violations_total"], data["lost_events"], data["failed_handshakes"]) == (0, 0, 0)
    assert data["handshakes"] == 10
    assert all(data["latencies"][name]["p99"] is not None for name in ("start_to_started", "start_to_first_event", "start_to_terminal", "event_gap"))
    assert [t["holds"] for t in data["thresholds"]] == [True, True]
    for name in ("load.md", "load.html", "load_stats.csv", "load_failures.csv", "load_stats_history.csv"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert not (tmp_path / "load-transcripts").exists()  # passing runs are dropped once judged


def test_a_dropped_event_is_a_violation_under_its_id_with_a_transcript_check_explains(tmp_path: Path) -> None:
    done = load(tmp_path, "--users", "4", "--run-time", "2s", "--think-time", "0.2", "--keep-transcripts", "2", server_args="--fault thinking_dropped")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "threshold broken: violations==0" in done.stdout
    data = json.loads((tmp_path / "load.json").read_text())
    assert set(data["violations"]) == {"EVT-1"}
    assert data["violations"]["EVT-1"] == data["runs"]
    assert "EVT-1" in (tmp_path / "load_failures.csv").read_text()
    kept = sorted((tmp_path / "load-transcripts").iterdir())
    assert len(kept) == 2  # bounded sample
    checked = wsagent("check", str(kept[0]), timeout=60)
    assert checked.returncode == 1
    assert "missing agent_thinking" in checked.stdout
    assert "ISO-1   OK" in checked.stdout  # two users per kept batch: isolation judged too
    for path in tmp_path.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert SECRET not in text, path
            assert "eyJ" not in text, path  # neither the secret nor a token in any artefact


@pytest.mark.parametrize(("args", "says"), [
    (["--users", "0", "--run-time", "1s"], "--users"),
    (["--users", "2"], "--run-time"),
    (["--users", "2", "--run-time", "soon"], "--run-time"),
    (["--users", "2", "--run-time", "1s", "--threshold", "p99(nothing)<1ms"], "threshold"),
    (["--users", "2", "--run-time", "1s", "--target", "ws://127.0.0.1:9/ws"], "cannot reach"),
])
def test_a_misconfigured_load_stops_with_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    done = load(tmp_path, *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("wsagent: ")
    assert says in lines[0]


def test_a_master_mints_no_tokens_so_needs_no_secret_but_a_worker_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """The master only counts what its workers report: a staging target's secret is the workers' business."""
    for name in [n for n in os.environ if n.startswith(("JWT_SECRET", "WSAGENT_"))]:
        monkeypatch.delenv(name)
    common = ["load", "--target", "wss://staging.example/ws", "--environment", "staging", "--users", "2",
              "--run-time", "1s"]
    master = settings_from(build_parser().parse_args([*common, "--master"]))
    assert master.config.secret is None
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        settings_from(build_parser().parse_args([*common, "--worker"]))


COOPERATION = """
import locust  # monkey-patches the standard library for gevent, as in the load process
import gevent, json, socket
from harness.embedded import EmbeddedServer
from harness.ids import DEFAULT_RUN_ID, DEFAULT_THREAD_ID, IdPattern
from harness.load.recorder import ConnectOptions, LoadConnection
from harness.template import StartTemplate
from harness.tokens import TokenFactory

silent = socket.socket()
silent.bind(("127.0.0.1", 0))
silent.listen()  # accepts, never answers: a handshake there waits for its whole timeout
secret = "cooperation-test-secret-0123456789abcdef"
tokens = TokenFactory(secret, "development")
ended = []
with EmbeddedServer.start("development", secret=secret) as server:
    def stuck():
        options = ConnectOptions(f"ws://127.0.0.1:{silent.getsockname()[1]}/ws", "development", secret, 3.0)
        ended.append(("stuck", LoadConnection.open(options, "stuck#1", "stuck", tokens.valid("stuck")).accepted))
    def busy():
        conn = LoadConnection.open(ConnectOptions(server.url, "development", secret, 5.0), "busy#1", "busy", tokens.valid("busy"))
        ids = (IdPattern(DEFAULT_THREAD_ID, "thread-id"), IdPattern(DEFAULT_RUN_ID, "run-id"))
        runs = [conn.run(StartTemplate(), ids, "researcher", "q", 10.0) for _ in range(5)]
        conn.close()
        ended.append(("busy", sum(r.type == "agent_completed" for piece in runs for r in piece)))
    gevent.joinall([gevent.spawn(stuck), gevent.spawn(busy)])
print(json.dumps(ended))
"""


def test_a_user_waiting_on_the_network_never_holds_the_others() -> None:
    """Under Locust's monkey-patching the recorder's blocking calls yield: five whole runs of one user finish while
    another user's handshake is still waiting on a server that never answers."""
    done = subprocess.run([sys.executable, "-c", COOPERATION], capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [["busy", 5], ["stuck", False]]
