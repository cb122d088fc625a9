"""Targets: where a case connects, with the tokens that target accepts.

The main target is the user's URL or the bundled reference server, started lazily once per xdist worker. Two
more are started on demand for the contract clauses that need a server in a particular mode: a production-mode
server for E2E-3 and one running with the E2E env fallback for E2E-1. A user's production URL replaces the first;
a declared ``e2e_env`` capability lets the main target serve as the second.

Everything here is synchronous (subprocesses, one TCP probe, one HTTP GET) so that plain session fixtures can use
it without depending on an event loop.
"""

from __future__ import annotations

import os
import secrets as random_secrets
import socket
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx

from harness.client import is_loopback
from harness.config import HarnessConfig, safe_url
from harness.embedded import EmbeddedServer
from harness.errors import TargetError
from harness.tokens import TokenFactory, TokenSource, from_token_file

__all__ = ["E2E_FALLBACKS", "Target", "Targets", "check_reachable", "health_url"]

E2E_FALLBACKS = {"E2E_TESTING": ("1", "-e2e-env"), "E2E_TEST_ENV": ("e2e", "-e2e-test-env")}
"""PROTOCOL §2's env fallback variables: the value an embedded server gets, and its log name's tag."""


def health_url(ws_url: str) -> str:
    """``GET /health`` on the same host and port as the WebSocket endpoint."""
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((scheme, parts.netloc, "/health", "", ""))


def check_reachable(url: str, timeout: float) -> None:
    """One TCP connect to the target's host and port; :class:`TargetError` (one line) when nothing listens there."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        raise TargetError(
            f"wsagent: cannot reach {parts.hostname}:{port} for target {safe_url(url)} ({exc.strerror or exc}); is it "
            "running, and is the URL right?"
        ) from None


@dataclass(repr=False)
class Target:
    """One backend to certify: its URL, environment, tokens and what it is known to offer."""

    url: str
    environment: str
    tokens: TokenSource
    secret: str | None
    embedded: bool
    capabilities: frozenset[str] = frozenset()
    health: dict[str, object] = field(default_factory=dict)
    checked: bool = False
    """Set once the preflight ran here (:mod:`harness.preflight`): a valid token connects."""
    runs_refused: str | None = None
    """The preflight's line when the golden run did not start: the first case that starts a run stops with it."""
    learned: dict[str, str] = field(default_factory=dict)
    """What the target showed once and for all in this process (``ping``: an application ping went unanswered), so
    later cases do not wait it out."""

    def __repr__(self) -> str:  # never the secret, nor the URL's credentials (a failing assertion prints it)
        return f"Target({self.shown!r}, {self.environment!r}, embedded={self.embedded})"

    @property
    def shown(self) -> str:
        """The URL as reports, logs and messages show it: without credentials or query."""
        return safe_url(self.url)

    @property
    def local(self) -> bool:
        """On this machine: the embedded server, or a URL on a loopback address or ``localhost`` (noisy cases run)."""
        return self.embedded or is_loopback(urlsplit(self.url).hostname)

    @property
    def health_url(self) -> str:
        return health_url(self.url)

    @property
    def version(self) -> str:
        return str(self.health.get("version", "unknown"))


