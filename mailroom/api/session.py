"""Who is calling: a bearer token (scripts, tests) or the session cookie (the browser).

Local mode (the sandbox) verifies our own signed tokens; Cognito mode verifies Cognito ID tokens for
bearer calls, and our own session cookie issued after the hosted-UI sign-in. Either way the person
must be an active user in the directory: the directory, not the token, decides role and access.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from mailroom.api import wiring
from mailroom.auth.cookies import read_session_cookie
from mailroom.auth.csrf import csrf_token
from mailroom.auth.model import AuthenticationError, Principal
from mailroom.auth.permissions_store import load_principal
from mailroom.auth.tokens import verify_token
from mailroom.settings import Settings, get_settings

if TYPE_CHECKING:  # PyJWT is only imported when Cognito mode verifies a token
    from mailroom.auth.cognito import CognitoVerifier


@dataclass(frozen=True)
class Session:
    principal: Principal
    via: Literal["cookie", "bearer"]
    sid: str | None = None  # cookie sessions only: binds the CSRF token

    def csrf(self) -> str:
        return csrf_token(session_secret(), self.sid) if self.sid else ""


def session_secret(settings: Settings | None = None) -> str:
    """The key that signs sessions, bearer tokens and CSRF tokens: ``MAILROOM_SESSION_SECRET``, or
    on AWS the Secrets Manager secret named by ``MAILROOM_SESSION_SECRET_ARN``."""
    settings = settings or get_settings()
    secret = settings.session_secret
    if not secret and settings.session_secret_arn:
        from mailroom.secrets import secret_string

        secret = secret_string(settings.session_secret_arn, settings.region)
    if not secret or len(secret) < 32:
        raise RuntimeError(
            "the session secret must be at least 32 characters: set MAILROOM_SESSION_SECRET, "
            "or MAILROOM_SESSION_SECRET_ARN to a Secrets Manager secret"
        )
    return secret


@lru_cache(maxsize=1)
def cognito_verifier() -> CognitoVerifier:
    """One per container, so the pool's signing keys stay cached between invocations."""
    from mailroom.auth.cognito import CognitoVerifier

    settings = get_settings()
    if not settings.cognito_user_pool_id or not settings.cognito_client_id:
        raise RuntimeError("Cognito mode needs MAILROOM_COGNITO_USER_POOL_ID and MAILROOM_COGNITO_CLIENT_ID")
    return CognitoVerifier(settings.region, settings.cognito_user_pool_id, settings.cognito_client_id)


def _bearer_email(token: str, settings: Settings) -> str:
    if settings.auth_mode == "local":
        return verify_token(session_secret(settings), token, kind="api").sub
    return cognito_verifier().verify(token).email


def authenticate(event: BaseProxyEvent) -> Session | None:
    """The caller's session, or None (no credentials, or credentials we don't accept)."""
    settings = get_settings()
    header = event.headers.get("authorization") or event.headers.get("Authorization") or ""
    try:
        if header.lower().startswith("bearer "):
            email = _bearer_email(header[7:].strip(), settings)
            principal = load_principal(
                wiring.table(), email, directory_max_age_s=settings.directory_cache_seconds
            )
            return Session(principal=principal, via="bearer") if principal else None
        cookie = read_session_cookie(getattr(event, "cookies", None), settings.cookie_secure)
        if not cookie:
            return None
        claims = verify_token(session_secret(settings), cookie, kind="session")
    except AuthenticationError:
        return None
    principal = load_principal(
        wiring.table(), claims.sub, directory_max_age_s=settings.directory_cache_seconds
    )
    return Session(principal=principal, via="cookie", sid=claims.sid) if principal else None
