"""How a finding quotes a recorded frame: short enough for one line, cut where a reader can still see its shape.

A frame cut at a fixed character count ends in the middle of a string or a key, and the reader cannot tell which
fields were there. :func:`quote` keeps whole fields, shortens long values to a visible stub, and says how much it
left out (``{"type": "agent_started", "run_id": "…", … 14 more fields}``). The whole frame stays in the case's
transcript attachment; this is only the line in the message.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["quote"]

WIDTH = 200
"""Characters of one quoted frame in a finding's message."""

VALUE_WIDTH = 40
"""Characters of one field's value before it is shortened to a stub."""

STUB = 16
"""Characters kept from the start of a shortened string value."""


def quote(recorded: str | dict[str, Any] | list[Any], width: int = WIDTH) -> str:
    """The frame (its text, or a record's info) in at most about ``width`` characters, cut at a field boundary."""
    value: Any = recorded
    if isinstance(recorded, str):
        try:
            value = json.loads(recorded)
        except ValueError:
            return _text(recorded, width)
        if not isinstance(value, dict | list):
            return _text(recorded, width)
    return _container(value, width)


def _text(text: str, width: int) -> str:
    """Text that is not a JSON object or array, on one line, cut with the number of characters left out."""
    flat = text.replace("\r", "\\r").replace("\n", "\\n")
    if len(flat) <= width:
        return flat
    return f"{flat[:width]}… ({len(flat) - width} more characters)"


def _container(value: dict[str, Any] | list[Any], width: int) -> str:
    """An object's fields (an array's items) in order, as many whole ones as fit, then ``… N more fields``."""
    if isinstance(value, dict):
        parts = [f"{json.dumps(key, ensure_ascii=False)}: {_value(item)}" for key, item in value.items()]
        opening, closing, noun = "{", "}", "field"
    else:
        parts = [_value(item) for item in value]
        opening, closing, noun = "[", "]", "item"
    whole = opening + ", ".join(parts) + closing
    if len(whole) <= width:
        return whole
    kept: list[str] = []
    for part in parts:
        left = len(parts) - len(kept) - 1
        if kept and len(opening + ", ".join([*kept, part]) + f", … {left} more {noun}s" + closing) > width:
            break
        kept.append(part)
    left = len(parts) - len(kept)
    more = f"… {left} more {noun}{'' if left == 1 else 's'}"
    return opening + ", ".join([*kept, more] if left else kept) + closing


def _value(item: Any) -> str:
    """One field's value: whole when short, else its shape (a nested object's first fields, a string's start)."""
    shown = json.dumps(item, ensure_ascii=False)
    if len(shown) <= VALUE_WIDTH:
        return shown
    if isinstance(item, dict | list):
        return _container(item, VALUE_WIDTH)
    if isinstance(item, str):
        return json.dumps(item[:STUB] + "…", ensure_ascii=False)
    return shown[:VALUE_WIDTH] + "…"
