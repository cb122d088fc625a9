"""The fault-injection self-test: the suite must catch every fault the reference server can switch on.

One test per fault of ``python -m mock_server --list-faults --json`` (no fault name is written in harness/ or
suites/): the embedded server is started with that fault, the suite runs in strict mode on the cases of the
fault's requirement IDs, and every (ID, grade) pair the fault declares must come out. A clean run must grade every
ID OK. ``tests/conftest.py`` prints the fault × ID matrix and the mutation score at the end of the session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from harness.catalog import CATALOG

INNER_TIMEOUT = "3"


def list_faults() -> list[dict[str, Any]]:
    out = subprocess.run([sys.executable, "-m", "mock_server", "--list-faults", "--json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


FAULTS = list_faults()


def wsagent_run(report_dir: Path, *args: str, pytest_args: tuple[str, ...] = (), secret: str | None = None) -> dict[str, Any]:
    """Run ``wsagent run`` as a user would, in strict mode with short waits, and return its conformance.json."""
    cmd = [
        sys.executable, "-m", "harness.cli", "run", "--strict", "--report-dir", str(report_dir), *args,
        "--no-html", "--", f"--wsagent-timeout={INNER_TIMEOUT}", "-q", "-p", "no:warnings", *pytest_args,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "WSAGENT_", "JWT_SECRET"))}
    if secret is not None:
        env["JWT_SECRET_KEY"] = secret
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    summary = report_dir / "conformance.json"
    assert summary.exists(), f"wsagent run wrote no conformance.json (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    data = json.loads(summary.read_text())
    data["exit_code"] = done.returncode
    data["output"] = done.stdout[-4000:]
    return data


def grades(data: dict[str, Any]) -> dict[str, str]:
    return {req_id: row["grade"] for req_id, row in data["requirements"].items()}


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return wsagent_run(tmp_path_factory.mktemp("clean"), "-n", "0")


def test_clean_server_grades_every_requirement_ok(clean_run: dict[str, Any], record_property: Any) -> None:
    got = grades(clean_run)
    record_property("selftest", json.dumps({"fault": "(none)", "breaks": {}, "grades": got}))
    not_ok = {req_id: grade for req_id, grade in got.items() if grade != "OK"}
    assert not not_ok, f"false failures without a fault: {not_ok}\n{clean_run['output']}"
    assert clean_run["exit_code"] == 0


@contextmanager
def separate_server(environment: str, secret: str) -> Iterator[str]:
    """``python -m mock_server`` started the way a user starts a backend; yields its URL from the READY line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WSAGENT_", "JWT_SECRET", "E2E_"))}
    env.update(JWT_SECRET_KEY=secret, ENVIRONMENT=environment)
    cmd = [sys.executable, "-m", "mock_server", "--port", "0", "--exit-with-stdin", "--log-level", "WARNING"]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env) as server:
        assert server.stdout is not None and server.stdin is not None
        ready = server.stdout.readline().split()
        assert ready[:1] == ["READY"], f"no READY line: {ready}"
        try:
            yield ready[1]
        finally:
            server.stdin.close()
            server.wait(timeout=30)


def test_separate_server_grades_equal_the_embedded_run(clean_run: dict[str, Any], tmp_path: Path) -> None:
    """The plugin's target option against a separately started server: same grades as the embedded run."""
    secret = uuid.uuid4().hex
    with separate_server("development", secret) as url, separate_server("production", secret) as production:
        data = wsagent_run(
            tmp_path, "--target", url, "-n", "0",
            pytest_args=(f"--wsagent-production-target={production}", "--wsagent-capabilities=no_e2e_env,scenarios", "--wsagent-allow-noisy"),
            secret=secret,
        )
    assert grades(data) == grades(clean_run), data["output"]


@pytest.mark.parametrize("fault", FAULTS, ids=[f["name"] for f in FAULTS])
def test_fault_is_caught(fault: dict[str, Any], tmp_path: Path, record_property: Any) -> None:
    declared: dict[str, str] = fault["breaks"]
    assert declared and set(declared) <= set(CATALOG), f"{fault['name']} declares unknown IDs {declared}"
    only = [arg for req_id in declared for arg in ("--only", req_id)]
    data = wsagent_run(tmp_path, *only, pytest_args=(f"--wsagent-server-args=--fault {fault['name']}",))
    got = grades(data)
    record_property("selftest", json.dumps({"fault": fault["name"], "breaks": declared, "grades": got}))
    missed = {req_id: (want, got.get(req_id)) for req_id, want in declared.items() if got.get(req_id) != want}
    assert not missed, f"{fault['name']} not caught (ID: declared, graded): {missed}\n{data['output']}"
    assert data["exit_code"] == 1


def test_run_against_a_served_faulty_server_names_the_broken_ids(tmp_path: Path) -> None:
    """A user's path: ``wsagent serve --fault`` in one terminal, ``wsagent run --target`` in another."""
    fault = next(f for f in FAULTS if list(f["breaks"].values()) == ["FAILED"])
    req_id = next(iter(fault["breaks"]))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WSAGENT_", "JWT_SECRET", "E2E_", "ENVIRONMENT"))}
    serve = [sys.executable, "-m", "harness.cli", "serve", "--port", "0", "--fault", fault["name"]]
    with subprocess.Popen(serve, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env) as server:
        assert server.stdout is not None
        ready = server.stdout.readline().split()
        assert ready[:1] == ["READY"], f"no READY line: {ready}"
        run = [sys.executable, "-m", "harness.cli", "run", "--target", ready[1], "--only", req_id, "--report-dir", str(tmp_path), "--", "-q"]
        done = subprocess.run(run, capture_output=True, text=True, env=env, timeout=240)
        server.terminate()
        assert server.wait(timeout=30) == 0  # SIGTERM reaches the server itself: a clean shutdown
    assert done.returncode == 1, done.stdout[-3000:]
    assert req_id in done.stdout + done.stderr
