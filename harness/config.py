"""Configuration, resolved once: CLI option > environment variable > pytest ini > default.

Every setting is declared once in :data:`OPTIONS` (name, variable, default, help); the plugin registers the CLI
options and ini keys from that table, the README's option table is generated from it, and :func:`resolve` turns
the sources into one frozen :class:`HarnessConfig`. The signing secret is the exception: CLI or environment only,
never ini (an ini file is committed; a secret must not be).

Any problem is a :class:`harness.errors.ConfigError` whose text is one line saying what to set. It names the
setting as the user spelled it (``wsagent run --NAME``, pytest's ``--wsagent-NAME``, the variable or the ini key),
then the other spellings: the resolver records where each value came from (:class:`Given`).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.errors import ConfigError
from harness.ids import DEFAULT_RUN_ID, DEFAULT_THREAD_ID, IdPattern
from harness.profiles import Profile, find
from harness.rules import Limits
from harness.secrets import ENVIRONMENTS, resolve_secret, secret_source
from harness.template import StartTemplate
from harness.tokens import AUDIENCE, ISSUER

__all__ = ["OPTIONS", "RUN_GIVEN", "Agents", "Given", "HarnessConfig", "Option", "resolve"]

E2E_MODES = ("headers", "env", "off")
ID_MODES = ("client", "server")
TRANSCRIPTS = ("failing", "all")


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: ``--wsagent-<name>``, ``WSAGENT_<NAME>``, ini ``wsagent_<name>``."""

    name: str
    default: str
    help: str
    ini: bool = True
    flag: bool = False

    @property
    def cli(self) -> str:
        return f"--wsagent-{self.name}"

    @property
    def run(self) -> str:
        """The spelling of ``wsagent run``, which hands the value on to pytest as :attr:`cli`."""
        return f"--{self.name}"

    @property
    def env(self) -> str:
        return "WSAGENT_" + self.name.upper().replace("-", "_")

    @property
    def ini_key(self) -> str:
        return "wsagent_" + self.name.replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option("target", "", "WebSocket URL of the target (ws:// or wss://); empty starts the bundled reference server"),
    Option("environment", "development", "environment the target runs in: development, test, staging or production"),
    Option(
        "secret",
        "",
        "HS256 signing secret; default: JWT_SECRET_KEY, then JWT_SECRET_<ENV>, then the dev/test default",
        ini=False,
    ),
    Option(
        "token-file",
        "",
        "file of valid tokens, one per line (for CI without the secret); cases that need the secret are skipped",
    ),
    Option(
        "e2e",
        "headers",
        "E2E mode: headers (send the E2E headers), env (embedded server gets E2E_TESTING=1), off (never send them; "
        "cases that need them are SKIPPED)",
    ),
    Option("strict", "false", "count NON-STRICT as a failure", flag=True),
    Option("timeout", "30", "seconds to wait for a run's terminal frame or any awaited frame"),
    Option("open-timeout", "5", "seconds to wait for the WebSocket handshake"),
    Option("session-timeout", "900", "seconds the whole session may take; past it the remaining cases stop (exit 2)"),
    Option("limits", "start=2,run=30,silence=15", "EVT-7 limits in seconds: start, run, silence"),
    Option("capabilities", "", "declared capabilities, comma separated (e2e_env, no_e2e_env, scenarios)"),
    Option(
        "profile",
        "",
        "a profile of target-specific driving settings (wsagent.toml, pyproject.toml or bundled); `wsagent profiles` "
        "lists them",
    ),
    Option(
        "start-template",
        "",
        "JSON template of the start message with {agent} {request} {thread_id} {run_id} {scenario} {user_id}",
    ),
    Option(
        "thread-id",
        DEFAULT_THREAD_ID,
        "form of the thread ids the harness gives: {hex:N} {n}; empty: the target creates them",
    ),
    Option(
        "run-id",
        DEFAULT_RUN_ID,
        "form of the run ids the harness gives: {thread_id} {hex:N} {n}; empty: the target creates them",
    ),
    Option(
        "ids",
        "client",
        "client: the harness gives run and thread ids; server: it gives none and matches each run by its first "
        "agent_started",
    ),
    Option(
        "agents", "tools=researcher,plain=echo,calculator=calculator", "agent names by role: tools, plain, calculator"
    ),
    Option(
        "header", "", "extra handshake header 'Name: value'; repeat the option or separate with ';' in the variable"
    ),
    Option("ca-bundle", "", "CA bundle for wss:// targets behind a private CA"),
    Option("insecure", "false", "do not verify TLS certificates (staging only)", flag=True),
    Option(
        "allow-noisy",
        "false",
        "allow flood and load cases against a remote target (loopback targets are local: they always run)",
        flag=True,
    ),
    Option("production-target", "", "URL of a production target for E2E-3; the embedded run starts one itself"),
    Option("server-args", "", "extra arguments for the embedded reference server, e.g. '--fault NAME' (self-tests)"),
    Option("report-dir", "", "write conformance.json and conformance.md into this folder"),
    Option(
        "transcripts",
        "failing",
        "case transcripts kept under <report-dir>/transcripts for `wsagent check`: failing (not all OK) or all",
    ),
    Option("issuer", ISSUER, "expected token issuer (iss)"),
    Option("audience", AUDIENCE, "expected token audience (aud)"),
)

