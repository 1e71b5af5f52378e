"""Who may see what: every role and mailbox access against every endpoint, through the real handler.

A conversation in a mailbox the caller has no access to must be indistinguishable from one that does
not exist (404, never 403); finance sees no message bodies; nobody gets in without credentials.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from mailroom.auth.model import Access
from mailroom.auth.permissions_store import grant
from mailroom.inbox.directory import upsert_mailbox, upsert_user
from mailroom.table.client import Table
from tests.integration.conftest import Api, Deliver
from tests.mailfactory import make_mail

SUPPORT, SALES = "support@acme.test", "sales@acme.test"
USERS = {
    "admin@acme.test": ("admin", {}),
    "full@acme.test": ("agent", {SUPPORT: Access.FULL}),
    "reader@acme.test": ("agent", {SUPPORT: Access.READ_ONLY}),
    "outsider@acme.test": ("agent", {SALES: Access.FULL}),
    "finance@acme.test": ("finance", {SUPPORT: Access.READ_ONLY}),
}


@pytest.fixture
def world(deliver: Deliver, table: Table, api: Api) -> dict[str, str]:
    conv = deliver(
        make_mail(attachments=[("a.txt", "text/plain", b"secret")], html="<p>secret body</p>"), [SUPPORT]
    ).outcomes[0]
    upsert_mailbox(table, SALES, name="Sales")
    for email, (role, access) in USERS.items():
        upsert_user(table, email, name=email, role=role)
        for mailbox, level in access.items():
            grant(table, mailbox, email, level)
    _, _, detail = api("GET", f"/api/conversations/{conv['conversation_id']}")
    message = detail["messages"][0]
    return {
        "conversation": conv["conversation_id"],
        "message": message["id"],
        "attachment": message["attachments"][0]["url"],
    }


# (user, sees the support conversation, reads its bodies, may dry-run rules)
MATRIX = [
    ("admin@acme.test", True, True, True),
    ("full@acme.test", True, True, False),
    ("reader@acme.test", True, True, False),
    ("outsider@acme.test", False, False, False),
    ("finance@acme.test", True, False, False),
]


@pytest.mark.parametrize("row", MATRIX, ids=[row[0] for row in MATRIX])
def test_matrix(api: Api, world: dict[str, str], row: tuple[str, bool, bool, bool]) -> None:
    user, sees, reads, admin = row
    conv, key = world["conversation"], world["message"]

    status, _, listing = api("GET", "/api/conversations", user=user)
    assert status == 200
    listed = [item["id"] for item in listing["items"]]
    assert listed == ([conv] if sees else [])
    if sees and not reads:
        assert listing["items"][0]["snippet"] == ""

    status, _, detail = api("GET", f"/api/conversations/{conv}", user=user)
    assert status == (200 if sees else 404)
    if sees:
        assert bool(detail["messages"][0]["text"]) is reads
        assert bool(detail["messages"][0]["attachments"]) is reads

    status, _, _ = api("GET", world["attachment"], user=user)
    assert status == (200 if reads else 404)

    status, _, _ = api("GET", f"/conversations/{conv}", user=user)
    assert status == (200 if sees else 404)
    status, _, _ = api("GET", f"/conversations/{conv}/messages/{key}/body", user=user)
    assert status == (200 if reads else 404)

    # Asking for the mailbox by name changes nothing for someone who may not see it.
    status, _, filtered = api("GET", "/api/conversations", f"mailbox={quote(SUPPORT)}", user=user)
    assert [i["id"] for i in filtered["items"]] == ([conv] if sees else [])

    status, _, _ = api("POST", "/api/rules/dry-run", body=json.dumps({"conversation_id": conv}), user=user)
    assert status == (200 if admin else 403)


def test_unknown_conversation_and_hidden_conversation_look_the_same(api: Api, world: dict[str, str]) -> None:
    hidden = api("GET", f"/api/conversations/{world['conversation']}", user="outsider@acme.test")
    missing = api("GET", "/api/conversations/cdoesnotexist1", user="outsider@acme.test")
    assert hidden[0] == missing[0] == 404
    assert hidden[2]["message"].replace(world["conversation"], "X") == missing[2]["message"].replace(
        "cdoesnotexist1", "X"
    )


@pytest.mark.parametrize(
    "path", ["/api/conversations", "/api/conversations/cabc1234567", "/", "/partials/inbox-rows"]
)
def test_nobody_gets_in_without_credentials(api: Api, path: str) -> None:
    status, headers, _ = api("GET", path, user=None)
    if path.startswith("/api/"):
        assert status == 401
    else:
        assert status == 303
        assert headers["Location"].startswith("/signin")


def test_forged_or_unknown_tokens_are_refused(api: Api, world: dict[str, str]) -> None:
    from mailroom.auth.tokens import issue_token

    forged = issue_token("another-secret-" + "y" * 40, "admin@acme.test", 3600, kind="api")
    status, _, _ = api("GET", "/api/conversations", user=None, headers={"authorization": f"Bearer {forged}"})
    assert status == 401
    status, _, _ = api("GET", "/api/conversations", user="nobody@acme.test")
    assert status == 401
    status, _, _ = api("GET", "/api/conversations", user=None, headers={"authorization": "Bearer garbage"})
    assert status == 401


def test_cookie_sessions_need_the_csrf_token_for_writes(api: Api, world: dict[str, str]) -> None:
    status, headers, _ = api(
        "POST",
        "/signin",
        body="email=admin%40acme.test&next=%2F",
        user=None,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert status == 303
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    session = cookie.split(";")[0]

    status, _, page = api("GET", "/", user=None, cookies=[session])
    assert status == 200
    csrf = page.split('name="csrf-token" content="')[1].split('"')[0]

    body = json.dumps({"conversation_id": world["conversation"]})
    status, _, refused = api("POST", "/api/rules/dry-run", body=body, user=None, cookies=[session])
    assert status == 403
    assert "CSRF" in refused["message"]
    status, _, _ = api(
        "POST",
        "/api/rules/dry-run",
        body=body,
        user=None,
        cookies=[session],
        headers={"x-csrf-token": "wrong"},
    )
    assert status == 403
    status, _, _ = api(
        "POST", "/api/rules/dry-run", body=body, user=None, cookies=[session], headers={"x-csrf-token": csrf}
    )
    assert status == 200


def test_sign_in_refuses_unknown_people_and_open_redirects(api: Api) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    status, _, page = api("POST", "/signin", body="email=eve%40evil.example", user=None, headers=form)
    assert status == 400
    assert "No active user" in page
    status, headers, _ = api(
        "POST",
        "/signin",
        body="email=admin%40acme.test&next=https%3A%2F%2Fevil.example",
        user=None,
        headers=form,
    )
    assert status == 303
    assert headers["Location"] == "/"
