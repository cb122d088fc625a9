"""Hand-written transcripts for the rule tests: a tiny script language over :class:`harness.transcript.Transcript`.

A script plays one or more connections on a fake clock: handshakes, frames both ways, closes. ``canonical_run``
gives the frames a correct target sends for a run, so each rule test states only the breakage it is about.
"""

from __future__ import annotations

import json
from typing import Any

from harness.rules import Context
from harness.transcript import Direction, Kind, Transcript

STAMP = "2026-11-25T10:00:{:06.3f}+00:00"

AUTH_BODY = json.dumps({"error_code": "AUTH_FAILED", "message": "token expired"})
DEV = Context()
PROD = Context(environment="production")
E2E_ON = {"active": True, "source": "headers"}
"""The contexts and the AUTH_FAILED body the rule tests judge in; E2E_ON is an active E2E state from headers."""


def stamp(seconds: float) -> str:
    return STAMP.format(seconds)


def canonical_run(user: str, run_id: str, thread_id: str, agent: str = "researcher", tools: tuple[str, ...] = ("search", "summarize")) -> list[dict[str, Any]]:
    """The frames of a correct run, canonical layout, timestamps 10 ms apart."""
    env = {"run_id": run_id, "thread_id": thread_id, "user_id": user, "agent_name": agent}
    frames: list[dict[str, Any]] = [
        {"type": "agent_started", **env, "data": {"user_request": "find facts"}},
        {"type": "agent_thinking", **env, "data": {"reasoning": "planning", "step_number": 1}},
    ]
    for n, tool in enumerate(tools, start=1):
        eid = f"exec_{n}"
        frames.append({"type": "tool_executing", **env, "data": {"tool_name": tool, "execution_id": eid, "parameters": {"q": "x"}}})
        frames.append({"type": "tool_completed", **env, "data": {"tool_name": tool, "execution_id": eid, "success": True, "results": {"n": n}, "duration_ms": 1.5}})
    frames.append({"type": "agent_completed", **env, "data": {"status": "completed", "final_response": "done"}})
    for i, frame in enumerate(frames):
        frame["timestamp"] = stamp(i * 0.01)
    return frames


def hello(user: str, e2e: dict[str, Any] | None = None, scenarios: bool = False) -> dict[str, Any]:
    return {
        "type": "connection_established",
        "data": {
            "user_id": user,
            "connection_id": f"conn_{user}",
            "e2e": e2e or {"active": False, "source": None},
            "features": {"scenarios": scenarios, "query_token": True},
        },
    }


