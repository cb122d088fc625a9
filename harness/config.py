"""Configuration, resolved once: CLI option > environment variable > pytest ini > default.

Every setting is declared once in :data:`OPTIONS` (name, variable, default, help); the plugin registers the CLI
options and ini keys from that table, the README's option table is generated from it, and :func:`resolve` turns
the sources into one frozen :class:`HarnessConfig`. The signing secret is the exception: CLI or environment only,
never ini (an ini file is committed; a secret must not be).

Any problem is a :class:`harness.errors.ConfigError` whose text is one line saying what to set.
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
from harness.secrets import resolve_secret, secret_source
from harness.template import StartTemplate

__all__ = ["OPTIONS", "Agents", "HarnessConfig", "Option", "resolve"]

ENVIRONMENTS = ("development", "test", "staging", "production")
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
    def env(self) -> str:
        return "WSAGENT_" + self.name.upper().replace("-", "_")

    @property
    def ini_key(self) -> str:
        return "wsagent_" + self.name.replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option("target", "", "WebSocket URL of the target (ws:// or wss://); empty starts the bundled reference server"),
    Option("environment", "development", "environment the target runs in: development, test, staging or production"),
    Option("secret", "", "HS256 signing secret; default: JWT_SECRET_KEY, then JWT_SECRET_<ENV>, then the dev/test default", ini=False),
    Option("token-file", "", "file of valid tokens, one per line (for CI without the secret); cases that need the secret are skipped"),
    Option("e2e", "headers", "E2E mode: headers (send the E2E headers), env (embedded server gets E2E_TESTING=1), off (never send them; cases that need them are SKIPPED)"),
    Option("strict", "false", "count NON-STRICT as a failure", flag=True),
    Option("timeout", "30", "seconds to wait for a run's terminal frame or any awaited frame"),
    Option("open-timeout", "5", "seconds to wait for the WebSocket handshake"),
    Option("session-timeout", "900", "seconds the whole session may take; past it the remaining cases stop (exit 2)"),
    Option("limits", "start=2,run=30,silence=15", "EVT-7 limits in seconds: start, run, silence"),
    Option("capabilities", "", "declared capabilities, comma separated (e2e_env, no_e2e_env, scenarios)"),
    Option("profile", "", "a profile of target-specific driving settings (wsagent.toml, pyproject.toml or bundled); `wsagent profiles` lists them"),
    Option("start-template", "", "JSON template of the start message with {agent} {request} {thread_id} {run_id} {scenario} {user_id}"),
    Option("thread-id", DEFAULT_THREAD_ID, "form of the thread ids the harness gives: {hex:N} {n}; empty: the target creates them"),
    Option("run-id", DEFAULT_RUN_ID, "form of the run ids the harness gives: {thread_id} {hex:N} {n}; empty: the target creates them"),
    Option("ids", "client", "client: the harness gives run and thread ids; server: it gives none and matches each run by its first agent_started"),
    Option("agents", "tools=researcher,plain=echo,calculator=calculator", "agent names by role: tools, plain, calculator"),
    Option("header", "", "extra handshake header 'Name: value'; repeat the option or separate with ';' in the variable"),
    Option("ca-bundle", "", "CA bundle for wss:// targets behind a private CA"),
    Option("insecure", "false", "do not verify TLS certificates (staging only)", flag=True),
    Option("allow-noisy", "false", "allow flood and load cases against a remote target (loopback targets are local: they always run)", flag=True),
    Option("production-target", "", "URL of a production target for E2E-3; the embedded run starts one itself"),
    Option("server-args", "", "extra arguments for the embedded reference server, e.g. '--fault NAME' (self-tests)"),
    Option("report-dir", "", "write conformance.json and conformance.md into this folder"),
    Option("transcripts", "failing", "case transcripts kept under <report-dir>/transcripts for `wsagent check`: failing (not all OK) or all"),
    Option("issuer", "netra-auth-service", "expected token issuer (iss)"),
    Option("audience", "netra-platform", "expected token audience (aud)"),
)

PROFILE = next(opt for opt in OPTIONS if opt.name == "profile")


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


def resolve(cli: Source, ini: Source, environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> HarnessConfig:
    """Resolve every option from its sources, in order of precedence (CLI > environment > profile > ini > default),
    and validate the result. The profile is looked up from ``cwd`` (default: the working directory)."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    profile_name = _given(PROFILE, cli, ini, env)
    profile = find(str(profile_name), cwd) if profile_name else None
    for opt in OPTIONS:
        value = _given(opt, cli, ini, env, profile)
        raw[opt.name] = opt.default if value is None else value
    return _build(raw, env, profile)


def _given(opt: Option, cli: Source, ini: Source, env: Mapping[str, str], profile: Profile | None = None) -> Any:
    """The option's value from the first source that sets it, or ``None``."""
    value = cli(opt)
    if value in (None, "", [], False):
        value = env.get(opt.env) or None
    if value is None and profile is not None and opt.name in profile.settings:
        return profile.settings[opt.name]
    if value is None and opt.ini:
        value = ini(opt) or None
    return value


