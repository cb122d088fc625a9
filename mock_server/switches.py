"""Named switches handed to every room: the enabled faults (bugs) and variants (legitimate designs).

Both are a frozen set of catalogued names that a room asks about at the one branch where the behaviour lives
(``faults.enabled(FaultName.NO_PONG)``). A subclass names its catalog (``KIND``), the startup error for a name that
is not in it, and the option that lists the catalog; :meth:`Switches.parse` does the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Generic, Self, TypeVar

from mock_server.errors import StartupError

__all__ = ["Switches"]

N = TypeVar("N", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class Switches(Generic[N]):
    """The enabled names; falsy when none is enabled, iterates in name order (for logs and /health)."""

    KIND: ClassVar[type[StrEnum]]
    UNKNOWN: ClassVar[type[StartupError]]
    LISTING: ClassVar[str]
    """The option that lists the catalog, e.g. ``--list-faults``."""

    names: frozenset[N] = frozenset()

    @classmethod
    def parse(cls, names: Iterable[str]) -> Self:
        """The switches named by the user; :attr:`UNKNOWN` (one line: "mock_server: unknown fault 'x'; see python -m
        mock_server --list-faults") for the first name the catalog does not know."""
        enabled = set()
        what = cls.LISTING.removeprefix("--list-").removesuffix("s")
        for name in names:
            try:
                enabled.add(cls.KIND(name))
            except ValueError:
                raise cls.UNKNOWN(f"mock_server: unknown {what} {name!r}; see python -m mock_server {cls.LISTING}") from None
        return cls(frozenset(enabled))  # type: ignore[arg-type]  # KIND is N's enum

    def enabled(self, name: N) -> bool:
        return name in self.names

    def __bool__(self) -> bool:
        return bool(self.names)

    def __iter__(self) -> Iterator[N]:
        return iter(sorted(self.names))
