"""SLA breach warnings from the scheduled sweep: tagged and notified once per due time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailroom.assignment.store import AssignmentStore
from mailroom.auth.model import Access
from mailroom.auth.permissions_store import grant
from mailroom.deployment import ROUTE
from mailroom.domain.agent import Agent
from mailroom.domain.team import SlaPolicy, Strategy, Team
from mailroom.inbox.directory import upsert_mailbox, upsert_user
from mailroom.routing import wiring as routing_wiring
from mailroom.routing.service import sweep_queues
from mailroom.settings import get_settings, reset_settings_cache
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table, partition
from mailroom.table.items import conversation_item, get_conversation
from sandbox.app import context_factory
from sandbox.lambda_context import load_handler
from sandbox.streams import Consumer, StreamPoller
from tests.integration.conftest import Api, Deliver
from tests.mailfactory import make_mail

SUPPORT = "support@acme.test"
SAM, PRIYA, OUTSIDER = "sam@acme.test", "priya@acme.test", "olga@acme.test"


@pytest.fixture
def org(table: Table, env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Support answers within 10 minutes (calendar time); Sam and Priya are its members, Olga is a
    member too but may not read the mailbox. Warnings are mailed as well."""
    monkeypatch.setenv("MAILROOM_SLA_WARNING_EMAIL", "true")
    reset_settings_cache()
    routing_wiring.router.cache_clear()
    store = AssignmentStore(table)
    fast = SlaPolicy(
        id="fast", name="Fast", first_response_minutes=10, resolution_minutes=60, business_hours=False
    )
    for email in (SAM, PRIYA, OUTSIDER):
        store.put_agent(Agent(id=email, name=email.split("@")[0].title(), capacity=10))
        upsert_user(table, email, name=email.split("@")[0].title(), role="agent")
    store.put_team(
        Team(
            id="support",
            name="Support",
            strategy=Strategy.ROUND_ROBIN,
            members=[SAM, PRIYA, OUTSIDER],
            sla_policies=[fast],
            default_sla="fast",
        )
    )
    upsert_mailbox(table, SUPPORT, name="Support", team="support")
    for email in (SAM, PRIYA):
        grant(table, SUPPORT, email, Access.FULL)
    yield
    routing_wiring.router.cache_clear()


@pytest.fixture
def route(ddb_endpoint: str, table_name: str, tmp_path: Path, org: None) -> Iterator[StreamPoller]:
    assert ROUTE.stream is not None
    consumer = Consumer(
        name="route",
        handler=load_handler(ROUTE),
        patterns=ROUTE.stream.patterns,
        context_factory=context_factory(ROUTE),
    )
    with StreamPoller(
        endpoint=ddb_endpoint, table_name=table_name, consumers=[consumer], state_dir=tmp_path / "streams"
    ) as poller:
        yield poller


def notifications(table: Table, user: str) -> list[dict[str, Any]]:
    return table.query_all(key_condition=partition(keys.user_pk(user), keys.NOTIFY_PREFIX), consistent=True)


def tag_events(table: Table, conversation_id: str) -> list[dict[str, Any]]:
    items = table.query_all(
        key_condition=Condition(
            "#pk = :pk AND begins_with(#sk, :evt)",
            {"#pk": schema.PK, "#sk": schema.SK},
            {":pk": keys.conversation_pk(conversation_id), ":evt": "EVT#"},
        ),
        consistent=True,
    )
    return [item for item in items if item["type"] == "tagged"]


def outbox() -> list[Path]:
    return sorted(Path(get_settings().outbound_url.removeprefix("file://")).glob("*.eml"))


def test_a_conversation_due_in_ten_minutes_is_tagged_and_its_people_notified_once(
    deliver: Deliver, table: Table, route: StreamPoller, api: Api
) -> None:
    now = datetime.now(UTC)
    soon = deliver(make_mail(subject="Due soon", message_id="<soon@example.com>"), received_at=now)
    later = deliver(
        make_mail(subject="Due later", message_id="<later@example.com>", sender="bob@example.com"),
        received_at=now + timedelta(hours=2),
    )
    assert route.drain(timeout=60)
    soon_id = str(soon.outcomes[0]["conversation_id"])
    later_id = str(later.outcomes[0]["conversation_id"])
    conversation = get_conversation(table, soon_id)
    assert conversation is not None
    assert conversation.first_response_due is not None
    assignee = conversation.assignee
    assert assignee in {SAM, PRIYA, OUTSIDER}

    router = routing_wiring.router()
    for _ in range(2):  # the schedule runs every minute (20 s in the sandbox): warned once
        sweep_queues(router, at=now)

    tagged = get_conversation(table, soon_id)
    assert tagged is not None
    assert "sla-at-risk" in tagged.tags
    assert len(tag_events(table, soon_id)) == 1
    not_yet = get_conversation(table, later_id)
    assert not_yet is not None
    assert "sla-at-risk" not in not_yet.tags  # due in two hours and ten minutes: not yet
    # The assignee and the team's members who may read the mailbox, once each.
    for user in (SAM, PRIYA):
        [notification] = notifications(table, user)
        assert notification["conversation_id"] == soon_id
        assert notification["kind"] == "sla_at_risk"
        assert notification["due"] == conversation.first_response_due
    assert notifications(table, OUTSIDER) == []  # no access to the mailbox
    mails = outbox()
    assert len(mails) == 1
    mail = mails[0].read_text()
    assert "SLA at risk: Due soon" in mail
    assert "Auto-Submitted: auto-generated" in mail

    # The page shows it, unread, and marks it read.
    status, _, page = api("GET", "/notifications", user=SAM)
    assert status == 200
    assert "Due soon" in page
    assert "unread" in page
    status, _, _ = api(
        "POST",
        "/notifications/read",
        body="all=1",
        user=SAM,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert status == 303
    assert "read_at" in notifications(table, SAM)[0]


def test_a_new_due_time_warns_again(deliver: Deliver, table: Table, route: StreamPoller) -> None:
    now = datetime.now(UTC)
    conversation_id = str(
        deliver(make_mail(subject="Again", message_id="<again@example.com>"), received_at=now).outcomes[0][
            "conversation_id"
        ]
    )
    assert route.drain(timeout=60)
    router = routing_wiring.router()
    sweep_queues(router, at=now)
    conversation = get_conversation(table, conversation_id)
    assert conversation is not None
    # Routing moves the due time when a reopen restarts the clock: that due time is warned again.
    moved = conversation.model_copy(
        update={"first_response_due": (now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    )
    table.put(conversation_item(moved))
    sweep_queues(router, at=now + timedelta(seconds=1))
    sweep_queues(router, at=now + timedelta(seconds=2))
    assert len(notifications(table, SAM)) == 2
    assert len(tag_events(table, conversation_id)) == 1  # already tagged: tagging again changes nothing
