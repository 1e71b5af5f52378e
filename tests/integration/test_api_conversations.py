"""The JSON API and pages through the real reply handler, on DynamoDB Local."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from mailroom.usage import metered
from tests.integration.conftest import Api, Deliver
from tests.mailfactory import make_mail

SUMMARY_FIELDS = {
    "id",
    "mailbox",
    "subject",
    "status",
    "assignee",
    "tags",
    "flags",
    "message_count",
    "last_message_at",
}
MESSAGE_FIELDS = {"id", "message_id", "direction", "from", "to", "subject", "text", "attachments", "flags"}


def test_list_is_newest_first_with_the_documented_fields(deliver: Deliver, api: Api) -> None:
    start = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    for n in range(3):
        deliver(
            make_mail(subject=f"Question {n}", message_id=f"<q{n}@example.com>"),
            received_at=start + timedelta(minutes=n),
        )
    status, headers, body = api("GET", "/api/conversations")
    assert status == 200
    assert [item["subject"] for item in body["items"]] == ["Question 2", "Question 1", "Question 0"]
    assert set(body["items"][0]) >= SUMMARY_FIELDS
    assert body["next_cursor"] is None
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_cursor_pagination_across_mailboxes_returns_everything_once(deliver: Deliver, api: Api) -> None:
    start = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    mailboxes = ["support@acme.test", "sales@acme.test", "billing@acme.test"]
    for n in range(17):
        deliver(
            make_mail(subject=f"Item {n:02d}", message_id=f"<p{n}@example.com>", sender=f"c{n}@example.com"),
            [mailboxes[n % 3]],
            received_at=start + timedelta(minutes=n),
        )
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "limit=5" + (f"&cursor={cursor}" if cursor else "")
        status, _, body = api("GET", "/api/conversations", query)
        assert status == 200
        seen += [item["subject"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert seen == [f"Item {n:02d}" for n in reversed(range(17))]


def test_filters_by_mailbox_and_status(deliver: Deliver, api: Api) -> None:
    deliver(make_mail(message_id="<f1@example.com>"), ["support@acme.test"])
    deliver(make_mail(message_id="<f2@example.com>", subject="quote"), ["sales@acme.test"])
    _, _, sales = api("GET", "/api/conversations", "mailbox=sales@acme.test")
    assert [i["mailbox"] for i in sales["items"]] == ["sales@acme.test"]
    _, _, closed = api("GET", "/api/conversations", "status=closed")
    assert closed["items"] == []
    _, _, unknown = api("GET", "/api/conversations", "mailbox=nobody@acme.test")
    assert unknown["items"] == []


def test_invalid_requests_get_4xx_with_a_message(api: Api) -> None:
    status, _, body = api("GET", "/api/conversations", "cursor=not-a-cursor")
    assert status == 400
    assert "cursor" in body["message"]
    status, _, body = api("GET", "/api/conversations", "limit=0")
    assert status == 422
    status, _, body = api("GET", "/api/conversations", "status=bogus")
    assert status == 422
    status, _, body = api("GET", "/api/conversations/cdoesnotexist")
    assert status == 404
    assert "cdoesnotexist" in body["message"]


def test_detail_has_messages_with_the_documented_fields(deliver: Deliver, api: Api) -> None:
    conv = deliver(make_mail(html="<p>Hello <script>alert(1)</script><b>there</b></p>")).outcomes[0][
        "conversation_id"
    ]
    status, _, body = api("GET", f"/api/conversations/{conv}")
    assert status == 200
    [message] = body["messages"]
    assert set(message) >= MESSAGE_FIELDS
    assert message["message_id"] == "m1@example.com"
    assert message["from"] == {"email": "alice@example.com", "name": "Alice Customer"}
    assert "<script" not in (message["html"] or "")
    assert "<b>there</b>" in message["html"]
    assert [e["type"] for e in body["events"]] == ["created", "received"]


def test_openapi_document_is_served(api: Api) -> None:
    status, _, body = api("GET", "/api/openapi.json")
    assert status == 200
    document = body if isinstance(body, dict) else json.loads(body)
    assert document["openapi"].startswith("3.")
    assert "/api/conversations" in document["paths"]
    assert "/api/conversations/{conversation_id}" in document["paths"]


def test_html_pages_render_escaped_and_with_security_headers(deliver: Deliver, api: Api) -> None:
    conv = deliver(make_mail(subject="<img src=x onerror=alert(1)>")).outcomes[0]["conversation_id"]
    status, headers, page = api("GET", "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img src=x" not in page
    assert headers["X-Frame-Options"] == "DENY"
    status, _, page = api("GET", f"/conversations/{conv}")
    assert status == 200
    assert "Hello, my printer is on fire" in page
    status, _, page = api("GET", "/conversations/cnope1234")
    assert status == 404


def test_inbox_list_is_queries_only(deliver: Deliver, api: Api) -> None:
    for n in range(4):
        deliver(
            make_mail(message_id=f"<ops{n}@example.com>"),
            ["support@acme.test", "sales@acme.test"][n % 2 : n % 2 + 1],
        )
    with metered() as meter:
        status, _, _ = api("GET", "/api/conversations")
    assert status == 200
    # No scans: the caller's user item (GetItem), the mailbox directory (read for the caller's access
    # and for the listing), then one index query per visible mailbox.
    assert dict(meter.dynamodb_requests) == {"GetItem": 1, "Query": 2 + 2}
