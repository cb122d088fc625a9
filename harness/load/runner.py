"""The load process: Locust, used as a library, running the golden path as virtual users (``wsagent load`` execs it).

Importing locust monkey-patches the standard library for gevent, so it is the first import of this module and this
module is only ever run as a process of its own (``python -m harness.load.runner``), never imported by the plugin,
the judge or the CLI (tests/test_layout.py checks that).

Roles are Locust's own: a local run, a master (``--master``) that hands users to workers and aggregates their
statistics, or a worker (``--worker --master-host H``) that runs users. A process that runs users judges each run
(:mod:`harness.load.judging`) and reports to Locust:

- request ``RUN``/``runs`` per run (response length = its events), ``RUN``/``start_to_started``,
  ``start_to_first_event``, ``start_to_terminal`` and ``event_gap`` as response times;
- ``WS``/``handshake`` per connection attempt, a failure when refused;
- a failure ``WS``/``<requirement ID>`` per violation, and ``RUN``/``lost_event`` per frame a run never got.

Locust carries these to the master, which writes its CSV and HTML report and ``load.json``/``load.md`` and checks the
thresholds. A worker sends its last statistics when it stops, before it tells the master it stopped, so the
master's totals are complete when its own stop returns; it also writes its own totals to ``load-worker-<id>.json``.
"""

from __future__ import annotations

import locust  # noqa: I001  # first: it monkey-patches the standard library for gevent before anything opens a socket
import gevent
from locust import User, task
from locust.env import Environment
from locust.html import get_html_report
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter, StatsEntry, stats_history

import argparse
import itertools
import json
import logging
import shutil
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from harness.ids import IdPattern
from harness.template import StartTemplate
from harness.config import safe_url
from harness.errors import HarnessError
from harness.load.judging import Judged, Judging, titled
from harness.load.options import LoadSettings, Role, add_arguments, settings_from
from harness.load.recorder import ConnectOptions, LoadConnection
from harness.load.summary import LoadReport
from harness.load.thresholds import LATENCIES
from harness.rules import Context
from harness.targets import Target, Targets

__all__ = ["main"]

EXIT_OK, EXIT_BROKEN, EXIT_ERROR = 0, 1, 2
WORKERS_TIMEOUT_S = 60.0
"""How long a headless master waits for ``--expect-workers`` before it gives up (exit 2)."""
TRANSCRIPTS = "load-transcripts"
RUN, WS = "RUN", "WS"
QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}


class Violation(Exception):
    """A Locust failure's exception: its text is the requirement's title (one error row per ID in Locust)."""


@dataclass
class Totals:
    """What this process itself counted; a worker writes them so its share of the master's totals can be checked."""

    runs: int = 0
    events: int = 0
    lost_events: int = 0
    handshakes: int = 0
    failed_handshakes: int = 0
    violations: Counter[str] = field(default_factory=Counter)
    transcripts: list[str] = field(default_factory=list)


