"""The server's view of its process environment: read once at startup, frozen, passed to every room.

``python -m mock_server`` hands ``os.environ`` to :meth:`ServerEnvironment.from_mapping`; nothing else in the
package reads ``os.environ``, so tests build any environment from a plain dict and a run cannot change mode
behind the server's back. Secrets are kept out of ``repr`` so a logged snapshot never shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from mock_server.errors import UnknownEnvironment

__all__ = ["Environment", "ServerEnvironment"]


class Environment(StrEnum):
    """The contract's environment names (PROTOCOL §1), lower case exactly."""

    DEVELOPMENT = "development"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"

    @classmethod
    def parse(cls, name: str) -> Environment:
        """The environment called ``name``, else :class:`UnknownEnvironment` (one line listing the names)."""
        try:
            return cls(name)
        except ValueError:
            names = ", ".join(member.value for member in cls)
            raise UnknownEnvironment(f"mock_server: unknown environment {name!r}; use one of {names}") from None


@dataclass(frozen=True, slots=True)
class ServerEnvironment:
    """Everything the server takes from its environment variables; build with :meth:`from_mapping`."""

    name: Environment = Environment.DEVELOPMENT
    jwt_secret_key: str | None = field(default=None, repr=False)
    """``JWT_SECRET_KEY``: the canonical secret."""
    jwt_secret_for_env: str | None = field(default=None, repr=False)
    """``JWT_SECRET_<ENV>`` for this environment (e.g. ``JWT_SECRET_STAGING``)."""
    e2e_testing: str | None = None
    """``E2E_TESTING``: the E2E fallback flag (counts when its value is in the E2E truthy list)."""
    e2e_test_env: str | None = None
    """``E2E_TEST_ENV``: the other E2E fallback (counts when non-empty)."""
    faults: tuple[str, ...] = ()
    """``WSAGENT_FAULTS=a,b``: fault names, validated later against the catalog."""
    variants: tuple[str, ...] = ()
    """``WSAGENT_VARIANTS=a,b``: variant names, validated later against the catalog."""
    accelerators: bool = True
    """False when ``WSAGENT_NO_ACCEL`` is set (any value but ``0``): uvloop and orjson stay unused even if installed."""

    @classmethod
    def from_mapping(cls, environ: Mapping[str, str], *, environment: str | None = None) -> ServerEnvironment:
        """Snapshot ``environ``; ``environment`` (the ``--environment`` option) overrides ``ENVIRONMENT``.

        An empty variable counts as unset. Raises :class:`UnknownEnvironment` for a name outside the contract's.
        """

        def get(name: str) -> str | None:
            return environ.get(name) or None

        def names(variable: str) -> tuple[str, ...]:
            return tuple(part.strip() for part in (get(variable) or "").split(",") if part.strip())

        name = Environment.parse(environment or get("ENVIRONMENT") or Environment.DEVELOPMENT.value)
        return cls(
            name=name,
            jwt_secret_key=get("JWT_SECRET_KEY"),
            jwt_secret_for_env=get(cls.secret_variable_for(name)),
            e2e_testing=get("E2E_TESTING"),
            e2e_test_env=get("E2E_TEST_ENV"),
            faults=names("WSAGENT_FAULTS"),
            variants=names("WSAGENT_VARIANTS"),
            accelerators=get("WSAGENT_NO_ACCEL") in (None, "0"),
        )

    @staticmethod
    def secret_variable_for(name: Environment) -> str:
        """The environment-specific secret variable, e.g. ``JWT_SECRET_STAGING``."""
        return f"JWT_SECRET_{name.value.upper()}"

    @property
    def production(self) -> bool:
        return self.name is Environment.PRODUCTION
