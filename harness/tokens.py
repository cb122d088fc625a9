"""Tokens the harness presents: valid ones for its users, and one deliberately bad token per AUTH-1/AUTH-5 clause.

A case asks a :class:`TokenSource` for ``user(name)``, ``valid(sub)`` and ``bad(kind)``. Two sources exist:
:class:`TokenFactory` mints HS256 tokens with the signing secret; :func:`from_token_file` serves pre-issued valid
tokens (CI without the secret) and can still mint the bad kinds that need no secret.

Each bad kind breaks exactly one thing and keeps every other claim valid, so a target that accepts it has skipped
exactly that check. Time-based kinds are :data:`TIME_OFF_S` off, far beyond any tolerated clock skew (PROTOCOL §1
asks for at least 300 s). Tokens are signed here rather than with pyjwt: several bad forms (``alg: none``, a
foreign ``alg``, short or empty keys) are ones pyjwt rightly resists or warns about.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import jwt

from harness.errors import ConfigError
from harness.secrets import check_environment, development_default

__all__ = ["BAD_TOKENS", "BadToken", "TokenFactory", "TokenFile", "TokenSource", "from_token_file"]

ISSUER = "netra-auth-service"
AUDIENCE = "netra-platform"
"""The contract's ``iss`` and ``aud`` (PROTOCOL §1): the defaults of ``--wsagent-issuer`` and ``--wsagent-audience``."""
TIME_OFF_S = 3600
"""How far expired / not-yet-valid tokens are off: an hour, well past the 300 s the contract requires."""
IAT_SLACK_S = 30
"""Valid tokens are issued this far in the past, so a target whose clock runs a little behind accepts them."""
OVERSIZE_PADDING = 48 * 1024
"""Padding claim length: base64url grows it past 64 KiB."""
OVERSIZE_KEY = "wsagent-oversized-token-is-signed-with-the-wrong-key"
"""The oversized token is badly signed, so accepting it is a finding whichever layer let it through (Decision 2)."""


class BadToken(StrEnum):
    """The bad tokens of AUTH-1 and AUTH-5; the value is the token kind recorded in a handshake note."""

    MISSING = "missing"
    MALFORMED = "malformed"
    WRONG_SECRET = "wrong_secret"
    OTHER_ENV_CLAIM = "other_env_claim"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    ALG_NONE = "alg_none"
    ALG_CONFUSION = "alg_confusion"
    KID_INJECTION = "kid_injection"
    MISSING_SUB = "missing_sub"
    MISSING_IAT = "missing_iat"
    MISSING_EXP = "missing_exp"
    MISSING_JTI = "missing_jti"
    MISSING_ISS = "missing_iss"
    MISSING_AUD = "missing_aud"
    WRONG_ISS = "wrong_iss"
    WRONG_AUD = "wrong_aud"
    WRONG_TYPE = "wrong_type"
    TRUNCATED = "truncated"
    OVERSIZED = "oversized"

    @property
    def requirement(self) -> str:
        return BAD_TOKENS[self]


_AUTH5 = (BadToken.WRONG_SECRET, BadToken.OTHER_ENV_CLAIM)
BAD_TOKENS: Mapping[BadToken, str] = MappingProxyType({k: "AUTH-5" if k in _AUTH5 else "AUTH-1" for k in BadToken})
"""Every bad kind with the requirement it tests: AUTH-5 for another environment's token, AUTH-1 for the rest."""


def other_environment(environment: str) -> str:
    """The environment whose token AUTH-5 presents: test's for everyone, development's for test."""
    return "development" if environment == "test" else "test"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def sign(claims: Mapping[str, Any], key: str | None, *, alg: str = "HS256", **header: Any) -> str:
    """A compact JWS; ``key=None`` leaves the signature empty (``alg: none``)."""
    digests: dict[str, Callable[[], Any]] = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    signing_input = f"{_b64(_json({'alg': alg, 'typ': 'JWT', **header}))}.{_b64(_json(claims))}"
    if key is None:
        return signing_input + "."
    mac = hmac.new(key.encode(), signing_input.encode(), digests[alg])
    return f"{signing_input}.{_b64(mac.digest())}"


class TokenSource(Protocol):
    """What a case needs from tokens, whether minted or read from a file."""

    environment: str

    def user(self, name: str, taken: Collection[str] = ()) -> str:
        """The user id (token ``sub``) a case should use for its user ``name``, distinct from the case's ``taken``
        ones."""
        ...

    def valid(self, sub: str, /) -> str: ...

    def bad(self, kind: BadToken | str, sub: str = "wsagent-intruder") -> str | None: ...


