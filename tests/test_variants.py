"""The reference server's variants over real sockets: each legitimate backend difference shows on the wire as
its catalog entry says, and the canonical behaviour stays elsewhere. The harness's grades under each variant are
the self-test's business (tests/test_selftest.py); here only the server's side is pinned.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from mock_server.environment import ServerEnvironment
from mock_server.errors import UnknownVariant
from mock_server.server import MockServer, run_server
from mock_server.testing import mint_token
from mock_server.variants import CATALOG, VariantName, Variants
from tests.test_server_sockets import SECRET, WAIT_S, barrier, client, config, kinds, recv, run, until
from tests.shell import WSAGENT

EXPIRED = mint_token(SECRET, "alice", exp=1_000_000, iat=999_000)
V = VariantName


@asynccontextmanager
async def serving(*names: VariantName) -> AsyncIterator[MockServer]:
    async with run_server(config(variants=Variants(frozenset(names)), heartbeat_s=0.1, slow_tool_s=0.6)) as srv:
        yield srv


async def closed_with(ws: Any) -> tuple[list[dict[str, Any]], int | None]:
    """Every frame until the server closes, and the close code it sent."""
    frames: list[dict[str, Any]] = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            frames.append(await recv(ws))
    return frames, closed.value.rcvd.code if closed.value.rcvd else None


# --- catalog and command line ----------------------------------------------------------------------------------


def test_list_variants_names_each_first_on_its_own_line() -> None:
    out = subprocess.run([sys.executable, "-m", "mock_server", "--list-variants"], capture_output=True, text=True, check=True).stdout
    assert [line.split("  ")[0] for line in out.splitlines()] == [name.value for name in CATALOG]
    listed = json.loads(subprocess.run([sys.executable, "-m", "mock_server", "--list-variants", "--json"], capture_output=True, text=True, check=True).stdout)
    assert {entry["name"]: entry["lenient"] for entry in listed}["flat_events"] == {"EVT-4": CATALOG[V.FLAT_EVENTS].lenient["EVT-4"]}


def test_wsagent_serve_passes_variants_through() -> None:
    listed = [*WSAGENT, "serve", "--list-variants"]
    own = [sys.executable, "-m", "mock_server", "--list-variants"]
    assert subprocess.run(listed, capture_output=True, text=True, check=True).stdout == subprocess.run(own, capture_output=True, text=True, check=True).stdout
    refused = subprocess.run([*listed[:-1], "--variant", "nope"], capture_output=True, text=True, timeout=30)
    assert (refused.returncode, refused.stderr) == (2, "mock_server: unknown variant 'nope'; see python -m mock_server --list-variants\n")


@pytest.mark.parametrize("how", ["option", "variable"])
def test_unknown_variant_is_one_line_and_exit_2(how: str) -> None:
    args, env = (["--variant", "nope"], {}) if how == "option" else ([], {"WSAGENT_VARIANTS": "flat_events,nope"})
    done = subprocess.run([sys.executable, "-m", "mock_server", *args], capture_output=True, text=True, env={"PATH": "", **env}, timeout=30)
    assert done.returncode == 2
    assert done.stderr == "mock_server: unknown variant 'nope'; see python -m mock_server --list-variants\n"


def test_variables_and_parse() -> None:
    assert ServerEnvironment.from_mapping({"WSAGENT_VARIANTS": " no_pong, ,flat_events"}).variants == ("no_pong", "flat_events")
    assert list(Variants.parse(["no_pong", "flat_events"])) == [V.FLAT_EVENTS, V.NO_PONG]
    with pytest.raises(UnknownVariant):
        Variants.parse(["no_pong", "bug"])


# --- on the wire ------------------------------------------------------------------------------------------------


async def test_error_message_spelling_keeps_code_text_and_run_id() -> None:
    async with serving(V.ERROR_MESSAGE) as srv, client(srv, e2e=True) as (ws, _):
        await ws.send("{broken")
        [parse_error] = await barrier(ws)
        assert parse_error == {"type": "error_message", "error_code": "JSON_PARSE_ERROR", "error_message": "message is not valid JSON"}
        start = {"agent_name": "researcher", "user_request": "q", "scenario": "unresolvable_thread", "run_id": "thread_x_run_1"}
        await ws.send(json.dumps({"type": "start_agent", "payload": start}))
        failure = (await until(ws, lambda f: f["type"] != "heartbeat"))[-1]
        assert (failure["type"], failure["error_code"], failure["run_id"]) == ("error_message", "THREAD_RESOLUTION_FAILED", "thread_x_run_1")
        assert "message" not in failure
        assert failure["error_message"]


async def test_flat_events_carry_their_fields_at_the_top_level() -> None:
    async with serving(V.FLAT_EVENTS) as srv, client(srv) as (ws, _):
        frames = await run(ws)
        assert all("data" not in frame for frame in frames)
        assert frames[1]["step_number"] == 1
        assert frames[-1]["status"] == "completed"
        assert frames[0]["user_request"] == "websockets"


async def test_unix_timestamps_are_floats_that_never_decrease() -> None:
    async with serving(V.UNIX_TIMESTAMPS) as srv, client(srv) as (ws, hello):
        stamps = [frame["timestamp"] for frame in await run(ws)]
        assert all(isinstance(stamp, float) for stamp in stamps)
        assert stamps == sorted(stamps)
        assert isinstance(hello["timestamp"], str)  # only run events change


@pytest.mark.parametrize("via", ["bearer", "subprotocol"])
async def test_accept_then_close_sends_one_auth_failed_then_1008(via: str) -> None:
    async with serving(V.ACCEPT_THEN_CLOSE) as srv, client(srv, token=EXPIRED, via=via) as (ws, first):
        frames, code = await closed_with(ws)
        assert (first["type"], first["error_code"], frames, code) == ("error", "AUTH_FAILED", [], 1008)
        assert EXPIRED not in json.dumps(first)
        assert (ws.subprotocol is not None) is (via == "subprotocol")  # a browser gets the frame: the entry is selected


async def test_accept_then_close_with_error_message_is_the_netra_backend() -> None:
    async with serving(V.ACCEPT_THEN_CLOSE, V.ERROR_MESSAGE) as srv, client(srv, token="not-a-jwt") as (ws, first):
        assert set(first) == {"type", "error_code", "error_message"}
        assert first["type"] == "error_message"
        assert await closed_with(ws) == ([], 1008)
        async with client(srv) as (_, hello):  # valid tokens are unaffected
            assert hello["type"] == "connection_established"


async def raw_request(srv: MockServer, header_value_bytes: int) -> bytes:
    """Send an upgrade request with one header line of about ``header_value_bytes``; everything the server answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Authorization: Bearer " + b"a" * header_value_bytes + b"\r\n\r\n"
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), WAIT_S)
    writer.close()
    return answer


