"""Valid tokens verify with the secret; each bad kind is bad in exactly its own way (proven by decoding with pyjwt)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from harness.errors import ConfigError
from harness.secrets import development_default
from harness.tokens import BAD_TOKENS, BadToken, TokenFactory, from_token_file

SECRET = "0123456789abcdef0123456789abcdef-wsagent"
ISS, AUD = "netra-auth-service", "netra-platform"
SKEW_S = 300
ALL_CLAIMS = ["sub", "iat", "exp", "jti", "iss", "aud"]


@pytest.fixture
def factory() -> TokenFactory:
    return TokenFactory(SECRET, "staging")


def verify(token: str, key: str = SECRET, **options: Any) -> dict[str, Any]:
    """The server's check: HS256 only, required claims, issuer and audience."""
    return jwt.decode(token, key, algorithms=["HS256"], audience=AUD, issuer=ISS, options={"require": ALL_CLAIMS, **options})


def unverified(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def test_valid_token_verifies_with_every_claim(factory: TokenFactory) -> None:
    claims = verify(factory.valid("alice"))
    assert claims["sub"] == "alice"
    assert claims["type"] == "access"
    assert claims["env"] == "staging"
    assert claims["email"]
    assert isinstance(claims["permissions"], list)
    assert claims["exp"] > time.time() >= claims["iat"]
    assert jwt.get_unverified_header(factory.valid("alice"))["alg"] == "HS256"
    assert unverified(factory.valid("alice"))["jti"] != unverified(factory.valid("alice"))["jti"]


def test_issuer_and_audience_are_configurable() -> None:
    token = TokenFactory(SECRET, "test", issuer="other-iss", audience="other-aud").valid("bob")
    assert jwt.decode(token, SECRET, algorithms=["HS256"], audience="other-aud", issuer="other-iss")["sub"] == "bob"


def test_every_kind_has_its_requirement() -> None:
    assert set(BAD_TOKENS) == set(BadToken)
    assert {k for k, req in BAD_TOKENS.items() if req == "AUTH-5"} == {BadToken.WRONG_SECRET, BadToken.OTHER_ENV_CLAIM}
    assert set(BAD_TOKENS.values()) == {"AUTH-1", "AUTH-5"}
    assert BadToken("expired").requirement == "AUTH-1"


# Each bad kind: the pyjwt error a verifying server raises, and (when the claims are readable) a check that
# everything else about the token is still right, so the kind tests exactly one defect.
SIGNATURE = jwt.InvalidSignatureError
CASES: dict[BadToken, type[Exception]] = {
    BadToken.MALFORMED: jwt.DecodeError,
    BadToken.WRONG_SECRET: SIGNATURE,
    BadToken.EXPIRED: jwt.ExpiredSignatureError,
    BadToken.NOT_YET_VALID: jwt.ImmatureSignatureError,
    BadToken.ALG_NONE: jwt.InvalidAlgorithmError,
    BadToken.ALG_CONFUSION: jwt.InvalidAlgorithmError,
    BadToken.KID_INJECTION: SIGNATURE,
    BadToken.MISSING_SUB: jwt.MissingRequiredClaimError,
    BadToken.MISSING_IAT: jwt.MissingRequiredClaimError,
    BadToken.MISSING_EXP: jwt.MissingRequiredClaimError,
    BadToken.MISSING_JTI: jwt.MissingRequiredClaimError,
    BadToken.MISSING_ISS: jwt.MissingRequiredClaimError,
    BadToken.MISSING_AUD: jwt.MissingRequiredClaimError,
    BadToken.WRONG_ISS: jwt.InvalidIssuerError,
    BadToken.WRONG_AUD: jwt.InvalidAudienceError,
    BadToken.TRUNCATED: jwt.DecodeError,
}


@pytest.mark.parametrize("kind", list(CASES))
def test_bad_kind_fails_verification(factory: TokenFactory, kind: BadToken) -> None:
    token = factory.bad(kind)
    assert token is not None
    with pytest.raises(CASES[kind]):
        verify(token)


def test_missing_sends_no_token(factory: TokenFactory) -> None:
    assert factory.bad(BadToken.MISSING) is None
    assert factory.bad("missing") is None


def test_wrong_secret_is_another_environments_default(factory: TokenFactory) -> None:
    token = factory.bad(BadToken.WRONG_SECRET)
    assert token is not None
    other = verify(token, key=development_default("test"))  # valid in every other respect, for test's default
    assert other["env"] == "staging"
    for environment in ("development", "test"):
        token = TokenFactory(None, environment).bad(BadToken.WRONG_SECRET)
        assert token is not None
        with pytest.raises(SIGNATURE):
            verify(token, key=development_default(environment))


def test_other_env_claim_is_correctly_signed(factory: TokenFactory) -> None:
    token = factory.bad(BadToken.OTHER_ENV_CLAIM)
    assert token is not None
    assert verify(token)["env"] not in ("staging", None)


MISSING_CLAIMS = ("sub", "iat", "exp", "jti", "iss", "aud")


CLAIM_KINDS = [("wrong_type", {"type": "refresh"}), *((f"missing_{claim}", {}) for claim in MISSING_CLAIMS)]


@pytest.mark.parametrize(("kind", "claims"), CLAIM_KINDS)
def test_claim_kinds_are_otherwise_valid(factory: TokenFactory, kind: str, claims: dict[str, str]) -> None:
    token = factory.bad(kind)
    assert token is not None
    missing = kind.removeprefix("missing_") if kind.startswith("missing_") else None
    # without the missing claim's own check (an absent iss or aud is refused by the issuer and audience checks)
    checks = {"audience": None if missing == "aud" else AUD, "issuer": None if missing == "iss" else ISS}
    decoded = jwt.decode(token, SECRET, algorithms=["HS256"], **checks)
    assert claims.items() <= decoded.items()
    assert missing is None or missing not in decoded
    assert set(MISSING_CLAIMS) - {missing} <= set(decoded)


def test_time_based_kinds_are_beyond_clock_skew(factory: TokenFactory) -> None:
    now = time.time()
    expired, early = factory.bad(BadToken.EXPIRED) or "", factory.bad(BadToken.NOT_YET_VALID) or ""
    assert unverified(expired)["exp"] <= now - SKEW_S
    assert unverified(early)["nbf"] >= now + SKEW_S
    for token, error in ((expired, jwt.ExpiredSignatureError), (early, jwt.ImmatureSignatureError)):
        with pytest.raises(error):  # still bad for a server that tolerates 300 s of skew
            jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUD, issuer=ISS, leeway=SKEW_S)


