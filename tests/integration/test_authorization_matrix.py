"""Every route of the reply function (the JSON API from the OpenAPI document, and the pages) against
every kind of caller. A route missing from ``ROUTES`` fails the test: nothing new can skip the matrix.

What each caller must get:

* nobody signed in: 401 (API) or a redirect to the sign-in page (pages);
* an agent without access to the mailbox: 404 for anything about the conversation, exactly as
  for one that doesn't exist; listings show nothing of it;
* finance: reads the conversation's facts, never its contents, never acts;
* read-only access: reads everything, acts on nothing (403);
* full access and admins: allowed (the answer may still be a 409 or 422 about the request itself,
  but never 401, 403 or 404).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from mailroom.assignment.store import AssignmentStore
from mailroom.auth.model import Access
from mailroom.auth.permissions_store import grant
from mailroom.canned.model import CannedResponse
from mailroom.canned.store import put_canned
from mailroom.costs.prices import PriceTableInput, default_regions
from mailroom.domain.agent import Agent
from mailroom.domain.team import Team
from mailroom.inbox.directory import upsert_mailbox, upsert_user
from mailroom.settings import get_settings
from mailroom.table.client import Table
from tests.integration.conftest import Api, Deliver
from tests.mailfactory import make_mail

SUPPORT, SALES = "support@acme.test", "sales@acme.test"
ADMIN, FULL, READER, OUTSIDER, FINANCE = (
    "admin@acme.test",
    "full@acme.test",
    "reader@acme.test",
    "outsider@acme.test",
    "finance@acme.test",
)
USERS = {
    ADMIN: ("admin", {}),
    FULL: ("agent", {SUPPORT: Access.FULL}),
    READER: ("agent", {SUPPORT: Access.READ_ONLY}),
    OUTSIDER: ("agent", {SALES: Access.FULL}),
    FINANCE: ("finance", {SUPPORT: Access.READ_ONLY}),
}

# What a route does with the conversation (or, for the first three, without one).
PUBLIC = "public"  # sign-in flow, static files, the API description
PERSONAL = "personal"  # about the caller only (their inbox, mentions, the outbox listing)
ADMIN_ONLY = "admin"
REPORTS = "reports"  # team metrics: admins (managers) and finance, over the mailboxes they see
READ = "read"  # the conversation's facts
CONTENT = "content"  # message bodies, attachments, notes, replies, canned responses
ACT = "act"  # changes the conversation or sends
COSTS = "costs"  # cost figures and the price table: admins and finance; agents 403


@dataclass(frozen=True)
class Route:
    kind: str
    path: str  # with the world's ids substituted: {conversation}, {message}, {other}, {eml}
    body: Any = None
    form: bool = False


# A valid new price table (the body is validated before the caller is).
PRICE_TABLE = PriceTableInput(effective_from=date(2030, 1, 1), regions=default_regions()).model_dump(
    mode="json"
)
API = "/api/conversations/<conversation_id>"  # route templates
PAGE = "/conversations/<conversation_id>"
ON_API = "/api/conversations/{conversation}"  # concrete paths
ON_PAGE = "/conversations/{conversation}"
FORM = "application/x-www-form-urlencoded"

ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/signin"): Route(PUBLIC, "/signin"),
    ("POST", "/signin"): Route(PUBLIC, "/signin"),
    ("GET", "/signout"): Route(PUBLIC, "/signout"),
    ("GET", "/auth/callback"): Route(PUBLIC, "/auth/callback"),
    ("GET", "/api/openapi.json"): Route(PUBLIC, "/api/openapi.json"),
    ("GET", "/static/<name>"): Route(PUBLIC, "/static/app.css"),
    ("GET", "/api/conversations"): Route(PERSONAL, "/api/conversations"),
    ("GET", "/api/mentions"): Route(PERSONAL, "/api/mentions"),
    ("POST", "/api/mentions/read"): Route(PERSONAL, "/api/mentions/read", {"all": True}),
    ("GET", "/"): Route(PERSONAL, "/"),
    ("GET", "/partials/inbox-rows"): Route(PERSONAL, "/partials/inbox-rows"),
    ("GET", "/next"): Route(PERSONAL, "/next?after={conversation}"),
    ("GET", "/outbox"): Route(PERSONAL, "/outbox"),
    ("GET", "/mentions"): Route(PERSONAL, "/mentions"),
    ("POST", "/mentions/read"): Route(PERSONAL, "/mentions/read", "all=1", form=True),
    ("GET", "/api/notifications"): Route(PERSONAL, "/api/notifications"),
    ("POST", "/api/notifications/read"): Route(PERSONAL, "/api/notifications/read", {"all": True}),
    ("GET", "/notifications"): Route(PERSONAL, "/notifications"),
    ("POST", "/notifications/read"): Route(PERSONAL, "/notifications/read", "all=1", form=True),
    ("GET", "/reports"): Route(REPORTS, "/reports"),
    ("GET", "/reports/team.csv"): Route(REPORTS, "/reports/team.csv?table=agents"),
    ("GET", "/api/reports/team"): Route(REPORTS, "/api/reports/team?period=7d"),
    ("POST", "/api/rules/dry-run"): Route(
        ADMIN_ONLY, "/api/rules/dry-run", {"conversation_id": "{conversation}"}
    ),
    ("GET", API): Route(READ, ON_API),
    ("GET", PAGE): Route(READ, ON_PAGE),
    ("GET", f"{PAGE}/timeline"): Route(READ, f"{ON_PAGE}/timeline"),
    ("GET", f"{PAGE}/sidebar"): Route(READ, f"{ON_PAGE}/sidebar"),
    ("POST", f"{PAGE}/presence"): Route(READ, f"{ON_PAGE}/presence", "state=viewing", form=True),
    ("POST", f"{API}/presence"): Route(READ, f"{ON_API}/presence", {"state": "viewing"}),
    ("GET", f"{API}/messages/<message_key>/attachments/<index>"): Route(
        CONTENT, f"{ON_API}/messages/{{message}}/attachments/0"
    ),
    ("GET", f"{PAGE}/messages/<message_key>/body"): Route(CONTENT, f"{ON_PAGE}/messages/{{message}}/body"),
    ("GET", f"{API}/notes"): Route(CONTENT, f"{ON_API}/notes"),
    ("GET", f"{API}/replies"): Route(CONTENT, f"{ON_API}/replies"),
    ("GET", f"{API}/canned"): Route(CONTENT, f"{ON_API}/canned"),
    ("POST", f"{API}/canned/<canned_id>/render"): Route(CONTENT, f"{ON_API}/canned/authz-canned/render"),
    ("GET", "/outbox/<name>"): Route(CONTENT, "/outbox/{eml}"),
    ("POST", f"{PAGE}/compose"): Route(ACT, f"{ON_PAGE}/compose", "insert_canned=authz-canned", form=True),
    ("POST", f"{API}/claim"): Route(ACT, f"{ON_API}/claim", {}),
    ("POST", f"{API}/assign"): Route(ACT, f"{ON_API}/assign", {"agent": FULL}),
    ("POST", f"{API}/unassign"): Route(ACT, f"{ON_API}/unassign", {}),
    ("POST", f"{API}/transfer"): Route(ACT, f"{ON_API}/transfer", {"team": "support"}),
    ("POST", f"{API}/tags"): Route(ACT, f"{ON_API}/tags", {"tag": "vip"}),
    ("DELETE", f"{API}/tags/<tag>"): Route(ACT, f"{ON_API}/tags/vip"),
    ("POST", f"{API}/status"): Route(ACT, f"{ON_API}/status", {"status": "pending"}),
    ("POST", f"{API}/notes"): Route(ACT, f"{ON_API}/notes", {"text": "a note"}),
    ("POST", f"{API}/replies"): Route(
        ACT, f"{ON_API}/replies", {"idempotency_key": "authz-reply-0002", "seen_version": 1, "text": "hello"}
    ),
    ("POST", f"{API}/replies/<idempotency_key>/resolve"): Route(
        ACT, f"{ON_API}/replies/authz-reply-0001/resolve", {"sent": True}
    ),
    ("POST", f"{PAGE}/reply"): Route(
        ACT, f"{ON_PAGE}/reply", "idempotency_key=authz-reply-0003&seen_version=1&text=hi", form=True
    ),
    ("POST", f"{PAGE}/notes"): Route(ACT, f"{ON_PAGE}/notes", "text=a+note", form=True),
    ("POST", f"{PAGE}/actions/<action>"): Route(ACT, f"{ON_PAGE}/actions/tag", "tag=urgent", form=True),
    ("POST", f"{API}/merge"): Route(ACT, "/api/conversations/{other}/merge", {"into": "{conversation}"}),
    ("GET", "/api/costs"): Route(COSTS, "/api/costs?group=conversation"),
    ("GET", "/api/prices"): Route(COSTS, "/api/prices"),
    ("GET", "/finance"): Route(COSTS, "/finance"),
    ("GET", "/finance/export/<table_name>"): Route(COSTS, "/finance/export/mailboxes"),
    ("PUT", "/api/prices"): Route(ADMIN_ONLY, "/api/prices", PRICE_TABLE),
    ("PUT", "/api/costs/budget"): Route(ADMIN_ONLY, "/api/costs/budget", {"amount": "100"}),
    ("POST", "/finance/budget"): Route(ADMIN_ONLY, "/finance/budget", "amount=100", form=True),
    # Admin: mailboxes, people, teams (7a). Changes to users target finance, whom no route needs after.
    ("GET", "/api/admin/mailboxes"): Route(ADMIN_ONLY, "/api/admin/mailboxes"),
    ("GET", "/api/admin/mailboxes/<address>"): Route(ADMIN_ONLY, f"/api/admin/mailboxes/{SUPPORT}"),
    ("POST", "/api/admin/mailboxes"): Route(ADMIN_ONLY, "/api/admin/mailboxes", {"address": "new@acme.test"}),
    ("PUT", "/api/admin/mailboxes/<address>"): Route(
        ADMIN_ONLY, f"/api/admin/mailboxes/{SALES}", {"name": "Sales"}
    ),
    ("PATCH", "/api/admin/mailboxes/<address>"): Route(
        ADMIN_ONLY, f"/api/admin/mailboxes/{SALES}", {"name": "Sales"}
    ),
    ("POST", "/api/admin/mailboxes/<address>/disable"): Route(
        ADMIN_ONLY, f"/api/admin/mailboxes/{SALES}/disable"
    ),
    ("POST", "/api/admin/mailboxes/<address>/enable"): Route(
        ADMIN_ONLY, f"/api/admin/mailboxes/{SALES}/enable"
    ),
    ("GET", "/api/admin/users"): Route(ADMIN_ONLY, "/api/admin/users"),
    ("GET", "/api/admin/users/<email>"): Route(ADMIN_ONLY, f"/api/admin/users/{FINANCE}"),
    ("POST", "/api/admin/users"): Route(
        ADMIN_ONLY, "/api/admin/users", {"email": "new@acme.test", "name": "New"}
    ),
    ("PUT", "/api/admin/users/<email>"): Route(ADMIN_ONLY, f"/api/admin/users/{FINANCE}", {"name": "Fin"}),
    ("PATCH", "/api/admin/users/<email>"): Route(ADMIN_ONLY, f"/api/admin/users/{FINANCE}", {"name": "Fin"}),
    ("POST", "/api/admin/users/<email>/deactivate"): Route(
        ADMIN_ONLY, f"/api/admin/users/{FINANCE}/deactivate"
    ),
    ("POST", "/api/admin/users/<email>/activate"): Route(ADMIN_ONLY, f"/api/admin/users/{FINANCE}/activate"),
    ("GET", "/api/admin/teams"): Route(ADMIN_ONLY, "/api/admin/teams"),
    ("GET", "/api/admin/teams/<team_id>"): Route(ADMIN_ONLY, "/api/admin/teams/authz-team"),
    ("POST", "/api/admin/teams"): Route(ADMIN_ONLY, "/api/admin/teams", {"id": "new-team", "name": "New"}),
    ("PUT", "/api/admin/teams/<team_id>"): Route(ADMIN_ONLY, "/api/admin/teams/authz-team", {"name": "A"}),
    ("PATCH", "/api/admin/teams/<team_id>"): Route(ADMIN_ONLY, "/api/admin/teams/authz-team", {"name": "A"}),
    ("GET", "/admin"): Route(ADMIN_ONLY, "/admin"),
    ("GET", "/admin/mailboxes"): Route(ADMIN_ONLY, "/admin/mailboxes"),
    ("GET", "/admin/mailboxes/<address>"): Route(ADMIN_ONLY, f"/admin/mailboxes/{SUPPORT}"),
    ("POST", "/admin/mailboxes"): Route(
        ADMIN_ONLY, "/admin/mailboxes", "address=page%40acme.test", form=True
    ),
    ("POST", "/admin/mailboxes/<address>"): Route(
        ADMIN_ONLY, f"/admin/mailboxes/{SALES}", "name=Sales", form=True
    ),
    ("POST", "/admin/mailboxes/<address>/disable"): Route(
        ADMIN_ONLY, f"/admin/mailboxes/{SALES}/disable", "", form=True
    ),
    ("POST", "/admin/mailboxes/<address>/enable"): Route(
        ADMIN_ONLY, f"/admin/mailboxes/{SALES}/enable", "", form=True
    ),
    ("GET", "/admin/people"): Route(ADMIN_ONLY, "/admin/people"),
    ("GET", "/admin/people/<email>"): Route(ADMIN_ONLY, f"/admin/people/{FINANCE}"),
    ("POST", "/admin/people"): Route(
        ADMIN_ONLY, "/admin/people", "email=page%40acme.test&name=Page", form=True
    ),
    ("POST", "/admin/people/<email>"): Route(
        ADMIN_ONLY, f"/admin/people/{FINANCE}", "name=Fin&role=finance", form=True
    ),
    ("POST", "/admin/people/<email>/deactivate"): Route(
        ADMIN_ONLY, f"/admin/people/{FINANCE}/deactivate", "", form=True
    ),
    ("POST", "/admin/people/<email>/activate"): Route(
        ADMIN_ONLY, f"/admin/people/{FINANCE}/activate", "", form=True
    ),
    ("GET", "/admin/teams"): Route(ADMIN_ONLY, "/admin/teams"),
    ("GET", "/admin/teams/<team_id>"): Route(ADMIN_ONLY, "/admin/teams/authz-team"),
    ("POST", "/admin/teams"): Route(ADMIN_ONLY, "/admin/teams", "id=page-team&name=Page", form=True),
    ("POST", "/admin/teams/<team_id>"): Route(ADMIN_ONLY, "/admin/teams/authz-team", "name=Authz", form=True),
    ("GET", "/api/me"): Route(PERSONAL, "/api/me"),
    ("PATCH", "/api/me"): Route(PERSONAL, "/api/me", {"status": "available"}),
    ("GET", "/profile"): Route(PERSONAL, "/profile"),
    ("POST", "/profile"): Route(PERSONAL, "/profile", "status=available", form=True),
    ("GET", "/api/admin/audit"): Route(ADMIN_ONLY, "/api/admin/audit"),
    ("GET", "/api/admin/audit.csv"): Route(ADMIN_ONLY, "/api/admin/audit.csv"),
    ("GET", "/admin/audit"): Route(ADMIN_ONLY, "/admin/audit"),
    ("GET", "/api/admin/contacts/<email>/export"): Route(
        ADMIN_ONLY, "/api/admin/contacts/alice@example.com/export"
    ),
    # An address nobody wrote from: erasing it is a no-op (200), so the world stays intact.
    ("POST", "/api/admin/contacts/<email>/delete"): Route(
        ADMIN_ONLY, "/api/admin/contacts/gone@example.net/delete", {"confirm": "gone@example.net"}
    ),
    ("GET", "/admin/contact"): Route(ADMIN_ONLY, "/admin/contact?email=alice@example.com"),
    ("POST", "/admin/contact/delete"): Route(
        ADMIN_ONLY, "/admin/contact/delete", "email=gone@example.net&confirm=gone@example.net", form=True
    ),
    # The rules editor and canned responses: what is deleted is what these routes created.
    ("GET", "/api/admin/rules"): Route(ADMIN_ONLY, "/api/admin/rules"),
    ("PUT", "/api/admin/rules"): Route(ADMIN_ONLY, "/api/admin/rules", {"expected_version": 0, "rules": []}),
    ("GET", "/api/admin/rules/versions/<version>"): Route(ADMIN_ONLY, "/api/admin/rules/versions/0"),
    ("GET", "/api/admin/rules/diff"): Route(ADMIN_ONLY, "/api/admin/rules/diff?from=0"),
    ("POST", "/api/admin/rules/restore"): Route(ADMIN_ONLY, "/api/admin/rules/restore", {"version": 0}),
    ("POST", "/api/admin/rules/dry-run"): Route(
        ADMIN_ONLY, "/api/admin/rules/dry-run", {"conversation_id": "{conversation}", "rules": []}
    ),
    ("GET", "/admin/rules"): Route(ADMIN_ONLY, "/admin/rules"),
    ("POST", "/admin/rules"): Route(ADMIN_ONLY, "/admin/rules", "expected_version=0", form=True),
    ("POST", "/admin/rules/editor"): Route(ADMIN_ONLY, "/admin/rules/editor", "op=add-rule", form=True),
    ("POST", "/admin/rules/yaml"): Route(
        ADMIN_ONLY, "/admin/rules/yaml", "yaml=rules%3A+%5B%5D&expected_version=0", form=True
    ),
    ("GET", "/admin/rules/export.yaml"): Route(ADMIN_ONLY, "/admin/rules/export.yaml"),
    ("POST", "/admin/rules/test"): Route(
        ADMIN_ONLY,
        "/admin/rules/test",
        "test_eml=Subject%3A+hi%0A%0Ahi&test_mailbox=support%40acme.test",
        form=True,
    ),
    ("GET", "/admin/rules/diff"): Route(ADMIN_ONLY, "/admin/rules/diff?from=0&to=0"),
    ("POST", "/admin/rules/restore"): Route(ADMIN_ONLY, "/admin/rules/restore", "version=0", form=True),
    ("GET", "/api/admin/canned"): Route(ADMIN_ONLY, "/api/admin/canned"),
    ("POST", "/api/admin/canned"): Route(
        ADMIN_ONLY, "/api/admin/canned", {"id": "authz-new", "name": "New", "body": "Hi"}
    ),
    ("GET", "/api/admin/canned/<canned_id>"): Route(ADMIN_ONLY, "/api/admin/canned/authz-canned"),
    ("PUT", "/api/admin/canned/<canned_id>"): Route(
        ADMIN_ONLY,
        "/api/admin/canned/authz-canned",
        {"name": "Hello", "body": "Hello {{ customer.first_name }}"},
    ),
    ("POST", "/api/admin/canned/preview"): Route(
        ADMIN_ONLY, "/api/admin/canned/preview", {"body": "Hi", "conversation_id": "{conversation}"}
    ),
    ("GET", "/admin/canned"): Route(ADMIN_ONLY, "/admin/canned"),
    ("POST", "/admin/canned"): Route(
        ADMIN_ONLY, "/admin/canned", "mode=create&id=authz-form&name=Form&body=Hi", form=True
    ),
    ("POST", "/admin/canned/preview"): Route(ADMIN_ONLY, "/admin/canned/preview", "body=Hi", form=True),
    ("POST", "/admin/canned/<canned_id>/delete"): Route(
        ADMIN_ONLY, "/admin/canned/authz-form/delete", "", form=True
    ),
    ("DELETE", "/api/admin/canned/<canned_id>"): Route(ADMIN_ONLY, "/api/admin/canned/authz-new"),
}


def test_every_route_is_in_the_matrix() -> None:
    # The function's own resolver: a second create_app() would rebind the shared routers' context.
    from functions.reply.handler import app

    served = {(route.method, route.path) for route in [*app._static_routes, *app._dynamic_routes]}
    assert served == set(ROUTES), (
        f"add to ROUTES: {sorted(served - set(ROUTES))}; gone: {sorted(set(ROUTES) - served)}"
    )


def test_every_openapi_operation_is_a_listed_route(api: Api) -> None:
    status, _, document = api("GET", "/api/openapi.json", user=None)
    assert status == 200
    operations = {
        (method.upper(), path.replace("{", "<").replace("}", ">"))
        for path, item in document["paths"].items()
        for method in item
    }
    assert operations, "the OpenAPI document lists no operation"
    assert operations <= set(ROUTES), sorted(operations - set(ROUTES))


@pytest.fixture
def world(deliver: Deliver, table: Table, api: Api) -> dict[str, str]:
    """A support conversation with an attachment, a second one from the same customer (to merge),
    a reply already sent (to settle), a canned response, and the five kinds of caller."""
    first = deliver(
        make_mail(attachments=[("a.txt", "text/plain", b"secret")], html="<p>secret body</p>"), [SUPPORT]
    ).outcomes[0]["conversation_id"]
    other = deliver(make_mail(subject="Another thing", message_id="<m2@example.com>"), [SUPPORT]).outcomes[0][
        "conversation_id"
    ]
    upsert_mailbox(table, SALES, name="Sales")
    agents = AssignmentStore(table)
    for email, (role, access) in USERS.items():
        upsert_user(table, email, name=email, role=role)
        agents.put_agent(Agent(id=email, name=email, role=role, capacity=10))
        for mailbox, level in access.items():
            grant(table, mailbox, email, level)
    put_canned(table, CannedResponse(id="authz-canned", name="Hello", body="Hello {{ customer.first_name }}"))
    agents.put_team(Team(id="authz-team", name="Authz"))
    _, _, detail = api("GET", f"/api/conversations/{first}")
    reply = {"idempotency_key": "authz-reply-0001", "seen_version": detail["version"], "text": "First answer"}
    status, _, sent = api("POST", f"/api/conversations/{first}/replies", body=json.dumps(reply))
    assert status == 201, sent
    status, _, _ = api("POST", f"/api/conversations/{first}/unassign", body="{}")  # the reply claimed it
    assert status == 200
    outbox = get_settings().outbound_url.removeprefix("file://")
    from pathlib import Path

    [eml] = [p.name for p in Path(outbox).glob("*.eml")]
    return {
        "conversation": first,
        "other": other,
        "message": detail["messages"][0]["id"],
        "eml": eml,
    }


def call(api: Api, method: str, route: Route, world: dict[str, str], user: str | None) -> tuple[int, Any]:
    path = route.path.format(**world)
    path, _, query = path.partition("?")
    if route.form:
        body, headers = route.body, {"content-type": "application/x-www-form-urlencoded"}
    else:
        body = (
            json.dumps(route.body).replace("{conversation}", world["conversation"])
            if route.body is not None
            else None
        )
        headers = {}
    status, response_headers, payload = api(method, path, query, body, user=user, headers=headers)
    return status, (response_headers, payload)


# kind → caller → the statuses allowed; ALLOWED means anything but 401, 403, 404 (and no 5xx).
ALLOWED: frozenset[int] = frozenset()
_BY_CALLER: dict[str, dict[str, frozenset[int] | set[int]]] = {
    READ: {OUTSIDER: {404}, FINANCE: ALLOWED, READER: ALLOWED, FULL: ALLOWED, ADMIN: ALLOWED},
    CONTENT: {OUTSIDER: {404}, FINANCE: {403, 404}, READER: ALLOWED, FULL: ALLOWED, ADMIN: ALLOWED},
    ACT: {OUTSIDER: {404}, FINANCE: {403}, READER: {403}, FULL: ALLOWED, ADMIN: ALLOWED},
    ADMIN_ONLY: {OUTSIDER: {403}, FINANCE: {403}, READER: {403}, FULL: {403}, ADMIN: ALLOWED},
    REPORTS: {OUTSIDER: {403}, FINANCE: ALLOWED, READER: {403}, FULL: {403}, ADMIN: ALLOWED},
    COSTS: {OUTSIDER: {403}, FINANCE: ALLOWED, READER: {403}, FULL: {403}, ADMIN: ALLOWED},
}


def expected(kind: str, user: str | None, *, is_page: bool) -> frozenset[int] | set[int]:
    if kind == PUBLIC:
        return ALLOWED
    if user is None:
        return {303} if is_page else {401}
    return ALLOWED if kind == PERSONAL else _BY_CALLER[kind][user]


CALLERS = [None, OUTSIDER, FINANCE, READER, FULL, ADMIN]


@pytest.mark.parametrize("user", CALLERS, ids=[u or "anonymous" for u in CALLERS])
def test_matrix(api: Api, world: dict[str, str], user: str | None) -> None:
    failures = []
    # Merge last: afterwards the conversation is closed and merged, and acts on it are 409s.
    for (method, template), route in sorted(ROUTES.items(), key=lambda item: "merge" in item[0][1]):
        status, (headers, payload) = call(api, method, route, world, user)
        allowed = expected(route.kind, user, is_page=not template.startswith("/api/"))
        if route.kind == PUBLIC:  # the sign-in flow refuses what it should on its own terms
            ok = status < 500
        else:
            ok = status in allowed if allowed else status not in {401, 403, 404} and status < 500
        if ok and status == 303 and user is None and allowed:
            ok = headers.get("Location", "").startswith("/signin")
        if not ok:
            failures.append(
                f"{method} {template}: {status} (expected {allowed or 'allowed'}): {str(payload)[:160]}"
            )
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("user", [OUTSIDER, FINANCE])
def test_nothing_of_the_conversation_reaches_those_who_may_not_read_it(
    api: Api, world: dict[str, str], user: str
) -> None:
    """Beyond status codes: the body text, the attachment, the note never appear in any answer."""
    api("POST", f"/api/conversations/{world['conversation']}/notes", body=json.dumps({"text": "secret note"}))
    for (method, _), route in ROUTES.items():
        if method != "GET" or route.kind == PUBLIC:
            continue
        _, (_, payload) = call(api, method, route, world, user)
        text = payload if isinstance(payload, str) else json.dumps(payload)
        assert "secret" not in text, (route.path, user)
