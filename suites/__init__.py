"""wsagent conformance suites: one module per contract area, every case marked with the requirement IDs it judges.

Run them with ``wsagent run`` (or ``pytest --pyargs suites``); they use only the plugin's fixtures, so the same
cases run against the bundled reference server or any URL given with ``--wsagent-target``.
"""
