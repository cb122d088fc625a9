"""The reference server's handshake rooms, without sockets: environment, secrets, auth and E2E detection."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from mock_server.auth import (
    AuthRejection,
    AuthSettings,
    HandshakeRequest,
    Transport,
    UserContext,
    authenticate,
    extract_token,
)
from mock_server.e2e import E2ESource, E2EState, detect_e2e
from mock_server.environment import Environment, ServerEnvironment
from mock_server.errors import SecretNotConfigured, UnknownEnvironment, UnknownFault
from mock_server.faults import FaultName, Faults
from mock_server.secrets import development_default, get_unified_jwt_secret, secret_source
from mock_server.testing import DROP, claims_for, mint_token

SECRET = "unit-test-secret-0123456789abcdef0123"
DEV = AuthSettings(secret=SECRET, environment=Environment.DEVELOPMENT)
PROD = AuthSettings(secret=SECRET, environment=Environment.PRODUCTION)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign(claims: dict[str, Any], key: str | None, alg: str = "HS256", **header: Any) -> str:
    """A compact JWS built by hand, for the forms pyjwt will not produce (alg none, odd headers)."""
    head = b64url(json.dumps({"alg": alg, "typ": "JWT", **header}).encode())
    body = b64url(json.dumps(claims).encode())
    if key is None:
        return f"{head}.{body}."
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384}[alg]
    return f"{head}.{body}.{b64url(hmac.new(key.encode(), f'{head}.{body}'.encode(), digest).digest())}"


def bearer(token: str, target: str = "/ws", *extra: tuple[str, str]) -> HandshakeRequest:
    return HandshakeRequest(target, (("Authorization", f"Bearer {token}"), *extra))


def subprotocols(*entries: str, target: str = "/ws") -> HandshakeRequest:
    return HandshakeRequest(target, (("Sec-WebSocket-Protocol", ", ".join(entries)),))


# --- environment and secrets ----------------------------------------------------------------------------------


def test_environment_snapshot_defaults_and_override() -> None:
    assert ServerEnvironment.from_mapping({}).name is Environment.DEVELOPMENT
    assert ServerEnvironment.from_mapping({"ENVIRONMENT": "staging"}).name is Environment.STAGING
    assert ServerEnvironment.from_mapping({"ENVIRONMENT": "staging"}, environment="test").name is Environment.TEST
    assert ServerEnvironment.from_mapping({"ENVIRONMENT": ""}).name is Environment.DEVELOPMENT
    env = ServerEnvironment.from_mapping({"WSAGENT_FAULTS": " no_pong, ,scenario_ignored", "JWT_SECRET_KEY": SECRET})
    assert env.faults == ("no_pong", "scenario_ignored")
    assert SECRET not in repr(env)


@pytest.mark.parametrize("name", ["prod", "Production", "DEVELOPMENT", "qa"])
def test_unknown_environment_is_one_line(name: str) -> None:
    with pytest.raises(UnknownEnvironment) as caught:
        ServerEnvironment.from_mapping({"ENVIRONMENT": name})
    assert "\n" not in str(caught.value)
    assert "development, test, staging, production" in str(caught.value)


DEV_DEFAULT = hashlib.sha256(b"netra_development_jwt_key").hexdigest()[:32]
TEST_DEFAULT = hashlib.sha256(b"netra_test_jwt_key").hexdigest()[:32]


@pytest.mark.parametrize(
    ("environ", "expected", "source"),
    [
        ({"JWT_SECRET_KEY": "k"}, "k", "JWT_SECRET_KEY"),
        ({"JWT_SECRET_KEY": "k", "JWT_SECRET_DEVELOPMENT": "d"}, "k", "JWT_SECRET_KEY"),
        ({"JWT_SECRET_DEVELOPMENT": "d"}, "d", "JWT_SECRET_DEVELOPMENT"),
        ({"JWT_SECRET_KEY": "", "JWT_SECRET_DEVELOPMENT": "d"}, "d", "JWT_SECRET_DEVELOPMENT"),
        ({"JWT_SECRET_STAGING": "s"}, DEV_DEFAULT, "the development default"),
        ({}, DEV_DEFAULT, "the development default"),
        ({"ENVIRONMENT": "test"}, TEST_DEFAULT, "the test default"),
        ({"ENVIRONMENT": "staging", "JWT_SECRET_STAGING": "s"}, "s", "JWT_SECRET_STAGING"),
        ({"ENVIRONMENT": "production", "JWT_SECRET_KEY": "k", "JWT_SECRET_PRODUCTION": "p"}, "k", "JWT_SECRET_KEY"),
        ({"ENVIRONMENT": "production", "JWT_SECRET_PRODUCTION": "p"}, "p", "JWT_SECRET_PRODUCTION"),
    ],
)
def test_secret_resolution_order(environ: dict[str, str], expected: str, source: str) -> None:
    env = ServerEnvironment.from_mapping(environ)
    assert get_unified_jwt_secret(env) == expected
    assert secret_source(env) == source


@pytest.mark.parametrize("name", ["staging", "production"])
def test_no_default_secret_outside_development_and_test(name: str) -> None:
    env = ServerEnvironment.from_mapping({"ENVIRONMENT": name, "JWT_SECRET_DEVELOPMENT": "d"})
    with pytest.raises(SecretNotConfigured) as caught:
        get_unified_jwt_secret(env)
    message = str(caught.value)
    assert "\n" not in message
    assert "JWT_SECRET_KEY" in message
    assert f"JWT_SECRET_{name.upper()}" in message


def test_development_and_test_defaults_differ() -> None:
    assert development_default(Environment.DEVELOPMENT) == DEV_DEFAULT != TEST_DEFAULT == development_default(Environment.TEST)


def test_unknown_fault_is_one_line() -> None:
    with pytest.raises(UnknownFault) as caught:
        Faults.parse(["no_pong", "no_such_fault"])
    assert "\n" not in str(caught.value)
    assert "no_such_fault" in str(caught.value)
    assert Faults.parse(["no_pong"]).enabled(FaultName.NO_PONG)


# --- token extraction -----------------------------------------------------------------------------------------

TOKEN = mint_token(SECRET, "alice")
B64_ENTRY = f"jwt.{b64url(TOKEN.encode())}"


def test_bearer_header() -> None:
    found = extract_token(bearer(TOKEN), allow_query=True)
    assert (found.token, found.transport, found.subprotocol) == (TOKEN, Transport.BEARER, None)


def test_bearer_scheme_is_case_insensitive_and_other_schemes_are_ignored() -> None:
    assert extract_token(HandshakeRequest("/ws", (("authorization", f"bearer {TOKEN}"),)), allow_query=True).token == TOKEN
    basic = extract_token(HandshakeRequest("/ws", (("Authorization", "Basic dXNlcjpwYXNz"),)), allow_query=True)
    assert basic.token is None
    assert basic.problem


def test_base64url_subprotocol_without_padding_is_repadded() -> None:
    assert "=" not in B64_ENTRY
    found = extract_token(subprotocols("jwt-auth", B64_ENTRY), allow_query=True)
    assert (found.token, found.transport, found.subprotocol) == (TOKEN, Transport.SUBPROTOCOL, B64_ENTRY)


def test_raw_subprotocol_entry() -> None:
    found = extract_token(subprotocols("jwt-auth", f"jwt.{TOKEN}"), allow_query=True)
    assert (found.token, found.subprotocol) == (TOKEN, f"jwt.{TOKEN}")


def test_first_jwt_entry_is_used() -> None:
    other = f"jwt.{b64url(mint_token(SECRET, 'bob').encode())}"
    assert extract_token(subprotocols("jwt-auth", B64_ENTRY, other), allow_query=True).subprotocol == B64_ENTRY


def test_bearer_wins_but_the_jwt_entry_is_still_selected() -> None:
    other = mint_token(SECRET, "bob")
    request = HandshakeRequest("/ws", (("Authorization", f"Bearer {other}"), ("Sec-WebSocket-Protocol", f"jwt-auth, {B64_ENTRY}")))
    found = extract_token(request, allow_query=True)
    assert (found.token, found.transport, found.subprotocol) == (other, Transport.BEARER, B64_ENTRY)


def test_query_token_only_outside_production() -> None:
    request = HandshakeRequest(f"/ws?token={TOKEN}")
    assert extract_token(request, allow_query=True).transport is Transport.QUERY
    refused = extract_token(request, allow_query=False)
    assert refused.token is None
    assert "production" in (refused.problem or "")


def test_header_and_subprotocol_win_over_query() -> None:
    other = mint_token(SECRET, "bob")
    assert extract_token(bearer(TOKEN, f"/ws?token={other}"), allow_query=True).token == TOKEN


def test_malformed_subprotocol_entry_is_a_problem_not_a_crash() -> None:
    found = extract_token(subprotocols("jwt.%%%"), allow_query=True)
    assert found.token is None
    assert "malformed" in (found.problem or "")


def test_no_token_names_the_transports() -> None:
    assert "Bearer" in (extract_token(HandshakeRequest("/ws"), allow_query=True).problem or "")
    assert "?token" not in (extract_token(HandshakeRequest("/ws"), allow_query=False).problem or "")


# --- validation -----------------------------------------------------------------------------------------------


def admitted(request: HandshakeRequest, settings: AuthSettings = DEV, **kw: Any) -> UserContext:
    result = authenticate(request, settings, **kw)
    assert isinstance(result, UserContext), getattr(result, "message", result)
    return result


def refused(request: HandshakeRequest, settings: AuthSettings = DEV, **kw: Any) -> AuthRejection:
    result = authenticate(request, settings, **kw)
    assert isinstance(result, AuthRejection), f"accepted: {result}"
    assert result.status == 403
    assert result.body()["error_code"] == "AUTH_FAILED"
    return result


def test_valid_token_gives_the_user_context() -> None:
    user = admitted(bearer(mint_token(SECRET, "alice", env="development")))
    assert (user.user_id, user.email, user.permissions, user.transport) == ("alice", "alice@example.invalid", ("read", "write"), Transport.BEARER)


def test_optional_claims_may_be_absent() -> None:
    admitted(bearer(mint_token(SECRET, "alice", type=DROP, email=DROP, permissions=DROP)))


def test_small_clock_skew_is_tolerated() -> None:
    admitted(bearer(mint_token(SECRET, exp=int(time.time()) - 20)))


NOW = int(time.time())
BAD_TOKENS: dict[str, str] = {
    "expired": mint_token(SECRET, exp=NOW - 300),
    "not_yet_valid": mint_token(SECRET, nbf=NOW + 3600),  # far enough ahead for a test that runs minutes after import
    "issued_in_the_future": mint_token(SECRET, iat=NOW + 3600),
    "alg_none": sign(claims_for("alice"), None, alg="none"),
    "alg_hs384": sign(claims_for("alice"), SECRET, alg="HS384"),
    "kid_injection": sign(claims_for("alice"), "", kid="../../etc/passwd"),
    "wrong_secret": mint_token("another-secret-0123456789abcdef01234"),
    "other_env_default_secret": mint_token(TEST_DEFAULT),
    "missing_sub": mint_token(SECRET, sub=DROP),
    "empty_sub": mint_token(SECRET, sub=""),
    "missing_iat": mint_token(SECRET, iat=DROP),
    "missing_exp": mint_token(SECRET, exp=DROP),
    "missing_jti": mint_token(SECRET, jti=DROP),
    "missing_iss": mint_token(SECRET, iss=DROP),
    "missing_aud": mint_token(SECRET, aud=DROP),
    "wrong_iss": mint_token(SECRET, iss="rogue-issuer"),
    "wrong_aud": mint_token(SECRET, aud="rogue-audience"),
    "wrong_type": mint_token(SECRET, type="refresh"),
    "other_env_claim": mint_token(SECRET, env="test"),
    "env_claim_case": mint_token(SECRET, env="Development"),
    "permissions_not_a_list": mint_token(SECRET, permissions="admin"),
    "malformed": "not-a-jwt",
    "truncated": mint_token(SECRET)[:-10],
    "oversized": mint_token(SECRET, padding="x" * 48 * 1024),
}


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_bad_token_is_refused_without_quoting_it(kind: str) -> None:
    token = BAD_TOKENS[kind]
    rejection = refused(bearer(token))
    assert token not in rejection.message
    assert SECRET not in rejection.message
    assert "\n" not in rejection.message


@pytest.mark.parametrize("kind", ["expired", "alg_none", "wrong_iss", "missing_jti"])
def test_bad_token_is_refused_on_every_transport(kind: str) -> None:
    token = BAD_TOKENS[kind]
    refused(subprotocols(f"jwt.{b64url(token.encode())}"))
    refused(HandshakeRequest(f"/ws?token={token}"))


def test_e2e_mode_never_skips_verification() -> None:
    refused(bearer(BAD_TOKENS["expired"]), e2e_active=True)
    refused(HandshakeRequest("/ws"), e2e_active=True)


def test_query_token_refused_in_production_even_when_valid() -> None:
    assert "production" in refused(HandshakeRequest(f"/ws?token={mint_token(SECRET)}"), PROD).message


# --- auth faults: each switches off exactly its check --------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "request_"),
    [
        (FaultName.EXPIRED_TOKEN_ACCEPTED, bearer(BAD_TOKENS["expired"])),
        (FaultName.ENV_CLAIM_IGNORED, bearer(BAD_TOKENS["other_env_claim"])),
        (FaultName.OTHER_ENV_DEFAULT_SECRET_ACCEPTED, bearer(BAD_TOKENS["other_env_default_secret"])),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_auth_fault_accepts_what_it_should_refuse(fault: FaultName, request_: HandshakeRequest) -> None:
    refused(request_)
    admitted(request_, faults=Faults(frozenset({fault})))


def test_query_token_in_production_fault() -> None:
    request = HandshakeRequest(f"/ws?token={mint_token(SECRET)}")
    admitted(request, PROD, faults=Faults(frozenset({FaultName.QUERY_TOKEN_IN_PRODUCTION})))


def test_bearer_header_ignored_fault() -> None:
    refused(bearer(TOKEN), faults=Faults(frozenset({FaultName.BEARER_HEADER_IGNORED})))


def test_raw_subprotocol_rejected_fault() -> None:
    faults = Faults(frozenset({FaultName.RAW_SUBPROTOCOL_REJECTED}))
    refused(subprotocols(f"jwt.{TOKEN}"), faults=faults)
    admitted(subprotocols(B64_ENTRY), faults=faults)


def test_token_echoed_in_rejection_fault() -> None:
    token = BAD_TOKENS["expired"]
    rejection = refused(bearer(token), faults=Faults(frozenset({FaultName.TOKEN_ECHOED_IN_REJECTION})))
    assert token in rejection.message
    assert token not in rejection.reason


def test_e2e_skips_token_verification_fault_needs_an_e2e_connection() -> None:
    faults = Faults(frozenset({FaultName.E2E_SKIPS_TOKEN_VERIFICATION}))
    refused(bearer(BAD_TOKENS["alg_none"]), faults=faults)
    assert admitted(bearer(BAD_TOKENS["alg_none"]), faults=faults, e2e_active=True).user_id == "alice"
    refused(HandshakeRequest("/ws"), faults=faults, e2e_active=True)


# --- E2E detection --------------------------------------------------------------------------------------------

HARNESS_HEADERS = (("X-Test-Type", "e2e"), ("X-Test-Environment", "staging"), ("X-E2E-Test", "true"), ("X-Test-Mode", "true"))


def env_of(**environ: str) -> ServerEnvironment:
    return ServerEnvironment.from_mapping(environ)


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on", "e2e", "E2E", "test", "development", "staging", " true "])
@pytest.mark.parametrize("name", ["X-Test-Type", "x-test-environment", "X-E2E-TEST", "X-Test-Mode"])
def test_each_header_counts_with_each_truthy_value(name: str, value: str) -> None:
    assert detect_e2e([(name, value)], env_of()) == E2EState(True, E2ESource.HEADERS)


@pytest.mark.parametrize("value", ["0", "false", "production", "", "no", "truest", "e2e-ish"])
def test_other_values_do_not_count(value: str) -> None:
    assert detect_e2e([("X-Test-Mode", value)], env_of()) == E2EState(False, None)


def test_other_header_names_do_not_count() -> None:
    assert not detect_e2e([("X-Staging-E2E", "true"), ("X-Test-Priority", "high")], env_of()).active


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"E2E_TESTING": "1"}, E2EState(True, E2ESource.ENV)),
        ({"E2E_TESTING": "yes"}, E2EState(True, E2ESource.ENV)),
        ({"E2E_TESTING": "0"}, E2EState(False, None)),
        ({"E2E_TEST_ENV": "staging"}, E2EState(True, E2ESource.ENV)),
        ({"E2E_TEST_ENV": "anything"}, E2EState(True, E2ESource.ENV)),
        ({}, E2EState(False, None)),
    ],
)
def test_env_fallback(environ: dict[str, str], expected: E2EState) -> None:
    assert detect_e2e([], env_of(**environ)) == expected


def test_headers_win_over_env_and_production_grants_nothing() -> None:
    assert detect_e2e(HARNESS_HEADERS, env_of(E2E_TESTING="1")).source is E2ESource.HEADERS
    production = env_of(ENVIRONMENT="production", E2E_TESTING="1")
    assert detect_e2e(HARNESS_HEADERS, production) == E2EState(False, None)
    assert detect_e2e(HARNESS_HEADERS, production).as_json() == {"active": False, "source": None}


def test_e2e_faults() -> None:
    ignored = Faults(frozenset({FaultName.E2E_HEADERS_IGNORED}))
    assert detect_e2e(HARNESS_HEADERS, env_of(), ignored) == E2EState(False, None)
    in_production = Faults(frozenset({FaultName.E2E_IN_PRODUCTION}))
    assert detect_e2e(HARNESS_HEADERS, env_of(ENVIRONMENT="production"), in_production).active
