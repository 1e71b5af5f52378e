"""Routing through the real route handler, fed by the sandbox's stream poller, on DynamoDB Local."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailroom.assignment.store import AssignmentStore, status_change_actions, team_key
from mailroom.canned.model import CannedResponse
from mailroom.canned.store import put_canned
from mailroom.deployment import ROUTE
from mailroom.domain.agent import Agent, AgentStatus, OutOfOffice
from mailroom.domain.conversation import Conversation, Status
from mailroom.domain.team import SlaPolicy, Strategy, Team
from mailroom.inbox.directory import forget_cached_mailboxes, mailbox_directory_key, upsert_mailbox
from mailroom.routing import wiring as routing_wiring
from mailroom.routing.rules_store import load_rules, save_rules
from mailroom.routing.service import sweep_queues
from mailroom.rules.yaml_io import parse_rules_yaml
from mailroom.settings import reset_settings_cache
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table
from mailroom.table.items import conversation_item, to_conversation
from sandbox.app import context_factory, scheduled_event
from sandbox.lambda_context import load_handler
from sandbox.stream_events import insert_record
from sandbox.streams import Consumer, StreamPoller
from tests.integration.conftest import Deliver
from tests.mailfactory import make_mail

RULES = """
rules:
  - id: machines
    name: Automatic mail is tagged only
    when: {flag: [auto_reply, bounce, bulk]}
    then: [{add_tags: [automatic]}]
    stop: true
  - id: billing
    name: Invoices go to Billing
    when: {subject: {contains: invoice}}
    then:
      - add_tags: [billing]
      - set_team: billing
  - id: vip
    name: VIP domain
    when: {sender: {domain: bigcorp.example}}
    then:
      - set_priority: urgent
      - set_sla: fast
"""


@pytest.fixture
def org(table: Table, env: Path) -> Iterator[AssignmentStore]:
    """A small organisation: a support team (least loaded) and a billing team (round robin)."""
    routing_wiring.router.cache_clear()
    store = AssignmentStore(table)
    policies = [
        SlaPolicy(
            id="normal",
            name="Normal",
            first_response_minutes=240,
            resolution_minutes=2880,
            business_hours=False,
        ),
        SlaPolicy(
            id="fast", name="Fast", first_response_minutes=30, resolution_minutes=240, business_hours=False
        ),
    ]
    for agent in ("a1@acme.test", "a2@acme.test"):
        store.put_agent(Agent(id=agent, name=agent.split("@")[0], capacity=5))
    members = ["a1@acme.test", "a2@acme.test"]
    for team_id, strategy in (("support", Strategy.LEAST_LOADED), ("billing", Strategy.ROUND_ROBIN)):
        store.put_team(
            Team(
                id=team_id,
                name=team_id.title(),
                strategy=strategy,
                members=members,
                sla_policies=policies,
                default_sla="normal",
            )
        )
    upsert_mailbox(table, "support@acme.test", name="Acme Support", team="support")
    save_rules(table, parse_rules_yaml(RULES), expected_version=load_rules(table).version, actor="test")
    yield store
    routing_wiring.router.cache_clear()


@pytest.fixture
def poller(
    ddb_endpoint: str, table_name: str, tmp_path: Path, org: AssignmentStore
) -> Iterator[StreamPoller]:
    """The sandbox's stream poller with the route consumer, exactly as the sandbox wires it."""
    assert ROUTE.stream is not None
    consumer = Consumer(
        name="route",
        handler=load_handler(ROUTE),
        patterns=ROUTE.stream.patterns,
        batch_size=ROUTE.stream.batch_size,
        max_retries=ROUTE.stream.max_retries,
        context_factory=context_factory(ROUTE),
    )
    with StreamPoller(
        endpoint=ddb_endpoint, table_name=table_name, consumers=[consumer], state_dir=tmp_path / "streams"
    ) as p:
        yield p