PROFILE = next(opt for opt in OPTIONS if opt.name == "profile")


RUN_GIVEN = "WSAGENT_RUN_GIVEN"
"""Set by ``wsagent run`` in its pytest child's environment: the options the user gave as ``--NAME``, comma
separated. Its presence says the user speaks ``wsagent run``, so a hint names those spellings."""

BY_NAME: dict[str, Option] = {opt.name: opt for opt in OPTIONS}


@dataclass(frozen=True, slots=True)
class Agents:
    """Agent names by role, so the same cases run against a target whose agents have other names. The defaults are
    the bundled reference server's (``agents`` in :data:`OPTIONS` says the same); an empty ``plain`` or
    ``calculator`` means the target has no such agent, and the cases of that role are SKIPPED."""

    tools: str = "researcher"
    plain: str = "echo"
    calculator: str = "calculator"


@dataclass(frozen=True)
class HarnessConfig:
    """Every option, resolved once. The secrets, the extra headers and the URLs (which may carry credentials) stay
    out of ``repr``, so a failing assertion on the config in a user's test cannot print them."""

    target: str | None = field(repr=False)
    environment: str
    secret: str | None = field(repr=False)
    secret_source: str
    token_file: Path | None
    e2e: str
    strict: bool
    timeout: float
    open_timeout: float
    session_timeout: float
    limits: Limits
    capabilities: frozenset[str]
    start_template: str | None
    thread_ids: str
    run_ids: str
    profile: Profile | None
    agents: Agents
    headers: tuple[tuple[str, str], ...] = field(repr=False)
    ca_bundle: Path | None
    insecure: bool
    allow_noisy: bool
    production_target: str | None = field(repr=False)
    production_secret: str | None = field(repr=False)
    server_args: tuple[str, ...]
    report_dir: Path | None
    transcripts: str
    issuer: str
    audience: str

    @property
    def embedded(self) -> bool:
        return self.target is None


Source = Callable[[Option], "str | list[str] | bool | None"]


@dataclass(frozen=True)
class Given:
    """The raw value of every option and the spelling it came from, so an error names what the user typed.

    ``sources`` maps an option's name to that spelling; an option left at its default has none. ``run`` says the
    user speaks ``wsagent run`` (hints then name ``--NAME``, not pytest's ``--wsagent-NAME``).
    """

    values: Mapping[str, Any]
    sources: Mapping[str, str]
    run: bool = False

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def spelling(self, name: str) -> str:
        """How to set the option on the command line the user is using: for a hint about a value not given."""
        opt = BY_NAME[name]
        return opt.run if self.run else opt.cli

    def error(self, name: str, problem: str) -> ConfigError:
        """``wsagent: <spelling used> <problem> (the same setting: <the other spellings>)``."""
        opt = BY_NAME[name]
        used = self.sources.get(name, f"the default of {opt.run}")
        others = {opt.run: "for wsagent run", opt.cli: "for pytest", opt.env: "in the environment"}
        shown = ", ".join(f"{spelling} {where}" for spelling, where in others.items() if spelling != used)
        return ConfigError(f"wsagent: {used} {problem} (the same setting: {shown})")

    def parsed(self, name: str, convert: Callable[[Any], Any]) -> Any:
        """``convert(value)``; its :class:`ValueError` becomes the one line naming where the value came from."""
        try:
            return convert(self.values[name])
        except ValueError as exc:
            raise self.error(name, str(exc)) from None


