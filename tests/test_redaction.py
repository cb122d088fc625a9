"""No secret and no minted token in anything a ``wsagent run`` leaves behind (PROTOCOL SEC-2, from the harness side).

Why: reports, JUnit XML, Allure results and logs are uploaded as CI artefacts and pasted into tickets. The harness
mints every token with the signing secret, so a leak is any of: the secret itself (raw or base64); a JWT
(``eyJ...eyJ...sig``) whose signature verifies with the secret; the base64url form of such a token (the
subprotocol transport); or a signature part, found by recomputing the HMAC of every ``header.payload`` that appears
and looking for it. Tokens signed with another secret (AUTH-5 mints those on purpose) are not ours and not leaks.

The run is the real command a user types, with the embedded reference server at log level DEBUG (websockets logs
request headers and frames at that level) and its log kept in the report folder; the harness's own stdout and
stderr are scanned too. :func:`test_the_scanner_finds_each_kind_of_leak` proves the scanner is not blind.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

import jwt

from mock_server.testing import mint_token
from tests.shell import user_env, wsagent

ROOT = Path(__file__).resolve().parent.parent
SECRET = "redaction-secret-7f3a9c1e5b2d8f4a6c0e"
RUN_LIMIT_S = 180.0
JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")
SIGNING_INPUT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+")
B64_JWT = re.compile(r"ZXlK[\w-]{40,}")
"""``base64url("eyJ...")`` starts with ``ZXlK``: a token carried in a ``jwt.<base64url>`` subprotocol entry."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def signed_with(token: str, secret: str) -> bool:
    try:
        jwt.decode(token, secret, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False, "verify_iss": False})
    except jwt.InvalidSignatureError:
        return False
    except jwt.PyJWTError:
        return False  # not even a well-formed token
    return True


@dataclass(frozen=True)
class Leak:
    where: str
    kind: str
    excerpt: str


def scan(where: str, text: str, secret: str) -> list[Leak]:
    """Every trace of ``secret`` or of a token signed with it in ``text``."""
    leaks: list[Leak] = []
    for form in {secret, b64url(secret.encode()), base64.b64encode(secret.encode()).decode().rstrip("=")}:
        if form in text:
            leaks.append(Leak(where, "secret", form[:12]))
    for match in JWT.finditer(text):
        if signed_with(match.group(), secret):
            leaks.append(Leak(where, "token", match.group()[:40]))
    for match in B64_JWT.finditer(text):
        try:
            decoded = base64.urlsafe_b64decode(match.group() + "=" * (-len(match.group()) % 4)).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            continue
        token = JWT.search(decoded)
        if token and signed_with(token.group(), secret):
            leaks.append(Leak(where, "base64url token", match.group()[:40]))
    for match in SIGNING_INPUT.finditer(text):
        signature = b64url(hmac.new(secret.encode(), match.group().encode(), hashlib.sha256).digest())
        if signature in text:
            leaks.append(Leak(where, "signature", signature[:12]))
    return leaks


def test_the_scanner_finds_each_kind_of_leak() -> None:
    token = mint_token(SECRET, "alice")
    header_payload, signature = token.rsplit(".", 1)
    foreign = mint_token("another-secret-entirely-0123456789", "alice")
    assert {leak.kind for leak in scan("t", f"Authorization: Bearer {token}", SECRET)} == {"token", "signature"}
    assert {leak.kind for leak in scan("t", f"jwt.{b64url(token.encode())}", SECRET)} == {"base64url token"}
    assert {leak.kind for leak in scan("t", f"{header_payload}.[redacted] sig={signature}", SECRET)} == {"signature"}
    assert {leak.kind for leak in scan("t", f"secret is {SECRET}", SECRET)} == {"secret"}
    assert scan("t", f"Bearer {foreign} {header_payload}.[redacted]", SECRET) == []


def test_a_debug_run_leaves_no_secret_and_no_token(tmp_path: Path) -> None:
    report = tmp_path / "report"
    done = wsagent(
        "run", "--only", "auth", "--only", "security", "--report-dir", str(report),
        "--", "--wsagent-server-args=--log-level DEBUG", "-p", "no:cacheprovider",
        env=user_env(WSAGENT_SECRET=SECRET), cwd=ROOT, timeout=RUN_LIMIT_S,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    logs = sorted(report.glob("server-*.log"))
    assert logs, "the embedded server's log must be kept in the report folder"
    server_log = "\n".join(log.read_text(encoding="utf-8", errors="replace") for log in logs)
    assert " DEBUG " in server_log, "the server must have logged its handshakes at DEBUG"
    assert "GET /ws" in server_log, "the server must have logged its handshakes at DEBUG"
    leaks = scan("stdout", done.stdout, SECRET) + scan("stderr", done.stderr, SECRET)
    files = [path for path in report.rglob("*") if path.is_file()]
    assert any(path.name == "conformance.json" for path in files)
    for path in files:
        leaks += scan(str(path.relative_to(report)), path.read_bytes().decode("utf-8", "replace"), SECRET)
    assert leaks == [], leaks