def new_conversation(deliver: Deliver, subject: str, sender: str) -> str:
    raw = make_mail(subject=subject, message_id=f"<{subject.replace(' ', '-')}@example.com>", sender=sender)
    return str(deliver(raw).outcomes[0]["conversation_id"])


def route_all(poller: StreamPoller) -> None:
    assert poller.drain(timeout=60)
    assert poller.dead_letters() == []


def conversation(table: Table, conversation_id: str) -> Conversation:
    item = table.get(
        {schema.PK: keys.conversation_pk(conversation_id), schema.SK: keys.META}, consistent=True
    )
    assert item is not None
    return to_conversation(item)


def events(table: Table, conversation_id: str) -> list[dict[str, Any]]:
    return table.query_all(
        key_condition=Condition(
            "#pk = :pk AND begins_with(#sk, :e)",
            {"#pk": schema.PK, "#sk": schema.SK},
            {":pk": keys.conversation_pk(conversation_id), ":e": "EVT#"},
        )
    )


def test_rules_tag_route_and_assign_with_an_audit_trail(
    deliver: Deliver, table: Table, poller: StreamPoller
) -> None:
    conv_id = deliver(make_mail(subject="Invoice 42 is wrong", sender="Zoe <zoe@bigcorp.example>")).outcomes[
        0
    ]["conversation_id"]
    route_all(poller)
    conv = conversation(table, conv_id)
    assert conv.tags == ["billing"]
    assert conv.team == "billing"
    assert conv.priority == "urgent"
    assert conv.sla_policy == "fast"
    assert conv.first_response_due is not None
    assert conv.assignee in {"a1@acme.test", "a2@acme.test"}
    trail = {e["type"]: e for e in events(table, conv_id)}
    assert trail["tagged"]["data"]["rule_id"] == "billing"
    assert trail["team_set"]["data"]["rule_id"] == "billing"
    assert trail["priority_set"]["data"]["rule_id"] == "vip"
    assert trail["sla_set"]["data"]["rule_id"] == "vip"
    assert "round_robin" in trail["assigned"]["data"]["reason"]


def test_mailbox_default_team_and_least_loaded(deliver: Deliver, table: Table, poller: StreamPoller) -> None:
    ids = [new_conversation(deliver, f"Help {n}", f"c{n}@example.com") for n in range(4)]
    route_all(poller)
    assignees = [str(conversation(table, i).assignee) for i in ids]
    assert sorted(assignees) == ["a1@acme.test", "a1@acme.test", "a2@acme.test", "a2@acme.test"]
    team_events = [e for i in ids for e in events(table, i) if e["type"] == "team_set"]
    assert all(e["data"]["because"] == "mailbox default team" for e in team_events)


def test_redelivered_stream_record_changes_nothing(
    deliver: Deliver, table: Table, poller: StreamPoller
) -> None:
    conv_id = deliver(make_mail(subject="Invoice again")).outcomes[0]["conversation_id"]
    route_all(poller)
    before = conversation(table, conv_id)
    trail_before = events(table, conv_id)
    message = next(
        i
        for i in table.query_all(
            key_condition=Condition("#pk = :pk", {"#pk": schema.PK}, {":pk": keys.conversation_pk(conv_id)})
        )
        if i.get("entity") == "message"
    )
    record = insert_record(message)
    result = load_handler(ROUTE)({"Records": [record, record]}, context_factory(ROUTE)())
    assert result == {"batchItemFailures": []}
    after = conversation(table, conv_id)
    assert after.version == before.version
    assert after.assignee == before.assignee
    assert len(events(table, conv_id)) == len(trail_before)


def test_out_of_office_agent_gets_no_new_conversations(
    deliver: Deliver, table: Table, poller: StreamPoller, org: AssignmentStore
) -> None:
    now = datetime.now(UTC)
    absence = OutOfOffice(start=now - timedelta(hours=1), end=now + timedelta(days=2))
    org.put_agent(Agent(id="a1@acme.test", name="a1", capacity=5, out_of_office=[absence]))
    ids = [new_conversation(deliver, f"Q{n}", f"o{n}@example.com") for n in range(3)]
    route_all(poller)
    assert {conversation(table, i).assignee for i in ids} == {"a2@acme.test"}


