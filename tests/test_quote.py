"""A finding quotes a frame in one readable line: whole fields, long values as stubs, and how much was left out."""

from __future__ import annotations

import json

from harness.quote import quote


def started(extra_fields: int) -> dict[str, object]:
    frame: dict[str, object] = {"type": "agent_started", "run_id": "thread_c3e571dc8d8f4981_run_4825661e93ed"}
    frame.update({f"field_{n:02}": "x" * 30 for n in range(extra_fields)})
    return frame


def test_a_short_frame_is_quoted_whole() -> None:
    assert quote('{"type": "pong"}') == '{"type": "pong"}'


def test_a_long_frame_is_cut_at_a_field_boundary_with_its_shape_visible() -> None:
    line = quote(json.dumps(started(14)))
    assert line.startswith('{"type": "agent_started", "run_id": "thread_c3e571dc8…", "field_00": ')
    assert line.endswith(" more fields}")
    assert len(line) <= 200
    shown = line.count('"field_')
    assert line.endswith(f", … {14 - shown} more fields}}")


def test_a_nested_value_shows_its_first_fields() -> None:
    line = quote({"type": "tool_completed", "data": {"tool_name": "search", "results": {"n": 1}, "duration_ms": 1.5, "success": True}})
    assert line == '{"type": "tool_completed", "data": {"tool_name": "search", … 3 more fields}}'


def test_text_that_is_not_json_says_how_much_was_left_out() -> None:
    assert quote("x" * 250) == "x" * 200 + "… (50 more characters)"
    assert quote("line one\nline two") == "line one\\nline two"
