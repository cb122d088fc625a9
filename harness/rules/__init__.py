"""The rule engine: pure functions over recorded frames, one or more per requirement ID.

Importing this package registers every rule; :func:`harness.judge.judge` runs them.
"""

from harness.rules import auth, events, failures, isolation, robustness  # noqa: F401  (registration)
from harness.rules.base import RULES, Context, Limits

__all__ = ["RULES", "Context", "Limits"]
