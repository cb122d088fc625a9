"""The unified JWT secret, resolved exactly as the server resolves it (PROTOCOL §1, ``get_unified_jwt_secret``).

Order: ``JWT_SECRET_KEY``, then ``JWT_SECRET_<ENV>``, then, only in ``development`` and ``test``, the default
``sha256("netra_<env>_jwt_key").hexdigest()[:32]``. Staging and production have no default: the harness stops with
one line naming both variables, as the server refuses to start. An empty variable counts as unset.

Values never leave this module in a message: :func:`secret_source` names where a secret came from for
diagnostics, and every error names variables only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from harness.errors import ConfigError

__all__ = ["ENVIRONMENTS", "check_environment", "development_default", "resolve_secret", "secret_source"]

ENVIRONMENTS = ("development", "test", "staging", "production")
DEFAULTED = ("development", "test")
"""The environments where the server falls back to a derived default secret."""


def check_environment(environment: str) -> str:
    """The name itself when it is one of the contract's environments, else a one-line :class:`ConfigError`."""
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"wsagent: unknown environment {environment!r}; use one of {', '.join(ENVIRONMENTS)}")
    return environment


def development_default(environment: str) -> str:
    """The default secret the server derives for ``environment`` (also AUTH-5's "another environment's" secret)."""
    check_environment(environment)
    return hashlib.sha256(f"netra_{environment}_jwt_key".encode()).hexdigest()[:32]


def _resolve(environ: Mapping[str, str], environment: str) -> tuple[str, str]:
    """(secret, where it came from); the single implementation behind both public functions."""
    specific = f"JWT_SECRET_{check_environment(environment).upper()}"
    for name in ("JWT_SECRET_KEY", specific):
        value = environ.get(name)
        if value:
            return value, name
    if environment in DEFAULTED:
        return development_default(environment), f"the {environment} default"
    raise ConfigError(
        f"wsagent: no JWT secret for environment {environment!r}: set JWT_SECRET_KEY or {specific} "
        f"(only development and test have a default)"
    )


def resolve_secret(environ: Mapping[str, str], environment: str) -> str:
    """The signing secret for ``environment`` given the process environment ``environ``."""
    return _resolve(environ, environment)[0]


def secret_source(environ: Mapping[str, str], environment: str) -> str:
    """Where :func:`resolve_secret` finds the secret (a variable name or "the <env> default"), never the value."""
    return _resolve(environ, environment)[1]
