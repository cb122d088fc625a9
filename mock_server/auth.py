"""Handshake authentication (PROTOCOL §1), pure: a request in, a :class:`UserContext` or :class:`AuthRejection` out.

No sockets and no websockets types here: server.py hands over the request target and raw headers and turns a
rejection into the HTTP 403 before the upgrade. Where the backend this models accepted first and rejected with a
frame afterwards, this server refuses before the upgrade, and E2E mode never relaxes verification.

Extraction order: ``Authorization: Bearer`` wins; else the first ``Sec-WebSocket-Protocol`` entry ``jwt.<...>``
(base64url without padding, re-padded here, or a raw JWT); else ``?token=`` outside production. The ``jwt.`` entry
is the subprotocol to select even when the Bearer header supplied the token. Rejection messages are fixed texts:
they never quote the token, the secret, or a library message that might.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from mock_server.e2e import headers_say_e2e
from mock_server.environment import Environment
from mock_server.faults import NO_FAULTS, FaultName, Faults
from mock_server.secrets import development_default

__all__ = [
    "ALGORITHM",
    "AUDIENCE",
    "ISSUER",
    "AuthRejection",
    "AuthSettings",
    "Extraction",
    "HandshakeRequest",
    "TokenInvalid",
    "Transport",
    "UserContext",
    "authenticate",
    "extract_token",
    "validate_token",
]

ALGORITHM = "HS256"
ISSUER = "netra-auth-service"
AUDIENCE = "netra-platform"
REQUIRED_CLAIMS = ("sub", "iat", "exp", "jti", "iss", "aud")
_MADE_OPTIONAL_BY = {
    "sub": FaultName.SUB_NOT_REQUIRED,
    "iat": FaultName.IAT_NOT_REQUIRED,
    "exp": FaultName.EXP_NOT_REQUIRED,
    "jti": FaultName.JTI_NOT_REQUIRED,
    "iss": FaultName.ISS_NOT_REQUIRED,
    "aud": FaultName.AUD_NOT_REQUIRED,
}
"""The fault that makes each required claim optional (checked only when present)."""
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
"""What a server that does not pin its algorithm accepts (the ``algorithm_not_pinned`` fault)."""
NO_TOKEN = "no token"
LEEWAY_S = 60
"""Clock skew tolerated on exp/nbf/iat; the harness keeps every time-based bad token at least 300 s off."""
MAX_TOKEN_CHARS = 16 * 1024
"""Longer tokens are refused unread: no legitimate access token is that large."""
SUBPROTOCOL_PREFIX = "jwt."
FORBIDDEN = 403


class Transport(StrEnum):
    BEARER = "bearer"
    SUBPROTOCOL = "subprotocol"
    QUERY = "query"


@dataclass(frozen=True, slots=True)
class HandshakeRequest:
    """What auth reads from the upgrade request: the request target (path and query) and the raw headers."""

    target: str
    headers: Sequence[tuple[str, str]] = ()

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    def query_param(self, name: str) -> str | None:
        values = parse_qs(urlsplit(self.target).query).get(name)
        return values[0] if values else None


@dataclass(frozen=True, slots=True)
class AuthSettings:
    secret: str = field(repr=False)
    environment: Environment
    issuer: str = ISSUER
    audience: str = AUDIENCE

    @property
    def allow_query_token(self) -> bool:
        return self.environment is not Environment.PRODUCTION


@dataclass(frozen=True, slots=True)
class UserContext:
    """Who the connection is: the token's ``sub`` and the claims it was admitted with."""

    user_id: str
    email: str | None
    permissions: tuple[str, ...]
    claims: Mapping[str, Any] = field(repr=False)
    transport: Transport
    subprotocol: str | None
    """The exact ``jwt.<...>`` entry to select, if the client offered one."""


@dataclass(frozen=True, slots=True)
class AuthRejection:
    """A refused handshake: server.py answers ``status`` with an ``AUTH_FAILED`` JSON body.

    ``reason`` is token-free (safe to log); ``message`` is what the client reads — the same text, unless the
    SEC-2 fault made auth quote the token in it.
    """

    reason: str
    status: int = FORBIDDEN
    quoted_token: str | None = field(default=None, repr=False)
    subprotocol: str | None = field(default=None, repr=False)
    """The ``jwt.<...>`` entry the client offered: a server that upgrades before refusing selects it all the same."""

    @property
    def message(self) -> str:
        return self.reason if self.quoted_token is None else f"{self.reason} (token: {self.quoted_token})"

    def body(self) -> dict[str, str]:
        return {"error_code": "AUTH_FAILED", "message": self.message}


class TokenInvalid(Exception):
    """A presented token failed validation; ``str(exc)`` is a fixed, token-free reason."""


@dataclass(frozen=True, slots=True)
class Extraction:
    """The token found (and how), the subprotocol entry to select, or why no usable token was found."""

    token: str | None = field(default=None, repr=False)
    transport: Transport | None = None
    subprotocol: str | None = None
    problem: str | None = None


