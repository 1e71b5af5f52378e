"""Security headers on every response (a strict Content-Security-Policy among them)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # remote images in mail stay blocked
        "connect-src 'self'",
        "frame-src 'self'",  # mail bodies: our own sandboxed documents (see MAIL_BODY_CSP)
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}


# An email's HTML body is its own document, framed by the conversation page: inline styles are
# allowed there (mail depends on them), scripts, forms, remote loads and plugins are not, and the
# iframe's sandbox attribute denies scripts a second time.
MAIL_BODY_CSP = "; ".join(
    [
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src data:",
        "font-src data:",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'self'",
        "sandbox allow-popups allow-popups-to-escape-sandbox",
    ]
)


# The same, once the agent asked to see this message's remote images (tracking pixels included:
# that is the agent's choice, made per message). Still no scripts, frames or forms.
MAIL_BODY_CSP_REMOTE_IMAGES = MAIL_BODY_CSP.replace("img-src data:", "img-src data: https: http:")


def security_headers(app: ApiGatewayResolver, next_middleware: NextMiddleware) -> Response[object]:
    response = next_middleware(app)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response
