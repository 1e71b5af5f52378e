"""Inbox list figures: server time and DynamoDB reads for a page of 50 conversations, through the
real reply handler against DynamoDB Local.

Server time is the handler call (routing, sign-in, queries, rendering; no network in front), median
and p95 over repeated calls. Read units are the adapter's own figures (item sizes by DynamoDB's
rules). For filtered reads (subject search) DynamoDB charges for every item it examined, not only
the matches it returns, and the adapter can only size what it got back against DynamoDB Local; so
the examined index items are counted from ``ScannedCount`` and priced at the average item size.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import bench_environment, median
from sandbox.apigw_events import http_api_event

MAILBOXES = ("support@acme.test", "sales@acme.test", "billing@acme.test")
CONVERSATIONS = 600  # 200 per mailbox
PAGE = 50
CALLS = 30
ADMIN = "admin@acme.test"

CASES = {
    "default_all": "limit=50",
    "open_by_activity": "view=open&limit=50",
    "open_by_sla_due": "view=open&sort=sla&limit=50",
    "unassigned": "view=unassigned&limit=50",
    "search_address": "q=customer7%40example.com&limit=50",
    "search_subject_words": "q=export+fails&limit=50",
    "inbox_page_html": "",
}


class _ScanCounter:
    """Wraps the boto3 client: counts the index items each Query examined (``ScannedCount``)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.scanned = 0

    def query(self, **kwargs: Any) -> Any:
        response = self._client.query(**kwargs)
        self.scanned += int(response.get("ScannedCount", 0))
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def seed(table: Any) -> int:
    """Conversations shaped like real ones (subject, snippet, tags, SLA clocks); returns the average
    conversation item size in bytes."""
    from mailroom import clock
    from mailroom.domain.conversation import Conversation, Status
    from mailroom.inbox.directory import upsert_mailbox, upsert_user
    from mailroom.table import capacity
    from mailroom.table.client import serialize
    from mailroom.table.items import conversation_item

    upsert_user(table, ADMIN, name="Ada Admin", role="admin")
    for mailbox in MAILBOXES:
        upsert_mailbox(table, mailbox, name=mailbox.split("@")[0].title())
    start = datetime.now(UTC) - timedelta(days=20)
    sizes = []
    subjects = ["Export fails at the last step", "Invoice question", "Cannot log in", "Feature request"]
    for n in range(CONVERSATIONS):
        at = clock.iso(start + timedelta(minutes=45 * n))
        waiting = n % 7 != 3  # most open conversations wait for us
        conv = Conversation(
            id=f"c{n:011d}",
            mailbox=MAILBOXES[n % 3],
            status=[Status.OPEN, Status.OPEN, Status.PENDING, Status.CLOSED][n % 4],
            assignee=None if n % 5 == 0 else f"agent{n % 4}@acme.test",
            team=["support", "sales", "billing"][n % 3],
            tags=["vip"] if n % 7 == 0 else [],
            contact_email=f"customer{n % 40}@example.com",
            contact_name=f"Customer {n % 40}",
            subject=f"{subjects[n % 4]} #{n}",
            subject_norm=f"{subjects[n % 4]} #{n}".casefold(),
            snippet="Hello team, the export still fails at the last step; see the log below. " * 3,
            message_count=1 + n % 4,
            created_at=at,
            last_message_at=at,
            last_activity_at=at,
            waiting_since=at if waiting else None,
            first_response_due=clock.iso(start + timedelta(minutes=45 * n + 240)),
        )
        item = conversation_item(conv)
        table.put(item)
        sizes.append(capacity.item_size(serialize(item)))
    return int(statistics.mean(sizes))


def api_event(path: str, query: str, token: str) -> dict[str, Any]:
    return http_api_event("GET", path, query, headers={"authorization": f"Bearer {token}"})


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 3)


def run() -> dict[str, Any]:
    with bench_environment():
        import json

        from functions.reply.handler import handler
        from mailroom.api import wiring
        from mailroom.auth.tokens import issue_token
        from mailroom.settings import get_settings
        from mailroom.usage import metered
        from sandbox.lambda_context import make_context

        table = wiring.table()
        average_item = seed(table)
        counter = _ScanCounter(table.client)
        table.client = counter
        token = issue_token(get_settings().session_secret or "", ADMIN, 3600, kind="api")
        context = make_context("mailroom-reply", 512, 29)
        results: dict[str, Any] = {}
        events = {
            name: api_event("/" if name == "inbox_page_html" else "/api/conversations", query, token)
            for name, query in CASES.items()
        }
        for _ in range(3):  # warm: imports, templates, connections, DynamoDB Local's JIT
            for event in events.values():
                handler(event, context)
        for name, query in CASES.items():
            path = "/" if name == "inbox_page_html" else "/api/conversations"
            event = events[name]
            counter.scanned = 0
            with metered() as meter:
                response = handler(event, context)
            assert response["statusCode"] == 200, response.get("body")
            listed = (
                len(json.loads(response["body"])["items"])
                if path != "/"
                else response["body"].count('id="conv-')
            )
            examined = counter.scanned
            times = []
            for _ in range(CALLS):
                started = time.perf_counter()
                handler(event, context)
                times.append((time.perf_counter() - started) * 1000)
            summary = meter.summary()
            results[name] = {
                "query": f"{path}?{query}" if query else path,
                "listed": listed,
                "server_ms_median": median(times),
                "server_ms_p95": p95(times),
                "dynamodb_requests": summary["dynamodb_requests"],
                "read_units_returned_items": summary["read_units"],
                "index_items_examined": examined,
                # Eventually consistent: 4 KB per unit, halved; per query rounded up (approximately).
                "read_units_examined_estimate": round(examined * average_item / 4096 / 2, 2),
            }
        return {
            "conversations": CONVERSATIONS,
            "mailboxes": len(MAILBOXES),
            "page": PAGE,
            "calls": CALLS,
            "average_conversation_item_bytes": average_item,
            "cases": results,
        }


if __name__ == "__main__":
    import json
    import sys

    figures = sys.stdout
    sys.stdout = sys.stderr
    try:
        output = run()
    finally:
        sys.stdout = figures
    json.dump(output, figures, indent=2)
    figures.write("\n")
