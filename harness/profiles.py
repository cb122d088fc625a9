"""Profiles: everything target-specific about how wsagent *drives* a target, named once, never how it judges one.

A profile is a TOML table of settings (the option names of :data:`harness.config.OPTIONS`, as ``start-template``,
``thread-id`` or ``agents``). Where wsagent looks, first match wins:

1. ``wsagent.toml`` in the working directory: ``[profiles.NAME]``;
2. ``pyproject.toml`` in the working directory: ``[tool.wsagent.profiles.NAME]`` (as pytest and ruff users expect);
3. the profiles bundled with wsagent (``harness/profiles.toml``: ``netra``).

Choose one with ``--profile NAME`` (``WSAGENT_PROFILE``); options on the command line and in the environment still
win over it. A key that would change a verdict (strictness, limits, a rule, a grade) is a config error: verdicts stay
comparable across targets. So is a secret: a profile is a committed file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

__all__ = ["DRIVING", "Profile", "find", "available"]

BUNDLED = Path(__file__).with_name("profiles.toml")
DRIVING = frozenset(
    {
        "target",
        "environment",
        "e2e",
        "timeout",
        "open-timeout",
        "session-timeout",
        "capabilities",
        "start-template",
        "agents",
        "thread-id",
        "run-id",
        "ids",
        "issuer",
        "audience",
        "production-target",
        "ca-bundle",
    }
)
"""The settings a profile may hold: how to reach and drive the target."""
JUDGING = frozenset(
    {"strict", "limits", "only", "baseline", "skip", "ignore", "expect", "grades", "rules", "tolerate", "xfail"}
)
"""Keys that would change how a target is judged: refused with their own line."""
SECRET_KEYS = frozenset({"secret", "token-file", "header"})


@dataclass(frozen=True)
class Profile:
    name: str
    source: str
    """Where it was read: ``wsagent.toml``, ``pyproject.toml`` or ``bundled``."""
    settings: Mapping[str, str]
    description: str = ""


def available(cwd: Path | None = None) -> list[Profile]:
    """Every profile wsagent can see from ``cwd``, first match of a name first (a local one hides a bundled one)."""
    found: dict[str, Profile] = {}
    for source, path, keys in _places(cwd or Path.cwd()):
        for name, table in _tables(path, keys).items():
            found.setdefault(name, _profile(name, source, table))
    return list(found.values())


def find(name: str, cwd: Path | None = None) -> Profile:
    """The profile ``name``, or a one-line :class:`ConfigError` listing the ones there are."""
    profiles = {profile.name: profile for profile in available(cwd)}
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(
            f"wsagent: no profile {name!r} (known: {known}); `wsagent profiles` lists them with their source"
        )
    return profiles[name]


def _places(cwd: Path) -> list[tuple[str, Path, tuple[str, ...]]]:
    return [
        ("wsagent.toml", cwd / "wsagent.toml", ("profiles",)),
        ("pyproject.toml", cwd / "pyproject.toml", ("tool", "wsagent", "profiles")),
        ("bundled", BUNDLED, ("profiles",)),
    ]


def _tables(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data: Any = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"wsagent: cannot read profiles from {path}: {exc}") from None
    for key in keys:
        data = data.get(key, {}) if isinstance(data, dict) else {}
    if not isinstance(data, dict):
        raise ConfigError(f"wsagent: {path}: [{'.'.join(keys)}] must be a table of profiles")
    return data


def _profile(name: str, source: str, table: Any) -> Profile:
    where = f"profile {name!r} ({source})"
    if not isinstance(table, dict):
        raise ConfigError(f"wsagent: {where} must be a table of settings")
    settings: dict[str, str] = {}
    for key, value in table.items():
        if key == "description":
            continue
        if key in JUDGING:
            raise ConfigError(
                f"wsagent: {where} sets {key!r}: a profile changes how wsagent drives a target, never how it judges "
                "one; remove it"
            )
        if key in SECRET_KEYS:
            raise ConfigError(
                f"wsagent: {where} sets {key!r}: secrets and credentials stay out of profiles (a committed file); use "
                "the option or its variable"
            )
        if key not in DRIVING:
            raise ConfigError(
                f"wsagent: {where} has an unknown key {key!r}; a profile may set {', '.join(sorted(DRIVING))}"
            )
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(f"wsagent: {where}: {key} must be a string or a number, not {type(value).__name__}")
        settings[key] = str(value)
    return Profile(name, source, settings, str(table.get("description", "")))
