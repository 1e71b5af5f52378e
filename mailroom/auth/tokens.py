"""Session and API tokens signed by the app itself (the sandbox's local sign-in, and the session
cookie after a Cognito sign-in), so no request needs a table read to know who is calling.

Format: ``base64url(JSON payload) "." base64url(HMAC-SHA256)``, unpadded: compact, URL- and
cookie-safe. The payload is ``{"sub", "iat", "exp", "sid", "kind"}``. ``sid`` is random per issue:
CSRF tokens are bound to it (:mod:`mailroom.auth.csrf`), and a server-side deny list could revoke it.

The signing key is derived from the configured secret per purpose (:func:`derive_key`), so one
secret (``MAILROOM_SESSION_SECRET``) serves tokens and CSRF without a value minted for one being
valid for the other. Tokens are signed, not encrypted: put nothing secret in them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mailroom.auth.model import AuthenticationError

TokenKind = Literal["session", "api"]

MIN_SECRET_BYTES = 32  # HMAC-SHA256 gains nothing from more, and a short one can be brute-forced
MAX_TOKEN_CHARS = 2048  # nothing legitimate comes close; refuse before doing any work
CLOCK_SKEW_SECONDS = 60  # between the Lambdas that issue and verify (``iat`` in the future)
MAX_TTL_SECONDS = 90 * 24 * 3600

_B64URL = re.compile(r"[A-Za-z0-9_-]+")


class InvalidTokenError(AuthenticationError):
    """The token is not one we issued, or no longer valid. ``reason`` says which."""


class Claims(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sub: str = Field(min_length=1)  # the person's email, lower-case
    iat: int
    exp: int
    sid: str = Field(min_length=1)
    kind: TokenKind


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict: only the URL-safe alphabet, no padding (the lenient stdlib decoder skips junk)."""
    if not _B64URL.fullmatch(text):
        raise ValueError("not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not unpadded base64url") from exc


def derive_key(secret: str | bytes, purpose: str) -> bytes:
    """A key for one purpose (``"session-token"``, ``"csrf"``) from the configured secret."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    if len(raw) < MIN_SECRET_BYTES:
        raise ValueError(f"the signing secret must be at least {MIN_SECRET_BYTES} bytes")
    return hmac.new(raw, f"mailroom/{purpose}".encode(), hashlib.sha256).digest()


def _signature(secret: str | bytes, signed: str) -> str:
    key = derive_key(secret, "session-token")
    return b64url_encode(hmac.new(key, signed.encode("ascii"), hashlib.sha256).digest())


def issue_token(
    secret: str | bytes,
    email: str,
    ttl_seconds: int,
    kind: TokenKind = "session",
    *,
    now: float | None = None,
) -> str:
    """A new token for ``email`` valid for ``ttl_seconds`` from ``now`` (default: the clock)."""
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"ttl_seconds must be within 1..{MAX_TTL_SECONDS}")
    issued = int(time.time() if now is None else now)
    claims = Claims(
        sub=email.strip().lower(),
        iat=issued,
        exp=issued + ttl_seconds,
        sid=secrets.token_urlsafe(16),
        kind=kind,
    )
    payload = b64url_encode(json.dumps(claims.model_dump(), separators=(",", ":")).encode("utf-8"))
    return f"{payload}.{_signature(secret, payload)}"


def verify_token(
    secret: str | bytes,
    token: str,
    now: float | None = None,
    *,
    kind: TokenKind = "session",
) -> Claims:
    """The claims of ``token`` if we signed it, it is of ``kind`` and it is valid at ``now``.

    The signature is checked (in constant time, on the encoded form, so no second encoding of a
    signature passes) before the payload is parsed: unauthenticated input never reaches the JSON
    parser. Raises :class:`InvalidTokenError` with the reason.
    """
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise InvalidTokenError("malformed token")
    payload, signature = token.split(".")
    if not _B64URL.fullmatch(payload) or not _B64URL.fullmatch(signature):
        raise InvalidTokenError("malformed token")
    if not hmac.compare_digest(_signature(secret, payload), signature):
        raise InvalidTokenError("bad signature")
    try:
        claims = Claims.model_validate_json(b64url_decode(payload))
    except ValueError as exc:  # pydantic's ValidationError is one too
        raise InvalidTokenError("malformed payload") from exc
    at = time.time() if now is None else now
    if at >= claims.exp:
        raise InvalidTokenError("expired")
    if claims.iat > at + CLOCK_SKEW_SECONDS:
        raise InvalidTokenError("issued in the future")
    if claims.kind != kind:
        raise InvalidTokenError(f"wrong kind: {claims.kind} token where a {kind} token is required")
    return claims
