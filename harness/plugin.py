"""The wsagent pytest plugin: options, fixtures and hooks; everything else is delegated.

Registered through the ``pytest11`` entry point and inert until a test uses its fixtures: configuration is
resolved once in ``pytest_configure`` (a misconfiguration stops the session with one line), targets start lazily
from plain session fixtures (one embedded server per xdist worker and mode), and each test's grades travel to the
controller in ``user_properties`` for the reports.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import pytest_asyncio

from harness import asyncio_mode, marks, stops
from harness.allure_case import attach
from harness.case import Case
from harness.collector import Collector, hand_over
from harness.config import OPTIONS, HarnessConfig, resolve
from harness.errors import HarnessError
from harness.progress import Progress
from harness.targets import Target, Targets, check_reachable
from harness.tokens import TokenSource

CONFIG_KEY = pytest.StashKey[HarnessConfig]()
STARTED_KEY = pytest.StashKey[float]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wsagent", "wsagent conformance harness")
    for opt in OPTIONS:
        env = f"env {opt.env}"
        if opt.flag:
            group.addoption(opt.cli, action="store_true", default=False, help=f"{opt.help} [{env}]")
        elif opt.name == "header":
            group.addoption(opt.cli, action="append", default=[], help=f"{opt.help} [{env}]")
        else:
            group.addoption(opt.cli, default=None, help=f"{opt.help} [{env}; default {opt.default!r}]")
        if opt.ini:
            parser.addini(opt.ini_key, help=opt.help, default="")
    group.addoption("--wsagent-only", action="append", default=[], help="run only cases of these areas or IDs")
    group.addoption(
        "--wsagent-progress",
        action="store_true",
        default=False,
        help="one counting line (done/total, area) instead of dots",
    )


def pytest_configure(config: pytest.Config) -> None:
    for line in marks.MARKERS:
        config.addinivalue_line("markers", line)
    controller = not hasattr(config, "workerinput")
    try:
        settings = resolve(cli=lambda opt: config.getoption(opt.cli), ini=lambda opt: config.getini(opt.ini_key))
        if settings.target and controller:  # before collection: an unreachable URL is one line, not many errors
            check_reachable(settings.target, settings.open_timeout)
    except HarnessError as exc:
        stops.before_session(config, str(exc))
    config.stash[CONFIG_KEY] = settings
    config.stash[STARTED_KEY] = time.monotonic()
    config.pluginmanager.register(Collector(settings), "wsagent-collector")
    config.pluginmanager.register(asyncio_mode, "wsagent-asyncio")
    if config.getoption("--wsagent-progress") and controller:
        config.pluginmanager.register(Progress(config), "wsagent-progress")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    asyncio_mode.check(items)
    marks.select(config, items)


@pytest.fixture(scope="session")
def wsagent_config(pytestconfig: pytest.Config) -> HarnessConfig:
    """The resolved configuration (CLI > environment > profile > ini > default)."""
    return pytestconfig.stash[CONFIG_KEY]


@pytest.fixture(scope="session")
def wsagent_targets(wsagent_config: HarnessConfig) -> Iterator[Targets]:
    targets = Targets(wsagent_config)
    yield targets
    targets.close()


@pytest.fixture(scope="session")
def wsagent_target(wsagent_config: HarnessConfig, wsagent_targets: Targets) -> Target:
    """The main target: the user's URL, or the bundled reference server started for this worker."""
    return stops.or_abort(wsagent_config, wsagent_targets.main)


@pytest.fixture(scope="session")
def wsagent_tokens(wsagent_target: Target) -> TokenSource:
    """The main target's tokens: valid ones for any user, and every bad kind of AUTH-1 and AUTH-5."""
    return wsagent_target.tokens


@pytest.fixture(scope="session")
def wsagent_production(wsagent_config: HarnessConfig, wsagent_targets: Targets) -> Target:
    """A production-mode target (E2E-3); skips with the reason when there is none."""
    return _target_or_skip(wsagent_config, wsagent_targets.production)


@pytest.fixture(scope="session")
def wsagent_e2e_env(wsagent_config: HarnessConfig, wsagent_targets: Targets) -> Target:
    """A target running with the E2E env fallback (E2E-1); skips with the reason when there is none."""
    return _target_or_skip(wsagent_config, wsagent_targets.e2e_env)


@pytest.fixture(scope="session")
def wsagent_e2e_test_env(wsagent_config: HarnessConfig, wsagent_targets: Targets) -> Target:
    """A target running with the other E2E env fallback, ``E2E_TEST_ENV`` (E2E-1); skips with the reason when there
    is none (only an embedded server can have it)."""
    return _target_or_skip(wsagent_config, lambda: wsagent_targets.e2e_env("E2E_TEST_ENV"))


def _target_or_skip(settings: HarnessConfig, make: Callable[[], Target | str]) -> Target:
    """An extra target, or a skip with the reason why there is none (a string from :class:`Targets`)."""
    target = stops.or_abort(settings, make)
    if isinstance(target, str):
        pytest.skip(target)
    return target


@pytest_asyncio.fixture(loop_scope="function")  # not @pytest.fixture: pytest-asyncio's strict mode runs only its own
async def wsagent(
    request: pytest.FixtureRequest, wsagent_config: HarnessConfig, wsagent_target: Target, wsagent_targets: Targets
) -> AsyncIterator[Case]:
    """A case bound to the main target; call ``check()`` at the end to judge it."""
    item = request.node
    if item.get_closest_marker("noisy") and not wsagent_target.local and not wsagent_config.allow_noisy:
        pytest.skip("noisy case against a remote target: allow it with --wsagent-allow-noisy")
    case = Case(
        wsagent_config,
        wsagent_target,
        marks.requirement_ids(item),
        item.nodeid,
        wsagent_targets.ssl_context(wsagent_target.url),
        bundled=marks.bundled(item),
    )
    try:
        yield case
    finally:
        await case.aclose()
        hand_over(item, case)


def pytest_runtest_setup(item: pytest.Item) -> None:
    stops.past_time_limit(item.config.stash[CONFIG_KEY], item.config.stash[STARTED_KEY])
    marks.record(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A harness error inside a test (secret mismatch, unreachable target) stops the session with its one line."""
    try:
        return (yield)
    except HarnessError as exc:
        stops.abort(item.config.stash[CONFIG_KEY], str(exc))
    finally:
        case = getattr(item, "funcargs", {}).get("wsagent")
        if isinstance(case, Case):
            attach(case)