def test_customer_reply_reopens_and_reassigns_when_the_owner_is_away(
    deliver: Deliver, table: Table, poller: StreamPoller, org: AssignmentStore
) -> None:
    conv_id = deliver(make_mail(subject="Broken", message_id="<r1@example.com>")).outcomes[0][
        "conversation_id"
    ]
    route_all(poller)
    owner = conversation(table, conv_id).assignee
    assert owner is not None
    other = "a2@acme.test" if owner == "a1@acme.test" else "a1@acme.test"
    _close(table, org, conv_id)
    away = org.get_agent(owner)
    assert away is not None
    org.put_agent(away.model_copy(update={"status": AgentStatus.AWAY}))

    deliver(make_mail(subject="Re: Broken", message_id="<r2@example.com>", in_reply_to="<r1@example.com>"))
    route_all(poller)
    conv = conversation(table, conv_id)
    assert conv.status == Status.OPEN
    assert conv.assignee == other
    trail = [e["type"] for e in events(table, conv_id)]
    assert trail.count("reopened") == 1
    unassigned = [e for e in events(table, conv_id) if e["type"] == "unassigned"]
    assert "unavailable" in unassigned[-1]["data"]["reason"]
    agents = {a.id: a.open_count for a in org.get_agents(["a1@acme.test", "a2@acme.test"])}
    assert agents == {owner: 0, other: 1}


def _close(table: Table, org: AssignmentStore, conv_id: str) -> None:
    """Close a conversation the way the API will: status and the owner's open count together."""
    current = conversation(table, conv_id)
    closed = current.model_copy(update={"status": Status.CLOSED, "version": current.version + 1})
    from mailroom.table.client import Put

    table.transact_write(
        [
            Put(conversation_item(closed), Condition("#v = :v", {"#v": "version"}, {":v": current.version})),
            *status_change_actions(current, closed),
        ]
    )


def test_nobody_available_queues_then_the_sweep_assigns(
    deliver: Deliver, table: Table, poller: StreamPoller, org: AssignmentStore
) -> None:
    for agent in org.get_agents(["a1@acme.test", "a2@acme.test"]):
        org.put_agent(agent.model_copy(update={"status": AgentStatus.AWAY}))
    conv_id = deliver(make_mail(subject="Anyone there?")).outcomes[0]["conversation_id"]
    route_all(poller)
    assert conversation(table, conv_id).assignee is None
    back = org.get_agent("a2@acme.test")
    assert back is not None
    org.put_agent(back.model_copy(update={"status": AgentStatus.AVAILABLE}))
    result = load_handler(ROUTE)(scheduled_event(), context_factory(ROUTE)())
    assert result == {"assigned": 1}
    assert conversation(table, conv_id).assignee == "a2@acme.test"


def test_the_sweep_finds_the_queue_behind_many_assigned_conversations(
    deliver: Deliver, table: Table, poller: StreamPoller, org: AssignmentStore
) -> None:
    """More assigned conversations in the team than one sweep reads must not hide the queued one
    (the queue is its own sparse index, not a filter over the team's open conversations)."""
    for agent in org.get_agents(["a1@acme.test", "a2@acme.test"]):
        org.put_agent(agent.model_copy(update={"capacity": 100}))
    for n in range(6):
        deliver(
            make_mail(subject=f"Busy {n}", message_id=f"<busy{n}@example.com>", sender=f"b{n}@example.com")
        )
    route_all(poller)
    for agent in org.get_agents(["a1@acme.test", "a2@acme.test"]):
        org.put_agent(agent.model_copy(update={"status": AgentStatus.AWAY}))
    waiting = deliver(make_mail(subject="Still waiting", message_id="<late@example.com>")).outcomes[0]
    route_all(poller)
    assert conversation(table, waiting["conversation_id"]).assignee is None
    back = org.get_agent("a1@acme.test")
    assert back is not None
    org.put_agent(back.model_copy(update={"status": AgentStatus.AVAILABLE}))
    router = routing_wiring.router()
    assert sweep_queues(router, per_mailbox=3) == 1  # fewer than the six assigned ones
    assert conversation(table, waiting["conversation_id"]).assignee == "a1@acme.test"


