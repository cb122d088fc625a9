"""The ``wsagent`` command: run the bundled suites, serve the reference server, judge a saved transcript.

``wsagent run`` runs pytest in a subprocess on the installed suites with their own bundled configuration
(``-c``, ``--rootdir``, plugin autoload off and the needed plugins named with ``-p``), so a user's pytest.ini,
addopts or a local folder named like our packages cannot change the verdict. Exit codes: 0 every judged ID OK
(NON-STRICT allowed unless ``--strict``; listed in ``--baseline`` FAILED allowed), 1 any other FAILED or a stale
baseline entry, 2 the harness could not run. ``wsagent report`` turns the Allure results into one HTML file;
``run`` does so too when Node is there, and a report that cannot be built never changes the exit code.

``wsagent run`` takes every setting of :data:`harness.config.OPTIONS` as ``--NAME`` (generated, with its variable and
default in ``--help``) and hands it to pytest as ``--wsagent-NAME``, naming the ones it was given in
:data:`harness.config.RUN_GIVEN` so that an error names the spelling the user typed. A near miss of an option stops
the run before pytest starts; any stop without a verdict still writes conformance.json and conformance.md, with the
reason and the exit code, and ends with one ``wsagent:`` line.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from harness import __version__
from harness.allure_install import HtmlUnavailable
from harness.allure_report import build_html
from harness.catalog import CATALOG, CONTRACT_VERSION, SUITES, selection
from harness.collector import ABORTED_FILE
from harness.config import OPTIONS, RUN_GIVEN, Option, safe_url
from harness.errors import ConfigError
from harness.grades import Grade, fails, stale
from harness.report import ERROR, Conformance, apply_baseline, load_baseline, markdown, step_summary
from harness.load.command import add_arguments as load_arguments
from harness.load.command import load
from harness.replicas import serve_replicas

PLUGINS = ("harness.plugin", "pytest_asyncio.plugin", "xdist.plugin", "allure_pytest.plugin")
EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
EXIT_INTERRUPTED = 130
"""Ctrl-C, as shells report a process ended by SIGINT."""
PYTEST_USAGE_ERROR = 4
"""pytest's exit code when it refuses its command line (an option nobody knows, a path that does not exist)."""

PLUGIN_ONLY = ("--wsagent-only", "--wsagent-progress")
"""The plugin's options that are not settings of :data:`harness.config.OPTIONS`."""

RUN_EPILOG = """\
Each setting is taken from this command line, else its environment variable, else its default; pytest's
spelling --wsagent-NAME works too. Options wsagent run does not know go to pytest (put them after -- to be
explicit); a near miss of a wsagent option stops the run instead ("did you mean --environment?").

exit codes:
  0    every judged requirement ID OK (NON-STRICT too unless --strict; --baseline failures tolerated)
  1    an ID FAILED, or a --baseline entry no longer fails (stale)
  2    the harness could not run: bad option or configuration, unreachable target, secret mismatch;
       one line starting "wsagent:" says why, and conformance.json/.md say "Run aborted, not a verdict"
  130  interrupted (Ctrl-C)
"""


class Parser(argparse.ArgumentParser):
    """argparse that ends a bad command line with one ``wsagent:`` line and exit 2, not a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"wsagent: {message} (see {self.prog} --help)\n")


def _help(opt: Option, default: str | None = None) -> str:
    """An option's help with its variable and default, as ``wsagent run --help`` lists every setting."""
    shown = opt.default if default is None else default
    return f"{opt.help} [env {opt.env}; default {shown or 'none'}]".replace("%", "%%")


