"""Cognito ID tokens verified against a JWKS served by a fake fetcher (no network), and the
hosted UI's PKCE helpers and code exchange against a fake poster."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from mailroom.auth.cognito import (
    CodeExchangeError,
    CognitoTokenError,
    CognitoVerifier,
    JwksUnavailableError,
    authorize_url,
    exchange_code,
    pkce_pair,
    token_endpoint,
)
from mailroom.auth.model import AuthenticationError, Role

REGION = "eu-west-1"
POOL = "eu-west-1_AbCdEf123"
CLIENT = "3n4b5urk1ft4fl3mg5e62d9ado"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}"
JWKS_URL = f"{ISSUER}/.well-known/jwks.json"
NOW = 1_800_000_000
KID = "key-1"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return new_key()


def jwk(private: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    public: dict[str, Any] = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return {**public, "kid": kid, "alg": "RS256", "use": "sig"}


class FakeJwks:
    """Serves a JWKS document and counts fetches; ``keys`` can change between fetches."""

    def __init__(self, *keys: dict[str, Any]) -> None:
        self.keys = list(keys)
        self.urls: list[str] = []
        self.fail = False

    def __call__(self, url: str) -> Mapping[str, Any]:
        self.urls.append(url)
        if self.fail:
            raise OSError("connection refused")
        return {"keys": list(self.keys)}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sub": "0b1c2d3e-aaaa-bbbb-cccc-123456789012",
        "aud": CLIENT,
        "iss": ISSUER,
        "token_use": "id",
        "email": "Pat@Example.com",
        "email_verified": True,
        "name": "Pat Doe",
        "cognito:groups": ["agent"],
        "cognito:username": "pat",
        "auth_time": NOW - 10,
        "iat": NOW - 10,
        "exp": NOW + 3600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(private: rsa.RSAPrivateKey, payload: dict[str, Any], kid: str = KID) -> str:
    return jwt.encode(payload, private, algorithm="RS256", headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"


@pytest.fixture
def jwks(key: rsa.RSAPrivateKey) -> FakeJwks:
    return FakeJwks(jwk(key, KID))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(jwks: FakeJwks, clock: Clock) -> CognitoVerifier:
    return CognitoVerifier(REGION, POOL, CLIENT, jwks, clock=clock)


def refusal(verifier: CognitoVerifier, token: str, now: float = NOW) -> str:
    with pytest.raises(CognitoTokenError) as caught:
        verifier.verify(token, now=now)
    return caught.value.reason


# -- ID tokens ----------------------------------------------------------------------------------------


def test_a_valid_id_token_is_accepted(
    verifier: CognitoVerifier, key: rsa.RSAPrivateKey, jwks: FakeJwks
) -> None:
    identity = verifier.verify(sign(key, claims()), now=NOW)
    assert identity.email == "pat@example.com"
    assert identity.name == "Pat Doe"
    assert identity.subject == "0b1c2d3e-aaaa-bbbb-cccc-123456789012"
    assert identity.groups == ("agent",)
    assert identity.role is Role.AGENT
    assert jwks.urls == [JWKS_URL]


@pytest.mark.parametrize(
    ("groups", "role"),
    [
        (["finance"], Role.FINANCE),
        (["admin"], Role.ADMIN),
        (["finance", "agent"], Role.AGENT),
        (["agent", "admin", "finance"], Role.ADMIN),
        (["helpdesk"], None),
        (None, None),
    ],
)
def test_groups_map_to_a_role(
    verifier: CognitoVerifier, key: rsa.RSAPrivateKey, groups: list[str] | None, role: Role | None
) -> None:
    assert verifier.verify(sign(key, claims(**{"cognito:groups": groups})), now=NOW).role is role


def test_expired_beyond_the_leeway(verifier: CognitoVerifier, key: rsa.RSAPrivateKey) -> None:
    token = sign(key, claims(exp=NOW - 30))
    assert verifier.verify(token, now=NOW).email == "pat@example.com"  # within 60 s of leeway
    assert refusal(verifier, sign(key, claims(exp=NOW - 61))) == "expired"


def test_issued_in_the_future(verifier: CognitoVerifier, key: rsa.RSAPrivateKey) -> None:
    assert refusal(verifier, sign(key, claims(iat=NOW + 600))) == "issued in the future"


def test_wrong_audience(verifier: CognitoVerifier, key: rsa.RSAPrivateKey) -> None:
    assert refusal(verifier, sign(key, claims(aud="another-app-client"))) == "wrong audience"


def test_wrong_issuer(verifier: CognitoVerifier, key: rsa.RSAPrivateKey) -> None:
    other_pool = f"https://cognito-idp.{REGION}.amazonaws.com/{REGION}_Other"
    assert refusal(verifier, sign(key, claims(iss=other_pool))) == "wrong issuer"


def test_an_access_token_is_not_an_id_token(verifier: CognitoVerifier, key: rsa.RSAPrivateKey) -> None:
    assert refusal(verifier, sign(key, claims(token_use="access"))) == "not an ID token (token_use='access')"
    assert refusal(verifier, sign(key, claims(token_use=None))) == "not an ID token (token_use=None)"


def test_unknown_kid_is_refused_after_one_refetch(
    verifier: CognitoVerifier, key: rsa.RSAPrivateKey, jwks: FakeJwks, clock: Clock
) -> None:
    verifier.verify(sign(key, claims()), now=NOW)  # first fetch
    clock.now += 120
    assert refusal(verifier, sign(key, claims(), kid="rotated-away")) == "unknown key id 'rotated-away'"
    assert len(jwks.urls) == 2  # one refetch, in case the pool rotated its keys
    assert refusal(verifier, sign(key, claims(), kid="made-up")) == "unknown key id 'made-up'"
    assert len(jwks.urls) == 2  # and not one per request with a made-up kid


def test_a_rotated_key_is_found_by_the_refetch(
    verifier: CognitoVerifier,
    key: rsa.RSAPrivateKey,
    other_key: rsa.RSAPrivateKey,
    jwks: FakeJwks,
    clock: Clock,
) -> None:
    verifier.verify(sign(key, claims()), now=NOW)
    jwks.keys.append(jwk(other_key, "key-2"))
    clock.now += 120
    assert verifier.verify(sign(other_key, claims(), kid="key-2"), now=NOW).email == "pat@example.com"
    assert len(jwks.urls) == 2


def test_an_unknown_kid_on_the_first_request_does_not_fetch_twice(
    verifier: CognitoVerifier, key: rsa.RSAPrivateKey, jwks: FakeJwks
) -> None:
    assert refusal(verifier, sign(key, claims(), kid="nope")) == "unknown key id 'nope'"
    assert len(jwks.urls) == 1  # the keys were fetched a moment ago


def test_forged_signature(verifier: CognitoVerifier, other_key: rsa.RSAPrivateKey) -> None:
    assert refusal(verifier, sign(other_key, claims())) == "bad signature"


def test_tampered_payload(verifier: CognitoVerifier, key: rsa.RSAPrivateKey) -> None:
    header, _, signature = sign(key, claims()).split(".")
    payload = b64(json.dumps(claims(**{"cognito:groups": ["admin"]})).encode())
    assert refusal(verifier, f"{header}.{payload}.{signature}") == "bad signature"


def test_alg_none(verifier: CognitoVerifier) -> None:
    token = unsigned({"alg": "none", "kid": KID, "typ": "JWT"}, claims()) + "."
    assert refusal(verifier, token) == "unsupported algorithm 'none'"


def test_hs256_signed_with_the_public_key(verifier: CognitoVerifier, key: rsa.RSAPrivateKey) -> None:
    """The classic algorithm confusion: the public key (known to all) used as an HMAC secret."""
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signed = unsigned({"alg": "HS256", "kid": KID, "typ": "JWT"}, claims())
    token = f"{signed}.{b64(hmac.new(pem, signed.encode(), hashlib.sha256).digest())}"
    assert refusal(verifier, token) == "unsupported algorithm 'HS256'"


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "a.b"])
def test_malformed(verifier: CognitoVerifier, token: str) -> None:
    assert refusal(verifier, token) == "malformed token"


def test_no_kid(verifier: CognitoVerifier, key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode(claims(), key, algorithm="RS256")
    assert refusal(verifier, token) == "no key id"


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud"])
def test_required_claims(verifier: CognitoVerifier, key: rsa.RSAPrivateKey, claim: str) -> None:
    assert refusal(verifier, sign(key, claims(**{claim: None}))) == f"missing claim {claim!r}"


def test_email_must_be_present_and_verified(verifier: CognitoVerifier, key: rsa.RSAPrivateKey) -> None:
    assert refusal(verifier, sign(key, claims(email=None))) == "no email claim"
    assert refusal(verifier, sign(key, claims(email_verified=False))) == "email not verified"
    assert refusal(verifier, sign(key, claims(email_verified=None))) == "email not verified"
    assert verifier.verify(sign(key, claims(email_verified="true")), now=NOW).email == "pat@example.com"


def test_refusals_are_authentication_errors() -> None:
    assert issubclass(CognitoTokenError, AuthenticationError)


# -- the key cache ----------------------------------------------------------------------------------


def test_jwks_is_fetched_once_for_many_verifications(
    verifier: CognitoVerifier, key: rsa.RSAPrivateKey, jwks: FakeJwks, clock: Clock
) -> None:
    for n in range(25):
        clock.now += 60
        verifier.verify(sign(key, claims(sub=f"user-{n}")), now=NOW)
    assert jwks.urls == [JWKS_URL]


def test_jwks_is_refetched_after_its_ttl(key: rsa.RSAPrivateKey, jwks: FakeJwks, clock: Clock) -> None:
    verifier = CognitoVerifier(REGION, POOL, CLIENT, jwks, jwks_ttl_seconds=3600, clock=clock)
    verifier.verify(sign(key, claims()), now=NOW)
    clock.now += 3599
    verifier.verify(sign(key, claims()), now=NOW)
    assert len(jwks.urls) == 1
    clock.now += 1
    verifier.verify(sign(key, claims()), now=NOW)
    assert len(jwks.urls) == 2


def test_cached_keys_outlive_a_failed_refresh(key: rsa.RSAPrivateKey, jwks: FakeJwks, clock: Clock) -> None:
    verifier = CognitoVerifier(REGION, POOL, CLIENT, jwks, jwks_ttl_seconds=60, clock=clock)
    verifier.verify(sign(key, claims()), now=NOW)
    jwks.fail = True
    clock.now += 120
    assert verifier.verify(sign(key, claims()), now=NOW).email == "pat@example.com"


def test_no_keys_at_all_is_a_service_problem(
    verifier: CognitoVerifier, key: rsa.RSAPrivateKey, jwks: FakeJwks
) -> None:
    jwks.fail = True
    with pytest.raises(JwksUnavailableError, match=r"jwks\.json"):
        verifier.verify(sign(key, claims()), now=NOW)
    assert not issubclass(JwksUnavailableError, AuthenticationError)  # 503, not 401
    with pytest.raises(JwksUnavailableError, match="no signing keys"):
        verifier.verify(sign(key, claims()), now=NOW)  # until the retry interval has passed
    assert len(jwks.urls) == 1


def test_the_first_fetch_is_retried_after_an_outage(
    verifier: CognitoVerifier, key: rsa.RSAPrivateKey, jwks: FakeJwks, clock: Clock
) -> None:
    jwks.fail = True
    with pytest.raises(JwksUnavailableError):
        verifier.verify(sign(key, claims()), now=NOW)
    jwks.fail = False
    clock.now += 60
    assert verifier.verify(sign(key, claims()), now=NOW).email == "pat@example.com"
    assert len(jwks.urls) == 2


def test_an_empty_jwks_does_not_drop_the_cached_keys(
    key: rsa.RSAPrivateKey, jwks: FakeJwks, clock: Clock
) -> None:
    verifier = CognitoVerifier(REGION, POOL, CLIENT, jwks, jwks_ttl_seconds=60, clock=clock)
    verifier.verify(sign(key, claims()), now=NOW)
    jwks.keys = []
    clock.now += 120
    assert verifier.verify(sign(key, claims()), now=NOW).email == "pat@example.com"
    assert len(jwks.urls) == 2


def test_unusable_keys_in_the_jwks_are_skipped(key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    fetch = FakeJwks(
        {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "x", "y": "y"},
        {**jwk(other_key, "enc"), "use": "enc"},
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        "not even a dict",  # type: ignore[arg-type]
        jwk(key, KID),
    )
    verifier = CognitoVerifier(REGION, POOL, CLIENT, fetch)
    assert verifier.verify(sign(key, claims()), now=NOW).email == "pat@example.com"
    assert refusal(verifier, sign(other_key, claims(), kid="enc")) == "unknown key id 'enc'"


# -- hosted UI --------------------------------------------------------------------------------------


def test_pkce_pair() -> None:
    verifier, challenge = pkce_pair()
    assert re.fullmatch(r"[A-Za-z0-9._~-]{43,128}", verifier)
    assert challenge == b64(hashlib.sha256(verifier.encode()).digest())
    assert pkce_pair()[0] != verifier


@pytest.mark.parametrize(
    "domain", ["auth.example.com", "https://auth.example.com/", " https://auth.example.com "]
)
def test_authorize_url(domain: str) -> None:
    url = authorize_url(domain, CLIENT, "https://app.example.com/auth/callback", "st&te=1", "chal-lenge")
    parts = urllib.parse.urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "auth.example.com", "/oauth2/authorize")
    assert urllib.parse.parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": [CLIENT],
        "redirect_uri": ["https://app.example.com/auth/callback"],
        "state": ["st&te=1"],
        "scope": ["openid email profile"],
        "code_challenge": ["chal-lenge"],
        "code_challenge_method": ["S256"],
    }
    assert token_endpoint(domain) == "https://auth.example.com/oauth2/token"


class FakePoster:
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body
        self.calls: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        self.calls.append((url, urllib.parse.parse_qs(body.decode()), dict(headers)))
        return self.status, self.body


TOKENS = {
    "id_token": "i.d.t",
    "access_token": "a.c.t",
    "refresh_token": "r",
    "expires_in": 3600,
    "token_type": "Bearer",
}
TOKEN_URL = "https://auth.example.com/oauth2/token"
REDIRECT = "https://app.example.com/auth/callback"


def test_exchange_code_posts_the_form_and_returns_tokens() -> None:
    poster = FakePoster(200, json.dumps(TOKENS).encode())
    tokens = exchange_code(TOKEN_URL, CLIENT, "the-code", "the-verifier", REDIRECT, http_post=poster)
    assert (tokens.id_token, tokens.access_token, tokens.refresh_token, tokens.expires_in) == (
        "i.d.t",
        "a.c.t",
        "r",
        3600,
    )
    [(url, form, headers)] = poster.calls
    assert url == TOKEN_URL
    assert form == {
        "grant_type": ["authorization_code"],
        "client_id": [CLIENT],
        "code": ["the-code"],
        "code_verifier": ["the-verifier"],
        "redirect_uri": [REDIRECT],
    }
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in headers


def test_exchange_code_with_a_client_secret_uses_basic_auth() -> None:
    poster = FakePoster(200, json.dumps(TOKENS).encode())
    exchange_code(TOKEN_URL, CLIENT, "c", "v", REDIRECT, http_post=poster, client_secret="s3cret")
    expected = base64.b64encode(f"{CLIENT}:s3cret".encode()).decode()
    assert poster.calls[0][2]["Authorization"] == f"Basic {expected}"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, b'{"error":"invalid_grant"}', "answered 400: invalid_grant"),
        (500, b"<html>oops</html>", "answered 500 without a JSON object"),
        (200, b"[]", "answered 200 without a JSON object"),
        (200, b'{"access_token":"a","expires_in":3600}', "lacks id_token"),
    ],
)
def test_exchange_code_failures(status: int, body: bytes, message: str) -> None:
    with pytest.raises(CodeExchangeError, match=re.escape(message)):
        exchange_code(TOKEN_URL, CLIENT, "c", "v", REDIRECT, http_post=FakePoster(status, body))


def test_logout_goes_through_the_hosted_ui_back_to_the_sign_in_page() -> None:
    from urllib.parse import parse_qs, urlsplit

    from mailroom.auth.cognito import logout_url

    url = logout_url(
        "https://mailroom-dev.auth.eu-west-1.amazoncognito.com",
        "client123",
        "https://inbox.example.com/auth/callback",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "mailroom-dev.auth.eu-west-1.amazoncognito.com",
        "/logout",
    )
    assert parse_qs(parts.query) == {
        "client_id": ["client123"],
        "logout_uri": ["https://inbox.example.com/signin"],
    }
