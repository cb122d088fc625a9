"""Root conftest: the wsagent plugin is registered by its ``pytest11`` entry point, never here (no double registration)."""

collect_ignore = ["reports", "bench", "build"]
