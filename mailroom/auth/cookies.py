"""The session cookie: how the browser carries the session token.

``HttpOnly`` (scripts never see it), ``SameSite=Lax`` (not sent on cross-site POSTs, still sent when
a link from an email notification opens the app), ``Path=/``, and ``Secure`` with the ``__Host-``
prefix whenever the app is served over HTTPS: the prefix makes the browser refuse the cookie unless
it is Secure, host-only and ``Path=/``, so a sibling subdomain cannot plant or shadow it. Only the
sandbox on ``http://127.0.0.1`` passes ``secure=False`` (browsers drop Secure cookies over http).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SESSION_COOKIE = "mailroom_session"
SECURE_PREFIX = "__Host-"

# RFC 6265 cookie-octets: no whitespace, quotes, commas, semicolons or backslashes; this keeps a
# value from adding attributes or headers (CR/LF) of its own.
_COOKIE_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")


def session_cookie_name(secure: bool) -> str:
    return f"{SECURE_PREFIX}{SESSION_COOKIE}" if secure else SESSION_COOKIE


def _cookie(value: str, max_age: int, secure: bool) -> str:
    if not _COOKIE_VALUE.fullmatch(value):
        raise ValueError("a cookie value may only hold RFC 6265 cookie-octets")
    parts = [f"{session_cookie_name(secure)}={value}", f"Max-Age={max_age}", "Path=/", "HttpOnly"]
    if secure:
        parts.append("Secure")
    parts.append("SameSite=Lax")
    return "; ".join(parts)


def session_cookie(value: str, max_age: int, secure: bool) -> str:
    """A ``Set-Cookie`` value carrying the session token for ``max_age`` seconds (match the
    token's lifetime so the browser forgets it when it stops being valid)."""
    if max_age <= 0:
        raise ValueError("max_age must be positive; use clear_session_cookie to sign out")
    return _cookie(value, max_age, secure)


def clear_session_cookie(secure: bool) -> str:
    """A ``Set-Cookie`` value that removes the session cookie (same name and attributes, or the
    browser keeps the old one)."""
    return _cookie("", 0, secure)


def read_cookie(cookies: Iterable[str] | None, name: str) -> str | None:
    """The value of cookie ``name`` from API Gateway v2's ``cookies`` list (``["a=1", "b=2"]``).

    Entries holding several ``;``-separated pairs (a raw ``Cookie`` header) are split too. If a
    name repeats, the first wins: browsers send the most specific path first.
    """
    for entry in cookies or ():
        for pair in entry.split(";"):
            key, sep, value = pair.strip().partition("=")
            if sep and key.strip() == name:
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                return value
    return None


def read_session_cookie(cookies: Iterable[str] | None, secure: bool) -> str | None:
    """The session token from the request's cookies, under the name :func:`session_cookie` uses."""
    return read_cookie(cookies, session_cookie_name(secure)) or None