def test_algorithm_kinds_headers(factory: TokenFactory) -> None:
    assert jwt.get_unverified_header(factory.bad(BadToken.ALG_NONE) or "")["alg"] == "none"
    assert (factory.bad(BadToken.ALG_NONE) or "").endswith(".")
    confused = factory.bad(BadToken.ALG_CONFUSION) or ""
    assert jwt.get_unverified_header(confused)["alg"] not in ("HS256", "none")
    header = jwt.get_unverified_header(factory.bad(BadToken.KID_INJECTION) or "")
    assert header["kid"] == "../../etc/passwd"
    assert header["alg"] == "HS256"


def test_truncated_is_a_valid_token_cut_in_its_signature(factory: TokenFactory) -> None:
    token = factory.bad(BadToken.TRUNCATED) or ""
    head, payload, signature = token.split(".")
    assert unverified(f"{head}.{payload}.")["sub"] == "wsagent-intruder"
    assert 0 < len(signature) < 43  # an HS256 signature is 43 base64url characters


def test_oversized_is_badly_signed_so_accepting_it_is_a_finding(factory: TokenFactory) -> None:
    token = factory.bad(BadToken.OVERSIZED) or ""
    assert len(token) >= 64 * 1024
    with pytest.raises(jwt.InvalidSignatureError):
        verify(token)


@pytest.mark.parametrize("kind", [k for k in BadToken if k not in {BadToken.MISSING, BadToken.MALFORMED, BadToken.WRONG_SECRET, BadToken.ALG_NONE, BadToken.KID_INJECTION,
                                               BadToken.OVERSIZED}])
def test_kinds_needing_the_secret_raise_without_it(kind: BadToken) -> None:
    with pytest.raises(ConfigError, match="secret"):
        TokenFactory(None, "staging").bad(kind)


def test_valid_needs_the_secret() -> None:
    with pytest.raises(ConfigError):
        TokenFactory(None, "test").valid("alice")


def test_token_file(tmp_path: Path, factory: TokenFactory) -> None:
    bare = factory.valid("carol")
    path = tmp_path / "tokens.txt"
    path.write_text(f"# CI tokens\nalice\t{factory.valid('alice')}\n\n{bare}\n", encoding="utf-8")
    source = from_token_file(path, "staging")
    assert set(source.tokens) == {"alice", "carol"}
    assert source.valid("carol") == bare
    first, second = source.user("case-a"), source.user("case-b")
    assert {first, second} == {"alice", "carol"}
    assert source.user("case-a") == first
    assert source.bad(BadToken.MISSING) is None
    assert source.bad(BadToken.WRONG_SECRET) is not None
    with pytest.raises(ConfigError):
        source.bad(BadToken.EXPIRED)
    with pytest.raises(ConfigError, match="no token for user"):
        source.valid("mallory")


def test_token_file_never_gives_one_case_a_shared_user(tmp_path: Path, factory: TokenFactory) -> None:
    """Within a case, users get distinct file users; a case needing more users than tokens is told so."""
    path = tmp_path / "tokens.txt"
    path.write_text(f"alice\t{factory.valid('alice')}\nbob\t{factory.valid('bob')}\n", encoding="utf-8")
    source = from_token_file(path, "staging")
    first = source.user("case1-a")
    second = source.user("case1-b", taken=[first])
    assert {first, second} == {"alice", "bob"}
    with pytest.raises(ConfigError, match="more distinct users than the token file has tokens"):
        source.user("case1-c", taken=[first, second])
    assert source.user("case2-a") in {"alice", "bob"}  # another case starts afresh


@pytest.mark.parametrize("content", ["", "# nothing\n", "not-a-jwt\n"])
def test_bad_token_file_is_a_config_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "tokens.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError):
        from_token_file(path, "development")
