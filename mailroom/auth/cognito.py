"""Sign-in through Amazon Cognito's hosted UI: PKCE helpers, the code exchange, and verification
of the ID token the app receives (an RS256 JWT signed with one of the user pool's keys).

Nothing here opens a connection by itself: the JWKS fetcher and the HTTP poster are parameters
(with small ``urllib`` defaults for production), so tests never touch the network. Build one
:class:`CognitoVerifier` per process (module level in the Lambda) so its key cache survives
between invocations.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import jwt
from jwt.algorithms import RSAAlgorithm
from pydantic import BaseModel, ConfigDict

from mailroom.auth.model import AuthenticationError, Role
from mailroom.auth.tokens import b64url_encode

ALGORITHM = "RS256"
DEFAULT_LEEWAY_SECONDS = 60
DEFAULT_JWKS_TTL_SECONDS = 6 * 3600  # Cognito rotates keys rarely and announces the new kid early
MIN_REFETCH_INTERVAL_SECONDS = 60  # unknown kids are attacker-controlled: don't refetch on each
HTTP_TIMEOUT_SECONDS = 5

# A person in several groups gets the first of these they belong to.
_GROUP_ROLES = (Role.ADMIN, Role.AGENT, Role.FINANCE)

JwksFetcher = Callable[[str], Mapping[str, Any]]  # url -> the parsed JWKS document


class HttpPost(Protocol):
    def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """POST ``body`` to ``url``; the response's status and body."""
        ...


class CognitoTokenError(AuthenticationError):
    """The ID token is not acceptable; ``reason`` says why (401)."""


class JwksUnavailableError(Exception):
    """The pool's signing keys could not be fetched and none are cached: a service problem (503),
    not the caller's fault."""


class CodeExchangeError(Exception):
    """The token endpoint refused the authorization code (expired, reused, wrong verifier...)."""


class CognitoIdentity(BaseModel):
    """What a verified ID token says about the person. ``role`` is None when none of their groups
    is a role: the caller must refuse them."""

    model_config = ConfigDict(frozen=True)

    subject: str
    email: str
    name: str
    groups: tuple[str, ...]
    role: Role | None


class TokenSet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id_token: str
    access_token: str
    refresh_token: str | None = None
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 (a type name, not a secret)


