"""CSRF tokens bound to the session, and the session cookie's attributes."""

from __future__ import annotations

import pytest

from mailroom.auth.cookies import (
    clear_session_cookie,
    read_cookie,
    read_session_cookie,
    session_cookie,
    session_cookie_name,
)
from mailroom.auth.csrf import CSRF_HEADER, check_csrf, csrf_token, requires_csrf
from mailroom.auth.tokens import issue_token

SECRET = "c" * 40


def attributes(set_cookie: str) -> tuple[str, set[str]]:
    first, *rest = set_cookie.split("; ")
    return first, set(rest)


# -- CSRF -------------------------------------------------------------------------------------------


def test_csrf_token_is_stable_per_session_and_checks() -> None:
    token = csrf_token(SECRET, "sid-1")
    assert token == csrf_token(SECRET, "sid-1")
    assert check_csrf(SECRET, "sid-1", token)


def test_csrf_token_is_bound_to_the_session_and_the_secret() -> None:
    token = csrf_token(SECRET, "sid-1")
    assert csrf_token(SECRET, "sid-2") != token
    assert not check_csrf(SECRET, "sid-2", token)
    assert not check_csrf("d" * 40, "sid-1", token)


@pytest.mark.parametrize("presented", [None, "", "x", "é" * 43])
def test_csrf_refuses_missing_and_junk(presented: str | None) -> None:
    assert not check_csrf(SECRET, "sid-1", presented)


def test_csrf_refuses_a_prefix_or_an_extension_of_the_token() -> None:
    token = csrf_token(SECRET, "sid-1")
    assert not check_csrf(SECRET, "sid-1", token[:-1])
    assert not check_csrf(SECRET, "sid-1", token + "A")


def test_csrf_needs_a_session() -> None:
    assert not check_csrf(SECRET, "", csrf_token(SECRET, "sid-1"))
    with pytest.raises(ValueError, match="session id"):
        csrf_token(SECRET, "")


def test_a_session_token_is_not_a_csrf_token() -> None:
    """One secret serves both, with keys derived per purpose: neither value works as the other."""
    session = issue_token(SECRET, "a@example.com", 60)
    payload, signature = session.split(".")
    assert not check_csrf(SECRET, payload, signature)


def test_csrf_is_required_for_state_changing_methods_only() -> None:
    assert [
        m for m in ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "post"] if requires_csrf(m)
    ] == [
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "post",
    ]
    assert CSRF_HEADER == "X-CSRF-Token"


# -- cookies ----------------------------------------------------------------------------------------


def test_secure_session_cookie() -> None:
    first, attrs = attributes(session_cookie("abc.def", 3600, secure=True))
    assert first == "__Host-mailroom_session=abc.def"
    assert attrs == {"Max-Age=3600", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"}
    assert "Domain" not in session_cookie("abc.def", 3600, secure=True)  # __Host- forbids it


def test_sandbox_session_cookie_over_http() -> None:
    first, attrs = attributes(session_cookie("abc.def", 60, secure=False))
    assert first == "mailroom_session=abc.def"
    assert attrs == {"Max-Age=60", "Path=/", "HttpOnly", "SameSite=Lax"}


@pytest.mark.parametrize("secure", [True, False])
def test_clearing_uses_the_same_name_and_attributes(secure: bool) -> None:
    first, attrs = attributes(clear_session_cookie(secure))
    assert first == f"{session_cookie_name(secure)}="
    _, set_attrs = attributes(session_cookie("v", 60, secure))
    assert attrs == (set_attrs - {"Max-Age=60"}) | {"Max-Age=0"}


@pytest.mark.parametrize("value", ["a;b", "a b", "a\r\nSet-Cookie: x=1", 'a"b', "a,b", "a\\b", "é"])
def test_cookie_values_cannot_smuggle_attributes_or_headers(value: str) -> None:
    with pytest.raises(ValueError, match="cookie-octets"):
        session_cookie(value, 60, secure=True)


def test_cookie_max_age_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_age"):
        session_cookie("v", 0, secure=True)


def test_read_cookie_from_api_gateway_v2_list() -> None:
    cookies = ["theme=dark", "__Host-mailroom_session=tok.sig", "empty="]
    assert read_cookie(cookies, "__Host-mailroom_session") == "tok.sig"
    assert read_cookie(cookies, "theme") == "dark"
    assert read_cookie(cookies, "empty") == ""
    assert read_cookie(cookies, "mailroom_session") is None  # names match exactly
    assert read_cookie(None, "theme") is None
    assert read_cookie([], "theme") is None


def test_read_cookie_handles_raw_headers_quotes_and_repeats() -> None:
    assert read_cookie(["a=1; b=2", "c=3"], "b") == "2"
    assert read_cookie(['q="quoted"'], "q") == "quoted"
    assert read_cookie(["a=first", "a=second"], "a") == "first"
    assert read_cookie(["novalue", "x=a=b"], "x") == "a=b"  # base64 padding or '=' in values survive
    assert read_cookie(["novalue"], "novalue") is None


def test_read_session_cookie_uses_the_name_for_the_scheme() -> None:
    cookies = ["mailroom_session=plain", "__Host-mailroom_session=hosted"]
    assert read_session_cookie(cookies, secure=True) == "hosted"
    assert read_session_cookie(cookies, secure=False) == "plain"
    assert read_session_cookie(["mailroom_session="], secure=False) is None
