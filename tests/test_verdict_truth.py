"""Verdicts that hold on backends we did not write: the six classes of false verdict of issue 13, one test each.

Each was a wrong grade the harness gave a backend that was not written alongside it. The transcripts are what such
a backend sends; the grades are PROTOCOL §8's: evidence both ways, one defect under one ID, error spellings
everywhere, run matching by the ids a start gave.
"""

from __future__ import annotations

import json
from pathlib import Path

import jwt
from websockets.asyncio.server import ServerConnection

from harness.grades import Finding, Grade, worst
from harness.judge import judge, judge_case
from harness.targets import Target
from harness.tokens import TokenSource
from harness.view import View
from tests.scripts import DEV, E2E_ON, PROD, Script, canonical_run, error, hello
from tests.test_hostile import SECRET, run_harness, ws_target

OK, NS, FAILED, SKIPPED = Grade.OK, Grade.NON_STRICT, Grade.FAILED, Grade.SKIPPED
AUTH_FAILED_FRAME = {"type": "error_message", "error_code": "AUTH_FAILED", "error_message": "Authentication failed: token invalid"}


def grades(verdict_findings: list[Finding], ids: tuple[str, ...]) -> dict[str, Grade | None]:
    return {req_id: worst(f.grade for f in verdict_findings if f.rule == req_id) for req_id in ids}


# 1. "Never exercised" is SKIPPED with the precondition that failed, never FAILED -----------------------------------


def test_a_refused_scenario_leaves_its_ids_skipped_with_the_refusal() -> None:
    script = Script().connect("a1", "alice", e2e=True).start("a1", "thread_a_run_1", "thread_a", scenario="slow_tool")
    script.recv("a1", error("E2E_NOT_ALLOWED", "thread_a_run_1"))
    verdict = judge_case(script.transcript, PROD, ("EVT-2", "EVT-3", "EVT-7"))
    assert verdict.grade("EVT-2") is OK
    assert verdict.grade("EVT-3") is SKIPPED
    assert verdict.grade("EVT-7") is SKIPPED
    reason = next(f.message for f in verdict.findings if f.rule == "EVT-3")
    assert reason == "not exercised: the target refused scenario 'slow_tool' with E2E_NOT_ALLOWED"


def test_e2e_detection_in_production_is_skipped_with_the_reason() -> None:
    script = Script().connect("a1", "alice", e2e=True)
    verdict = judge_case(script.transcript, PROD, ("E2E-1",))
    assert verdict.grade("E2E-1") is SKIPPED
    assert "outside production" in verdict.of("E2E-1")[0].message


def test_an_unexercised_id_beside_a_failure_names_the_failure() -> None:
    script = Script().connect("a1", "alice").start("a1", "thread_a_run_1", "thread_a")
    verdict = judge_case(script.transcript, DEV, ("EVT-1", "EVT-2"))
    assert verdict.grade("EVT-2") is FAILED
    assert verdict.of("EVT-1")[0].message == "not exercised: nothing to judge once EVT-2 failed"


# 2. The error_message spelling counts as the error frame, NON-STRICT --------------------------------------------


def in_band_refusal(kind: str, *, e2e: bool = False) -> Script:
    script = Script().connect("x", None, token=kind, e2e=e2e, greeting=AUTH_FAILED_FRAME)
    return script.close("x", 1008, by="server", reason="Authentication failed")


def test_error_message_then_close_1008_is_non_strict_under_auth1_auth5_and_e2e2() -> None:
    for kind, req_id, e2e in (("expired", "AUTH-1", False), ("wrong_secret", "AUTH-5", False), ("expired", "E2E-2", True)):
        verdict = judge(in_band_refusal(kind, e2e=e2e).transcript, DEV, [req_id])
        assert verdict.grade(req_id) is NS, (req_id, verdict.findings)
        assert "skipped token verification" not in verdict.of(req_id)[0].message