class Script:
    """Builds a transcript step by step; every step advances the clock by ``step`` seconds."""

    def __init__(self, step: float = 0.01) -> None:
        self.transcript = Transcript(meta={"target": "script"})
        self.clock = 0.0
        self.step = step
        self.users: dict[str, str | None] = {}

    def wait(self, seconds: float) -> Script:
        self.clock += seconds
        return self

    def _add(self, conn: str, direction: Direction, kind: Kind, **kw: Any) -> None:
        self.clock += self.step
        self.transcript.add(conn, self.users.get(conn), self.clock, direction, kind, **kw)

    def connect(
        self,
        conn: str,
        user: str | None,
        *,
        token: str = "valid",
        transport: str = "bearer",
        e2e: bool = False,
        status: int | None = 101,
        body: str = "",
        subprotocol: str | None = None,
        offered: list[str] | None = None,
        greeting: dict[str, Any] | None | str = "default",
        note: dict[str, Any] | None = None,
    ) -> Script:
        """``note``: further handshake note entries (``e2e_headers``, ``subprotocol_user``)."""
        self.users[conn] = user
        info = {"status": status, "body": body, "headers": {}, "subprotocol": subprotocol}
        note = {"token": token, "transport": transport, "e2e": e2e, "offered": offered or [], "path": "/ws",
                **(note or {})}
        self._add(conn, Direction.RECEIVED, Kind.HANDSHAKE, info=info, note=note)
        if status == 101 and greeting is not None:
            frame = hello(user or "anonymous", {"active": True, "source": "headers"} if e2e else None) if greeting == "default" else greeting
            self.recv(conn, frame)
        return self

    def send(self, conn: str, message: Any, note: dict[str, Any] | None = None) -> Script:
        text = message if isinstance(message, str) else json.dumps(message)
        self._add(conn, Direction.SENT, Kind.TEXT, text=text, note=note)
        return self

    def recv(self, conn: str, frame: Any) -> Script:
        text = frame if isinstance(frame, str) else json.dumps(frame)
        self._add(conn, Direction.RECEIVED, Kind.TEXT, text=text)
        return self

    def recv_all(self, conn: str, frames: list[Any]) -> Script:
        for frame in frames:
            self.recv(conn, frame)
        return self

    def start(self, conn: str, run_id: str | None, thread_id: str | None, *, agent: str = "researcher", scenario: str | None = None, uses_tools: bool = True, **extra: Any) -> Script:
        spec = {"agent": agent, "request": "find facts", "run_id": run_id, "thread_id": thread_id, "scenario": scenario, "uses_tools": uses_tools, **extra}
        payload = {k: v for k, v in {"agent_name": agent, "user_request": "find facts", "run_id": run_id, "thread_id": thread_id, "scenario": scenario}.items() if v is not None}
        return self.send(conn, {"type": "start_agent", "payload": payload}, note={"start": spec})

    def close(self, conn: str, code: int = 1000, by: str = "client", reason: str = "") -> Script:
        direction = Direction.SENT if by == "client" else Direction.RECEIVED
        self._add(conn, direction, Kind.CLOSE, info={"code": code, "reason": reason, "by": by})
        return self

    def ws_ping(self, conn: str, answered: bool) -> Script:
        self._add(conn, Direction.SENT, Kind.PING, info={"answered": answered})
        return self

    def health(self, status: int = 200) -> Script:
        self._add("http", Direction.RECEIVED, Kind.HTTP, info={"status": status, "body": '{"status":"ok"}'}, note={"probe": "health"})
        return self

    def run(self, conn: str, user: str, run_id: str = "thread_a_run_1", thread_id: str = "thread_a", **kw: Any) -> Script:
        """A start message and a correct run answering it."""
        self.start(conn, run_id, thread_id)
        return self.recv_all(conn, canonical_run(user, run_id, thread_id, **kw))


# --- transcripts the rule tests share ------------------------------------------------------------------------------


def good(run_id: str = "thread_a_run_1", thread_id: str = "thread_a", user: str = "alice", conn: str = "a1") -> Script:
    return Script().connect(conn, user).run(conn, user, run_id, thread_id)


def with_frames(frames: list[dict], *, user: str = "alice", uses_tools: bool = True, scenario: str | None = None, e2e: bool = False) -> Script:
    script = Script().connect("a1", user, e2e=e2e, greeting=hello(user, E2E_ON if e2e else None, scenarios=e2e))
    script.start("a1", "thread_a_run_1", "thread_a", scenario=scenario, uses_tools=uses_tools)
    return script.recv_all("a1", frames)


def run_frames(**kw: object) -> list[dict]:
    return canonical_run("alice", "thread_a_run_1", "thread_a", **kw)  # type: ignore[arg-type]


def error(code: str, run_id: str | None = "thread_a_run_1") -> dict:
    frame = {"type": "error", "error_code": code, "message": code.lower().replace("_", " ")}
    if run_id:
        frame["run_id"] = run_id
    return frame


def server_threads(thread_a: str, thread_b: str) -> Script:
    script = Script().connect("a1", "alice").connect("b1", "bob")
    script.start("a1", "ra", None).start("b1", "rb", None)
    script.recv_all("a1", canonical_run("alice", "ra", thread_a))
    return script.recv_all("b1", canonical_run("bob", "rb", thread_b))


def leaver_and_stayer(stayer_end: dict) -> Script:
    script = Script().connect("a1", "alice").connect("b1", "bob")
    script.start("b1", "thread_b_run_1", "thread_b").start("a1", "thread_a_run_1", "thread_a").close("a1")
    frames = canonical_run("bob", "thread_b_run_1", "thread_b")
    return script.recv_all("b1", frames[:-1] + [stayer_end]).health()


def scenario(name: str, frames: list[dict]) -> Script:
    return with_frames(frames, scenario=name, e2e=True)


def probe(kind: str, answer: list[dict], *, text: str = "{not json", close: int | None = None, pong: bool = True) -> Script:
    script = Script().connect("a1", "alice").send("a1", text, note={"probe": kind})
    if close is not None:
        return script.close("a1", close, by="server")
    return script.send("a1", {"type": "ping"}).recv_all("a1", answer + ([{"type": "pong"}] if pong else []))
