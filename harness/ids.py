"""Run and thread ids the harness gives a target, generated to a pattern the target accepts.

Targets validate ids their own way (the Netra backend accepts ``thread_1_d1630dc8`` and rejects
``thread_49c47eb371b7``), so the forms are settings (``--wsagent-thread-id``, ``--wsagent-run-id`` or a profile):

- ``{hex:N}`` N random hex digits; ``{n}`` a counter, 1, 2, ... per session; ``{thread_id}`` (run ids only) the
  run's thread id. Anything else between braces is a :class:`~harness.errors.ConfigError` naming it.
- An empty pattern gives no id: the start message omits it and the target creates one (PROTOCOL §3), and the run
  is matched by its first ``agent_started`` (PROTOCOL §4).
"""

from __future__ import annotations

import itertools
import re
import secrets
from dataclasses import dataclass, field

from harness.errors import ConfigError

__all__ = ["DEFAULT_RUN_ID", "DEFAULT_THREAD_ID", "IdPattern"]

DEFAULT_THREAD_ID = "thread_{hex:16}"
DEFAULT_RUN_ID = "{thread_id}_run_{hex:12}"
_FIELD = re.compile(r"\{([^{}]*)\}")
_HEX = re.compile(r"hex:([1-9][0-9]?)")


@dataclass
class IdPattern:
    """One id form; :meth:`make` returns a new id, ``None`` for the empty pattern (the target names it)."""

    text: str
    option: str
    """The setting it came from (``thread-id`` or ``run-id``), for error lines."""
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    def __post_init__(self) -> None:
        allowed = {"n", "thread_id"} if self.option == "run-id" else {"n"}
        for name in _FIELD.findall(self.text):
            if name not in allowed and not _HEX.fullmatch(name):
                known = ", ".join(f"{{{n}}}" for n in sorted(allowed) + ["hex:N"])
                raise ConfigError(
                    f"wsagent: --wsagent-{self.option} {self.text!r} has an unknown placeholder {{{name}}}; it knows "
                    f"{known}"
                )
        if "{" in _FIELD.sub("", self.text) or "}" in _FIELD.sub("", self.text):
            raise ConfigError(f"wsagent: --wsagent-{self.option} {self.text!r} has an unmatched brace")

    def make(self, thread_id: str | None = None) -> str | None:
        if not self.text:
            return None
        number = next(self._counter)

        def fill(match: re.Match[str]) -> str:
            name = match[1]
            if name == "n":
                return str(number)
            if name == "thread_id":
                return thread_id or ""
            return secrets.token_hex(int(name[4:]) // 2 + 1)[: int(name[4:])]

        return _FIELD.sub(fill, self.text)