async def test_the_harness_waits_for_the_close_that_follows_an_in_band_refusal(tmp_path: Path) -> None:
    """A backend (written here, as the real one behaves) that upgrades every request, refuses a bad token with one
    ``error_message`` AUTH_FAILED frame and close 1008: AUTH-1 is NON-STRICT, never FAILED as "accepted"."""

    async def backend(ws: ServerConnection) -> None:
        header = ws.request.headers.get("Authorization", "") if ws.request else ""
        try:
            claims = jwt.decode(header.removeprefix("Bearer "), SECRET, algorithms=["HS256"], audience="netra-platform", issuer="netra-auth-service")
        except jwt.PyJWTError:
            await ws.send(json.dumps(AUTH_FAILED_FRAME))
            await ws.close(1008, "Authentication failed")
            return
        await ws.send(json.dumps(hello(claims["sub"])))
        async for _ in ws:
            pass

    async with ws_target(backend) as url:
        run = await run_harness(url, tmp_path, (["--only", "AUTH-1"], ["-k", "test_bad_token_refused_before_upgrade and expired"]))
    assert run.report is not None, run.stdout[-2000:]
    assert run.report["requirements"]["AUTH-1"]["grade"] == "NON-STRICT", run.stdout[-3000:]


# 3. A silent run is never credited with the next run's frames ------------------------------------------------------


def test_a_silent_run_keeps_no_frames_of_the_next_start() -> None:
    script = Script().connect("a1", "alice", e2e=True, greeting=hello("alice", E2E_ON, scenarios=True))
    script.start("a1", "thread_a_run_1", "thread_a", scenario="tool_error", timeout=3.0)
    script.run("a1", "alice", "thread_b_run_2", "thread_b")
    verdict = judge(script.transcript, DEV, ["EVT-2", "FAIL-2", "FAIL-4"])
    silent = [f for f in verdict.of("EVT-2") if "thread_a_run_1" in f.message]
    assert [f.grade for f in silent] == [FAILED]
    assert silent[0].message.endswith("no frame of the run arrived within 3 s")
    assert verdict.grade("FAIL-2") is FAILED
    assert "no terminal frame" in verdict.of("FAIL-2")[0].message
    assert verdict.of("FAIL-4") == []  # neither refused nor shown honoured: FAIL-2 reports the silence, once


def test_frames_carrying_a_starts_thread_belong_to_that_start() -> None:
    """A target that names the run by an id of its own, but keeps the client's thread id, answers that start."""
    script = Script().connect("a1", "alice")
    script.start("a1", None, "thread_a").start("a1", None, "thread_b")
    script.recv_all("a1", canonical_run("alice", "server_run_b", "thread_b"))
    script.recv_all("a1", canonical_run("alice", "server_run_a", "thread_a"))
    runs = {run.spec["thread_id"]: run.run_id for run in View(script.transcript).runs}
    assert runs == {"thread_a": "server_run_a", "thread_b": "server_run_b"}


# 4. One defect, one ID ---------------------------------------------------------------------------------------------


def test_a_misnamed_connection_is_auth4_alone() -> None:
    script = Script().connect("a1", "alice", greeting=hello("alice@example.com")).connect("b1", "bob")
    script.run("a1", "alice", "thread_a_run_1", "thread_a").run("b1", "bob", "thread_b_run_1", "thread_b")
    verdict = judge(script.transcript, DEV, ["AUTH-4", "ISO-1", "SEC-1", "EVT-5"])
    assert grades(verdict.findings, ("AUTH-4", "ISO-1", "EVT-5")) == {"AUTH-4": FAILED, "ISO-1": OK, "EVT-5": OK}
    assert verdict.grade("SEC-1") is None


def test_another_users_run_on_a_connection_is_iso1_alone() -> None:
    """Server-created ids, and bob's run broadcast to alice first: ISO-1 fails; alice's own run is judged as hers."""
    script = Script().connect("a1", "alice").connect("b1", "bob")
    script.start("a1", None, None).start("b1", None, None)
    bob = canonical_run("bob", "thread_b_run_b", "thread_b")
    script.recv_all("a1", bob).recv_all("b1", bob)
    script.recv_all("a1", canonical_run("alice", "thread_a_run_a", "thread_a"))
    verdict = judge(script.transcript, DEV, ["ISO-1", "ISO-3", "EVT-2", "EVT-5"])
    assert grades(verdict.findings, ("ISO-1", "ISO-3", "EVT-2", "EVT-5")) == {"ISO-1": FAILED, "ISO-3": OK, "EVT-2": OK, "EVT-5": OK}


