"""Optional accelerators (``pip install wsagent[fast]``): uvloop's event loop and orjson's frame encoder.

Each is used only when it is importable and the environment snapshot allows it
(:attr:`~mock_server.environment.ServerEnvironment.accelerators`; ``WSAGENT_NO_ACCEL=1`` turns both off, for
measuring). The choice is process-wide, like the event loop it picks: ``python -m mock_server`` makes it once at
startup with :func:`activate` and runs on :attr:`Accelerators.loop_factory`; until then (in-process servers, tests)
frames go through the standard library's encoder. Either way a frame is the same compact JSON text: orjson's
output parses equal to ``json``'s, and what orjson refuses (integers past 64 bits, nesting past 254 levels,
non-string keys) is left to ``json``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = ["Accelerators", "activate", "encode", "select"]

Encoder = Callable[[Mapping[str, Any]], str]

_STDLIB = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def stdlib_dumps(frame: Mapping[str, Any]) -> str:
    """Compact JSON by the standard library; one encoder for every frame (``json.dumps`` with options builds one per call)."""
    return _STDLIB.encode(frame)


def _orjson_encoder(orjson: ModuleType) -> Encoder:
    dumps, refused = orjson.dumps, orjson.JSONEncodeError

    def orjson_dumps(frame: Mapping[str, Any]) -> str:
        try:
            return dumps(frame).decode()
        except refused:
            return stdlib_dumps(frame)

    return orjson_dumps


def _optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


@dataclass(frozen=True, slots=True)
class Accelerators:
    """What this process runs on: build with :func:`select` (or :func:`activate`, which also installs the encoder)."""

    encode: Encoder = stdlib_dumps
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    """For ``asyncio.Runner(loop_factory=...)``; ``None`` is asyncio's own loop."""
    names: tuple[str, ...] = ()
    switched_off: bool = False

    def describe(self) -> str:
        """One line for the startup log."""
        if self.names:
            return ", ".join(self.names)
        return "none (switched off by WSAGENT_NO_ACCEL)" if self.switched_off else "none installed (pip install wsagent[fast])"


def select(enabled: bool) -> Accelerators:
    """The accelerators importable now when ``enabled``; none when not."""
    if not enabled:
        return Accelerators(switched_off=True)
    uvloop, orjson = _optional("uvloop"), _optional("orjson")
    return Accelerators(
        encode=stdlib_dumps if orjson is None else _orjson_encoder(orjson),
        loop_factory=None if uvloop is None else uvloop.new_event_loop,
        names=tuple(name for name, module in (("uvloop", uvloop), ("orjson", orjson)) if module is not None),
    )


_active = Accelerators()


def activate(enabled: bool) -> Accelerators:
    """Choose the process's accelerators (:func:`select`) and send every frame from now on through their encoder."""
    global _active
    _active = select(enabled)
    return _active


def encode(frame: Mapping[str, Any]) -> str:
    """Serialise one outgoing frame with the active encoder (compact JSON text)."""
    return _active.encode(frame)
