"""Signing in and out. The sandbox shows a picker of its users; on AWS, Cognito's hosted UI with the
authorization code flow and PKCE. Either way the browser ends up with our HttpOnly session cookie."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from mailroom.api import wiring
from mailroom.api.render import render
from mailroom.api.session import session_secret
from mailroom.audit.log import SIGNIN, record
from mailroom.auth.cookies import clear_session_cookie, read_cookie, session_cookie
from mailroom.auth.permissions_store import load_principal
from mailroom.auth.tokens import issue_token
from mailroom.inbox.directory import list_users
from mailroom.observability import logger
from mailroom.settings import get_settings

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated

FLOW_COOKIE = "mailroom_signin"  # the PKCE verifier, state and destination, for ten minutes


def _safe_next(value: str | None) -> str:
    """Only our own paths: never an absolute URL an attacker chose (an open redirect). Browsers
    drop tabs and line breaks from URLs (``/\t/evil.example`` is ``//evil.example``), so any
    control character or whitespace refuses the value rather than being trusted to stay."""
    if not value or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return "/"
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _signed_in(email: str, destination: str) -> Response[str]:
    settings = get_settings()
    try:  # the audit log: a failure to record must not lock everyone out
        record(wiring.table(), actor=email, action=SIGNIN, target=email, details={"mode": settings.auth_mode})
    except Exception:
        logger.exception("could not record the sign-in in the audit log")
    token = issue_token(session_secret(settings), email, settings.session_ttl_seconds, kind="session")
    return Response(
        status_code=303,
        body="",
        headers={
            "Location": _safe_next(destination),
            "Set-Cookie": session_cookie(token, settings.session_ttl_seconds, settings.cookie_secure),
        },
    )


@router.get("/signin", include_in_schema=False)
def signin_page() -> Response[str]:
    settings = get_settings()
    destination = _safe_next((router.current_event.query_string_parameters or {}).get("next"))
    if settings.auth_mode == "cognito":
        return _start_hosted_ui(destination)
    users = sorted(list_users(wiring.table()), key=lambda u: (str(u.get("role")), str(u.get("email"))))
    return render("signin.html", users=users, next=destination)


@router.post("/signin", include_in_schema=False)
def signin_local() -> Response[str]:
    """The sandbox's sign-in: pick a seeded user (there is no password in the local stand-in)."""
    if get_settings().auth_mode != "local":
        return Response(status_code=404, body="")
    form = parse_qs(router.current_event.decoded_body or "")
    email = (form.get("email") or [""])[0].strip().lower()
    if load_principal(wiring.table(), email) is None:
        users = list_users(wiring.table())
        return render(
            "signin.html", status_code=400, users=users, next="/", error=f"No active user {email!r}."
        )
    return _signed_in(email, (form.get("next") or ["/"])[0])


@router.get("/signout", include_in_schema=False)
def signout() -> Response[str]:
    """Forget our session; with Cognito, end the hosted UI's session too (or the next sign-in
    would skip the login and sign the same person straight back in)."""
    settings = get_settings()
    location = "/signin"
    if settings.auth_mode == "cognito" and settings.cognito_domain and settings.cognito_client_id:
        from mailroom.auth.cognito import logout_url

        location = logout_url(
            settings.cognito_domain, settings.cognito_client_id, settings.cognito_redirect_uri
        )
    return Response(
        status_code=303,
        body="",
        headers={"Location": location, "Set-Cookie": clear_session_cookie(settings.cookie_secure)},
    )


def _start_hosted_ui(destination: str) -> Response[str]:
    from mailroom.auth.cognito import authorize_url, pkce_pair

    settings = get_settings()
    if not settings.cognito_domain or not settings.cognito_client_id or not settings.cognito_redirect_uri:
        return Response(status_code=500, body="Cognito sign-in is not configured", content_type="text/plain")
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(24)
    flow = issue_token(session_secret(settings), f"{state}|{verifier}|{destination}", 600, kind="session")
    return Response(
        status_code=303,
        body="",
        headers={
            "Location": authorize_url(
                settings.cognito_domain,
                settings.cognito_client_id,
                settings.cognito_redirect_uri,
                state,
                challenge,
            ),
            "Set-Cookie": f"{FLOW_COOKIE}={flow}; Max-Age=600; Path=/auth/; HttpOnly; Secure; SameSite=Lax",
        },
    )


@router.get("/auth/callback", include_in_schema=False)
def cognito_callback() -> Response[str]:
    """Cognito's redirect: check ``state``, exchange the code with the PKCE verifier, verify the ID
    token against the pool's keys, and start our own session for the person it names."""
    from mailroom.api.session import cognito_verifier
    from mailroom.auth.cognito import exchange_code, token_endpoint
    from mailroom.auth.model import AuthenticationError
    from mailroom.auth.tokens import verify_token

    settings = get_settings()
    query = router.current_event.query_string_parameters or {}
    flow_token = read_cookie(getattr(router.current_event, "cookies", None), FLOW_COOKIE)
    try:
        if not flow_token or not query.get("code"):
            raise AuthenticationError("the sign-in flow expired; start again")
        state, verifier, destination = verify_token(session_secret(settings), flow_token).sub.split("|", 2)
        if not secrets.compare_digest(state, query.get("state", "")):
            raise AuthenticationError("the sign-in state does not match; start again")
        tokens = exchange_code(
            token_endpoint(str(settings.cognito_domain)),
            str(settings.cognito_client_id),
            query["code"],
            verifier,
            str(settings.cognito_redirect_uri),
        )
        identity = cognito_verifier().verify(tokens.id_token)
    except AuthenticationError as exc:
        return Response(status_code=401, body=f"Sign-in failed: {exc}", content_type="text/plain")
    if load_principal(wiring.table(), identity.email) is None:
        return Response(
            status_code=403, body="You have no access to Mailroom yet.", content_type="text/plain"
        )
    return _signed_in(identity.email, destination)
