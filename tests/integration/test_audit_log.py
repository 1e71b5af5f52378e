"""The product-wide audit log: what writes it, the admin API's filters and pages, the CSV export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from mailroom.audit.log import audit_item, record
from mailroom.auth.model import Access
from mailroom.auth.permissions_store import grant
from mailroom.inbox.directory import upsert_mailbox, upsert_user
from mailroom.routing.rules_store import save_rules
from mailroom.rules.model import RuleSet
from mailroom.table.client import Table, partition
from tests.integration.conftest import ADMIN, Api, Deliver
from tests.mailfactory import make_mail

AGENT = "agent@acme.test"
REPLIER = "replier@acme.test"
SUPPORT = "support@acme.test"


def _entries(api: Api, query: str = "") -> list[dict[str, Any]]:
    status, _, page = api("GET", "/api/admin/audit", query)
    assert status == 200, page
    return list(page["entries"])


def test_sign_ins_grants_and_rule_saves_are_recorded(api: Api, table: Table) -> None:
    upsert_user(table, AGENT, name="Agent", role="agent")
    upsert_mailbox(table, SUPPORT, name="Support")
    form = {"content-type": "application/x-www-form-urlencoded"}
    status, _, _ = api("POST", "/signin", body=f"email={AGENT}&next=/", user=None, headers=form)
    assert status == 303
    grant(table, SUPPORT, AGENT, Access.FULL, actor=ADMIN)
    grant(table, SUPPORT, AGENT, None, actor=ADMIN)
    save_rules(table, RuleSet(rules=[]), expected_version=0, actor=ADMIN, note="first")

    entries = _entries(api)
    actions = [e["action"] for e in entries]
    assert actions == ["rules.save", "permission.revoke", "permission.grant", "signin"]  # newest first
    signin = entries[-1]
    assert signin["actor"] == AGENT
    assert signin["details"] == {"mode": "local"}
    assert entries[2]["target"] == AGENT
    assert entries[2]["details"] == {"mailbox": SUPPORT, "access": "full"}
    assert entries[0]["details"]["version"] == 1

    # Filters: by user, by type (a prefix), both.
    assert [e["action"] for e in _entries(api, f"actor={AGENT}")] == ["signin"]
    assert [e["action"] for e in _entries(api, "action=permission")] == [
        "permission.revoke",
        "permission.grant",
    ]
    assert _entries(api, f"actor={AGENT}&action=permission") == []


def test_period_filter_and_pagination(api: Api, table: Table) -> None:
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    for days_ago in (0, 1, 1, 3, 10, 40):
        for n in range(2):
            at = (today - timedelta(days=days_ago, minutes=n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            table.put(
                audit_item(actor=ADMIN, action="mailbox.update", target=f"d{days_ago}-{n}", details={}, at=at)
            )

    def day(n: int) -> str:
        return (today - timedelta(days=n)).date().isoformat()

    inside = _entries(api, f"from={day(3)}&to={day(1)}")
    assert [e["target"] for e in inside] == ["d1-0", "d1-0", "d1-1", "d1-1", "d3-0", "d3-1"]
    status, _, refused = api("GET", "/api/admin/audit", f"from={day(100)}&to={day(0)}")
    assert status == 400, refused  # more than 92 days
    status, _, _ = api("GET", "/api/admin/audit", f"from={day(0)}&to={day(3)}")
    assert status == 400  # reversed

    # Pages of 5 over the last 60 days: every entry once, newest first.
    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        query = f"from={day(59)}&to={day(0)}&limit=5" + (f"&cursor={cursor}" if cursor else "")
        status, _, page = api("GET", "/api/admin/audit", query)
        assert status == 200, page
        seen += [str(e["target"]) for e in page["entries"]]
        cursor = page["next_cursor"] or ""
        if not cursor:
            break
    expected = [
        "d0-0",
        "d0-1",
        "d1-0",
        "d1-0",
        "d1-1",
        "d1-1",
        "d3-0",
        "d3-1",
        "d10-0",
        "d10-1",
        "d40-0",
        "d40-1",
    ]
    assert seen == expected
    status, _, _ = api("GET", "/api/admin/audit", "cursor=not-a-cursor")
    assert status == 400


def test_csv_export_parses_and_neutralizes_formulas(api: Api, table: Table) -> None:
    record(
        table, actor=ADMIN, action="user.update", target='=HYPERLINK("http://evil")', details={"x": "-1+1"}
    )
    record(table, actor=ADMIN, action="mailbox.update", target='quote " and, comma', details={"name": "Café"})
    record(table, actor=ADMIN, action="team.update", target="@SUM(A1)", details={})
    status, headers, body = api("GET", "/api/admin/audit.csv")
    assert status == 200
    assert headers["Content-Type"].startswith("text/csv")
    text = body if isinstance(body, str) else body.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    assert rows[0] == ["at", "actor", "action", "target", "details", "id"]
    targets = {row[2]: row[3] for row in rows[1:]}
    assert targets["user.update"] == '\'=HYPERLINK("http://evil")'
    assert targets["team.update"] == "'@SUM(A1)"
    assert targets["mailbox.update"] == 'quote " and, comma'
    assert any("Café" in row[4] for row in rows[1:])
    assert "\r\n" in text  # RFC 4180 line breaks
    status, _, filtered = api("GET", "/api/admin/audit.csv", "action=team")
    assert len(list(csv.reader(io.StringIO(filtered.removeprefix("\ufeff"))))) == 2


def test_admin_page_and_refusals(api: Api, table: Table) -> None:
    upsert_user(table, AGENT, name="Agent", role="agent")
    record(table, actor=ADMIN, action="user.update", target=AGENT, details={"role": "agent"})
    status, _, html = api("GET", "/admin/audit", "action=user")
    assert status == 200
    assert "user.update" in html
    assert "Export CSV" in html
    for path in ("/api/admin/audit", "/api/admin/audit.csv", "/admin/audit"):
        status, _, _ = api("GET", path, user=AGENT)
        assert status == 403, path
        status, _, _ = api("GET", path, user=None)
        assert status in {401, 303}, path


def test_assignments_are_mirrored(api: Api, table: Table) -> None:
    from mailroom.assignment.store import AssignmentStore
    from mailroom.domain.agent import Agent
    from mailroom.domain.conversation import Conversation
    from mailroom.table.items import conversation_item

    store = AssignmentStore(table)
    store.put_agent(Agent(id=AGENT, name="Agent", role="agent", capacity=5))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    conv = Conversation.model_validate(
        {
            "id": "caudit000001",
            "mailbox": SUPPORT,
            "contact_email": "c@example.com",
            "created_at": now,
            "last_message_at": now,
            "last_activity_at": now,
        }
    )
    table.put(conversation_item(conv))
    assigned = store.assign(conv, AGENT, actor=ADMIN, reason="manual")
    store.unassign(assigned, actor=ADMIN, reason="manual")
    entries = _entries(api, "action=assignment")
    assert [e["action"] for e in entries] == ["assignment.unassigned", "assignment.assigned"]
    assert entries[1]["target"] == "caudit000001"
    assert entries[1]["details"]["agent"] == AGENT


def test_sidebar_assignments_transfers_and_reply_claims_are_mirrored(
    api: Api, table: Table, deliver: Deliver
) -> None:
    """Every change of assignee shows in the audit log, written in the transaction of the change: the
    entry has the id of the conversation's own event, and a refused change writes neither."""
    from mailroom.assignment.store import AssignmentStore
    from mailroom.domain.agent import Agent
    from mailroom.domain.team import Team

    first, second = deliver(make_mail()).outcomes[0], deliver(make_mail(message_id="<two@example.com>"))
    conversation = first["conversation_id"]
    other = second.outcomes[0]["conversation_id"]
    store = AssignmentStore(table)
    for email in (AGENT, REPLIER):
        upsert_user(table, email, name=email, role="agent")
        store.put_agent(Agent(id=email, name=email, role="agent", capacity=5))
        grant(table, SUPPORT, email, Access.FULL, actor=ADMIN)
    store.put_team(Team(id="billing", name="Billing"))  # neither agent is a member
    form = {"content-type": "application/x-www-form-urlencoded"}

    status, _, done = api(
        "POST", f"/conversations/{conversation}/actions/assign", body=f"agent={AGENT}", headers=form
    )
    assert status == 200, done
    status, _, done = api(
        "POST", f"/conversations/{conversation}/actions/transfer", body="team=billing", headers=form
    )
    assert status == 200, done  # the assignee is not in billing: unassigned with the transfer
    _, _, detail = api("GET", f"/api/conversations/{conversation}")
    assert detail["assignee"] is None
    reply = {"idempotency_key": "audit-claim-0001", "seen_version": detail["version"], "text": "On it"}
    status, _, sent = api(
        "POST", f"/api/conversations/{conversation}/replies", body=json.dumps(reply), user=REPLIER
    )
    assert status == 201, sent  # unassigned: the reply claims it

    entries = _entries(api, "action=assignment")
    assert [(e["action"], e["actor"], e["target"]) for e in entries] == [
        ("assignment.assigned", REPLIER, conversation),
        ("assignment.unassigned", ADMIN, conversation),
        ("assignment.assigned", ADMIN, conversation),
    ]
    claimed, dropped, assigned = (e["details"] for e in entries)
    assert claimed == {
        "mailbox": SUPPORT,
        "agent": REPLIER,
        "reason": "claimed by replying",
        "strategy": "reply",
    }
    assert dropped["previous"] == AGENT
    assert dropped["reason"] == "not a member of team billing"
    assert assigned["agent"] == AGENT
    events = table.query_all(key_condition=partition(f"CONV#{conversation}", "EVT#"), consistent=True)
    mirrored = {str(e["id"]) for e in events if e.get("type") in {"assigned", "unassigned"}}
    assert {e["id"] for e in entries} == mirrored  # one entry per event, under the event's id

    # A refused claim by reply (the conversation moved on since it was read) writes no entry.
    _, _, current = api("GET", f"/api/conversations/{other}")
    assert api("POST", f"/api/conversations/{other}/tags", body=json.dumps({"tag": "vip"}))[0] == 200
    stale = {"idempotency_key": "audit-claim-0002", "seen_version": current["version"], "text": "Late"}
    status, _, _ = api("POST", f"/api/conversations/{other}/replies", body=json.dumps(stale), user=AGENT)
    assert status == 409
    assert len(_entries(api, "action=assignment")) == 3
