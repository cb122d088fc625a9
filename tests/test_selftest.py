"""The self-test: the whole suite (``wsagent run``, no ``--only``) against the reference server, once per fault and
once per variant row, each as its own test so that xdist spreads them over the workers.

Faults and variants come from the reference server's catalogs, as ``--list-faults --json`` and ``--list-variants
--json`` print them (no fault or variant name is written in harness/ or suites/); they keep opposite promises:

* a **fault** must be graded exactly as it declares (``breaks``), and no other ID may be FAILED or NON-STRICT unless
  the fault names it as ``collateral`` with its reason (a permission, not a promise: some collateral is timing);
* a **variant row** (a legitimate backend, in one of the four environments) must give no FAILED but the IDs its
  variants declare ``unoffered``, and NON-STRICT exactly on the IDs they declare ``lenient`` (minus those the row
  cannot exercise, which are SKIPPED with a reason).

No row is excused: a grade nobody declared, or a run abort, fails its test. ``tests/conftest.py`` prints both matrices at the end of the session and writes them to
``reports/selftest-matrix.md``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.catalog import CATALOG
from mock_server.faults import CATALOG as FAULT_CATALOG
from mock_server.variants import CATALOG as VARIANT_CATALOG
from tests.shell import WSAGENT, user_env, wsagent

INNER_TIMEOUT = "3"
ENVIRONMENTS = ("development", "test", "staging", "production")
LENIENT_SPELLINGS = ("error_message", "flat_events", "accept_then_close")
"""The NON-STRICT spellings together: the real Netra backend answers bad tokens with exactly this combination."""
NO_HOOKS_SKIPPED = ("FAIL-1", "FAIL-2", "FAIL-3", "FAIL-4", "ISO-4")
"""PROTOCOL FAIL-4 and §8: where no scenario is honoured (no hooks, or production), FAIL-1..4 are SKIPPED, and so is
ISO-4, whose runs must provably be in flight (the slow_tool scenario) when the leaver goes."""
PRODUCTION_SKIPPED = ("E2E-1",)
"""In production the E2E headers grant nothing, so E2E-1's detection has nothing to judge (E2E-3 judges the refusal)."""


FAULTS = [fault.as_json() for fault in FAULT_CATALOG.values()]
"""The faults as ``--list-faults --json`` prints them, read from the catalog (no subprocess at import time)."""
VARIANTS = {variant.name.value: variant.as_json() for variant in VARIANT_CATALOG.values()}


# --- running the suite ------------------------------------------------------------------------------------------


def wsagent_run(report_dir: Path, *args: str, pytest_args: tuple[str, ...] = (), secret: str | None = None) -> dict[str, Any]:
    """Run ``wsagent run`` as a user would, in strict mode with short waits, and return its conformance.json."""
    done = wsagent(
        "run", "--strict", "--report-dir", str(report_dir), *args,
        "--no-html", "--", f"--wsagent-timeout={INNER_TIMEOUT}", "-q", "-p", "no:warnings", *pytest_args,
        env=user_env(**({"JWT_SECRET_KEY": secret} if secret is not None else {})), timeout=300,
    )
    summary = report_dir / "conformance.json"
    assert summary.exists(), f"wsagent run wrote no conformance.json (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    data = json.loads(summary.read_text())
    data["exit_code"] = done.returncode
    data["output"] = done.stdout[-4000:] + done.stderr[-1000:]
    return data


def grades(data: dict[str, Any]) -> dict[str, str]:
    return {req_id: row["grade"] for req_id, row in data["requirements"].items()}


def flagged(data: dict[str, Any], grade: str) -> set[str]:
    return {req_id for req_id, got in grades(data).items() if got == grade}


