"""The suite's deliberate waits, in one place; cases that incur one say so with ``@pytest.mark.deliberate_wait`` so the
report lists them (conformance.md, "Deliberate waits").

Nothing else in suites/ waits on the clock: every other case synchronises on frames (a terminal frame, a ``pong``
barrier, a close). These are waits the contract itself imposes on the target.
"""

from __future__ import annotations

SLOW_TOOL_S = 3.0
"""PROTOCOL §5: the ``slow_tool`` scenario's first tool takes 3 s; the cases that use it (EVT-7's heartbeat, ISO-4's
run in flight) allow that much more than the configured timeout."""
