"""CSRF protection for state-changing requests (POST, PUT, PATCH, DELETE).

The session cookie is ``SameSite=Lax``, which already keeps it off cross-site POSTs; the token is
the second, independent line (older browsers, same-site attackers such as another app on a
sibling subdomain). It is a keyed hash of the session's ``sid``, so it needs no storage, changes
with every sign-in, and cannot be computed without the server's secret.

How pages use it:

* every page renders ``<meta name="csrf-token" content="{{ csrf }}">`` (:data:`CSRF_META_NAME`);
* htmx sends it on every request in the ``X-CSRF-Token`` header (:data:`CSRF_HEADER`), set once on
  ``<body hx-headers='{"X-CSRF-Token": "{{ csrf }}"}'>`` (rendered server-side, so no inline
  script is needed under the strict Content-Security-Policy);
* plain forms carry it in a hidden ``<input name="csrf_token">`` (:data:`CSRF_FORM_FIELD`).

The handler takes the header, else the form field, and calls :func:`check_csrf` with the ``sid``
of the verified session token whenever :func:`requires_csrf` says so. API clients that send a
bearer token (no cookie) are not exposed to CSRF and need no token.
"""

from __future__ import annotations

import hashlib
import hmac

from mailroom.auth.tokens import b64url_encode, derive_key

CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
CSRF_META_NAME = "csrf-token"

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(secret: str | bytes, sid: str) -> str:
    """The CSRF token for the session ``sid`` (the same every time for one session)."""
    if not sid:
        raise ValueError("a CSRF token needs a session id")
    key = derive_key(secret, "csrf")
    return b64url_encode(hmac.new(key, sid.encode("utf-8"), hashlib.sha256).digest())


def check_csrf(secret: str | bytes, sid: str, presented: str | None) -> bool:
    """Whether ``presented`` is the CSRF token of session ``sid`` (constant-time)."""
    if not sid or not presented:
        return False
    return hmac.compare_digest(csrf_token(secret, sid).encode("ascii"), presented.encode("utf-8"))


def requires_csrf(method: str) -> bool:
    """Safe methods change nothing (keep it that way: never change state on GET), the rest do."""
    return method.upper() not in _SAFE_METHODS
