"""pytest plugin of wsagent (registered through the ``pytest11`` entry point)."""