class Targets:
    """The targets of one pytest process, created on first use and stopped at session end."""

    def __init__(self, config: HarnessConfig) -> None:
        self.config = config
        self._servers: list[EmbeddedServer] = []
        self._cache: dict[str, Target | str] = {}

    def ssl_context(self, url: str) -> ssl.SSLContext | None:
        if not url.startswith("wss://"):
            return None
        context = ssl.create_default_context(cafile=str(self.config.ca_bundle) if self.config.ca_bundle else None)
        if self.config.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def main(self) -> Target:
        target = self._cache.get("main")
        if target is None:
            target = self._cache["main"] = self._make_main()
        assert isinstance(target, Target)
        return target

    def production(self) -> Target | str:
        """The production-mode target for E2E-3, or the reason there is none."""
        if "production" not in self._cache:
            self._cache["production"] = self._make_production()
        return self._cache["production"]

    def e2e_env(self, variable: str = "E2E_TESTING") -> Target | str:
        """A target running with the E2E env fallback ``variable`` set (E2E-1's env clause), or the reason there is
        none."""
        key = f"e2e_env {variable}"
        if key not in self._cache:
            self._cache[key] = self._make_e2e_env(variable)
        return self._cache[key]

    def close(self) -> None:
        for server in self._servers:
            server.stop()
        self._servers.clear()

    def _tokens(self, secret: str | None, environment: str) -> TokenSource:
        if self.config.token_file is not None and environment == self.config.environment:
            return from_token_file(self.config.token_file, environment)
        return TokenFactory(secret, environment, issuer=self.config.issuer, audience=self.config.audience)

    def _embedded(self, environment: str, secret: str, *, fallback: str | None, capabilities: set[str]) -> Target:
        """An embedded server in ``environment``, with the E2E env ``fallback`` variable set (or none)."""
        value, tag = E2E_FALLBACKS[fallback] if fallback else ("", "")
        log = None
        if self.config.report_dir is not None:  # one log per server and xdist worker, rewritten by each run
            worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
            log = self.config.report_dir / f"server-{environment}{tag}-{worker}.log"
        extra_env = {fallback: value} if fallback else None
        server = EmbeddedServer.start(
            environment, secret=secret, extra_env=extra_env, extra_args=self.config.server_args, log_path=log
        )
        self._servers.append(server)
        return self._probe(
            Target(server.url, environment, self._tokens(secret, environment), secret, True, frozenset(capabilities))
        )

    def _make_main(self) -> Target:
        cfg = self.config
        if cfg.target is None:
            secret = cfg.secret or random_secrets.token_hex(24)
            env_mode = cfg.e2e == "env"
            caps = {"e2e_env" if env_mode else "no_e2e_env", "scenarios"} | set(cfg.capabilities)
            fallback = "E2E_TESTING" if env_mode else None
            return self._embedded(cfg.environment, secret, fallback=fallback, capabilities=caps)
        target = Target(
            cfg.target, cfg.environment, self._tokens(cfg.secret, cfg.environment), cfg.secret, False, cfg.capabilities
        )
        return self._probe(target)

    def _make_production(self) -> Target | str:
        cfg = self.config
        if cfg.environment == "production":
            return self.main()
        if cfg.production_target:
            secret = cfg.production_secret
            target = Target(cfg.production_target, "production", self._tokens(secret, "production"), secret, False)
            return self._probe(target)
        if cfg.target is None:
            secret = random_secrets.token_hex(24)
            return self._embedded("production", secret, fallback="E2E_TESTING", capabilities=set())
        return (
            "this case needs a production target: give --wsagent-production-target, or run against the embedded server"
        )

    def _make_e2e_env(self, variable: str) -> Target | str:
        """A declared ``e2e_env`` target stands for E2E_TESTING only: which variable a user's server runs with is not
        known, and E2E_TEST_ENV is set only on a server the harness starts."""
        cfg = self.config
        if variable == "E2E_TESTING" and "e2e_env" in self.main().capabilities:
            return self.main()
        if cfg.target is None:
            secret = self.main().secret or random_secrets.token_hex(24)
            return self._embedded(cfg.environment, secret, fallback=variable, capabilities={"e2e_env", "scenarios"})
        if variable == "E2E_TESTING":
            return (
                "the env-fallback clause of E2E-1 needs a target started with E2E_TESTING=1 "
                "(declare capability e2e_env)"
            )
        return f"the {variable} clause of E2E-1 needs the embedded server, started with {variable} set"

    def _probe(self, target: Target) -> Target:
        """Fail fast with one line when the target is not there; read its /health for the report."""
        check_reachable(target.url, self.config.open_timeout)
        try:
            response = httpx.get(target.health_url, timeout=self.config.open_timeout, verify=self._verify())
            if response.status_code == 200 and response.headers.get("content-type", "").startswith("application/json"):
                target.health = dict(response.json())
        except (httpx.HTTPError, ValueError):
            target.health = {}
        return target

    def _verify(self) -> bool | str:
        if self.config.insecure:
            return False
        return str(self.config.ca_bundle) if self.config.ca_bundle else True
