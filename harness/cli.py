"""The ``wsagent`` command: run the bundled suites, serve the reference server, judge a saved transcript.

``wsagent run`` runs pytest in a subprocess on the installed suites with their own bundled configuration
(``-c``, ``--rootdir``, plugin autoload off and the needed plugins named with ``-p``), so a user's pytest.ini,
addopts or a local folder named like our packages cannot change the verdict. Exit codes: 0 every judged ID OK
(NON-STRICT allowed unless ``--strict``; listed in ``--baseline`` FAILED allowed), 1 any other FAILED or a stale
baseline entry, 2 the harness could not run. ``wsagent report`` turns the Allure results into one HTML file;
``run`` does so too when Node is there, and a report that cannot be built never changes the exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from harness.allure_report import HtmlUnavailable, build_html
from harness.catalog import CATALOG, selection
from harness.errors import ConfigError
from harness.report import ERROR, apply_baseline, failing, load_baseline, markdown, stale

PLUGINS = ("harness.plugin", "pytest_asyncio.plugin", "xdist.plugin", "allure_pytest.plugin")
EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
EXIT_INTERRUPTED = 130
"""Ctrl-C, as shells report a process ended by SIGINT."""


SUITES = Path(__file__).resolve().parent.parent / "suites"
"""wsagent's own cases, installed beside this package; found by path, not by importing ``suites``, which a folder
of that name in the user's working directory could shadow."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wsagent", description="Conformance harness for agent-event WebSocket backends.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the conformance suites against a target (default: the bundled server)")
    run.add_argument("--target", help="ws:// or wss:// URL of the target; omitted: the embedded reference server")
    run.add_argument("--environment", help="the target's environment (development, test, staging, production)")
    run.add_argument("--e2e", choices=("headers", "env", "off"), help="how E2E mode is requested")
    run.add_argument("--strict", action="store_true", help="count NON-STRICT as failure")
    run.add_argument("--only", action="append", default=[], metavar="AREA|ID", help="run only these areas or requirement IDs")
    run.add_argument("-n", dest="workers", default="0", help="parallel workers (pytest-xdist), default 0")
    run.add_argument("--report-dir", default="reports", type=Path, help="where reports go (default: reports/)")
    run.add_argument("--baseline", type=Path, help='expected failures: JSON {"requirements": ["ID", ...]} or one ID per line')
    run.add_argument("--html", action=argparse.BooleanOptionalAction, default=None, help="build reports/html/index.html (default: when Node is installed)")
    run.add_argument("pytest_args", nargs="*", help="extra pytest arguments after --")

    report = commands.add_parser("report", help="build the single-file HTML report from the Allure results (needs Node.js)")
    report.add_argument("--report-dir", default="reports", type=Path, help="the folder `wsagent run` wrote (default: reports/)")

    serve = commands.add_parser("serve", help="run the reference server for local work")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", default="8765")
    serve.add_argument("--environment", default=None)
    serve.add_argument("--fault", action="append", default=[], help="switch on a fault (see --list-faults)")
    serve.add_argument("--variant", action="append", default=[], help="model a legitimate backend difference (see --list-variants)")
    serve.add_argument("--list-faults", action="store_true")
    serve.add_argument("--list-variants", action="store_true")

    check = commands.add_parser("check", help="judge a recorded transcript (JSON Lines) offline")
    check.add_argument("transcript", type=Path)
    check.add_argument("--environment", default=None, help="override the transcript's environment")
    check.add_argument("--strict", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if unknown:  # `wsagent run -x` means what `wsagent run -- -x` means: pytest's own options pass through
        args.pytest_args = [*unknown, *args.pytest_args]
    try:
        if args.command == "run":
            return run(args)
        if args.command == "serve":
            return serve(args)
        if args.command == "report":
            return report(args)
        return check(args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR


def pytest_command(args: argparse.Namespace) -> list[str]:
    results = args.report_dir / "allure-results"
    cmd = [
        sys.executable, "-P", "-m", "pytest", str(SUITES),  # -P: a folder named like our packages in the cwd must not shadow them
        "-c", str(SUITES / "pytest.ini"), "--rootdir", str(SUITES),
        *[part for plugin in PLUGINS for part in ("-p", plugin)],
        f"--alluredir={results}", f"--junitxml={args.report_dir / 'junit.xml'}",
        f"--wsagent-report-dir={args.report_dir}",
    ]
    for name in ("target", "environment", "e2e"):
        value = getattr(args, name)
        if value:
            cmd.append(f"--wsagent-{name}={value}")
    if args.strict:
        cmd.append("--wsagent-strict")
    for only in args.only:
        cmd.append(f"--wsagent-only={only}")
    if str(args.workers) not in ("0", ""):
        cmd += ["-n", str(args.workers)]
    if sys.stdout.isatty():
        cmd += ["-q", "--wsagent-progress", "-o", "console_output_style=classic"]
    else:
        cmd.append("-q")
    return cmd + list(args.pytest_args)


def run(args: argparse.Namespace) -> int:
    _remove_previous_run(args.report_dir)
    try:
        args.only = sorted(selection(args.only))
        baseline = load_baseline(args.baseline) if args.baseline else frozenset()
    except (ValueError, ConfigError) as exc:
        _no_verdict(args.report_dir, EXIT_ERROR)
        raise ConfigError(str(exc)) from None
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    try:
        code = subprocess.call(pytest_command(args), env=env)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    summary = args.report_dir / "conformance.json"
    data = json.loads(summary.read_text()) if summary.exists() else None
    if code not in (0, 1) or data is None:
        if data is not None and data.get("aborted"):
            print(f"wsagent: run aborted: {str(data['aborted']).removeprefix('wsagent: ')}", file=sys.stderr)
        elif data is None:
            _no_verdict(args.report_dir, code)
        return EXIT_INTERRUPTED if code == EXIT_INTERRUPTED else EXIT_ERROR
    if baseline:
        apply_baseline(data, baseline, args.strict)
        summary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        (args.report_dir / "conformance.md").write_text(markdown(data), encoding="utf-8")
    exit_code, line = verdict(data, args.strict, baseline)
    counts = ", ".join(f"{n} {grade}" for grade, n in data["summary"].items())
    print(f"wsagent: {counts} ({args.report_dir / 'conformance.md'})")
    if line:
        print(line)
    if args.html or (args.html is None and shutil.which("node")):
        _html_line(args.report_dir)
    return exit_code


def _remove_previous_run(report_dir: Path) -> None:
    """Nothing of an earlier run may pass for this one's result: a run that stops early leaves no old verdict behind.
    ``history/`` stays: it is the trend across runs."""
    for folder in ("allure-results", "html", "transcripts"):
        shutil.rmtree(report_dir / folder, ignore_errors=True)
    for leftover in [report_dir / "conformance.json", report_dir / "conformance.md", report_dir / "junit.xml", *report_dir.glob("server-*.log")]:
        leftover.unlink(missing_ok=True)


def _no_verdict(report_dir: Path, code: int) -> None:
    """A conformance.md that says so when the run ended before any case was judged (a CI step that publishes it
    must not find nothing, nor an older run's grades)."""
    why = "it was interrupted" if code == EXIT_INTERRUPTED else "it stopped before any case was judged"
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "conformance.md").write_text(
        f"# wsagent conformance: no verdict\n\n**Run aborted, not a verdict:** {why}; the reason is the last line of the run's output.\n",
        encoding="utf-8",
    )
    if code == EXIT_INTERRUPTED:
        print("wsagent: interrupted; no verdict", file=sys.stderr)


def _html_line(report_dir: Path) -> None:
    """Build the HTML report after a run and say so in one line; whatever happens, the verdict stands."""
    try:
        print(f"wsagent: HTML report {build_html(report_dir)}")
    except (HtmlUnavailable, RuntimeError, OSError) as exc:
        print(f"wsagent: no HTML report: {str(exc).removeprefix('wsagent: ')}")


def verdict(data: dict, strict: bool, baseline: frozenset[str] = frozenset()) -> tuple[int, str]:
    """The exit code of a run and the one line that explains it ("" when there is nothing to add).

    Baseline IDs that still fail are tolerated; a baseline ID that no longer fails makes the run fail, so the
    list shrinks as the target is fixed instead of silently hiding a regression later.
    """
    rows = data["requirements"]
    errors = sorted(i for i, r in rows.items() if r["grade"] == ERROR)
    if errors:
        return EXIT_ERROR, f"wsagent: the harness could not judge {', '.join(errors)}"
    failed = sorted(i for i, r in rows.items() if failing(r["grade"], strict) and i not in baseline)
    if failed:
        return EXIT_FAILED, f"wsagent: FAILED {', '.join(failed)}"
    outdated = sorted(i for i in baseline if stale(rows[i]["grade"], strict))
    if outdated:
        return EXIT_FAILED, f"wsagent: stale baseline: {', '.join(outdated)} no longer failing; remove them from the baseline file"
    tolerated = sorted(i for i in baseline if failing(rows[i]["grade"], strict))
    if tolerated:
        return EXIT_OK, f"wsagent: OK with baseline (expected failures: {', '.join(tolerated)})"
    return EXIT_OK, ""


def report(args: argparse.Namespace) -> int:
    try:
        print(f"wsagent: HTML report {build_html(args.report_dir)}")
    except (HtmlUnavailable, RuntimeError) as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def serve(args: argparse.Namespace) -> NoReturn:
    cmd = [sys.executable, "-P", "-m", "mock_server", "--host", args.host, "--port", str(args.port)]
    if args.environment:
        cmd += ["--environment", args.environment]
    for option in ("fault", "variant"):
        for name in getattr(args, option):
            cmd += [f"--{option}", name]
    for listing in ("list_faults", "list_variants"):
        if getattr(args, listing):
            cmd.append("--" + listing.replace("_", "-"))
    # exec, not a child: SIGTERM/SIGINT and the READY line belong to the server itself, and no orphan is left behind
    os.execv(sys.executable, cmd)


def check(args: argparse.Namespace) -> int:
    from harness.grades import Grade
    from harness.judge import judge
    from harness.rules import Context
    from harness.transcript import Transcript

    try:
        transcript = Transcript.load(args.transcript)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"wsagent: cannot read transcript {args.transcript}: {exc}") from None
    if not len(transcript):
        raise ConfigError(f"wsagent: transcript {args.transcript} holds no records: nothing to judge")
    environment = args.environment or str(transcript.meta.get("environment", "development"))
    verdict = judge(transcript, Context(environment=environment))
    worst = EXIT_OK
    for req_id, grade in verdict.grades().items():
        print(f"{req_id:7} {grade.value if grade else '-':10} {CATALOG[req_id].title}")
        for finding in verdict.of(req_id):
            if finding.grade in (Grade.FAILED, Grade.NON_STRICT):
                print(f"        {finding.grade.value}: {finding.message}")
        if grade is Grade.FAILED or (args.strict and grade is Grade.NON_STRICT):
            worst = EXIT_FAILED
    if verdict.unknown_types:
        print("frame types the contract does not know: " + ", ".join(f"{k} ×{v}" for k, v in verdict.unknown_types.items()))
    return worst


if __name__ == "__main__":
    sys.exit(main())