def issuer_url(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


def role_from_groups(groups: tuple[str, ...]) -> Role | None:
    for role in _GROUP_ROLES:
        if role.value in groups:
            return role
    return None


# -- keys ------------------------------------------------------------------------------------------


def urllib_fetch_json(url: str) -> Mapping[str, Any]:
    """The production JWKS fetcher."""
    if not url.startswith("https://"):
        raise ValueError("keys are only fetched over https")
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 (https only)
        document: Mapping[str, Any] = json.load(response)
    return document


def _parse_jwks(document: Mapping[str, Any]) -> dict[str, Any]:
    """``kid`` -> RSA public key, for the keys usable to verify RS256 signatures."""
    keys: dict[str, Any] = {}
    for jwk in document.get("keys") or []:
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "RSA" or not isinstance(jwk.get("kid"), str):
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            keys[jwk["kid"]] = RSAAlgorithm.from_jwk(dict(jwk))
        except (jwt.InvalidKeyError, ValueError, KeyError, TypeError):
            continue  # one broken key must not take the others down
    return keys


class JwksCache:
    """The pool's public keys, cached for ``ttl_seconds``. An unknown ``kid`` triggers one refetch
    (the pool may have rotated its keys), at most every ``min_refetch_interval`` seconds so a
    stream of tokens with made-up kids cannot turn into a stream of requests to Cognito. If a
    refresh fails, the keys already held keep working."""

    def __init__(
        self,
        url: str,
        fetch: JwksFetcher = urllib_fetch_json,
        *,
        ttl_seconds: float = DEFAULT_JWKS_TTL_SECONDS,
        min_refetch_interval: float = MIN_REFETCH_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._fetch = fetch
        self._ttl = ttl_seconds
        self._min_interval = min_refetch_interval
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> Any | None:
        """The public key for ``kid``, or None if the pool has no such key."""
        with self._lock:
            now = self._clock()
            if self._should_refresh(kid, now):
                self._refresh(now)
            if not self._keys:  # an outage at a cold start: retried after min_refetch_interval
                raise JwksUnavailableError(f"no signing keys from {self.url}")
            return self._keys.get(kid)

    def _should_refresh(self, kid: str, now: float) -> bool:
        if self._fetched_at is None:
            return True
        age = now - self._fetched_at
        return age >= self._ttl or (kid not in self._keys and age >= self._min_interval)

    def _refresh(self, now: float) -> None:
        self._fetched_at = now  # failed or not: the next attempt waits its interval
        try:
            keys = _parse_jwks(self._fetch(self.url))
        except Exception as exc:
            if not self._keys:
                raise JwksUnavailableError(f"could not fetch {self.url}: {exc}") from exc
            return  # keep the stale keys
        if keys:  # a document without a usable key is an error on their side: keep ours
            self._keys = keys


# -- ID tokens -------------------------------------------------------------------------------------


class CognitoVerifier:
    """Verifies ID tokens of one user pool and app client."""

    def __init__(
        self,
        region: str,
        user_pool_id: str,
        client_id: str,
        fetch: JwksFetcher = urllib_fetch_json,
        *,
        leeway_seconds: int = DEFAULT_LEEWAY_SECONDS,
        jwks_ttl_seconds: float = DEFAULT_JWKS_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer_url(region, user_pool_id)
        self.client_id = client_id
        self.leeway = leeway_seconds
        self.jwks = JwksCache(
            f"{self.issuer}/.well-known/jwks.json", fetch, ttl_seconds=jwks_ttl_seconds, clock=clock
        )

    def verify(self, token: str, now: float | None = None) -> CognitoIdentity:
        """The identity in ``token`` if it is a valid, current ID token of this pool and client.

        Raises :class:`CognitoTokenError` (with the reason) or :class:`JwksUnavailableError`.
        """
        claims = self._verified_claims(token)
        self._check_times(claims, time.time() if now is None else now)
        if claims.get("token_use") != "id":
            raise CognitoTokenError(f"not an ID token (token_use={claims.get('token_use')!r})")
        email = claims.get("email")
        if not isinstance(email, str) or not email.strip():
            raise CognitoTokenError("no email claim")
        if claims.get("email_verified") not in (True, "true"):
            # With self-service sign-up an unverified address could be anyone's.
            raise CognitoTokenError("email not verified")
        raw_groups = claims.get("cognito:groups") or []
        groups = tuple(g for g in raw_groups if isinstance(g, str)) if isinstance(raw_groups, list) else ()
        return CognitoIdentity(
            subject=str(claims.get("sub", "")),
            email=email.strip().lower(),
            name=str(claims.get("name") or ""),
            groups=groups,
            role=role_from_groups(groups),
        )

    def _verified_claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise CognitoTokenError("malformed token") from exc
        algorithm = header.get("alg")
        if algorithm != ALGORITHM:
            # Refuse "none" and HS256 (signed with the public key as an HMAC secret) before
            # looking at anything else.
            raise CognitoTokenError(f"unsupported algorithm {algorithm!r}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise CognitoTokenError("no key id")
        key = self.jwks.key(kid)
        if key is None:
            raise CognitoTokenError(f"unknown key id {kid!r}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.client_id,
                issuer=self.issuer,
                # Times are checked by _check_times against an injectable clock.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "iat", "iss", "aud"],
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise CognitoTokenError("bad signature") from exc
        except jwt.InvalidAudienceError as exc:
            raise CognitoTokenError("wrong audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise CognitoTokenError("wrong issuer") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise CognitoTokenError(f"missing claim {exc.claim!r}") from exc
        except jwt.InvalidTokenError as exc:
            raise CognitoTokenError(f"invalid token: {exc}") from exc
        return claims

    def _check_times(self, claims: Mapping[str, Any], now: float) -> None:
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise CognitoTokenError("exp and iat must be numbers")
        if now >= exp + self.leeway:
            raise CognitoTokenError("expired")
        if iat > now + self.leeway:
            raise CognitoTokenError("issued in the future")


# -- hosted UI: authorization code with PKCE --------------------------------------------------------


def pkce_pair() -> tuple[str, str]:
    """A fresh ``(code_verifier, code_challenge)`` for the S256 method (RFC 7636). Keep the
    verifier server-side (or in a short-lived HttpOnly cookie) until the callback."""
    verifier = secrets.token_urlsafe(64)  # 86 characters of the unreserved alphabet
    challenge = b64url_encode(hashlib.sha256(verifier.encode("ascii")).digest())
    return verifier, challenge


def _origin(domain: str) -> str:
    """``auth.example.com`` or ``https://auth.example.com/`` -> ``https://auth.example.com``."""
    domain = domain.strip().rstrip("/")
    return domain if domain.startswith(("https://", "http://")) else f"https://{domain}"


def authorize_url(
    domain: str,
    client_id: str,
    redirect_uri: str,
    state: str,
    challenge: str,
    *,
    scopes: tuple[str, ...] = ("openid", "email", "profile"),
) -> str:
    """Where to send the browser to sign in. ``state`` must be random per attempt and checked on
    the callback (it is the CSRF protection of the sign-in itself)."""
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": " ".join(scopes),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        quote_via=urllib.parse.quote,
    )
    return f"{_origin(domain)}/oauth2/authorize?{query}"


def token_endpoint(domain: str) -> str:
    return f"{_origin(domain)}/oauth2/token"


def urllib_post(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
    """The production poster: errors with a body (Cognito's 400s) are returned, not raised."""
    if not url.startswith("https://"):
        raise ValueError("tokens are only exchanged over https")
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def exchange_code(
    token_url: str,
    client_id: str,
    code: str,
    verifier: str,
    redirect_uri: str,
    *,
    http_post: HttpPost = urllib_post,
    client_secret: str | None = None,
) -> TokenSet:
    """Trade the callback's ``code`` for tokens. Verify the returned ``id_token`` with
    :class:`CognitoVerifier` before trusting it: this function only checks the response's shape."""
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": redirect_uri,
    }
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if client_secret is not None:  # a confidential app client authenticates with HTTP Basic
        pair = f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(client_secret)}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    status, body = http_post(token_url, urllib.parse.urlencode(form).encode("ascii"), headers)
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise CodeExchangeError(f"token endpoint answered {status} without a JSON object")
    if status != 200:
        error = document.get("error", "unknown_error")
        raise CodeExchangeError(f"token endpoint answered {status}: {error}")
    try:
        return TokenSet.model_validate(document)
    except ValueError as exc:
        raise CodeExchangeError("token endpoint response lacks id_token/access_token/expires_in") from exc


def logout_url(domain: str, client_id: str, redirect_uri: str | None) -> str:
    """The hosted UI's logout endpoint, coming back to our sign-in page (an allowed logout URL of
    the app client: the origin of ``redirect_uri`` + ``/signin``)."""
    parts = urllib.parse.urlsplit(redirect_uri or "")
    back = f"{parts.scheme}://{parts.netloc}/signin" if parts.scheme and parts.netloc else "/signin"
    query = urllib.parse.urlencode({"client_id": client_id, "logout_uri": back})
    return f"{_origin(domain)}/logout?{query}"