def test_the_sweep_leaves_machine_mail_for_people_and_assigns_whoever_waits(
    deliver: Deliver, table: Table, poller: StreamPoller, env: Path
) -> None:
    """Routing leaves a bounce, a newsletter and an out-of-office unassigned; the sweep must not hand
    them out either (it would spend agents' capacity on no one), while a person's mail is assigned."""
    machine_mail = [
        {"List-Unsubscribe": "<mailto:u@news.example.com>", "Precedence": "bulk"},
        {"Auto-Submitted": "auto-replied"},
        {"X-Failed-Recipients": "gone@example.com"},
    ]
    machines = [
        deliver(
            make_mail(subject=f"Machine {n}", message_id=f"<m{n}@x.test>", sender=f"bot{n}@x.test", headers=h)
        ).outcomes[0]["conversation_id"]
        for n, h in enumerate(machine_mail)
    ]
    person = deliver(make_mail(subject="Help", message_id="<p@x.test>")).outcomes[0]["conversation_id"]
    route_all(poller)
    assert conversation(table, person).assignee is not None
    assert [conversation(table, c).assignee for c in machines] == [None, None, None]

    assert sweep_queues(routing_wiring.router()) == 0
    assert [conversation(table, c).assignee for c in machines] == [None, None, None]


def test_auto_reply_once_per_sender_never_to_automatic_mail(
    deliver: Deliver, table: Table, poller: StreamPoller, env: Path
) -> None:
    put_canned(table, CannedResponse(id="ack", name="Ack", body="Hi {{ customer.first_name }}, we got it."))
    rules = parse_rules_yaml(
        "rules:\n"
        "  - {id: machines, name: m, when: {flag: [auto_reply, bounce, bulk]},\n"
        "     then: [{add_tags: [automatic]}], stop: true}\n"
        "  - {id: ack, name: Ack, when: {always: true}, then: [{auto_reply: ack}]}\n"
    )
    save_rules(table, rules, expected_version=load_rules(table).version, actor="test")
    routing_wiring.router.cache_clear()
    deliver(make_mail(subject="One", message_id="<a1@example.com>"))
    deliver(make_mail(subject="Two", message_id="<a2@example.com>"))
    ooo = {"Auto-Submitted": "auto-replied"}
    deliver(
        make_mail(subject="Out of office", message_id="<a3@example.com>", sender="x@example.org", headers=ooo)
    )
    deliver(make_mail(subject="Hi", message_id="<a4@example.com>", sender="noreply@example.net"))
    # A person whose Outlook asks for no automatic replies: honoured, yet the mail is a person's.
    suppress = {"X-Auto-Response-Suppress": "DR, OOF, AutoReply"}
    quiet = deliver(
        make_mail(subject="Quiet", message_id="<a5@x.test>", sender="carol@example.com", headers=suppress)
    )
    route_all(poller)
    outbox = sorted((env.parent / "outbox").glob("*.eml"))
    assert len(outbox) == 1
    assert "automatic" not in conversation(table, quiet.outcomes[0]["conversation_id"]).tags
    raw = outbox[0].read_bytes()
    assert b"Auto-Submitted: auto-replied" in raw
    assert b"In-Reply-To: <a1@example.com>" in raw
    assert b"To: Alice Customer <alice@example.com>" in raw