def _bearer(request: HandshakeRequest) -> str | None:
    for value in request.header_values("authorization"):
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


def _subprotocol_entry(request: HandshakeRequest) -> str | None:
    for value in request.header_values("sec-websocket-protocol"):
        for entry in value.split(","):
            entry = entry.strip()
            if entry.startswith(SUBPROTOCOL_PREFIX):
                return entry
    return None


def _token_from_entry(entry: str, faults: Faults) -> str | None:
    """``jwt.<base64url(jwt)>`` (padding stripped by the browser, restored here) or a raw ``jwt.<jwt>``."""
    part = entry[len(SUBPROTOCOL_PREFIX):]
    if "." in part:  # base64url has no dots: this is a raw JWT
        return None if faults.enabled(FaultName.RAW_SUBPROTOCOL_REJECTED) else part
    try:
        decoded = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded or None


def _from_entry(entry: str, faults: Faults) -> Extraction:
    token = _token_from_entry(entry, faults)
    if token is None:
        return Extraction(subprotocol=entry, problem="malformed jwt. subprotocol entry (expected jwt.<base64url JWT>)")
    return Extraction(token, Transport.SUBPROTOCOL, entry)


def extract_token(request: HandshakeRequest, *, allow_query: bool, faults: Faults = NO_FAULTS) -> Extraction:
    """Find the token by the contract's precedence; no validation here."""
    entry = _subprotocol_entry(request)
    if entry and faults.enabled(FaultName.SUBPROTOCOL_TOKEN_PREFERRED_OVER_HEADER):
        return _from_entry(entry, faults)
    bearer = None if faults.enabled(FaultName.BEARER_HEADER_IGNORED) else _bearer(request)
    if bearer:
        return Extraction(bearer, Transport.BEARER, entry)
    if entry:
        return _from_entry(entry, faults)
    query = request.query_param("token")
    if query:
        if faults.enabled(FaultName.QUERY_TOKEN_REFUSED_OUTSIDE_PRODUCTION):
            allow_query = False
        if allow_query or faults.enabled(FaultName.QUERY_TOKEN_IN_PRODUCTION):
            return Extraction(query, Transport.QUERY)
        return Extraction(problem="query-string tokens are not accepted in production; send Authorization: Bearer")
    where = "Authorization: Bearer <jwt> or a jwt.<base64url> subprotocol" + (", or ?token=" if allow_query else "")
    return Extraction(problem=f"{NO_TOKEN}: send {where}")


_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid (nbf or iat in the future)"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed (HS256 only)"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.DecodeError, "malformed token"),
)


def _reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"missing required claim {exc.claim!r}"
    return next((text for kind, text in _REASONS if isinstance(exc, kind)), "invalid token")


def _optional(claim: str, faults: Faults) -> bool:
    """A required claim that its ``<claim>_not_required`` fault made optional (checked only when present)."""
    return faults.enabled(_MADE_OPTIONAL_BY[claim])


def _decode(token: str, secret: str | None, settings: AuthSettings, faults: Faults) -> dict[str, Any]:
    """Verify and decode; ``secret=None`` only for the ``alg_none_accepted`` fault (no signature check, the rest kept).

    pyjwt refuses a token without ``iss`` or ``aud`` whenever it checks them; a server that makes them optional
    checks them itself, when present (:func:`_check_claims`)."""
    required = [claim for claim in REQUIRED_CLAIMS if not _optional(claim, faults)]
    return jwt.decode(
        token,
        secret,
        algorithms=list(HMAC_ALGORITHMS) if faults.enabled(FaultName.ALGORITHM_NOT_PINNED) else [ALGORITHM],
        audience=settings.audience,
        issuer=settings.issuer,
        leeway=LEEWAY_S,
        options={
            "require": required,
            "verify_signature": secret is not None,
            "verify_exp": not faults.enabled(FaultName.EXPIRED_TOKEN_ACCEPTED),
            "verify_nbf": not faults.enabled(FaultName.NBF_NOT_VERIFIED),
            "verify_aud": not (faults.enabled(FaultName.AUDIENCE_NOT_CHECKED) or _optional("aud", faults)),
            "verify_iss": not (faults.enabled(FaultName.ISSUER_NOT_CHECKED) or _optional("iss", faults)),
            "verify_iat": True,
        },
    )


def _unsigned(token: str, faults: Faults) -> bool:
    """An ``alg: none`` token that the ``alg_none_accepted`` fault lets through unverified."""
    if not faults.enabled(FaultName.ALG_NONE_ACCEPTED):
        return False
    try:
        return str(jwt.get_unverified_header(token).get("alg", "")).lower() == "none"
    except jwt.PyJWTError:
        return False