async def test_short_header_limit_drops_a_long_line_without_any_answer() -> None:
    async with serving(V.SHORT_HEADER_LIMIT) as srv:
        assert await raw_request(srv, 64 * 1024) == b""
        assert (await raw_request(srv, 8000)).startswith(b"HTTP/1.1 403")  # under the limit, auth still answers
        async with client(srv) as (_, hello):
            assert hello["type"] == "connection_established"
    async with serving() as canonical:  # the canonical server reads the long line and auth refuses it
        assert (await raw_request(canonical, 64 * 1024)).startswith(b"HTTP/1.1 403")


async def test_no_pong_answers_protocol_pings_only() -> None:
    async with serving(V.NO_PONG) as srv, client(srv) as (ws, _):
        await ws.send('{"type": "ping"}')
        await ws.send('{"type": "make_coffee"}')
        assert [f.get("error_code", f["type"]) for f in await until(ws, lambda f: f["type"] != "heartbeat")] == ["UNKNOWN_MESSAGE_TYPE"]
        await asyncio.wait_for(await ws.ping(), WAIT_S)


@pytest.mark.parametrize(("variant", "code"), [(V.NO_HOOKS, "E2E_NOT_ALLOWED"), (V.UNKNOWN_SCENARIOS, "UNKNOWN_SCENARIO")])
async def test_no_hooks_refuse_every_scenario_and_say_so(variant: VariantName, code: str) -> None:
    async with serving(variant) as srv, client(srv, e2e=True) as (ws, hello), client(srv, "bob") as (plain, _):
        assert hello["data"]["e2e"]["active"] is True
        assert hello["data"]["features"]["scenarios"] is False
        [refusal] = await run(ws, scenario="slow_tool", run_id="thread_y_run_1")
        assert (refusal["error_code"], refusal["run_id"]) == (code, "thread_y_run_1")
        assert [f["error_code"] for f in await run(plain, scenario="slow_tool")] == ["E2E_NOT_ALLOWED"]  # inactive: checked first
        assert kinds(await run(ws))[-1] == "agent_completed"
