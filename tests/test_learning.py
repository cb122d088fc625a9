"""What a target shows once is learned once: a run against it never waits out the same timeout case after case.

Against the real Netra backend a wrong start message cost 14 minutes of timeouts; a target without application
pongs cost one timeout per barrier (about 6 minutes). The harness now learns, per process and target, that pings
go unanswered or that runs of a shape get no frame, and judges later cases at once. Each test runs `wsagent run` as
a user would, in one process (``-n 0``), and reads the transcripts it kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import jwt
from websockets.asyncio.server import ServerConnection

from harness.transcript import Transcript
from tests.scripts import canonical_run, hello
from tests.shell import wsagent
from tests.test_hostile import SECRET, run_harness, ws_target


def barrier_notes(report: Path) -> list[dict[str, object]]:
    return [
        record.note
        for path in sorted((report / "transcripts").glob("*.jsonl"))
        for record in Transcript.load(path)
        if record.note.get("barrier")
    ]


def test_a_target_without_pongs_costs_one_timeout_not_one_per_case(tmp_path: Path) -> None:
    done = wsagent(
        "run", "--only", "ROB-1", "--only", "ROB-2", "--only", "SEC-2", "--report-dir", str(tmp_path), "--no-html", "-n", "0",
        "--", "--wsagent-server-args=--fault no_pong", "--wsagent-timeout=2", "--wsagent-transcripts=all",
    )
    assert done.returncode in (0, 1), done.stdout[-2000:] + done.stderr[-2000:]
    notes = barrier_notes(tmp_path)
    waited = [note for note in notes if "learned" not in note]
    assert len(notes) > 3
    assert len(waited) == 1, notes
    assert all(str(note["learned"]).endswith("got no pong within 2 s") for note in notes if note not in waited)


async def test_runs_a_target_never_answers_are_waited_for_once(tmp_path: Path) -> None:
    """A backend (written here) that answers runs with ids given and never one whose ids it must create."""

    async def backend(ws: ServerConnection) -> None:
        header = ws.request.headers.get("Authorization", "") if ws.request else ""
        claims = jwt.decode(header.removeprefix("Bearer "), SECRET, algorithms=["HS256"], audience="netra-platform")
        await ws.send(json.dumps(hello(claims["sub"])))
        async for message in ws:
            payload = json.loads(message).get("payload", {})
            if payload.get("run_id"):
                for frame in canonical_run(claims["sub"], payload["run_id"], payload["thread_id"]):
                    await ws.send(json.dumps(frame))

    async with ws_target(backend) as url:
        run = await run_harness(url, tmp_path, (["--only", "ISO-3", "--transcripts", "all"], ["-k", "test_server_created_ids"]))
    assert run.report is not None, run.stdout[-2000:]
    transcript = Transcript.load(tmp_path / "transcripts" / "test_events.py_test_server_created_ids.jsonl")
    starts = [record.note["start"] for record in transcript if "start" in record.note]
    assert [start.get("learned") is None for start in starts] == [True, False]
    assert "got no frame within 2 s" in str(starts[1]["learned"])
    assert run.report["requirements"]["EVT-2"]["grade"] == "FAILED"
