"""How a case's findings read: the frames they point at, quoted readably, and the command that reproduces them.

Rendering only: :class:`harness.case.Case` drives and judges, this module writes what a failure says (the pytest
failure text and the Allure timeline's head, :mod:`harness.allure_case`).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from harness.config import HarnessConfig, changed_settings, safe_url
from harness.grades import Finding
from harness.quote import quote
from harness.transcript import Transcript

__all__ = ["describe", "reproduce"]

FRAMES_SHOWN = 4
"""Frames quoted per finding; the transcript attachment keeps them all."""


def describe(transcript: Transcript, findings: list[Finding], reproduce_line: str) -> str:
    """One line per finding, its frames quoted under it, and the reproduce line last."""
    lines = []
    for finding in findings:
        lines.append(f"{finding.rule} {finding.grade.value}: {finding.message}")
        for index in finding.frames[:FRAMES_SHOWN]:
            if 0 <= index < len(transcript):
                record = transcript[index]
                shown = record.text if record.text is not None else record.info
                lines.append(f"    #{index} {record.conn} {record.direction.value} {record.kind.value}: {quote(shown)}")
    lines.append(f"reproduce: {reproduce_line}")
    return "\n".join(lines)


def reproduce(config: HarnessConfig, name: str, ids: Iterable[str], *, bundled: bool) -> str:
    """The line that repeats a verdict with the same target, environment, strictness, profile, verdict-changing
    settings (agents, limits, timeout, capabilities, start template, id forms), faults and token file:
    ``wsagent run --only <IDs>`` for a case of the bundled suite, ``pytest <node id>`` for a user's own test."""
    settings: list[tuple[str, str | None]] = []  # (option name, value; None for a flag), wsagent run's spelling
    if config.target is not None:
        settings.append(("target", safe_url(config.target)))
    if config.environment != "development":
        settings.append(("environment", config.environment))
    if config.strict:
        settings.append(("strict", None))
    if config.profile is not None:
        settings.append(("profile", config.profile.name))
    plugin_only: list[tuple[str, str | None]] = [*changed_settings(config)]
    if config.target is None and config.server_args:
        plugin_only.append(("server-args", shlex.join(config.server_args)))
    if config.token_file is not None:
        plugin_only.append(("token-file", str(config.token_file)))
    if not bundled:
        return shlex.join(["pytest", name, *_plugin_options(settings + plugin_only)])
    words = ["wsagent", "run", *(part for req_id in ids for part in ("--only", req_id))]
    words += [part for option, value in settings for part in (f"--{option}", value) if part is not None]
    return shlex.join(words + (["--", *_plugin_options(plugin_only)] if plugin_only else []))


def _plugin_options(settings: list[tuple[str, str | None]]) -> list[str]:
    """``(name, value)`` pairs in the plugin's spelling: ``--wsagent-<name>=<value>``, or the bare flag for ``None``."""
    return [f"--wsagent-{name}" + ("" if value is None else f"={value}") for name, value in settings]
