"""The unified secret resolves exactly as PROTOCOL §1 orders it, and its errors never carry a value."""

from __future__ import annotations

import hashlib

import pytest

from harness.errors import ConfigError
from harness.secrets import development_default, resolve_secret, secret_source

KEY = "key-from-jwt-secret-key-0123456789"
STAGING = "key-from-jwt-secret-staging-0123456"
TEST_KEY = "key-from-jwt-secret-test-01234567890"


def default(env: str) -> str:
    return hashlib.sha256(f"netra_{env}_jwt_key".encode()).hexdigest()[:32]


@pytest.mark.parametrize(
    ("environ", "environment", "secret", "source"),
    [
        ({"JWT_SECRET_KEY": KEY, "JWT_SECRET_STAGING": STAGING}, "staging", KEY, "JWT_SECRET_KEY"),
        ({"JWT_SECRET_STAGING": STAGING}, "staging", STAGING, "JWT_SECRET_STAGING"),
        ({"JWT_SECRET_KEY": "", "JWT_SECRET_STAGING": STAGING}, "staging", STAGING, "JWT_SECRET_STAGING"),
        ({"JWT_SECRET_STAGING": STAGING}, "production", None, None),
        ({"JWT_SECRET_TEST": TEST_KEY}, "test", TEST_KEY, "JWT_SECRET_TEST"),
        ({"JWT_SECRET_STAGING": STAGING}, "test", default("test"), "the test default"),
        ({}, "development", default("development"), "the development default"),
        ({"JWT_SECRET_KEY": KEY}, "production", KEY, "JWT_SECRET_KEY"),
    ],
)
def test_resolution_order(environ: dict[str, str], environment: str, secret: str | None, source: str | None) -> None:
    if secret is None:
        with pytest.raises(ConfigError):
            resolve_secret(environ, environment)
        return
    assert resolve_secret(environ, environment) == secret
    assert secret_source(environ, environment) == source


def test_development_and_test_defaults_differ() -> None:
    assert development_default("development") == default("development")
    assert development_default("test") == default("test") != development_default("development")
    assert len(development_default("test")) == 32


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_missing_secret_is_one_line_naming_both_variables(environment: str) -> None:
    environ = {"JWT_SECRET_DEVELOPMENT": "a-value-that-must-not-appear"}
    for call in (resolve_secret, secret_source):
        with pytest.raises(ConfigError) as caught:
            call(environ, environment)
        message = str(caught.value)
        assert "\n" not in message
        assert "JWT_SECRET_KEY" in message
        assert f"JWT_SECRET_{environment.upper()}" in message
        assert "a-value-that-must-not-appear" not in message


@pytest.mark.parametrize("environment", ["prod", "Staging", ""])
def test_unknown_environment_is_a_config_error(environment: str) -> None:
    with pytest.raises(ConfigError, match="development, test, staging, production"):
        resolve_secret({"JWT_SECRET_KEY": KEY}, environment)
    with pytest.raises(ConfigError):
        development_default(environment)
