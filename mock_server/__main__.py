"""``python -m mock_server``: run the reference server until SIGTERM/SIGINT (or stdin EOF with --exit-with-stdin).

The only place that reads ``os.environ`` (once, into a :class:`ServerEnvironment`). When the server accepts
connections it prints exactly one line, ``READY ws://<host>:<port>/ws``, to stdout; everything else goes to
stderr. Configuration problems (unknown environment, fault or variant, no secret in staging/production) are one line on
stderr and exit code 2, without a traceback. The optional accelerators (uvloop's loop, orjson's encoder) are used
when installed unless ``WSAGENT_NO_ACCEL`` is set (:mod:`mock_server.accel`); one INFO line says which.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Mapping, Sequence

from mock_server import accel
from mock_server.environment import ServerEnvironment
from mock_server.errors import StartupError
from mock_server import faults, variants
from mock_server.faults import Faults
from mock_server.server import MockServer, ServerConfig
from mock_server.variants import Variants

log = logging.getLogger("mock_server")


class RedactCredentials(logging.Filter):
    """Masks tokens in every log line: at DEBUG websockets logs each request header (``Authorization``, the
    ``jwt.<...>`` subprotocol entries) and the request path (``?token=``), and logs end up in CI artefacts (SEC-2)."""

    PATTERNS = (
        (re.compile(r"(?i)(authorization:\s*\S+\s+)(?!<)\S+"), r"\1[redacted]"),
        (re.compile(r"(?i)\bjwt\.[\w\-.=~+/]+"), "jwt.[redacted]"),
        (re.compile(r"(?i)([?&]token=)[^&\s'\"]+"), r"\1[redacted]"),
        (re.compile(r"eyJ[\w-]*\.[\w-]*\.[\w-]*"), "[redacted jwt]"),
    )

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        redacted = text
        for pattern, replacement in self.PATTERNS:
            redacted = pattern.sub(replacement, redacted)
        if redacted != text:
            record.msg, record.args = redacted, None
        return True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mock_server", description="wsagent's reference agent-events WebSocket server")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one (default 8765)")
    parser.add_argument("--environment", help="overrides ENVIRONMENT (default development)")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME", help="enable a fault (repeatable; also WSAGENT_FAULTS=a,b)")
    parser.add_argument("--redis", metavar="URL", help="share users with other replicas through this Redis, e.g. redis://127.0.0.1:6379/0")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME",
                        help="model a legitimate backend difference (repeatable; also WSAGENT_VARIANTS=a,b)")
    parser.add_argument("--exit-with-stdin", action="store_true", help="shut down gracefully when stdin reaches EOF")
    parser.add_argument("--list-faults", action="store_true", help="print the fault catalog and exit")
    parser.add_argument("--list-variants", action="store_true", help="print the variant catalog (name first) and exit")
    parser.add_argument("--json", action="store_true", help="with --list-faults or --list-variants: print a JSON array")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="stderr log level (default INFO)")
    return parser


def print_catalog(entries: Sequence[faults.Fault] | Sequence[variants.Variant], as_json: bool) -> None:
    """One entry per line, name first; or one JSON array."""
    if as_json:
        print(json.dumps([entry.as_json() for entry in entries]))
    else:
        for entry in entries:
            print(entry.as_line())


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Block on stdin in a daemon thread; at EOF, ask the loop to stop (the harness closes our stdin to stop us)."""
    try:
        while sys.stdin.buffer.read(65536):
            pass
    except (OSError, ValueError):
        pass
    try:
        loop.call_soon_threadsafe(stop.set)
    except RuntimeError:
        pass  # the loop is already gone


async def serve(server: MockServer, *, exit_with_stdin: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await server.start()
    print(f"READY {server.url}", flush=True)
    if exit_with_stdin:
        threading.Thread(target=_watch_stdin, args=(loop, stop), name="stdin watcher", daemon=True).start()
    await stop.wait()
    await server.close()


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list_faults or args.list_variants:
        print_catalog(list((faults.CATALOG if args.list_faults else variants.CATALOG).values()), args.json)
        return 0
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactCredentials())
    logging.getLogger("websockets").setLevel(logging.DEBUG if args.log_level == "DEBUG" else logging.WARNING)
    try:
        env = ServerEnvironment.from_mapping(os.environ if environ is None else environ, environment=args.environment)
        enabled = Faults.parse([*env.faults, *args.fault])
        chosen = Variants.parse([*env.variants, *args.variant])
        server = MockServer(ServerConfig(environment=env, faults=enabled, variants=chosen, host=args.host, port=args.port, redis_url=args.redis))
    except StartupError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    accelerators = accel.activate(env.accelerators)
    log.info("accelerators: %s", accelerators.describe())
    try:
        with asyncio.Runner(loop_factory=accelerators.loop_factory) as runner:
            runner.run(serve(server, exit_with_stdin=args.exit_with_stdin))
    except OSError as exc:
        print(f"mock_server: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except StartupError as exc:  # raised once the loop runs: Redis (--redis) cannot be reached
        print(str(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