def findings(data: dict[str, Any], ids: set[str]) -> dict[str, list[str]]:
    """The messages behind each ID's grade (its FAILED findings, or its NON-STRICT ones): what the lead needs to see
    for a cell nobody declared."""
    rows = data["requirements"]
    return {req_id: [m for m in rows[req_id].get("messages", []) if m.startswith(f"{req_id} {rows[req_id]['grade']}")] for req_id in sorted(ids)}


def record(record_property: Any, kind: str, name: str, declared: Mapping[str, str], data: dict[str, Any], unexpected: set[str]) -> None:
    """Hand one matrix row to tests/conftest.py (user properties travel from xdist workers to the controller)."""
    row = {"kind": kind, "row": name, "declared": dict(declared), "grades": grades(data), "aborted": data.get("aborted"),
           "unexpected": findings(data, unexpected) if not data.get("aborted") else {"run": [str(data["aborted"])]}}
    record_property("selftest", json.dumps(row))


# --- variants ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantRow:
    """One legitimate backend: reference-server variants, an environment, and options on the driving side."""

    name: str
    environment: str
    variants: tuple[str, ...] = ()
    driving: tuple[str, ...] = ()

    def declared(self, field: str) -> dict[str, str]:
        return {req_id: why for variant in self.variants for req_id, why in VARIANTS[variant][field].items()}

    @property
    def skipped(self) -> set[str]:
        """Exactly what the row cannot exercise: anything else SKIPPED is evidence the harness missed."""
        production = self.environment == "production"
        hookless = production or {"no_hooks", "unknown_scenarios"} & set(self.variants)
        return set(NO_HOOKS_SKIPPED if hookless else ()) | set(PRODUCTION_SKIPPED if production else ())



def variant_rows() -> Iterator[VariantRow]:
    for environment in ENVIRONMENTS:
        yield VariantRow(f"canonical-{environment}", environment)
        yield VariantRow(f"lenient-{environment}", environment, LENIENT_SPELLINGS)
    for name in VARIANTS:
        yield VariantRow(name, "development", (name,))
    yield VariantRow("ids-from-server", "development", driving=("--wsagent-ids=server",))


VARIANT_ROWS = list(variant_rows())


def test_every_variant_has_a_row_and_the_lenient_set_is_catalogued() -> None:
    rows = {variant for row in VARIANT_ROWS for variant in row.variants}
    assert rows == set(VARIANTS)
    assert set(LENIENT_SPELLINGS) <= set(VARIANTS)
    for variant in VARIANTS.values():
        assert set(variant["lenient"]) | set(variant["unoffered"]) <= set(CATALOG), variant


@pytest.mark.parametrize("row", VARIANT_ROWS, ids=[row.name for row in VARIANT_ROWS])
def test_variant_row_gives_no_false_verdict(row: VariantRow, tmp_path: Path, record_property: Any) -> None:
    server_args = " ".join(f"--variant {name}" for name in row.variants)
    pytest_args = (*row.driving, *([f"--wsagent-server-args={server_args}"] if server_args else ()))
    data = wsagent_run(tmp_path, "--environment", row.environment, pytest_args=pytest_args)
    unoffered, lenient = row.declared("unoffered"), row.declared("lenient")
    want_failed, want_lenient = set(unoffered), set(lenient) - row.skipped
    failed, non_strict = flagged(data, "FAILED"), flagged(data, "NON-STRICT")
    record(record_property, "variant", row.name, {**lenient, **unoffered}, data, (failed - want_failed) | (non_strict - want_lenient))
    assert not data["aborted"], f"{row.name}: run aborted: {data['aborted']}"
    undeclared = (failed - want_failed) | (non_strict - want_lenient)
    assert not undeclared, f"{row.name}: undeclared {findings(data, undeclared)}"
    assert failed == want_failed, f"{row.name}: declared FAILED not seen: {sorted(want_failed - failed)}"
    assert non_strict == want_lenient, f"{row.name}: declared NON-STRICT not seen: {sorted(want_lenient - non_strict)}"
    assert flagged(data, "SKIPPED") == row.skipped, f"{row.name}: SKIPPED {findings(data, flagged(data, 'SKIPPED'))}"