def _decode_with_fallback_secrets(token: str, settings: AuthSettings, faults: Faults) -> dict[str, Any]:
    """The backend's "compatibility" retry with every environment's default secret; only as a fault."""
    for name in Environment:
        try:
            return _decode(token, development_default(name), settings, faults)
        except jwt.InvalidSignatureError:
            continue
    raise jwt.InvalidSignatureError("no secret matched")


def _check_claims(claims: Mapping[str, Any], settings: AuthSettings, faults: Faults) -> None:
    for claim in ("sub", "jti"):
        value = claims.get(claim)
        if (not isinstance(value, str) or not value) and not (claim not in claims and _optional(claim, faults)):
            raise TokenInvalid(f"{claim} must be a non-empty string")
    if _optional("iss", faults) and "iss" in claims and claims["iss"] != settings.issuer:
        raise TokenInvalid("wrong issuer")
    audiences = claims.get("aud") if isinstance(claims.get("aud"), list) else [claims.get("aud")]
    if _optional("aud", faults) and "aud" in claims and settings.audience not in audiences:
        raise TokenInvalid("wrong audience")
    if "type" in claims and claims["type"] != "access" and not faults.enabled(FaultName.TOKEN_TYPE_NOT_CHECKED):
        raise TokenInvalid("token type must be access")
    if "env" in claims and claims["env"] != settings.environment.value and not faults.enabled(FaultName.ENV_CLAIM_IGNORED):
        raise TokenInvalid(f"token issued for another environment (server: {settings.environment.value})")
    permissions = claims.get("permissions", [])
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise TokenInvalid("permissions must be a list of strings")
    if "email" in claims and not isinstance(claims["email"], str):
        raise TokenInvalid("email must be a string")


def validate_token(token: str, settings: AuthSettings, faults: Faults = NO_FAULTS) -> Mapping[str, Any]:
    """The verified claims, or :class:`TokenInvalid` with a token-free reason."""
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenInvalid(f"token larger than {MAX_TOKEN_CHARS} characters")
    try:
        try:
            claims = _decode(token, None if _unsigned(token, faults) else settings.secret, settings, faults)
        except jwt.InvalidSignatureError:
            if not faults.enabled(FaultName.OTHER_ENV_DEFAULT_SECRET_ACCEPTED):
                raise
            claims = _decode_with_fallback_secrets(token, settings, faults)
    except jwt.PyJWTError as exc:
        undecodable = isinstance(exc, jwt.DecodeError) and not isinstance(exc, jwt.InvalidSignatureError)
        if undecodable and faults.enabled(FaultName.MALFORMED_TOKEN_CRASHES):
            raise  # the handler's "cannot happen": the server answers the handshake with 500
        raise TokenInvalid(_reason(exc)) from None
    _check_claims(claims, settings, faults)
    return MappingProxyType(claims)


def _unverified_claims(token: str) -> Mapping[str, Any]:
    """The backend's E2E bypass: trust whatever the token says (only as the E2E-2 fault)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenInvalid(_reason(exc)) from None
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        claims["sub"] = "staging-e2e-user"
    return MappingProxyType(claims)


def authenticate(
    request: HandshakeRequest, settings: AuthSettings, *, e2e_active: bool = False, faults: Faults = NO_FAULTS
) -> UserContext | AuthRejection:
    """Admit or refuse one upgrade request. ``e2e_active`` only matters to the E2E-2 fault: E2E never skips auth."""
    found = extract_token(request, allow_query=settings.allow_query_token, faults=faults)
    if found.token is None or found.transport is None:
        if faults.enabled(FaultName.MISSING_TOKEN_ANONYMOUS) and (found.problem or "").startswith(NO_TOKEN):
            return UserContext("anonymous", None, (), MappingProxyType({}), Transport.BEARER, None)
        return AuthRejection(found.problem or NO_TOKEN, subprotocol=found.subprotocol)
    bypass_anywhere = faults.enabled(FaultName.E2E_SKIPS_TOKEN_VERIFICATION_IN_PRODUCTION)
    try:
        if (e2e_active and faults.enabled(FaultName.E2E_SKIPS_TOKEN_VERIFICATION)) or (
            bypass_anywhere and headers_say_e2e(request.headers, faults)
        ):
            claims = _unverified_claims(found.token)
        else:
            claims = validate_token(found.token, settings, faults)
    except TokenInvalid as exc:
        quoted = found.token if faults.enabled(FaultName.TOKEN_ECHOED_IN_REJECTION) else None
        return AuthRejection(f"authentication failed: {exc}", quoted_token=quoted, subprotocol=found.subprotocol)
    permissions = claims.get("permissions", [])
    return UserContext(
        user_id=str(claims["sub"] if "sub" in claims else claims.get("email")),
        email=claims.get("email") if isinstance(claims.get("email"), str) else None,
        permissions=tuple(permissions) if isinstance(permissions, list) else (),
        claims=claims,
        transport=found.transport,
        subprotocol=found.subprotocol,
    )

