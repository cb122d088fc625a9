"""Servers the benchmarks measure, each in its own process: prints ``READY <url>`` and exits when stdin closes.

    python bench/_serve.py mock [--compression deflate]       the reference server (mock_server.MockServer), on
                  [--gc-log F] [--gc-freeze] [--redis URL]    uvloop/orjson when installed unless WSAGENT_NO_ACCEL=1
                                                              (as ``python -m mock_server``); its GC time written to
                                                              F on exit; gc.freeze() each second
    python bench/_serve.py stream [--compression deflate]     the ceiling: a bare websockets server that answers
                                                              each start_agent with researcher's seven frames
    python bench/_serve.py burst --frames N                   sends N event frames on connect, then closes
    python bench/_serve.py jwt                                 a bare server whose process_request only decodes
                                                              the bearer token with pyjwt (403 on failure)
    python bench/_serve.py plain                               L3's comparison: the golden path on Starlette and
                                                              uvicorn (bench/plain_server.py)

The ceiling servers send the same JSON frames as the reference server (same fields, same sizes), pre-serialised,
straight to the socket: what is left is the cost of websockets and asyncio themselves (asyncio's own loop, always).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import threading
from http import HTTPStatus
from pathlib import Path
from typing import Any

import jwt
from websockets.asyncio.server import ServerConnection, serve

SECRET = "wsagent-bench-secret-0123456789abcdef0123456789abcdef"
RUN = "@RUN@"
THREAD = "@THREAD@"


def researcher_frames(user: str = "bench-user") -> list[str]:
    """The seven frames of one researcher run as the reference server writes them, with id placeholders."""
    env = {"run_id": RUN, "thread_id": THREAD, "user_id": user, "agent_name": "researcher", "timestamp": "2026-11-25T07:00:00.123456+00:00"}
    hits = [{"title": f"q: {angle}", "rank": n} for n, angle in enumerate(("overview", "how it works", "common pitfalls"), 1)]
    summary = {"summary": "Summary of 3 sources: q: overview; q: how it works; q: common pitfalls"}
    datas = [
        ("agent_started", {"user_request": "q"}),
        ("agent_thinking", {"reasoning": "Planning: search for 'q', then summarize the hits.", "step_number": 1}),
        ("tool_executing", {"tool_name": "search", "execution_id": "exec_0123456789ab", "parameters": {"query": "q"}}),
        ("tool_completed", {"tool_name": "search", "execution_id": "exec_0123456789ab", "success": True,
                            "results": {"query": "q", "hits": hits}, "duration_ms": 0.012}),
        ("tool_executing", {"tool_name": "summarize", "execution_id": "exec_123456789abc", "parameters": {"hits": hits}}),
        ("tool_completed", {"tool_name": "summarize", "execution_id": "exec_123456789abc", "success": True,
                            "results": summary, "duration_ms": 0.01}),
        ("agent_completed", {"status": "completed", "final_response": summary["summary"]}),
    ]
    return [json.dumps({"type": kind, **env, "data": data}, separators=(",", ":"), ensure_ascii=False) for kind, data in datas]


HELLO = json.dumps({"type": "connection_established", "data": {"user_id": "bench-user", "connection_id": "conn_1"}})


async def stream_handler(ws: ServerConnection) -> None:
    frames = researcher_frames()
    await ws.send(HELLO)
    async for message in ws:
        start = json.loads(message)
        payload = start.get("payload") or {}
        run, thread = str(payload.get("run_id")), str(payload.get("thread_id"))
        for frame in frames:
            await ws.send(frame.replace(RUN, run).replace(THREAD, thread))


def burst_handler(count: int) -> Any:
    async def handler(ws: ServerConnection) -> None:
        frames = [f.replace(RUN, "thread_b_run_1").replace(THREAD, "thread_b") for f in researcher_frames()]
        await ws.send(HELLO)
        for i in range(count):
            await ws.send(frames[i % len(frames)])
        await ws.close()

    return handler


def jwt_process_request(connection: ServerConnection, request: Any) -> Any:
    header = request.headers.get("Authorization", "")
    try:
        jwt.decode(header.removeprefix("Bearer "), SECRET, algorithms=["HS256"], options={"verify_aud": False})
    except jwt.PyJWTError:
        return connection.respond(HTTPStatus.FORBIDDEN, '{"error_code":"AUTH_FAILED"}')
    return None


async def idle_handler(ws: ServerConnection) -> None:
    await ws.send(HELLO)
    async for _ in ws:
        pass


def mock_environment() -> Any:
    """The reference server's environment: the bench secret, and ``WSAGENT_NO_ACCEL`` passed through the snapshot."""
    from mock_server.environment import ServerEnvironment

    return ServerEnvironment.from_mapping({"JWT_SECRET_KEY": SECRET, "WSAGENT_NO_ACCEL": os.environ.get("WSAGENT_NO_ACCEL", "")})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("mock", "stream", "burst", "jwt", "plain"))
    parser.add_argument("--compression", choices=("none", "deflate"), default="none")
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--gc-log", help="write the time spent in garbage collection (JSON) here on exit")
    parser.add_argument("--gc-freeze", action="store_true", help="diagnosis: gc.freeze() once a second (mock only)")
    parser.add_argument("--redis", help="mock only: a replica sharing users through this Redis URL")
    args = parser.parse_args()
    loop_factory = None
    if args.mode == "mock":
        env = mock_environment()
        if hasattr(env, "accelerators"):  # trees from before the accelerators (--against) run as they were
            from mock_server import accel

            loop_factory = accel.activate(env.accelerators).loop_factory
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve_until_stdin_closes(args))


async def serve_until_stdin_closes(args: argparse.Namespace) -> None:
    gc_clock = None
    if args.gc_log:
        from _common import GcClock

        gc_clock = GcClock()
    compression = None if args.compression == "none" else "deflate"
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def watch_stdin() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    if args.mode == "mock":
        import mock_server.server as server_module
        from mock_server.server import MockServer, ServerConfig

        if compression:  # the reference server hard-codes compression=None; measure deflate by overriding it here
            original = server_module.serve

            def serve_deflate(*a: Any, **kw: Any) -> Any:
                kw["compression"] = compression
                return original(*a, **kw)

            server_module.serve = serve_deflate  # type: ignore[assignment]
        mock = MockServer(ServerConfig(environment=mock_environment(), **({"redis_url": args.redis} if args.redis else {})))
        await mock.start()
        if args.gc_freeze:  # move long-lived connection state out of the collector's reach as it accumulates
            async def freeze() -> None:
                while True:
                    gc.freeze()
                    await asyncio.sleep(1.0)

            freezer = asyncio.create_task(freeze())  # noqa: F841 - runs until the process exits
        print(f"READY {mock.url}", flush=True)
        await done.wait()
        if gc_clock is not None:
            Path(args.gc_log).write_text(json.dumps(gc_clock.summary()))
        await mock.close()
        return
    if args.mode == "plain":
        from plain_server import serve as serve_plain

        await serve_plain(SECRET, lambda url: print(f"READY {url}", flush=True), done)
        return
    handlers = {"stream": stream_handler, "burst": burst_handler(args.frames), "jwt": idle_handler}
    options: dict[str, Any] = {"compression": compression, "max_size": None}
    if args.mode == "jwt":
        options["process_request"] = jwt_process_request
    async with serve(handlers[args.mode], "127.0.0.1", 0, **options) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"READY ws://127.0.0.1:{port}/ws", flush=True)
        await done.wait()


if __name__ == "__main__":
    main()