class LoadProcess:
    """One process's users: the target, the judge, the sample of violating transcripts and the totals."""

    def __init__(self, settings: LoadSettings, env: Environment, target: Target, tag: str) -> None:
        cfg = settings.config
        self.settings = settings
        self.env = env
        self.target = target
        self.tag = tag
        self.options = ConnectOptions(
            target.url,
            target.environment,
            target.secret,
            cfg.open_timeout,
            cfg.headers,
            str(cfg.ca_bundle) if cfg.ca_bundle else None,
            cfg.insecure,
        )
        self.template = StartTemplate(cfg.start_template) if cfg.start_template else StartTemplate()
        self.ids = (IdPattern(cfg.thread_ids, "thread-id"), IdPattern(cfg.run_ids, "run-id"))
        self.judging = Judging(
            Context(environment=target.environment, limits=cfg.limits, capabilities=target.capabilities),
            settings.strict,
        )
        self.totals = Totals()
        self._labels = itertools.count(1)

    def connect(self, user: str) -> LoadConnection | None:
        conn = LoadConnection.open(self.options, f"{user}#{next(self._labels)}", user, self.target.tokens.valid(user))
        self.totals.handshakes += 1
        failure = None if conn.accepted else ConnectionError(conn.error)
        self.totals.failed_handshakes += failure is not None
        self._fire(WS, "handshake", conn.handshake_ms, exception=failure)
        return conn if conn.accepted else None

    def golden_path(self, user: str, conn: LoadConnection) -> None:
        piece = conn.run(
            self.template,
            self.ids,
            self.settings.config.agents.tools,
            self.settings.request,
            self.settings.config.timeout,
        )
        self.report(self.judging.add(user, piece))

    def stopped(self) -> None:
        """The users are gone: judge what still waits, then (on a worker) send the last statistics right away."""
        self.report(self.judging.flush())
        runner = self.env.runner
        if isinstance(runner, WorkerRunner):
            runner._send_stats()  # before "client_stopped" reaches the master, so its stop() returns complete totals
            self.write_totals()

    def report(self, judged: Judged | None) -> None:
        if judged is None:
            return
        for run in judged.runs:
            self.totals.runs += 1
            self.totals.events += run.events
            self._fire(RUN, "runs", run.start_to_terminal or 0.0, length=run.events)
            for name in ("start_to_started", "start_to_first_event", "start_to_terminal"):
                value = getattr(run, name)
                if value is not None:
                    self._fire(RUN, name, value)
            for gap in run.gaps:
                self._fire(RUN, "event_gap", gap)
            for frame in run.lost:
                self.totals.lost_events += 1
                self._fire(RUN, "lost_event", 0.0, exception=Violation(f"never received: {frame.split(' ')[0]}"))
        for finding in judged.violations:
            self.totals.violations[finding.rule] += 1
            self._fire(WS, finding.rule, 0.0, exception=Violation(titled(finding)))
        if judged.violations and len(self.totals.transcripts) < self.settings.keep_transcripts:
            folder = self.settings.report_dir / TRANSCRIPTS
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{self.tag}-{len(self.totals.transcripts) + 1}.jsonl"
            path.write_text(judged.transcript.dumps(), encoding="utf-8")
            self.totals.transcripts.append(str(path))

    def write_totals(self) -> None:
        self.settings.report_dir.mkdir(parents=True, exist_ok=True)
        data = {
            "worker": self.tag,
            "runs": self.totals.runs,
            "events": self.totals.events,
            "lost_events": self.totals.lost_events,
            "handshakes": self.totals.handshakes,
            "failed_handshakes": self.totals.failed_handshakes,
            "violations": dict(self.totals.violations),
            "transcripts": self.totals.transcripts,
        }
        (self.settings.report_dir / f"load-worker-{self.tag}.json").write_text(
            json.dumps(data, indent=2) + "\n", encoding="utf-8"
        )

    def _fire(self, kind: str, name: str, ms: float, *, length: int = 0, exception: Exception | None = None) -> None:
        self.env.events.request.fire(
            request_type=kind, name=name, response_time=ms, response_length=length, exception=exception, context={}
        )


class GoldenPathUser(User):
    """The virtual user: its own fresh token, then start → terminal frame → think time, again and again.

    Every role names this class (a master dispatches users by class name); only processes that run users bind
    :attr:`process`."""

    process: ClassVar[LoadProcess]

    def wait_time(self) -> float:
        return self.process.settings.think_time

    def on_start(self) -> None:
        self.user_id = self.process.target.tokens.user(f"load-{uuid.uuid4().hex[:12]}")
        self.conn: LoadConnection | None = None

    @task
    def golden_path(self) -> None:
        if self.conn is None or not self.conn.accepted:
            self.conn = self.process.connect(self.user_id)
            if self.conn is None:
                return
        self.process.golden_path(self.user_id, self.conn)

    def on_stop(self) -> None:
        if self.conn is not None:
            self.conn.close()


def read_report(
    env: Environment, settings: LoadSettings, target: str, environment: str, workers: int, duration: float
) -> LoadReport:
    stats = env.stats

    def entry(kind: str, name: str) -> StatsEntry | None:
        return stats.entries.get((name, kind))

    def latencies(name: str) -> dict[str, float | None]:
        found = entry(RUN, name)
        if found is None or found.num_requests == 0:
            return {}
        top = float(
            found.max_response_time
        )  # Locust keeps rounded times for percentiles: never report one above the max
        values: dict[str, float | None] = {
            agg: min(float(found.get_response_time_percentile(q)), top) for agg, q in QUANTILES.items()
        }
        values.update(max=top, avg=round(found.avg_response_time, 3))
        return values

    runs, handshakes, lost = entry(RUN, "runs"), entry(WS, "handshake"), entry(RUN, "lost_event")
    violations = {
        name: e.num_failures
        for (name, kind), e in stats.entries.items()
        if kind == WS and name != "handshake" and e.num_failures
    }
    return LoadReport(
        target=target,
        environment=environment,
        users=settings.users,
        workers=workers,
        duration_s=round(duration, 3),
        runs=runs.num_requests if runs else 0,
        events=runs.total_content_length if runs else 0,
        lost_events=lost.num_failures if lost else 0,
        handshakes=handshakes.num_requests if handshakes else 0,
        failed_handshakes=handshakes.num_failures if handshakes else 0,
        violations=dict(sorted(violations.items())),
        latencies={name: latencies(name) for name in LATENCIES},
    )


def _clear_previous(report_dir: Path) -> None:
    """An earlier load's results must not pass for this one's."""
    shutil.rmtree(report_dir / TRANSCRIPTS, ignore_errors=True)
    for leftover in [
        report_dir / "load.json",
        report_dir / "load.md",
        report_dir / "load.html",
        *report_dir.glob("load_*.csv"),
        *report_dir.glob("load-worker-*.json"),
    ]:
        leftover.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wsagent load")
    add_arguments(parser)
    try:
        settings = settings_from(parser.parse_args(argv))
        return _run(settings)
    except HarnessError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR


