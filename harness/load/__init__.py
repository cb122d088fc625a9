"""``wsagent load``: N virtual users repeating the golden path on Locust, every run judged by the rule engine.

Locust runs users on gevent and monkey-patches the standard library when it is imported, so nothing in this
package may import locust or gevent except :mod:`harness.load.runner`, which ``wsagent load`` starts as a process of
its own. The other modules are plain Python the pytest plugin could import without harm:

- :mod:`harness.load.options`: the command line and the resolved :class:`~harness.load.options.LoadSettings`;
- :mod:`harness.load.thresholds`: k6-style thresholds, parsed and evaluated;
- :mod:`harness.load.recorder`: a blocking (gevent-cooperative once patched) recording WebSocket connection;
- :mod:`harness.load.judging`: runs judged in batches by :func:`harness.judge.judge`, with their metrics;
- :mod:`harness.load.summary`: ``load.json`` and ``load.md``;
- :mod:`harness.load.command`: validates the options, then execs the runner.
"""
