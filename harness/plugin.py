"""The wsagent pytest plugin: options, fixtures, markers and outcomes; everything else is delegated.

Registered through the ``pytest11`` entry point and inert until a test uses its fixtures: configuration is
resolved once in ``pytest_configure`` (a misconfiguration stops the session with one line), targets start lazily
from plain session fixtures (one embedded server per xdist worker and mode), and each test's grades travel to the
controller in ``user_properties`` for the reports.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import pytest_asyncio

from harness.allure_case import attach, label
from harness import asyncio_mode
from harness.case import Case
from harness.catalog import CATALOG, selection
from harness.cli import SUITES
from harness.collector import ABORTED_FILE, IDS_PROPERTY, WAIT_PROPERTY, Collector, hand_over
from harness.config import OPTIONS, RUN_GIVEN, HarnessConfig, resolve
from harness.errors import HarnessError
from harness.progress import Progress
from harness.targets import Target, Targets, check_reachable
from harness.tokens import TokenSource

CONFIG_KEY = pytest.StashKey[HarnessConfig]()
STARTED_KEY = pytest.StashKey[float]()
TARGETS_KEY = pytest.StashKey[Targets]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wsagent", "wsagent conformance harness")
    for opt in OPTIONS:
        if opt.flag:
            group.addoption(opt.cli, action="store_true", default=False, help=f"{opt.help} [env {opt.env}]")
        elif opt.name == "header":
            group.addoption(opt.cli, action="append", default=[], help=f"{opt.help} [env {opt.env}]")
        else:
            group.addoption(opt.cli, default=None, help=f"{opt.help} [env {opt.env}; default {opt.default!r}]")
        if opt.ini:
            parser.addini(opt.ini_key, help=opt.help, default="")
    group.addoption("--wsagent-only", action="append", default=[], help="run only cases of these areas or requirement IDs")
    group.addoption("--wsagent-progress", action="store_true", default=False, help="one counting line (done/total, area) instead of dots")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(*ids): the contract requirement IDs a case judges")
    config.addinivalue_line("markers", "noisy: a flood or load case, off against remote targets unless --wsagent-allow-noisy")
    config.addinivalue_line("markers", "deliberate_wait(seconds, reason): a wait the contract itself imposes; listed in the report")
    try:
        harness_config = config.stash[CONFIG_KEY] = resolve(
            cli=lambda opt: config.getoption(opt.cli),
            ini=lambda opt: config.getini(opt.ini_key),
        )
        if harness_config.target and not hasattr(config, "workerinput"):
            # before collection: an unreachable URL is one line, not a session of errors
            check_reachable(harness_config.target, harness_config.open_timeout)
    except HarnessError as exc:
        _stop_before_session(config, str(exc))
    config.stash[STARTED_KEY] = time.monotonic()
    config.pluginmanager.register(Collector(config.stash[CONFIG_KEY]), "wsagent-collector")
    config.pluginmanager.register(asyncio_mode, "wsagent-asyncio")
    if config.getoption("--wsagent-progress") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(Progress(config), "wsagent-progress")


def _stop_before_session(config: pytest.Config, message: str) -> NoReturn:
    """A misconfiguration stops pytest before any case (pytest's usage error, exit 4) with the one line.

    Under ``wsagent run`` the line goes to the report folder instead, and pytest says nothing: that command writes it
    into conformance.json/.md and prints it as its own last line, once.
    """
    report_dir = config.getoption("--wsagent-report-dir")
    if RUN_GIVEN in os.environ and report_dir:
        Path(report_dir).mkdir(parents=True, exist_ok=True)
        (Path(report_dir) / ABORTED_FILE).write_text(message, encoding="utf-8")
        raise pytest.UsageError()  # pytest prints a usage error's arguments, and this one has none
    raise pytest.UsageError(message)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    asyncio_mode.check(items)
    for item in items:
        for mark in item.iter_markers("requirement"):
            unknown = [i for i in mark.args if i not in CATALOG]
            if unknown:
                raise pytest.UsageError(f"wsagent: {item.nodeid} names unknown requirement IDs {unknown}")
    try:
        only = selection(config.getoption("--wsagent-only"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if not only:
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        ids = requirement_ids(item)
        selected = any(i in only or CATALOG[i].area.value in only for i in ids)
        (keep if selected else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def requirement_ids(item: pytest.Item) -> tuple[str, ...]:
    ids: list[str] = []
    for mark in item.iter_markers("requirement"):
        ids.extend(a for a in mark.args if a not in ids)
    return tuple(ids)


@pytest.fixture(scope="session")
def wsagent_config(pytestconfig: pytest.Config) -> HarnessConfig:
    """The resolved configuration (CLI > environment > ini > default)."""
    return pytestconfig.stash[CONFIG_KEY]


@pytest.fixture(scope="session")
def wsagent_targets(pytestconfig: pytest.Config, wsagent_config: HarnessConfig) -> Iterator[Targets]:
    targets = Targets(wsagent_config)
    pytestconfig.stash[TARGETS_KEY] = targets
    yield targets
    targets.close()


def _or_exit(config: pytest.Config, make: Any) -> Any:
    try:
        return make()
    except HarnessError as exc:
        abort(config, str(exc))


def abort(config: pytest.Config, message: str) -> NoReturn:
    """Stop the session (exit 2) with one line; the line also goes where the xdist controller's collector reads it,
    since a worker's ``pytest.exit`` reaches the controller only as an anonymous interrupt."""
    report_dir = config.stash[CONFIG_KEY].report_dir
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / ABORTED_FILE).write_text(message, encoding="utf-8")
    pytest.exit(message, returncode=2)