# --- faults -----------------------------------------------------------------------------------------------------

SECURITY_AREAS = ("SEC-", "ISO-")
def about_security(fault: dict[str, Any]) -> bool:
    return any(req_id.startswith(SECURITY_AREAS) for req_id in fault["breaks"])


@pytest.mark.parametrize("fault", FAULTS, ids=[f["name"] for f in FAULTS])
def test_fault_declarations_are_well_formed(fault: dict[str, Any]) -> None:
    declared, collateral = fault["breaks"], fault["collateral"]
    assert declared, f"{fault['name']} names unknown IDs"
    assert set(declared) | set(collateral) <= set(CATALOG), f"{fault['name']} names unknown IDs"
    assert not set(declared) & set(collateral), f"{fault['name']}: an ID is either declared or collateral"
    assert all(isinstance(why, str) and why.strip() and "\n" not in why for why in collateral.values()), "one-line reasons"
    if not about_security(fault):
        assert not [i for i in collateral if i.startswith(SECURITY_AREAS)], f"{fault['name']}: SEC/ISO collateral is a harness bug"


@pytest.mark.parametrize("fault", FAULTS, ids=[f["name"] for f in FAULTS])
def test_fault_is_caught_under_its_ids_only(fault: dict[str, Any], tmp_path: Path, record_property: Any) -> None:
    declared: dict[str, str] = fault["breaks"]
    allowed = set(declared) | set(fault["collateral"])
    data = wsagent_run(tmp_path, pytest_args=(f"--wsagent-server-args=--fault {fault['name']}",))
    got = grades(data)
    raised = flagged(data, "FAILED") | flagged(data, "NON-STRICT")
    record(record_property, "fault", fault["name"], declared, data, raised - allowed)
    assert not data["aborted"], f"{fault['name']}: run aborted: {data['aborted']}"
    missed = {req_id: (want, got.get(req_id)) for req_id, want in declared.items() if got.get(req_id) != want}
    assert not missed, f"{fault['name']} not caught (ID: declared, graded): {missed}\n{data['output']}"
    assert raised <= allowed, f"{fault['name']}: undeclared alarms {findings(data, raised - allowed)}"
    assert data["exit_code"] == 1


# --- the user's paths ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return wsagent_run(tmp_path_factory.mktemp("clean"), "-n", "0")


@contextmanager
def separate_server(environment: str, secret: str) -> Iterator[str]:
    """``python -m mock_server`` started the way a user starts a backend; yields its URL from the READY line."""
    cmd = [sys.executable, "-m", "mock_server", "--port", "0", "--exit-with-stdin", "--log-level", "WARNING"]
    env = user_env(JWT_SECRET_KEY=secret, ENVIRONMENT=environment)
    with subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env) as server:
        assert server.stdout is not None
        assert server.stdin is not None
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


def test_run_against_a_served_faulty_server_names_the_broken_ids(tmp_path: Path) -> None:
    """A user's path: ``wsagent serve --fault`` in one terminal, ``wsagent run --target`` in another."""
    fault = next(f for f in FAULTS if list(f["breaks"].values()) == ["FAILED"])
    req_id = next(iter(fault["breaks"]))
    serve = [*WSAGENT, "serve", "--port", "0", "--fault", fault["name"]]
    with subprocess.Popen(serve, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=user_env()) as server:
        assert server.stdout is not None
        ready = server.stdout.readline().split()
        assert ready[:1] == ["READY"], f"no READY line: {ready}"
        done = wsagent("run", "--target", ready[1], "--only", req_id, "--report-dir", str(tmp_path), "--", "-q")
        server.terminate()
        assert server.wait(timeout=30) == 0  # SIGTERM reaches the server itself: a clean shutdown
    assert done.returncode == 1, done.stdout[-3000:]
    assert req_id in done.stdout + done.stderr
