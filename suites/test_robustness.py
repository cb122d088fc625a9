"""ROB-1..6: bad input gets a clear answer and costs nobody else anything (PROTOCOL §6).

Every probe is marked in the transcript and followed by a ``ping`` barrier: the probe's answer is whatever the
server sent before the ``pong``.
"""

from __future__ import annotations

import pytest

from harness import Case

MAX_MESSAGE = 1_048_576
FLOOD = 1_000

TEXT_PROBES = [
    pytest.param(
        "invalid_json", '{"type": "start_agent", ', marks=pytest.mark.requirement("ROB-1", "SEC-2"), id="invalid_json"
    ),
    pytest.param("not_object", "[1, 2, 3]", marks=pytest.mark.requirement("ROB-2", "SEC-2"), id="not_object"),
    pytest.param("no_type", '{"payload": {}}', marks=pytest.mark.requirement("ROB-2", "SEC-2"), id="no_type"),
    pytest.param(
        "unknown_type", '{"type": "make_coffee"}', marks=pytest.mark.requirement("ROB-2", "SEC-2"), id="unknown_type"
    ),
]


@pytest.mark.parametrize(("probe", "text"), TEXT_PROBES)
async def test_bad_text_answered_and_connection_carries_on(wsagent: Case, probe: str, text: str) -> None:
    conn = await wsagent.connect_ok()
    await conn.send_text(text, note={"probe": probe})
    await conn.barrier(wsagent.config.timeout)
    await wsagent.run(conn)
    wsagent.check()


CLOSE_PROBES = [  # (probe, chunk, repeat): the chunk repeated, so reports show the parameters, not 1 MiB of "x"
    pytest.param("oversize", b"x", MAX_MESSAGE + 1, id="oversize_closes_1009"),
    pytest.param("invalid_utf8", b'{"type": "\xff\xfe"}', 1, id="invalid_utf8_closes_1007"),
]


@pytest.mark.requirement("ROB-3")
@pytest.mark.parametrize(("probe", "chunk", "repeat"), CLOSE_PROBES)
async def test_bad_text_frame_closes_with_the_right_code(wsagent: Case, probe: str, chunk: bytes, repeat: int) -> None:
    conn = await wsagent.connect_ok()
    await conn.send_raw_text(chunk * repeat, note={"probe": probe})
    await conn.wait_closed(wsagent.config.timeout)
    wsagent.check()


@pytest.mark.requirement("ROB-4")
async def test_binary_frame_answered(wsagent: Case) -> None:
    conn = await wsagent.connect_ok()
    await conn.send_bytes(b"\x00\x01binary", note={"probe": "binary"})
    await conn.barrier(wsagent.config.timeout)
    await wsagent.run(conn)
    wsagent.check()


@pytest.mark.requirement("ROB-5")
async def test_pings_answered(wsagent: Case) -> None:
    conn = await wsagent.connect_ok()
    await conn.send_json({"type": "ping"}, note={"probe": "ping"})
    await conn.barrier(wsagent.config.timeout)
    await conn.ws_ping(wsagent.config.timeout)
    wsagent.check()


@pytest.mark.noisy
@pytest.mark.requirement("ROB-6", "EVT-7")
async def test_flood_does_not_delay_other_users(wsagent: Case) -> None:
    """The whole flood is on the wire before the calm user's run starts, so the two overlap by construction."""
    noisy = await wsagent.connect_ok(wsagent.user("mallory"))
    calm = await wsagent.connect_ok(wsagent.user("calm"))
    for n in range(FLOOD):
        await noisy.send_text(f'{{"type": "flood", "n": {n}', note={"probe": "flood"})
    await wsagent.run(calm)
    await noisy.barrier(wsagent.config.timeout)
    wsagent.check()
