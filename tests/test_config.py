"""A misconfigured harness stops with one line that says what to set: each bad value, and what the line names."""

from __future__ import annotations

import pytest

from harness.config import RUN_GIVEN, resolve
from harness.errors import ConfigError


@pytest.mark.parametrize(("given", "said"), [
    ({"target": "http://staging.example.com/ws"}, "--wsagent-target 'http://staging.example.com/ws' is not a ws:// or wss:// URL"),
    ({"target": "ws://ci:hunter2@staging.example.com:99999/ws"}, "'ws://staging.example.com:99999/ws' has an invalid port"),
    ({"environment": "prod"}, "--wsagent-environment 'prod' is not one of development, test, staging, production"),
    ({"e2e": "maybe"}, "--wsagent-e2e 'maybe' is not one of headers, env, off"),
    ({"timeout": "soon"}, "--wsagent-timeout 'soon' is not a positive number of seconds"),
    ({"limits": "start=2,lunch=1"}, "--wsagent-limits knows start, run and silence, not 'lunch'"),
    ({"agents": "tools="}, "needs an agent name for tools (only plain= and calculator= may be empty"),
    ({"agents": "tools=researcher,critic=x"}, "knows the roles tools, plain and calculator, not critic"),
    ({"start-template": "[1]"}, "--wsagent-start-template must be a JSON object with a string type"),
    ({"header": ["Bearer hunter2"]}, "--wsagent-header item 1 is not 'Name: value'"),
    ({"target": "wss://staging.example.com/ws", "environment": "staging"}, "or give the harness --wsagent-secret (WSAGENT_SECRET), or --wsagent-token-file"),
], ids=lambda value: next(iter(value)) if isinstance(value, dict) else None)
def test_bad_option_is_one_line_naming_what_to_set(given: dict[str, str], said: str) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve(lambda opt: given.get(opt.name), lambda opt: None, {})
    message = str(raised.value)
    assert said in message, message
    assert "\n" not in message, message
    assert "hunter2" not in message, message


@pytest.mark.parametrize(("cli", "environ", "line"), [
    ({}, {"WSAGENT_ENVIRONMENT": "prod"}, "wsagent: WSAGENT_ENVIRONMENT 'prod' is not one of development, test, staging, production "
                                          "(the same setting: --environment for wsagent run, --wsagent-environment for pytest)"),
    ({"environment": "prod"}, {RUN_GIVEN: "environment"}, "wsagent: --environment 'prod' is not one of development, test, staging, production "
                                                          "(the same setting: --wsagent-environment for pytest, WSAGENT_ENVIRONMENT in the environment)"),
    ({"environment": "prod"}, {RUN_GIVEN: ""}, "wsagent: --wsagent-environment 'prod' is not one of development, test, staging, production "
                                               "(the same setting: --environment for wsagent run, WSAGENT_ENVIRONMENT in the environment)"),
], ids=["variable", "wsagent run", "pytest under wsagent run"])
def test_error_names_the_spelling_the_value_came_from(cli: dict[str, str], environ: dict[str, str], line: str) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve(lambda opt: cli.get(opt.name), lambda opt: None, environ)
    assert str(raised.value) == line


def test_ini_value_is_named_by_its_key() -> None:
    with pytest.raises(ConfigError) as raised:
        resolve(lambda opt: None, lambda opt: "soon" if opt.name == "timeout" else None, {})
    assert str(raised.value).startswith("wsagent: wsagent_timeout (pytest ini) 'soon' is not a positive number of seconds (the same setting: --timeout")


def test_missing_secret_hint_speaks_wsagent_run_under_it() -> None:
    with pytest.raises(ConfigError) as raised:
        resolve(lambda opt: {"target": "wss://staging.example.com/ws", "environment": "staging"}.get(opt.name), lambda opt: None, {RUN_GIVEN: "target,environment"})
    assert str(raised.value).endswith("; or give the harness --secret (WSAGENT_SECRET), or --token-file with pre-issued tokens")


def test_calculator_may_be_left_out() -> None:
    config = resolve(lambda opt: "tools=researcher,plain=echo,calculator=" if opt.name == "agents" else None, lambda opt: None, {})
    assert config.agents.calculator == ""
    assert config.agents.tools == "researcher"