def resolve(
    cli: Source,
    ini: Source,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    *,
    mints_tokens: bool = True,
) -> HarnessConfig:
    """Resolve every option from its sources, in order of precedence (CLI > environment > profile > ini > default),
    and validate the result. The profile is looked up from ``cwd`` (default: the working directory). A process that
    mints no tokens (a load master, which only counts) needs no secret.

    A value on the command line is named as ``wsagent run`` spelled it when that command says it gave it
    (:data:`RUN_GIVEN`), else as pytest's option; a profile's as ``profile 'NAME' key KEY``.
    """
    env = os.environ if environ is None else environ
    run_given = env.get(RUN_GIVEN)
    by_run = set((run_given or "").split(","))

    def sources(opt: Option, profile: Profile | None) -> tuple[tuple[str, Any], ...]:
        """(spelling, value) in order of precedence; a value of ``None`` is not given. An empty value given on
        the command line or in the environment counts as not given; a profile's empty value is given (``run-id =
        ""``: the target names its runs)."""
        empty = (None, "", [], False)
        in_profile = profile is not None and opt.name in profile.settings
        return (
            (opt.run if opt.name in by_run else opt.cli, None if (value := cli(opt)) in empty else value),
            (opt.env, env.get(opt.env) or None),
            (
                f"profile {profile.name!r} key {opt.name}" if in_profile else "",
                profile.settings[opt.name] if in_profile else None,
            ),  # type: ignore[union-attr]
            (f"{opt.ini_key} (pytest ini)", (ini(opt) or None) if opt.ini else None),
        )

    profile_name = next((value for _, value in sources(PROFILE, None) if value is not None), None)
    profile = find(str(profile_name), cwd) if profile_name else None
    values: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for opt in OPTIONS:
        source, value = next(
            ((source, value) for source, value in sources(opt, profile) if value is not None), ("", None)
        )
        values[opt.name] = opt.default if value is None else value
        if value is not None:
            spelled[opt.name] = source
    return _build(Given(values, spelled, run=run_given is not None), env, profile, mints_tokens)


def _build(given: Given, env: Mapping[str, str], profile: Profile | None, mints_tokens: bool) -> HarnessConfig:
    environment = given.parsed("environment", lambda value: _choice(value, ENVIRONMENTS))
    target = given.parsed("target", _url) or None
    token_file = given.parsed("token-file", _existing)
    secret, source = _secret(given, env, environment, token_file, embedded=target is None, mints_tokens=mints_tokens)
    production_target = given.parsed("production-target", _url) or None
    template = given.parsed("start-template", _template)
    ids = given.parsed("ids", lambda value: _choice(value, ID_MODES))
    server_ids = ids == "server"
    thread_ids = "" if server_ids else given.parsed("thread-id", lambda value: _pattern(value, "thread-id"))
    run_ids = "" if server_ids else given.parsed("run-id", lambda value: _pattern(value, "run-id"))
    return HarnessConfig(
        target=target,
        environment=environment,
        secret=secret,
        secret_source=source,
        token_file=token_file,
        e2e=given.parsed("e2e", lambda value: _choice(value, E2E_MODES)),
        strict=_bool(given["strict"]),
        timeout=given.parsed("timeout", _seconds),
        open_timeout=given.parsed("open-timeout", _seconds),
        session_timeout=given.parsed("session-timeout", _seconds),
        limits=given.parsed("limits", _limits),
        capabilities=frozenset(c.strip() for c in str(given["capabilities"]).split(",") if c.strip()),
        start_template=template,
        thread_ids=thread_ids,
        run_ids=run_ids,
        profile=profile,
        agents=given.parsed("agents", _agents),
        headers=given.parsed("header", _headers),
        ca_bundle=given.parsed("ca-bundle", _existing),
        insecure=_bool(given["insecure"]),
        allow_noisy=_bool(given["allow-noisy"]),
        production_target=production_target,
        production_secret=resolve_secret(env, "production") if production_target else None,
        server_args=tuple(shlex.split(str(given["server-args"]))),
        report_dir=Path(str(given["report-dir"])) if given["report-dir"] else None,
        transcripts=given.parsed("transcripts", lambda value: _choice(value, TRANSCRIPTS)),
        issuer=str(given["issuer"]),
        audience=str(given["audience"]),
    )


