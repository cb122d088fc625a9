"""Errors of the harness itself (never grades of the target).

HarnessError                 the harness could not finish a case: the run exits 2, nothing is reported OK
├── ConfigError              a misconfiguration: one readable line saying what to set
│   └── SecretMismatch       the target rejects freshly minted valid tokens with AUTH_FAILED
└── TargetError              the target cannot be reached or answered outside the contract's shapes
    └── TargetShutDown       the target closed 1001 (going away) while a run was in flight
"""

from __future__ import annotations

__all__ = ["ConfigError", "HarnessError", "SecretMismatch", "TargetError", "TargetShutDown"]


class HarnessError(Exception):
    """Base of every error that means "the harness could not judge", as opposed to a FAILED grade."""


class ConfigError(HarnessError):
    """The harness is misconfigured; ``str(exc)`` is one line naming what to set."""


class SecretMismatch(ConfigError):
    """The harness's signing secret is not the target's."""


class TargetError(HarnessError):
    """The target is unreachable, timed out, or broke the connection where the harness needed it."""


class TargetShutDown(TargetError):
    """The target shut down (close 1001) during a run: the run was interrupted, which judges nothing about the
    contract."""