def _run(settings: LoadSettings) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if settings.role != Role.WORKER:
        _clear_previous(settings.report_dir)
    targets = Targets(settings.config)
    try:
        target = targets.main() if settings.runs_users else None
        env = Environment(user_classes=[GoldenPathUser], events=locust.events, host=target.url if target else None)
        if settings.role == Role.MASTER:
            runner = env.create_master_runner(settings.master_bind_host, settings.master_port)
        elif settings.role == Role.WORKER:
            runner = env.create_worker_runner(settings.master_host, settings.master_port)
        else:
            runner = env.create_local_runner()
        if target is not None:
            tag = runner.client_id if isinstance(runner, WorkerRunner) else "local"
            process = GoldenPathUser.process = LoadProcess(settings, env, target, tag)
            env.events.test_stop.add_listener(lambda **_: process.stopped())
        if settings.role == Role.WORKER:
            runner.greenlet.join()
            return EXIT_OK
        return _drive(settings, env, target)
    finally:
        targets.close()


def _drive(settings: LoadSettings, env: Environment, target: Target | None) -> int:
    """Start the users (headless) or the web UI, stop after the run time, then report and check the thresholds."""
    runner = env.runner
    assert runner is not None
    settings.report_dir.mkdir(parents=True, exist_ok=True)
    csv = StatsCSVFileWriter(env, PERCENTILES_TO_REPORT, str(settings.report_dir / "load"), full_history=False)
    background = [gevent.spawn(stats_history, runner), gevent.spawn(csv.stats_writer)]
    if settings.web:
        env.create_web_ui("127.0.0.1", settings.web_port)
        print(f"wsagent: Locust web UI on http://127.0.0.1:{settings.web_port}", flush=True)
    gevent.signal_handler(signal.SIGTERM, runner.quit)
    workers = 1
    if isinstance(runner, MasterRunner) and not settings.web:
        deadline = time.monotonic() + WORKERS_TIMEOUT_S
        while len(runner.clients.ready) < settings.expect_workers:
            if time.monotonic() > deadline:
                runner.quit()
                print(
                    f"wsagent: only {len(runner.clients.ready)} of {settings.expect_workers} workers connected within "
                    f"{WORKERS_TIMEOUT_S:g} s; "
                    f"start them with `wsagent load --worker --master-host HOST --master-port {settings.master_port}`",
                    file=sys.stderr,
                )
                return EXIT_ERROR
            gevent.sleep(0.1)  # Locust's own headless master polls its worker list the same way
        workers = len(runner.clients.ready)
    began = time.monotonic()
    ended: list[float] = []

    def stop() -> None:
        runner.stop()  # a master's stop returns once every worker said it stopped, after its last statistics
        ended.append(time.monotonic())
        runner.quit()

    if not settings.web:
        runner.start(settings.users, settings.spawn_rate)
    if settings.run_time is not None:
        gevent.spawn_later(settings.run_time, stop)
    try:
        runner.greenlet.join()
    except KeyboardInterrupt:
        runner.quit()
    for greenlet in background:
        greenlet.kill(block=True)
    csv.close_files()
    (settings.report_dir / "load.html").write_text(get_html_report(env, show_download_link=False), encoding="utf-8")
    duration = (ended[0] if ended else time.monotonic()) - began
    shown = (
        target.shown
        if target
        else safe_url(settings.config.target)
        if settings.config.target
        else "each worker's target"
    )
    report = read_report(
        env, settings, shown, target.environment if target else settings.config.environment, workers, duration
    )
    holds = report.check(settings.thresholds)
    report.write(settings.report_dir)
    figures = report.figures()
    print(
        f"wsagent: {report.runs} runs ({report.runs_per_s:.1f}/s), {report.events} events "
        f"({report.events_per_s:.1f}/s), "
        f"{figures['violations']:g} violations, {report.lost_events} lost events, {report.failed_handshakes} failed "
        "handshakes "
        f"({settings.report_dir / 'load.md'})"
    )
    if report.runs == 0:
        print(
            f"wsagent: no run completed, so nothing was measured ({report.failed_handshakes} of {report.handshakes} "
            "handshakes failed); "
            "check the target, its secret and --users",
            file=sys.stderr,
        )
        return EXIT_ERROR
    for result in report.thresholds:
        if not result.holds:
            print(
                f"wsagent: threshold broken: {result.threshold} (actual "
                f"{'not measured' if result.actual is None else f'{result.actual:g}'})"
            )
    return EXIT_OK if holds else EXIT_BROKEN


if __name__ == "__main__":
    sys.exit(main())