def test_a_run_acting_for_a_claimed_user_is_sec1_alone() -> None:
    """A target that trusts the payload's user_id runs the attacker's start as the victim and streams it back to the
    attacker: SEC-1 fails (a user acted as another); ISO-1 does not, since no run of another user reached anyone."""
    script = Script().connect("v1", "victim").connect("a1", "attacker")
    script.start("a1", None, "thread_a", claims_user="victim")
    script.recv_all("a1", canonical_run("victim", "server_run_1", "thread_a"))
    verdict = judge(script.transcript, DEV, ["SEC-1", "ISO-1"])
    assert grades(verdict.findings, ("SEC-1", "ISO-1")) == {"SEC-1": FAILED, "ISO-1": OK}
    assert "runs as user_id 'victim'" in verdict.of("SEC-1")[0].message


def test_a_borrowed_thread_is_judged_by_the_thread_the_owner_gave() -> None:
    """The target does not echo thread ids in agent_started: the owner's given thread still makes the intruder's
    start with it a SEC-1 case, judged on what crossed users (here nothing)."""
    bare = [{k: v for k, v in frame.items() if k != "thread_id"} for frame in canonical_run("owner", "run_o", "thread_o")]
    script = Script().connect("o1", "owner").connect("i1", "intruder")
    script.start("o1", None, "thread_o").recv_all("o1", bare)
    intruder = [{k: v for k, v in frame.items() if k != "thread_id"} for frame in canonical_run("intruder", "run_i", "thread_o")]
    script.start("i1", None, "thread_o").recv_all("i1", intruder)
    verdict = judge(script.transcript, DEV, ["SEC-1"])
    assert {f.grade for f in verdict.of("SEC-1")} == {OK}
    assert any("'intruder' with thread 'thread_o' of another user" in f.message for f in verdict.of("SEC-1"))


# 5. A handshake that fails inside one case is that case's finding, never a run abort ---------------------------------


def test_an_oversized_token_dropped_without_an_answer_leaves_auth1_unexercised() -> None:
    """The HTTP layer's header limit is every server's right (the contract sets no token size): auth never ran."""
    script = Script().connect("x", None, token="oversized", status=None)
    verdict = judge(script.transcript, DEV, ["AUTH-1"])
    assert verdict.grade("AUTH-1") is SKIPPED
    assert "HTTP layer" in verdict.of("AUTH-1")[0].message


# 6. Loopback is local -------------------------------------------------------------------------------------------


def test_a_loopback_target_is_local_and_a_remote_one_is_not() -> None:
    def target(url: str) -> Target:
        return Target(url, "development", TokenSource.__new__(TokenSource), None, embedded=False)

    assert [target(u).local for u in ("ws://127.0.0.1:9/ws", "ws://localhost:9/ws", "ws://[::1]:9/ws", "ws://127.0.0.2/ws")] == [True] * 4
    assert not target("wss://staging.example.com/ws").local


def test_a_bad_token_accepted_with_and_without_e2e_headers_is_auth1s_not_e2e2s() -> None:
    """The E2E-2 case sends the token without the headers first: accepted both ways, E2E mode skipped nothing."""
    script = Script().connect("x1", None, token="expired").connect("x2", None, token="expired", e2e=True)
    verdict = judge_case(script.transcript, DEV, ("E2E-2",))
    assert verdict.grade("E2E-2") is SKIPPED
    assert "without the E2E headers too: AUTH-1's finding" in verdict.of("E2E-2")[0].message
    refused_plain = Script().connect("x1", None, token="expired", status=403, body='{"error_code":"AUTH_FAILED","message":"no"}')
    refused_plain.connect("x2", None, token="expired", e2e=True)
    assert judge_case(refused_plain.transcript, DEV, ("E2E-2",)).grade("E2E-2") is NS