def _add_settings(run: argparse.ArgumentParser) -> None:
    """``wsagent run --NAME`` for every setting in :data:`OPTIONS`, so a new setting needs no change here."""
    group = run.add_argument_group("settings (handed to pytest as --wsagent-NAME)")
    for opt in OPTIONS:
        if opt.name == "report-dir":  # wsagent run always writes reports, into reports/ unless told otherwise
            group.add_argument(
                opt.run, dest=opt.name, type=Path, default=None, metavar="DIR", help=_help(opt, "reports")
            )
        elif opt.flag:
            group.add_argument(opt.run, dest=opt.name, action="store_true", default=None, help=_help(opt))
        else:
            group.add_argument(
                opt.run,
                dest=opt.name,
                action="append" if opt.name == "header" else None,
                metavar=opt.name.upper().replace("-", "_"),
                help=_help(opt),
            )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="wsagent", description="Conformance harness for agent-event WebSocket backends.")
    parser.add_argument("--version", action="version", version=f"wsagent {__version__} (contract {CONTRACT_VERSION})")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the conformance suites against a target (default: the bundled server)",
        description="Run the conformance suites against a target and write reports/.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    run.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="AREA|ID",
        help="run only these areas or requirement IDs (repeatable, comma separated)",
    )
    run.add_argument("-n", dest="workers", default="0", help="parallel workers (pytest-xdist) [default 0]")
    run.add_argument(
        "--baseline", type=Path, help='expected failures: JSON {"requirements": ["ID", ...]} or one ID per line'
    )
    run.add_argument(
        "--html",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="build reports/html/index.html [default: when Node.js is installed]",
    )
    run.add_argument(
        "--summary",
        type=Path,
        default=os.environ.get("GITHUB_STEP_SUMMARY") or None,
        metavar="FILE",
        help="append the conformance table (or why the run stopped) in Markdown "
        "[default: $GITHUB_STEP_SUMMARY when set]",
    )
    _add_settings(run)
    run.add_argument("pytest_args", nargs="*", help="extra pytest arguments after --")

    report = commands.add_parser(
        "report", help="build the single-file HTML report from the Allure results (needs Node.js)"
    )
    report.add_argument(
        "--report-dir", default="reports", type=Path, help="the folder `wsagent run` wrote (default: reports/)"
    )

    serve = commands.add_parser("serve", help="run the reference server for local work")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", default="8765", help="port to listen on; 0 picks a free one (default 8765)")
    serve.add_argument(
        "--environment",
        default=None,
        help="the server's environment: development, test, staging or production "
        "(default: ENVIRONMENT, else development)",
    )
    serve.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="switch on a fault, repeatable (names: --list-faults)",
    )
    serve.add_argument("--list-faults", action="store_true", help="print the faults the server can switch on, and exit")
    serve.add_argument(
        "--replicas", type=int, default=1, help="start N replicas on N ports (--port, --port+1, ...); needs --redis"
    )
    serve.add_argument(
        "--redis", metavar="URL", help="replicas share users through this Redis, e.g. redis://127.0.0.1:6379/0"
    )
    serve.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME",
        help="model a legitimate backend difference, repeatable (names: --list-variants)",
    )
    serve.add_argument("--list-variants", action="store_true", help="print the variants the server can model, and exit")

    load = commands.add_parser("load", help="N virtual users on Locust repeating the golden path, every run judged")
    load_arguments(load)

    commands.add_parser("profiles", help="list the profiles wsagent can see from here, with their source")

    check = commands.add_parser(
        "check", help="judge recorded transcripts (JSON Lines) offline, as their cases were judged"
    )
    check.add_argument(
        "transcripts",
        type=Path,
        nargs="+",
        metavar="transcript",
        help="transcripts wsagent recorded (reports/transcripts/<test>.jsonl)",
    )
    check.add_argument("--json", action="store_true", help="print {file: {ID: grade}} instead of the table")
    check.add_argument("--environment", default=None, help="override the transcript's environment")
    check.add_argument("--strict", action="store_true", help="exit 1 on NON-STRICT too")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "run":
        near = misspelled(unknown, [o for action in parser_of(parser, "run")._actions for o in action.option_strings])
        if near:
            print(near, file=sys.stderr)
            return EXIT_ERROR
        args.pytest_args = [*unknown, *args.pytest_args]  # `wsagent run -x` means `wsagent run -- -x`
    try:
        if args.command == "run":
            return run(args)
        if args.command == "serve":
            return serve(args)
        if args.command == "report":
            return report(args)
        if args.command == "profiles":
            return profiles()
        if args.command == "load":
            load(args, list(sys.argv[1:] if argv is None else argv)[1:])
        return check(args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR


def parser_of(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The sub-command's parser (argparse keeps them in the sub-parsers action's ``choices``)."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices[command]


def misspelled(unknown: Sequence[str], known: Sequence[str]) -> str | None:
    """The one line for an option on ``wsagent run``'s command line that is a near miss of one wsagent or its plugin
    knows, or an unknown ``--wsagent-`` option; ``None`` when every unknown option may be pytest's own.

    Without this a typo reaches pytest, which answers with its usage text, and a mistyped setting is never applied.
    """
    plugin = [opt.cli for opt in OPTIONS] + list(PLUGIN_ONLY)
    ours = [name for name in [*known, *plugin] if name.startswith("--")]
    for token in unknown:
        name = token.split("=", 1)[0]
        if not name.startswith("--") or name in plugin:
            continue
        prefixed = [o for o in ours if o.startswith(name)]
        close = prefixed if len(prefixed) == 1 else difflib.get_close_matches(name, ours, n=1, cutoff=0.8)
        if close:
            return f"wsagent: unknown option {name}; did you mean {close[0]}?"
        if name.startswith("--wsagent-"):
            return f"wsagent: unknown option {name}; wsagent run --help lists the settings"
    return None


def given_settings(args: argparse.Namespace) -> list[Option]:
    """The settings given on ``wsagent run``'s command line (the report folder always is)."""
    return [opt for opt in OPTIONS if getattr(args, opt.name) not in (None, [])]


def pytest_command(args: argparse.Namespace) -> list[str]:
    results = report_dir(args) / "allure-results"
    cmd = [
        sys.executable,
        "-P",
        "-m",
        "pytest",
        str(SUITES),  # -P: a folder named like our packages in the cwd must not shadow them
        "-c",
        str(SUITES / "pytest.ini"),
        "--rootdir",
        str(SUITES),
        *[part for plugin in PLUGINS for part in ("-p", plugin)],
        f"--alluredir={results}",
        f"--junitxml={report_dir(args) / 'junit.xml'}",
        f"--wsagent-report-dir={report_dir(args)}",
    ]
    for opt in given_settings(args):
        value = getattr(args, opt.name)
        if opt.flag:
            cmd.append(opt.cli)
        elif opt.name != "report-dir":
            cmd += [f"{opt.cli}={item}" for item in (value if isinstance(value, list) else [value])]
    for only in args.only:
        cmd.append(f"--wsagent-only={only}")
    if str(args.workers) not in ("0", ""):
        cmd += ["-n", str(args.workers)]
    if sys.stdout.isatty():
        cmd += ["-q", "--wsagent-progress", "-o", "console_output_style=classic"]
    else:
        cmd.append("-q")
    return cmd + list(args.pytest_args)


def report_dir(args: argparse.Namespace) -> Path:
    """``--report-dir``, else ``WSAGENT_REPORT_DIR``, else ``reports/``."""
    return Path(getattr(args, "report-dir") or os.environ.get("WSAGENT_REPORT_DIR") or "reports")


def call_pytest(cmd: list[str], env: dict[str, str]) -> int:
    """Run pytest and return its exit code, or :data:`EXIT_INTERRUPTED` on Ctrl-C.

    Ctrl-C reaches pytest too (one process group): it is left to finish its cases' teardown and print its summary,
    so wsagent's last line starts on a line of its own. A second Ctrl-C stops it at once.
    """
    with subprocess.Popen(cmd, env=env) as child:
        try:
            return child.wait()
        except KeyboardInterrupt:
            try:
                child.wait()
            except KeyboardInterrupt:
                child.kill()
            return EXIT_INTERRUPTED


def run(args: argparse.Namespace) -> int:
    folder = report_dir(args)
    _remove_previous_run(folder)
    try:
        args.only = sorted(selection(args.only))
        baseline = load_baseline(args.baseline) if args.baseline else frozenset()
    except (ValueError, ConfigError) as exc:
        return _stop(args, None, str(exc), EXIT_ERROR)
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    env[RUN_GIVEN] = ",".join(opt.name for opt in given_settings(args))
    code = call_pytest(pytest_command(args), env)
    summary = folder / "conformance.json"
    data = json.loads(summary.read_text()) if summary.exists() else None
    if code == EXIT_INTERRUPTED:
        return _stop(args, data, "interrupted (Ctrl-C)", EXIT_INTERRUPTED)
    if code not in (0, 1) or data is None:
        return _stop(args, data, _why(folder, data, code), EXIT_ERROR)
    if baseline:
        apply_baseline(data, baseline, bool(args.strict))
    exit_code, line = verdict(data, bool(args.strict), baseline)
    _write(args, data, exit_code)
    counts = ", ".join(f"{n} {grade}" for grade, n in data["summary"].items())
    print(f"wsagent: {counts} ({folder / 'conformance.md'})")
    if line:
        print(line)
    if args.html or (args.html is None and shutil.which("node")):
        _html_line(folder)
    return exit_code


def _why(folder: Path, data: dict[str, Any] | None, code: int) -> str:
    """Why pytest ended without a verdict: the session's own reason, else the plugin's line from before the
    session began (a bad setting, an unreachable target), else pytest refusing its command line."""
    left = folder / ABORTED_FILE
    if data is not None and data.get("aborted"):
        return str(data["aborted"])
    if left.exists():
        return left.read_text(encoding="utf-8")
    if code == PYTEST_USAGE_ERROR:
        return (
            "wsagent: pytest did not accept the command line (its message is above); "
            "wsagent run --help lists wsagent's options"
        )
    return f"wsagent: the session ended without a verdict (pytest exit status {code})"


def _stop(args: argparse.Namespace, data: dict[str, Any] | None, reason: str, code: int) -> int:
    """End a run that gave no verdict: both reports and the job summary say why, and one line says it last."""
    if data is None:
        data = Conformance(
            target=safe_url(args.target) if args.target else "not resolved",
            environment=args.environment or "not resolved",
        ).to_dict()
    began = bool(data.get("aborted"))
    data["aborted"] = reason.removeprefix("wsagent: ")
    _write(args, data, code)
    (report_dir(args) / ABORTED_FILE).unlink(missing_ok=True)
    if code == EXIT_INTERRUPTED:
        print("wsagent: interrupted; no verdict", file=sys.stderr)
    else:
        print(f"wsagent: run aborted: {data['aborted']}" if began else f"wsagent: {data['aborted']}", file=sys.stderr)
    return code


def _write(args: argparse.Namespace, data: dict[str, Any], code: int) -> None:
    """conformance.json and conformance.md with the exit code, and the Markdown job summary when one is wanted."""
    folder = report_dir(args)
    data["exit_code"] = code
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "conformance.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    (folder / "conformance.md").write_text(markdown(data), encoding="utf-8")
    if args.summary is not None:
        with open(args.summary, "a", encoding="utf-8") as out:
            out.write(step_summary(data, folder / "conformance.md"))


def _remove_previous_run(report_dir: Path) -> None:
    """Nothing of an earlier run may pass for this one's result: a run that stops early leaves no old verdict behind.
    ``history/`` stays: it is the trend across runs."""
    for folder in ("allure-results", "html", "transcripts"):
        shutil.rmtree(report_dir / folder, ignore_errors=True)
    leftovers = ["conformance.json", "conformance.md", "junit.xml", ABORTED_FILE]
    for leftover in [*(report_dir / name for name in leftovers), *report_dir.glob("server-*.log")]:
        leftover.unlink(missing_ok=True)


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
    failed = sorted(i for i, r in rows.items() if fails(Grade(r["grade"]), strict) and i not in baseline)
    if failed:
        lenient = [i for i in failed if rows[i]["grade"] == Grade.NON_STRICT.value]
        why = f" ({', '.join(lenient)} NON-STRICT, a failure under --strict)" if lenient else ""
        return EXIT_FAILED, f"wsagent: FAILED {', '.join(failed)}{why}"
    outdated = sorted(i for i in baseline if stale(Grade(rows[i]["grade"]), strict))
    if outdated:
        return (
            EXIT_FAILED,
            f"wsagent: stale baseline: {', '.join(outdated)} no longer failing; remove them from the baseline file",
        )
    tolerated = sorted(i for i in baseline if fails(Grade(rows[i]["grade"]), strict))
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


def serve(args: argparse.Namespace) -> int:
    cmd = [sys.executable, "-P", "-m", "mock_server", "--host", args.host]
    if args.environment:
        cmd += ["--environment", args.environment]
    for option in ("fault", "variant"):
        for name in getattr(args, option):
            cmd += [f"--{option}", name]
    for listing in ("list_faults", "list_variants"):
        if getattr(args, listing):
            cmd.append("--" + listing.replace("_", "-"))
    if args.redis:
        cmd += ["--redis", args.redis]
    if args.replicas != 1:
        if args.replicas < 1 or not args.redis:
            raise ConfigError(
                "wsagent: --replicas N takes N >= 1 and needs --redis URL (replicas share users through Redis)"
            )
        return serve_replicas(cmd, args.replicas, int(args.port))
    # exec, not a child: SIGTERM/SIGINT and the READY line belong to the server itself, and no orphan is left behind
    os.execv(sys.executable, [*cmd, "--port", str(args.port)])


def profiles() -> int:
    """One line per profile: name, source, description (a local profile hides a bundled one of the same name)."""
    from harness.profiles import available

    for profile in available():
        print(f"{profile.name}  {profile.source}  {profile.description}".rstrip())
    return EXIT_OK


def check(args: argparse.Namespace) -> int:
    """Judge each transcript as its case was judged (its IDs, environment, limits and capabilities from its meta);
    exit 1 when any ID FAILED (or NON-STRICT with ``--strict``). Every file is read before any is judged, so a
    bad one stops the command with its line before any output."""
    from harness.judge import judge_recorded
    from harness.transcript import Transcript

    transcripts = []
    for path in args.transcripts:
        try:
            transcript = Transcript.load(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"wsagent: cannot read transcript {path}: {exc}") from None
        if not len(transcript):
            raise ConfigError(f"wsagent: transcript {path} holds no records: nothing to judge")
        transcripts.append((path, transcript))
    worst = EXIT_OK
    grades: dict[str, dict[str, str]] = {}
    for path, transcript in transcripts:
        verdict = judge_recorded(transcript, args.environment)
        graded = {req_id: grade for req_id, grade in verdict.grades().items() if grade is not None}
        grades[str(path)] = {req_id: grade.value for req_id, grade in graded.items()}
        if any(fails(grade, args.strict) for grade in graded.values()):
            worst = EXIT_FAILED
        if args.json:
            continue
        if len(transcripts) > 1:
            print(f"== {path}")
        for req_id, grade in graded.items():
            print(f"{req_id:7} {grade.value:10} {CATALOG[req_id].title}")
            for finding in verdict.of(req_id):
                if finding.grade in (Grade.FAILED, Grade.NON_STRICT):
                    print(f"        {finding.grade.value}: {finding.message}")
        if verdict.unknown_types:
            print(
                "frame types the contract does not know: "
                + ", ".join(f"{k} ×{v}" for k, v in verdict.unknown_types.items())
            )
    if args.json:
        print(json.dumps(grades, indent=2))
    return worst


if __name__ == "__main__":
    sys.exit(main())