class TokenFactory:
    """Mints tokens with the target's secret; without one (``secret=None``) only the secret-free bad kinds."""

    def __init__(
        self,
        secret: str | None,
        environment: str,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
        lifetime_s: int = 600,
    ) -> None:
        self.secret = secret
        self.environment = check_environment(environment)
        self.issuer = issuer
        self.audience = audience
        self.lifetime_s = lifetime_s

    def user(self, name: str, taken: Collection[str] = ()) -> str:
        return name

    def claims(self, sub: str, /, **overrides: Any) -> dict[str, Any]:
        """A valid claim set; an override of ``None`` removes that claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": sub,
            "iat": now - IAT_SLACK_S,
            "exp": now + self.lifetime_s,
            "jti": uuid.uuid4().hex,
            "iss": self.issuer,
            "aud": self.audience,
            "type": "access",
            "env": self.environment,
            "email": f"{sub}@wsagent.invalid",
            "permissions": ["read", "write"],
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def valid(self, sub: str, /, **extra_claims: Any) -> str:
        return self._signed(self.claims(sub, **extra_claims))

    def bad(self, kind: BadToken | str, sub: str = "wsagent-intruder") -> str | None:
        """The bad token of ``kind`` (``None`` for MISSING: no token is sent).

        MISSING, MALFORMED, WRONG_SECRET, ALG_NONE, KID_INJECTION and OVERSIZED need no secret; the others raise
        :class:`ConfigError` without one.
        """
        kind = BadToken(kind)
        now = int(time.time())
        other = other_environment(self.environment)
        match kind:
            case BadToken.MISSING:
                return None
            case BadToken.MALFORMED:
                return "not-a-jwt"
            case BadToken.WRONG_SECRET:
                key = development_default(other)
                if key == self.secret:
                    raise ConfigError(
                        f"wsagent: the signing secret is the {other} default, so no wrong-secret token exists; set "
                        "JWT_SECRET_KEY"
                    )
                return sign(self.claims(sub), key)
            case BadToken.OTHER_ENV_CLAIM:
                return self.valid(sub, env=other)
            case BadToken.EXPIRED:
                return self.valid(sub, iat=now - TIME_OFF_S - self.lifetime_s, exp=now - TIME_OFF_S)
            case BadToken.NOT_YET_VALID:
                return self.valid(sub, nbf=now + TIME_OFF_S, exp=now + TIME_OFF_S + self.lifetime_s)
            case BadToken.ALG_NONE:
                return sign(self.claims(sub), None, alg="none")
            case BadToken.ALG_CONFUSION:
                return self._signed(self.claims(sub), alg="HS384")
            case BadToken.KID_INJECTION:
                return sign(self.claims(sub), "", kid="../../etc/passwd")
            case (
                BadToken.MISSING_SUB
                | BadToken.MISSING_IAT
                | BadToken.MISSING_EXP
                | BadToken.MISSING_JTI
                | BadToken.MISSING_ISS
                | BadToken.MISSING_AUD
            ):
                return self.valid(sub, **{kind.value.removeprefix("missing_"): None})
            case BadToken.WRONG_ISS:
                return self.valid(sub, iss="wsagent-rogue-issuer")
            case BadToken.WRONG_AUD:
                return self.valid(sub, aud="wsagent-rogue-audience")
            case BadToken.WRONG_TYPE:
                return self.valid(sub, type="refresh")
            case BadToken.TRUNCATED:
                token = self.valid(sub)
                cut = len(token.rsplit(".", 1)[1]) // 2
                return token[:-cut]
            case BadToken.OVERSIZED:
                return sign(self.claims(sub, wsagent_padding="x" * OVERSIZE_PADDING), OVERSIZE_KEY)

    def _signed(self, claims: Mapping[str, Any], *, alg: str = "HS256") -> str:
        if self.secret is None:
            raise ConfigError(
                "wsagent: minting this token needs the signing secret; set JWT_SECRET_KEY or --wsagent-secret"
            )
        return sign(claims, self.secret, alg=alg)


class TokenFile:
    """Pre-issued valid tokens by user, plus the secret-free bad kinds.

    Case users are mapped onto the file's users in turn, never onto one the same case already uses: a case can have
    as many distinct users as the file has tokens, and one that needs more is told so (users sharing a ``sub`` would
    make the isolation rules see leaks that are not there).
    """

    def __init__(self, tokens: Mapping[str, str], environment: str) -> None:
        if not tokens:
            raise ConfigError(
                "wsagent: the token file holds no tokens; put one token (or 'user_id<TAB>token') per line"
            )
        self.tokens = dict(tokens)
        self.environment = check_environment(environment)
        self._unsigned = TokenFactory(None, environment)
        self._next = itertools.cycle(self.tokens)
        self._users: dict[str, str] = {}

    def user(self, name: str, taken: Collection[str] = ()) -> str:
        if name not in self._users:
            free = next((u for u in itertools.islice(self._next, len(self.tokens)) if u not in taken), None)
            if free is None:
                raise ConfigError(
                    f"wsagent: this case needs more distinct users than the token file has tokens ({len(self.tokens)})"
                )
            self._users[name] = free
        return self._users[name]

    def valid(self, sub: str, /) -> str:
        try:
            return self.tokens[sub]
        except KeyError:
            raise ConfigError(f"wsagent: the token file has no token for user {sub!r}") from None

    def bad(self, kind: BadToken | str, sub: str = "wsagent-intruder") -> str | None:
        return self._unsigned.bad(kind, sub)


def from_token_file(path: str | Path, environment: str) -> TokenFile:
    """Read ``user_id<TAB>token`` or bare-token lines (``#`` comments allowed); a bare token's user is its ``sub``.

    The ``sub`` is read without verifying the signature: the harness has no secret in this mode, the target checks.
    ``environment`` is the target's: the secret-free bad kinds depend on it (AUTH-5 signs with another one's default).
    """
    tokens: dict[str, str] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, _, token = line.rpartition("\t")
        if not user:
            try:
                user = str(jwt.decode(token, options={"verify_signature": False})["sub"])
            except (jwt.PyJWTError, KeyError):
                raise ConfigError(
                    f"wsagent: token file {str(path)!r} line {number}: not a JWT with a sub claim"
                ) from None
        tokens[user.strip()] = token.strip()
    return TokenFile(tokens, environment)