def _build(raw: Mapping[str, Any], env: Mapping[str, str], profile: Profile | None) -> HarnessConfig:
    environment = str(raw["environment"]).strip().lower()
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"wsagent: environment {environment!r} is not one of {', '.join(ENVIRONMENTS)} (set --wsagent-environment or WSAGENT_ENVIRONMENT)")
    target = _url(str(raw["target"]).strip(), "target") or None
    token_file = _existing(raw["token-file"], "token-file")
    secret, source = _secret(raw["secret"], env, environment, token_file, embedded=target is None)
    production_target = _url(str(raw["production-target"]).strip(), "production-target") or None
    e2e = _choice(raw["e2e"], "e2e", E2E_MODES)
    template = str(raw["start-template"]).strip() or None
    if template:
        StartTemplate(template)  # a config error now, naming what is wrong, not in the first case
    ids = _choice(raw["ids"], "ids", ID_MODES)
    thread_ids, run_ids = ("", "") if ids == "server" else (str(raw["thread-id"]).strip(), str(raw["run-id"]).strip())
    IdPattern(thread_ids, "thread-id")
    IdPattern(run_ids, "run-id")
    return HarnessConfig(
        target=target,
        environment=environment,
        secret=secret,
        secret_source=source,
        token_file=token_file,
        e2e=e2e,
        strict=_bool(raw["strict"]),
        timeout=_seconds(raw["timeout"], "timeout"),
        open_timeout=_seconds(raw["open-timeout"], "open-timeout"),
        session_timeout=_seconds(raw["session-timeout"], "session-timeout"),
        limits=_limits(str(raw["limits"])),
        capabilities=frozenset(c.strip() for c in str(raw["capabilities"]).split(",") if c.strip()),
        start_template=template,
        thread_ids=thread_ids,
        run_ids=run_ids,
        profile=profile,
        agents=_agents(str(raw["agents"])),
        headers=_headers(raw["header"]),
        ca_bundle=_existing(raw["ca-bundle"], "ca-bundle"),
        insecure=_bool(raw["insecure"]),
        allow_noisy=_bool(raw["allow-noisy"]),
        production_target=production_target,
        production_secret=resolve_secret(env, "production") if production_target else None,
        server_args=tuple(shlex.split(str(raw["server-args"]))),
        report_dir=Path(str(raw["report-dir"])) if raw["report-dir"] else None,
        transcripts=_choice(raw["transcripts"], "transcripts", TRANSCRIPTS),
        issuer=str(raw["issuer"]),
        audience=str(raw["audience"]),
    )


def _secret(given: Any, env: Mapping[str, str], environment: str, token_file: Path | None, *, embedded: bool) -> tuple[str | None, str]:
    """The signing secret and where it came from (a name, never the value).

    The embedded server needs no user secret: without one the harness makes a random one and hands it to both sides.
    """
    if given:
        return str(given), "WSAGENT_SECRET" if env.get("WSAGENT_SECRET") == str(given) else "--wsagent-secret"
    try:
        return resolve_secret(env, environment), secret_source(env, environment)
    except ConfigError as exc:
        if token_file is not None:
            return None, "--wsagent-token-file"
        if embedded:
            return None, "a random secret shared with the embedded server"
        raise ConfigError(f"{exc}; or give the harness --wsagent-secret (WSAGENT_SECRET), or --wsagent-token-file with pre-issued tokens") from None


def changed_settings(config: HarnessConfig) -> list[tuple[str, str]]:
    """The settings that change a verdict and differ from their defaults, as (option name, value): what a reproduce
    line must carry besides the target, the environment and strictness."""
    defaults = {opt.name: opt.default for opt in OPTIONS}
    agents, limits = config.agents, config.limits
    shown = {
        "agents": f"tools={agents.tools},plain={agents.plain},calculator={agents.calculator}",
        "limits": f"start={limits.start_s:g},run={limits.run_s:g},silence={limits.silence_s:g}",
        "timeout": f"{config.timeout:g}",
        "capabilities": ",".join(sorted(config.capabilities)),
        "start-template": config.start_template or "",
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


def _url(value: str, name: str) -> str:
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigError(f"wsagent: {name} {safe_url(value)!r} is not a ws:// or wss:// URL with a host (e.g. wss://staging.example.com/ws)")
    try:
        parts.port
    except ValueError:
        raise ConfigError(f"wsagent: {name} {safe_url(value)!r} has an invalid port") from None
    return value


def _existing(value: Any, name: str) -> Path | None:
    if not value:
        return None
    path = Path(str(value)).expanduser()
    if not path.is_file():
        raise ConfigError(f"wsagent: {name} {str(path)!r} does not exist (set --wsagent-{name} to a readable file)")
    return path


def _choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise ConfigError(f"wsagent: --wsagent-{name} must be one of {', '.join(choices)}, not {text!r}")
    return text


def _bool(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")


def _seconds(value: Any, name: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if seconds <= 0:
        raise ConfigError(f"wsagent: --wsagent-{name} must be a positive number of seconds, not {value!r}")
    return seconds


def _pairs(text: str, name: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"wsagent: --wsagent-{name} takes key=value pairs separated by commas, not {item!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def _limits(text: str) -> Limits:
    known = {"start": "start_s", "run": "run_s", "silence": "silence_s"}
    values: dict[str, float] = {}
    for key, value in _pairs(text, "limits").items():
        if key not in known:
            raise ConfigError(f"wsagent: --wsagent-limits knows start, run and silence, not {key!r}")
        values[known[key]] = _seconds(value, "limits")
    return Limits(**values)


def _agents(text: str) -> Agents:
    pairs = _pairs(text, "agents")
    unknown = set(pairs) - {"tools", "plain", "calculator"}
    if unknown:
        raise ConfigError(f"wsagent: --wsagent-agents knows the roles tools, plain and calculator, not {', '.join(sorted(unknown))}")
    if "tools" in pairs and not pairs["tools"]:
        raise ConfigError("wsagent: --wsagent-agents needs an agent name for tools (only plain= and calculator= may be empty: no such agent)")
    return Agents(**pairs)


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    items = value if isinstance(value, list) else str(value or "").split(";")
    headers = []
    for item in filter(None, (i.strip() for i in items)):
        name, sep, text = item.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"wsagent: header {item!r} is not 'Name: value'")
        headers.append((name.strip(), text.strip()))
    return tuple(headers)
