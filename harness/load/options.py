"""The ``wsagent load`` command line, and the settings it resolves to.

Target, environment, secret, agents, start template, timeouts and limits are resolved exactly as for
``wsagent run`` (:func:`harness.config.resolve`: option > ``WSAGENT_*`` variable > default), so a profile or a
variable that configures a conformance run configures a load run the same way. The options here are only the
load's own: how many users, how fast, for how long, on which Locust role, and what must hold at the end.

Both the command (:mod:`harness.load.command`) and the runner process (:mod:`harness.load.runner`) parse the same
arguments with :func:`add_arguments`, so the runner never sees anything the command did not validate.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from harness.config import HarnessConfig, resolve
from harness.errors import ConfigError
from harness.load.thresholds import Threshold, parse_thresholds

__all__ = ["LoadSettings", "Role", "add_arguments", "parse_timespan", "settings_from"]

DEFAULT_MASTER_PORT = 5557
"""Locust's own default, so a worker started with only ``--master-host`` finds a master started with defaults."""
_TIMESPAN = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?")


def parse_timespan(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``1m30s`` or ``2h``; :class:`ConfigError` for anything else or for zero."""
    match = _TIMESPAN.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise ConfigError(f"wsagent: --run-time {text!r} is not a duration such as 20s, 5m or 1h30m")
    hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ConfigError(f"wsagent: --run-time {text!r} must be longer than zero")
    return total


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        help="ws:// or wss:// URL of the target; omitted: each process that runs users starts the embedded "
        "reference server",
    )
    parser.add_argument("--environment", help="the target's environment (development, test, staging, production)")
    parser.add_argument(
        "--profile", help="drive the target with this profile, as `wsagent run --profile` does (`wsagent profiles`)"
    )
    parser.add_argument("--users", type=int, help="virtual users (master or local run)")
    parser.add_argument(
        "--spawn-rate", type=float, default=None, help="users started per second (default: all within 1 s)"
    )
    parser.add_argument("--run-time", help="how long the load runs, e.g. 20s, 5m (headless master or local run)")
    parser.add_argument(
        "--think-time", type=float, default=1.0, help="seconds a user waits after each terminal frame (default 1)"
    )
    parser.add_argument("--request", default="load test", help="the user_request of every run")
    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="EXPR",
        help="k6-style, e.g. 'p99(start_to_started)<200ms', 'violations==0' (default: violations==0)",
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=Path("reports"),
        help="where load.json, load.md, CSV and HTML go (default: reports/)",
    )
    parser.add_argument(
        "--keep-transcripts",
        type=int,
        default=20,
        metavar="N",
        help="violating transcripts kept per process for `wsagent check` (default 20)",
    )
    parser.add_argument("--strict", action="store_true", help="count NON-STRICT findings as violations")
    parser.add_argument("--web", action="store_true", help="Locust's web UI instead of a headless run")
    parser.add_argument("--web-port", type=int, default=8089, help="port of the web UI (default 8089, on 127.0.0.1)")
    role = parser.add_mutually_exclusive_group()
    role.add_argument("--master", action="store_true", help="distribute the users over workers (Locust master)")
    role.add_argument("--worker", action="store_true", help="run users for a master (Locust worker)")
    parser.add_argument(
        "--master-host", default="127.0.0.1", help="the master a worker connects to (default 127.0.0.1)"
    )
    parser.add_argument(
        "--master-port",
        type=int,
        default=DEFAULT_MASTER_PORT,
        help=f"the master's port (default {DEFAULT_MASTER_PORT})",
    )
    parser.add_argument(
        "--master-bind-host", default="127.0.0.1", help="interface the master listens on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--expect-workers",
        type=int,
        default=1,
        help="a headless master starts once this many workers are connected (default 1)",
    )


class Role:
    LOCAL = "local"
    MASTER = "master"
    WORKER = "worker"


@dataclass(frozen=True)
class LoadSettings:
    """Everything a load process needs, validated: the harness configuration plus the load's own settings."""

    config: HarnessConfig
    role: str
    users: int
    spawn_rate: float
    run_time: float | None
    think_time: float
    request: str
    thresholds: tuple[Threshold, ...]
    report_dir: Path
    keep_transcripts: int
    strict: bool
    web: bool
    web_port: int
    master_host: str
    master_port: int
    master_bind_host: str
    expect_workers: int

    @property
    def runs_users(self) -> bool:
        """This process runs virtual users (and so needs a target): a worker or a local run, never a master."""
        return self.role != Role.MASTER


def settings_from(args: argparse.Namespace) -> LoadSettings:
    """Validate the parsed arguments; :class:`ConfigError` (one line naming the option) for the first problem."""
    role = Role.MASTER if args.master else Role.WORKER if args.worker else Role.LOCAL
    given = {"target": args.target, "environment": args.environment, "profile": args.profile}
    config = resolve(lambda opt: given.get(opt.name), lambda opt: None, mints_tokens=role != Role.MASTER)
    headless = not args.web and role != Role.WORKER
    users = args.users if args.users is not None else (0 if role == Role.WORKER else -1)
    if role != Role.WORKER and (users <= 0 and headless):
        raise ConfigError("wsagent: --users must be a positive number of virtual users")
    run_time = parse_timespan(args.run_time) if args.run_time else None
    if headless and run_time is None:
        raise ConfigError("wsagent: a headless load needs --run-time (e.g. --run-time 60s), or use --web")
    spawn_rate = args.spawn_rate if args.spawn_rate is not None else float(max(users, 1))
    if spawn_rate <= 0:
        raise ConfigError("wsagent: --spawn-rate must be a positive number of users per second")
    if args.think_time < 0:
        raise ConfigError("wsagent: --think-time must be zero or more seconds")
    if args.keep_transcripts < 0:
        raise ConfigError("wsagent: --keep-transcripts must be zero or more")
    if args.expect_workers < 1:
        raise ConfigError("wsagent: --expect-workers must be at least 1")
    return LoadSettings(
        config=config,
        role=role,
        users=max(users, 0),
        spawn_rate=spawn_rate,
        run_time=run_time,
        think_time=args.think_time,
        request=args.request,
        thresholds=parse_thresholds(args.threshold),
        report_dir=args.report_dir,
        keep_transcripts=args.keep_transcripts,
        strict=args.strict,
        web=args.web,
        web_port=args.web_port,
        master_host=args.master_host,
        master_port=args.master_port,
        master_bind_host=args.master_bind_host,
        expect_workers=args.expect_workers,
    )