@pytest.fixture(scope="session")
def wsagent_target(pytestconfig: pytest.Config, wsagent_targets: Targets) -> Target:
    """The main target: the user's URL, or the bundled reference server started for this worker."""
    return _or_exit(pytestconfig, wsagent_targets.main)


@pytest.fixture(scope="session")
def wsagent_tokens(wsagent_target: Target) -> TokenSource:
    """The main target's tokens: valid ones for any user, and every bad kind of AUTH-1 and AUTH-5."""
    return wsagent_target.tokens


@pytest.fixture(scope="session")
def wsagent_production(pytestconfig: pytest.Config, wsagent_targets: Targets) -> Target:
    """A production-mode target (E2E-3); skips with the reason when there is none."""
    return _target_or_skip(pytestconfig, wsagent_targets.production)


@pytest.fixture(scope="session")
def wsagent_e2e_env(pytestconfig: pytest.Config, wsagent_targets: Targets) -> Target:
    """A target running with the E2E env fallback (E2E-1); skips with the reason when there is none."""
    return _target_or_skip(pytestconfig, wsagent_targets.e2e_env)


@pytest.fixture(scope="session")
def wsagent_e2e_test_env(pytestconfig: pytest.Config, wsagent_targets: Targets) -> Target:
    """A target running with the other E2E env fallback, ``E2E_TEST_ENV`` (E2E-1); skips with the reason when there
    is none (only an embedded server can have it)."""
    return _target_or_skip(pytestconfig, lambda: wsagent_targets.e2e_env("E2E_TEST_ENV"))


def _target_or_skip(config: pytest.Config, make: Callable[[], Target | str]) -> Target:
    """An extra target, or a skip with the reason why there is none (a string from :class:`Targets`)."""
    target = _or_exit(config, make)
    if isinstance(target, str):
        pytest.skip(target)
    return target


@pytest_asyncio.fixture(loop_scope="function")  # not @pytest.fixture: pytest-asyncio's strict mode runs only its own
async def wsagent(request: pytest.FixtureRequest, wsagent_config: HarnessConfig, wsagent_target: Target, wsagent_targets: Targets) -> AsyncIterator[Case]:
    """A case bound to the main target; call ``check()`` at the end to judge it."""
    item = request.node
    if item.get_closest_marker("noisy") and not wsagent_target.local and not wsagent_config.allow_noisy:
        pytest.skip("noisy case against a remote target: allow it with --wsagent-allow-noisy")
    bundled = item.path.is_relative_to(SUITES)  # wsagent's cases are reproduced by `wsagent run`, a user's by pytest
    case = Case(wsagent_config, wsagent_target, requirement_ids(item), item.nodeid, wsagent_targets.ssl_context(wsagent_target.url), bundled=bundled)
    try:
        yield case
    finally:
        await case.aclose()
        hand_over(item, case)


def pytest_runtest_setup(item: pytest.Item) -> None:
    limit = item.config.stash[CONFIG_KEY].session_timeout
    if time.monotonic() - item.config.stash[STARTED_KEY] > limit:
        abort(item.config, f"wsagent: the session ran past its time limit of {limit:g} s; raise --wsagent-session-timeout "
                           "if the target is merely slow (cases that each wait out --wsagent-timeout mean it does not answer runs)")
    ids = requirement_ids(item)
    if ids:
        item.user_properties.append((IDS_PROPERTY, ",".join(ids)))
        label(ids)
    wait = item.get_closest_marker("deliberate_wait")
    if wait is not None:
        seconds, reason = wait.args
        item.user_properties.append((WAIT_PROPERTY, json.dumps({"seconds": float(seconds), "reason": str(reason)})))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A harness error inside a test (secret mismatch, unreachable target) stops the session with its one line."""
    try:
        return (yield)
    except HarnessError as exc:
        abort(item.config, str(exc))
    finally:
        case = getattr(item, "funcargs", {}).get("wsagent")
        if isinstance(case, Case):
            attach(case)
