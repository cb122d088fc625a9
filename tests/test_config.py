"""A misconfigured harness stops with one line that says what to set: each bad value, and what the line names."""

from __future__ import annotations

import pytest

from harness.config import resolve
from harness.errors import ConfigError


@pytest.mark.parametrize(("given", "said"), [
    ({"target": "http://staging.example.com/ws"}, "is not a ws:// or wss:// URL"),
    ({"target": "ws://ci:hunter2@staging.example.com:99999/ws"}, "'ws://staging.example.com:99999/ws' has an invalid port"),
    ({"environment": "prod"}, "set --wsagent-environment or WSAGENT_ENVIRONMENT"),
    ({"e2e": "maybe"}, "--wsagent-e2e must be one of"),
    ({"timeout": "soon"}, "--wsagent-timeout must be a positive number of seconds"),
    ({"limits": "start=2,lunch=1"}, "knows start, run and silence, not 'lunch'"),
    ({"agents": "tools="}, "needs an agent name for tools (only plain= and calculator= may be empty"),
    ({"agents": "tools=researcher,critic=x"}, "knows the roles tools, plain and calculator, not critic"),
    ({"start-template": "[1]"}, "must be a JSON object with a string type"),
    ({"target": "wss://staging.example.com/ws", "environment": "staging"}, "or give the harness --wsagent-secret (WSAGENT_SECRET), or --wsagent-token-file"),
], ids=lambda value: next(iter(value)) if isinstance(value, dict) else None)
def test_bad_option_is_one_line_naming_what_to_set(given: dict[str, str], said: str) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve(lambda opt: given.get(opt.name), lambda opt: None, {})
    message = str(raised.value)
    assert said in message and "\n" not in message and "hunter2" not in message, message


def test_calculator_may_be_left_out() -> None:
    config = resolve(lambda opt: "tools=researcher,plain=echo,calculator=" if opt.name == "agents" else None, lambda opt: None, {})
    assert config.agents.calculator == "" and config.agents.tools == "researcher"
