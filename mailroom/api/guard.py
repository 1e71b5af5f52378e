"""The gate in front of every route: who is calling, and CSRF for cookie-authenticated writes."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from mailroom.api.form_data import read_form
from mailroom.api.session import Session, authenticate, session_secret
from mailroom.auth.csrf import CSRF_FORM_FIELD, CSRF_HEADER, check_csrf, requires_csrf

SESSION_KEY = "session"
# Reachable without signing in: the sign-in flow itself, static assets and the API's description.
PUBLIC_PREFIXES = ("/signin", "/auth/", "/static/", "/api/openapi.json")


def _is_public(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIXES)


def _presented_csrf(app: ApiGatewayResolver) -> str | None:
    event = app.current_event
    header = event.headers.get(CSRF_HEADER.lower()) or event.headers.get(CSRF_HEADER)
    if header:
        return header
    # A form sent without htmx carries it as a field (urlencoded, or multipart with a file).
    values = read_form(event).fields.get(CSRF_FORM_FIELD)
    return values[0] if values else None


def _local(url: str) -> str:
    """The path (and query) of a URL of ours: never an absolute URL to bounce elsewhere."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def require_session(app: ApiGatewayResolver, next_middleware: NextMiddleware) -> Response[object]:
    path = app.current_event.path
    if _is_public(path):
        return next_middleware(app)
    session = authenticate(app.current_event)
    if session is None:
        if path.startswith("/api/"):
            return Response(
                status_code=401,
                content_type=content_types.APPLICATION_JSON,
                body='{"message": "Sign in first: Authorization: Bearer <token>, or sign in at /signin."}',
                headers={"WWW-Authenticate": 'Bearer realm="mailroom"'},
            )
        signin = f"/signin?next={quote(path)}"
        if app.current_event.headers.get("hx-request"):
            # An htmx request (a poll, a form) from a page whose session ended: send the whole
            # page to the sign-in, rather than swapping the sign-in page into a fragment.
            current = app.current_event.headers.get("hx-current-url") or path
            return Response(
                status_code=200, body="", headers={"HX-Redirect": f"/signin?next={quote(_local(current))}"}
            )
        return Response(status_code=303, body="", headers={"Location": signin})
    method = app.current_event.http_method
    if session.via == "cookie" and requires_csrf(method):
        assert session.sid is not None
        if not check_csrf(session_secret(), session.sid, _presented_csrf(app)):
            return Response(
                status_code=403,
                content_type=content_types.APPLICATION_JSON,
                body='{"message": "The CSRF token is missing or wrong: reload the page and try again."}',
            )
    app.append_context(**{SESSION_KEY: session})  # type: ignore[no-untyped-call]
    return next_middleware(app)


def current_session(context: dict[str, object]) -> Session:
    session = context.get(SESSION_KEY)
    if not isinstance(session, Session):
        raise RuntimeError("route reached without a session: is it listed as public by mistake?")
    return session