def test_mailbox_default_sla_and_auto_acknowledgement(
    deliver: Deliver, table: Table, poller: StreamPoller, env: Path
) -> None:
    """The mailbox's own settings: its default SLA policy wins over the team's (a rule's wins over
    both), and its acknowledgement answers a new conversation once, never a reply in the thread."""
    put_canned(table, CannedResponse(id="got-it", name="Got it", body="Hi {{ customer.first_name }}, noted."))
    upsert_mailbox(table, "support@acme.test", sla_policy="fast", auto_ack="got-it")
    routing_wiring.router.cache_clear()
    first = deliver(make_mail(subject="Printer on fire", message_id="<fire@example.com>")).outcomes[0]
    route_all(poller)
    conv = conversation(table, first["conversation_id"])
    assert conv.sla_policy == "fast"
    sla_event = next(e for e in events(table, conv.id) if e["type"] == "sla_set")
    assert sla_event["data"]["because"] == "mailbox or team default"
    outbox = sorted((env.parent / "outbox").glob("*.eml"))
    assert len(outbox) == 1
    assert b"noted." in outbox[0].read_bytes()
    assert any(e["type"] == "auto_replied" for e in events(table, conv.id))

    # The customer answers in the thread: no second acknowledgement, and the policy stays.
    reply = make_mail(
        subject="Re: Printer on fire",
        message_id="<fire-2@example.com>",
        headers={"In-Reply-To": "<fire@example.com>", "References": "<fire@example.com>"},
    )
    assert deliver(reply).outcomes[0]["conversation_id"] == conv.id
    route_all(poller)
    assert len(list((env.parent / "outbox").glob("*.eml"))) == 1
    assert conversation(table, conv.id).sla_policy == "fast"


def test_routing_reuses_the_directory_for_its_age_and_sees_its_own_process_changes_at_once(
    deliver: Deliver,
    table: Table,
    poller: StreamPoller,
    org: AssignmentStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``MAILROOM_DIRECTORY_CACHE_SECONDS`` (as on AWS), route reuses its container's read of
    the mailboxes and teams: a change made by another container is seen once the read is older
    than that; one made in this process (a team or mailbox saved) at once."""
    monkeypatch.setenv("MAILROOM_DIRECTORY_CACHE_SECONDS", "300")
    reset_settings_cache()
    routing_wiring.router.cache_clear()
    forget_cached_mailboxes()

    def routed(n: int) -> Conversation:
        conversation_id = new_conversation(deliver, f"Directory {n}", f"d{n}@example.com")
        route_all(poller)
        return conversation(table, conversation_id)

    def change_elsewhere(key: dict[str, str], name: str, value: str) -> None:
        table.update(key, Condition("SET #a = :v", {"#a": name}, {":v": value}))

    assert routed(1).team == "support"
    change_elsewhere(mailbox_directory_key("support@acme.test"), "team", "billing")
    assert routed(2).team == "support"  # another container's change: not yet
    billing = org.get_team("billing")
    assert billing is not None
    org.put_team(billing)  # a team saved in this process drops the directory read
    third = routed(3)
    assert third.team == "billing"
    assert third.assignee is not None  # round robin

    change_elsewhere(team_key("billing"), "strategy", Strategy.MANUAL.value)
    assert routed(4).assignee is not None  # still the round robin read before
    upsert_mailbox(table, "support@acme.test", name="Acme Support")  # saved here: read again
    fifth = routed(5)
    assert fifth.team == "billing"
    assert fifth.assignee is None  # a manual team: agents claim from the queue


def test_a_rule_sla_beats_the_mailbox_default_and_an_unknown_one_falls_back(
    deliver: Deliver, table: Table, poller: StreamPoller
) -> None:
    upsert_mailbox(table, "support@acme.test", sla_policy="no-such-policy")
    routing_wiring.router.cache_clear()
    vip = deliver(make_mail(subject="Hello", sender="Zed <zed@bigcorp.example>")).outcomes[0]
    plain = deliver(make_mail(subject="Hello too", message_id="<plain@example.com>")).outcomes[0]
    route_all(poller)
    assert conversation(table, vip["conversation_id"]).sla_policy == "fast"  # rule vip
    assert conversation(table, plain["conversation_id"]).sla_policy == "normal"  # the team's default
