"""Session/API tokens: what they look like, and every way one is refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import pytest

from mailroom.auth.model import AuthenticationError
from mailroom.auth.tokens import (
    InvalidTokenError,
    TokenKind,
    b64url_decode,
    b64url_encode,
    derive_key,
    issue_token,
    verify_token,
)

SECRET = "s" * 40
NOW = 1_800_000_000.0


def reason(token: str, *, secret: str = SECRET, now: float = NOW, kind: TokenKind = "session") -> str:
    with pytest.raises(InvalidTokenError) as caught:
        verify_token(secret, token, now, kind=kind)
    return caught.value.reason


def test_a_token_round_trips_with_its_claims() -> None:
    token = issue_token(SECRET, "Pat@Example.com", 3600, "session", now=NOW)
    claims = verify_token(SECRET, token, NOW + 10)
    assert claims.sub == "pat@example.com"
    assert (claims.iat, claims.exp) == (int(NOW), int(NOW) + 3600)
    assert claims.kind == "session"
    assert len(claims.sid) >= 16


def test_tokens_are_compact_url_and_cookie_safe() -> None:
    token = issue_token(SECRET, "pat@example.com", 3600, now=NOW)
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)
    assert len(token) < 250
    payload = json.loads(b64url_decode(token.split(".")[0]))
    assert set(payload) == {"sub", "iat", "exp", "sid", "kind"}


def test_every_token_gets_its_own_session_id() -> None:
    first = verify_token(SECRET, issue_token(SECRET, "a@example.com", 60, now=NOW), NOW)
    second = verify_token(SECRET, issue_token(SECRET, "a@example.com", 60, now=NOW), NOW)
    assert first.sid != second.sid


def test_an_api_token_is_checked_as_one() -> None:
    token = issue_token(SECRET, "bot@example.com", 60, "api", now=NOW)
    assert verify_token(SECRET, token, NOW, kind="api").kind == "api"


def test_expired() -> None:
    token = issue_token(SECRET, "a@example.com", 60, now=NOW)
    assert verify_token(SECRET, token, NOW + 59).sub == "a@example.com"
    assert reason(token, now=NOW + 60) == "expired"


def test_issued_in_the_future() -> None:
    token = issue_token(SECRET, "a@example.com", 3600, now=NOW + 600)
    assert reason(token) == "issued in the future"


def test_wrong_kind_either_way() -> None:
    api = issue_token(SECRET, "a@example.com", 60, "api", now=NOW)
    session = issue_token(SECRET, "a@example.com", 60, "session", now=NOW)
    assert reason(api).startswith("wrong kind")
    assert reason(session, kind="api").startswith("wrong kind")


def test_bad_signature_another_secret() -> None:
    token = issue_token("o" * 40, "a@example.com", 60, now=NOW)
    assert reason(token) == "bad signature"


def test_bad_signature_tampered_payload() -> None:
    token = issue_token(SECRET, "a@example.com", 60, now=NOW)
    payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["sub"] = "admin@example.com"
    forged = b64url_encode(json.dumps(claims).encode()) + "." + signature
    assert reason(forged) == "bad signature"


def test_bad_signature_tampered_signature() -> None:
    token = issue_token(SECRET, "a@example.com", 60, now=NOW)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert reason(flipped) == "bad signature"


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b.c", ".", "abc.", ".abc", "a b.c", "abc=.def", "a+b.c/d", "x" * 3000 + ".y", "é.é"],
)
def test_malformed(token: str) -> None:
    assert reason(token) == "malformed token"


def test_a_signed_but_malformed_payload_is_refused() -> None:
    """Only reachable with the secret, but the parser must still not trust the shape."""
    key = derive_key(SECRET, "session-token")
    for body in [
        b"not json",
        b"[]",
        b'{"sub": "a@example.com"}',
        b'{"sub":"a","iat":1,"exp":2,"sid":"s","kind":"root"}',
    ]:
        payload = b64url_encode(body)
        signature = b64url_encode(hmac.new(key, payload.encode(), hashlib.sha256).digest())
        assert reason(f"{payload}.{signature}") == "malformed payload"


def test_refusals_are_authentication_errors() -> None:
    assert issubclass(InvalidTokenError, AuthenticationError)


def test_short_secrets_and_silly_lifetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        issue_token("short", "a@example.com", 60)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        verify_token(b"short", "a.b", NOW)
    for ttl in (0, -5, 10**9):
        with pytest.raises(ValueError, match="ttl_seconds"):
            issue_token(SECRET, "a@example.com", ttl)


def test_keys_are_derived_per_purpose() -> None:
    assert derive_key(SECRET, "session-token") != derive_key(SECRET, "csrf")
    assert derive_key(SECRET, "csrf") == derive_key(SECRET.encode(), "csrf")


def test_b64url_decoding_is_strict() -> None:
    assert b64url_decode(b64url_encode(b"\xff\xfe hello")) == b"\xff\xfe hello"
    for bad in ["", "ab=", "a+b", "a/b", "a b", "a"]:
        with pytest.raises(ValueError, match="base64url"):
            b64url_decode(bad)
