"""The notifications JSON API: the caller's own notifications, only about mailboxes they still see,
newest first, in pages; marking some or all read; refusals for what the API did not give out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mailroom.auth.model import Access
from mailroom.auth.permissions_store import grant
from mailroom.inbox.directory import upsert_mailbox, upsert_user
from mailroom.notifications import Notification, notification_item
from mailroom.table.client import Table
from tests.integration.conftest import Api

SUPPORT, SALES = "support@acme.test", "sales@acme.test"
SAM, PRIYA = "sam@acme.test", "priya@acme.test"


def _notify(table: Table, user: str, minute: int, *, mailbox: str = SUPPORT) -> Notification:
    notification = Notification(
        user=user,
        kind="sla_at_risk",
        conversation_id=f"c{minute:011d}",
        mailbox=mailbox,
        subject=f"Case {minute}",
        text=f"First response due at 10:{minute:02d} UTC",
        at=f"2030-01-02T09:{minute:02d}:00.000000Z",
        due=f"2030-01-02T10:{minute:02d}:00.000000Z",
    )
    table.put(notification_item(notification))
    return notification


@pytest.fixture
def inbox(table: Table) -> dict[str, Notification]:
    """Sam sees support only: three notifications there, one about sales (access taken away since);
    Priya has one of her own."""
    upsert_mailbox(table, SUPPORT, name="Support")
    upsert_mailbox(table, SALES, name="Sales")
    for email in (SAM, PRIYA):
        upsert_user(table, email, name=email, role="agent")
        grant(table, SUPPORT, email, Access.FULL)
    found = {f"sam-{n}": _notify(table, SAM, n) for n in (1, 2, 3)}
    found["sam-sales"] = _notify(table, SAM, 4, mailbox=SALES)
    found["priya"] = _notify(table, PRIYA, 5)
    return found


def _list(api: Api, user: str, query: str = "") -> dict[str, Any]:
    status, _, body = api("GET", "/api/notifications", query, user=user)
    assert status == 200, body
    return dict(body)


def test_lists_my_visible_notifications_newest_first_in_pages(
    api: Api, inbox: dict[str, Notification]
) -> None:
    listed = _list(api, SAM)
    assert [n["subject"] for n in listed["items"]] == ["Case 3", "Case 2", "Case 1"]  # not sales, not Priya's
    assert listed["next_cursor"] is None
    first = listed["items"][0]
    assert first == {
        "id": inbox["sam-3"].id,
        "kind": "sla_at_risk",
        "conversation_id": "c00000000003",
        "mailbox": SUPPORT,
        "subject": "Case 3",
        "text": "First response due at 10:03 UTC",
        "at": "2030-01-02T09:03:00.000000Z",
        "due": "2030-01-02T10:03:00.000000Z",
        "read": False,
        "read_at": None,
    }
    page = _list(api, SAM, "limit=2")
    assert [n["subject"] for n in page["items"]] == ["Case 3", "Case 2"]
    rest = _list(api, SAM, f"limit=2&cursor={page['next_cursor']}")
    assert [n["subject"] for n in rest["items"]] == ["Case 1"]
    assert [n["subject"] for n in _list(api, PRIYA)["items"]] == ["Case 5"]


def test_marks_some_or_all_read(api: Api, inbox: dict[str, Notification]) -> None:
    mark = {"ids": [inbox["sam-2"].id, inbox["priya"].id]}  # Priya's id is not Sam's: ignored
    status, _, result = api("POST", "/api/notifications/read", body=json.dumps(mark), user=SAM)
    assert status == 200, result
    assert result == {"updated": 1}
    assert [n["subject"] for n in _list(api, SAM, "unread=true")["items"]] == ["Case 3", "Case 1"]
    assert _list(api, PRIYA)["items"][0]["read"] is False
    again = api("POST", "/api/notifications/read", body=json.dumps(mark), user=SAM)[2]
    assert again == {"updated": 0}  # already read

    status, _, result = api("POST", "/api/notifications/read", body=json.dumps({"all": True}), user=SAM)
    assert status == 200
    assert result["updated"] == 3  # the two left in support, and the sales one Sam no longer sees
    assert _list(api, SAM, "unread=true")["items"] == []
    assert all(n["read_at"] for n in _list(api, SAM)["items"])


@pytest.mark.parametrize(
    "body",
    [
        {},  # neither ids nor all
        {"ids": ["2030-01-02T09:01:00.000000Z#c00000000001#sla_at_risk"], "all": True},  # both
        {"ids": ["not-an-id"]},
        {"ids": ["2030-01-02T09:01:00.000000Z#c00000000001#sla_at_risk"] * 101},
        {"all": True, "everything": True},
    ],
)
def test_invalid_requests_are_refused(api: Api, inbox: dict[str, Notification], body: dict[str, Any]) -> None:
    status, _, refused = api("POST", "/api/notifications/read", body=json.dumps(body), user=SAM)
    assert status == 422, refused
    assert all(not n["read"] for n in _list(api, SAM)["items"])


def test_a_cursor_it_did_not_give_out_and_anonymous_callers_are_refused(
    api: Api, inbox: dict[str, Notification]
) -> None:
    status, _, refused = api("GET", "/api/notifications", "cursor=garbage", user=SAM)
    assert status == 422
    assert "cursor" in refused["message"]
    assert api("GET", "/api/notifications", "limit=0", user=SAM)[0] == 422
    assert api("GET", "/api/notifications", user=None)[0] == 401
    assert api("POST", "/api/notifications/read", body=json.dumps({"all": True}), user=None)[0] == 401


def test_the_operations_are_described_in_the_openapi_document(api: Api) -> None:
    status, _, document = api("GET", "/api/openapi.json", user=None)
    assert status == 200

    def schema(path: str, method: str, code: str) -> str:
        response = document["paths"][path][method]["responses"][code]
        return str(response["content"]["application/json"]["schema"]["$ref"]).rsplit("/", 1)[-1]

    assert schema("/api/notifications", "get", "200") == "NotificationList"
    assert schema("/api/notifications", "get", "422") == "RefusalBody"
    assert schema("/api/notifications/read", "post", "200") == "NotificationsReadOut"
    assert "NotificationOut" in document["components"]["schemas"]
    # the admin operations too: their answer on success, a refusal's shape otherwise
    assert schema("/api/admin/mailboxes", "post", "201") == "MailboxOut"
    assert schema("/api/admin/mailboxes", "post", "403") == "RefusalBody"
    assert schema("/api/admin/mailboxes/{address}/enable", "post", "200") == "MailboxOut"
    assert schema("/api/admin/users/{email}/activate", "post", "200") == "UserOut"
