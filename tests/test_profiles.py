"""Driving a target wsagent did not grow up with: profiles, start-template placeholders, id forms, agent roles.

A profile changes how wsagent drives a target, never how it judges one: a key that would change a verdict is a
config error, and so is a secret. CLI and environment still win over a profile.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import resolve
from harness.errors import ConfigError
from harness.ids import IdPattern
from harness.profiles import available, find
from harness.template import StartTemplate
from tests.shell import wsagent

NETRA_TEMPLATE = '{"type":"user_message","payload":{"content":"{request}","user_id":"{user_id}","thread_id":"{thread_id}"}}'


def config_from(cli: dict[str, str], cwd: Path, environ: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return resolve(lambda opt: cli.get(opt.name), lambda opt: None, environ or {}, cwd=cwd)


def test_the_bundled_netra_profile_drives_the_real_backend(tmp_path: Path) -> None:
    config = config_from({"profile": "netra"}, tmp_path)
    template = StartTemplate(config.start_template or "")
    assert template.carries("user_id")
    assert template.carries("thread_id")
    assert not template.carries("run_id")
    assert not template.carries("scenario")
    assert config.run_ids == ""
    assert IdPattern(config.thread_ids, "thread-id").make() is not None
    assert config.profile is not None
    assert config.profile.source == "bundled"


def test_a_local_profile_in_wsagent_toml_or_pyproject_is_found_and_the_cli_still_wins(tmp_path: Path) -> None:
    (tmp_path / "wsagent.toml").write_text('[profiles.staging]\ntimeout = 60\nenvironment = "staging"\n')
    (tmp_path / "pyproject.toml").write_text('[tool.wsagent.profiles.mine]\nagents = "tools=helper,plain=,calculator="\n')
    assert {p.name: p.source for p in available(tmp_path)} == {"staging": "wsagent.toml", "mine": "pyproject.toml", "netra": "bundled"}
    config = config_from({"profile": "staging", "timeout": "5"}, tmp_path, {"JWT_SECRET_KEY": "s" * 32})
    assert config.timeout == 5.0
    assert config.environment == "staging"
    mine = config_from({}, tmp_path, {"WSAGENT_PROFILE": "mine"})
    assert mine.agents.tools == "helper"
    assert mine.agents.plain == ""


@pytest.mark.parametrize(("key", "said"), [
    ("strict = true", "a profile changes how wsagent drives a target, never how it judges one; remove it"),
    ('limits = "start=20"', "never how it judges one"),
    ('secret = "hunter2"', "secrets and credentials stay out of profiles"),
    ('colour = "red"', "has an unknown key 'colour'"),
])
def test_a_profile_that_would_change_a_verdict_or_hold_a_secret_is_refused(tmp_path: Path, key: str, said: str) -> None:
    (tmp_path / "wsagent.toml").write_text(f"[profiles.bad]\n{key}\n")
    with pytest.raises(ConfigError) as raised:
        find("bad", tmp_path)
    assert said in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_an_unknown_profile_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no profile 'nope' \(known: netra\)"):
        config_from({"profile": "nope"}, tmp_path)


def test_an_unknown_template_placeholder_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown placeholder \{user\}"):
        config_from({"start-template": '{"type":"go","who":"{user}"}'}, tmp_path)


def test_id_patterns_generate_the_forms_a_target_validates() -> None:
    thread = IdPattern("thread_{n}_{hex:8}", "thread-id")
    first, second = thread.make(), thread.make()
    assert first is not None
    assert second is not None
    assert first.startswith("thread_1_")
    assert second.startswith("thread_2_")
    assert len(first) == len("thread_1_") + 8
    assert IdPattern("{thread_id}_run_{hex:4}", "run-id").make("thread_x")[:13] == "thread_x_run_"  # type: ignore[index]
    assert IdPattern("", "run-id").make() is None
    with pytest.raises(ConfigError, match=r"unknown placeholder \{thread_id\}"):
        IdPattern("{thread_id}", "thread-id")


def test_ids_server_gives_no_ids(tmp_path: Path) -> None:
    config = config_from({"ids": "server"}, tmp_path)
    assert (config.thread_ids, config.run_ids) == ("", "")


def test_naming_only_the_tools_agent_keeps_the_other_roles_defaults(tmp_path: Path) -> None:
    """Issue 16: --wsagent-agents tools=x used to leave the calculator role empty (two defaults disagreed)."""
    config = config_from({"agents": "tools=x"}, tmp_path)
    assert (config.agents.tools, config.agents.plain, config.agents.calculator) == ("x", "echo", "calculator")


def test_wsagent_profiles_lists_every_profile_with_its_source(tmp_path: Path) -> None:
    (tmp_path / "wsagent.toml").write_text('[profiles.local]\ndescription = "our staging"\ntimeout = 60\n')
    done = wsagent("profiles", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "local  wsagent.toml  our staging"
    assert done.stdout.splitlines()[1].startswith("netra  bundled  the Netra backend")


def test_template_user_id_is_the_sub_or_the_claimed_user() -> None:
    template = StartTemplate(NETRA_TEMPLATE)
    message = template.render({"agent": "a", "request": "r", "thread_id": "t", "run_id": None, "scenario": None, "user_id": "alice"})
    assert message == {"type": "user_message", "payload": {"content": "r", "user_id": "alice", "thread_id": "t"}}


def test_a_template_the_target_cannot_route_stops_the_run_at_the_preflight(tmp_path: Path) -> None:
    """One line quoting what was sent and what came back, naming the setting to change; exit 2, no case waits."""
    done = wsagent(
        "run", "--only", "EVT-1", "--report-dir", str(tmp_path), "--no-html",
        "--", '--wsagent-start-template={"type":"make_coffee","payload":{"q":"{request}"}}', "-p", "no:cacheprovider",
    )
    assert done.returncode == 2, done.stdout[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("wsagent: run aborted: "), last
    assert "did not start the golden run: sent " in last, last
    assert '{"type":"make_coffee","payload":{"q":"wsagent preflight: a golden run"}}' in last
    assert "got error UNKNOWN_MESSAGE_TYPE and no agent event; check --wsagent-start-template" in last