def _secret(
    given: Given,
    env: Mapping[str, str],
    environment: str,
    token_file: Path | None,
    *,
    embedded: bool,
    mints_tokens: bool,
) -> tuple[str | None, str]:
    """The signing secret and where it came from (a name, never the value).

    The embedded server needs no user secret: without one the harness makes a random one and hands it to both sides.
    """
    if given["secret"]:
        return str(given["secret"]), given.sources["secret"]
    try:
        return resolve_secret(env, environment), secret_source(env, environment)
    except ConfigError as exc:
        if token_file is not None:
            return None, given.sources["token-file"]
        if embedded:
            return None, "a random secret shared with the embedded server"
        if not mints_tokens:
            return None, "none: this process mints no tokens"
        raise ConfigError(
            f"{exc}; or give the harness {given.spelling('secret')} ({BY_NAME['secret'].env}), "
            f"or {given.spelling('token-file')} with pre-issued tokens"
        ) from None


def changed_settings(config: HarnessConfig) -> list[tuple[str, str]]:
    """The settings that change a verdict and differ from their defaults (or the profile's values), as (option name,
    value): what a reproduce line must carry besides the target, the environment, strictness and the profile."""
    defaults = {opt.name: opt.default for opt in OPTIONS}
    if config.profile is not None:
        defaults.update(config.profile.settings)
    agents, limits = config.agents, config.limits
    shown = {
        "agents": f"tools={agents.tools},plain={agents.plain},calculator={agents.calculator}",
        "limits": f"start={limits.start_s:g},run={limits.run_s:g},silence={limits.silence_s:g}",
        "timeout": f"{config.timeout:g}",
        "capabilities": ",".join(sorted(config.capabilities)),
        "start-template": config.start_template or "",
        "thread-id": config.thread_ids,
        "run-id": config.run_ids,
    }
    return [(name, value) for name, value in shown.items() if value != defaults[name]]


def safe_url(url: str) -> str:
    """The URL as reports, logs and messages show it: no credentials, no query (a target given as
    ``wss://u:p@host/ws?token=...`` must not leak). Never raises, whatever the text."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "[REDACTED-QUERY]" if parts.query else "", ""))


# The converters below raise ValueError with the problem alone; Given.parsed names the spelling the value came from.


def _url(value: Any) -> str:
    text = str(value).strip()
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(
            f"{safe_url(text)!r} is not a ws:// or wss:// URL with a host (e.g. wss://staging.example.com/ws)"
        )
    try:
        parts.port
    except ValueError:
        raise ValueError(f"{safe_url(text)!r} has an invalid port") from None
    return text


def _existing(value: Any) -> Path | None:
    if not value:
        return None
    path = Path(str(value)).expanduser()
    if not path.is_file():
        raise ValueError(f"{str(path)!r} is not a readable file")
    return path


def _choice(value: Any, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
    return text


def _bool(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")


def _seconds(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if seconds <= 0:
        raise ValueError(f"{value!r} is not a positive number of seconds")
    return seconds


def _pairs(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"takes key=value pairs separated by commas, not {item!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def _limits(value: Any) -> Limits:
    known = {"start": "start_s", "run": "run_s", "silence": "silence_s"}
    values: dict[str, float] = {}
    for key, seconds in _pairs(str(value)).items():
        if key not in known:
            raise ValueError(f"knows start, run and silence, not {key!r}")
        values[known[key]] = _seconds(seconds)
    return Limits(**values)


def _agents(value: Any) -> Agents:
    pairs = _pairs(str(value))
    unknown = set(pairs) - {"tools", "plain", "calculator"}
    if unknown:
        raise ValueError(f"knows the roles tools, plain and calculator, not {', '.join(sorted(unknown))}")
    if "tools" in pairs and not pairs["tools"]:
        raise ValueError("needs an agent name for tools (only plain= and calculator= may be empty: no such agent)")
    return Agents(**pairs)


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    items = value if isinstance(value, list) else str(value or "").split(";")
    headers = []
    for number, item in enumerate(filter(None, (i.strip() for i in items)), start=1):
        name, sep, text = item.partition(":")
        if not sep or not name.strip():  # the item is not quoted: it may well be a credential
            raise ValueError(f"item {number} is not 'Name: value'")
        headers.append((name.strip(), text.strip()))
    return tuple(headers)


def _template(value: Any) -> str | None:
    """The start template, checked now (JSON object, string type, known placeholders), not in the first case."""
    template = str(value).strip() or None
    if template is not None:
        try:
            StartTemplate(template)
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix("wsagent: the start template ")) from None
    return template


def _pattern(value: Any, name: str) -> str:
    pattern = str(value).strip()
    try:
        IdPattern(pattern, name)
    except ConfigError as exc:
        raise ValueError(str(exc).removeprefix(f"wsagent: --wsagent-{name} {pattern!r} ")) from None
    return pattern
