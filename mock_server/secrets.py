"""The unified JWT secret (PROTOCOL §1), resolved exactly as the harness resolves it.

Order: ``JWT_SECRET_KEY``; then ``JWT_SECRET_<ENV>``; then, in ``development`` and ``test`` only, the derived
default ``sha256(f"netra_{env}_jwt_key").hexdigest()[:32]`` (so development and test differ, which is what makes
AUTH-5's "another environment's secret" observable). Staging and production have no default: the server refuses
to start with one line naming both variables. Diagnostics name where the secret came from, never its value.
"""

from __future__ import annotations

import hashlib

from mock_server.environment import Environment, ServerEnvironment
from mock_server.errors import SecretNotConfigured

__all__ = ["DEFAULTED_ENVIRONMENTS", "development_default", "get_unified_jwt_secret", "secret_source"]

DEFAULTED_ENVIRONMENTS = frozenset({Environment.DEVELOPMENT, Environment.TEST})


def development_default(name: Environment) -> str:
    """The derived default secret of environment ``name`` (public knowledge: only safe where it is allowed)."""
    return hashlib.sha256(f"netra_{name.value}_jwt_key".encode()).hexdigest()[:32]


def _resolve(env: ServerEnvironment) -> tuple[str, str]:
    variable = env.secret_variable_for(env.name)
    if env.jwt_secret_key:
        return env.jwt_secret_key, "JWT_SECRET_KEY"
    if env.jwt_secret_for_env:
        return env.jwt_secret_for_env, variable
    if env.name in DEFAULTED_ENVIRONMENTS:
        return development_default(env.name), f"the {env.name.value} default"
    raise SecretNotConfigured(
        f"mock_server: no JWT secret for environment {env.name.value!r}: set JWT_SECRET_KEY or {variable}"
    )


def get_unified_jwt_secret(env: ServerEnvironment) -> str:
    """The HS256 secret for ``env``; :class:`SecretNotConfigured` in staging/production without one."""
    return _resolve(env)[0]


def secret_source(env: ServerEnvironment) -> str:
    """Where :func:`get_unified_jwt_secret` finds the secret (a variable name or "the <env> default")."""
    return _resolve(env)[1]
