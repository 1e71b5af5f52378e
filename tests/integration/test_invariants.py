"""The invariant checker (sandbox/invariants.py) on DynamoDB Local: a small world made by the real
ingest and reply handlers passes every check, and each kind of damage is reported as its own
invariant (a check that never fires would pass a broken pipeline)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mailroom.assignment.store import AssignmentStore
from mailroom.domain.agent import Agent, AgentStatus
from mailroom.domain.team import Strategy, Team
from mailroom.mail.parse import parse_message
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table
from mailroom.table.items import get_conversation
from sandbox.invariants import (
    Claim,
    Ledger,
    MailKind,
    SentMail,
    SentReply,
    Violation,
    check_invariants,
    snapshot,
)
from tests.corpus import FLANKER_DIR
from tests.integration.conftest import ADMIN, Api, Deliver, Delivery
from tests.mailfactory import make_mail

SUPPORT = "support@acme.test"
ANN, BOB = "ann@acme.test", "bob@acme.test"


def ses_id(delivery: Delivery) -> str:
    return str(delivery.event["Records"][0]["ses"]["mail"]["messageId"])


def record(
    ledger: Ledger, raw: bytes, delivery: Delivery, *, kind: MailKind = "new", thread_of: str | None = None
) -> SentMail:
    parsed = parse_message(raw)
    mail = SentMail(
        ses_message_id=ses_id(delivery),
        mailboxes=(SUPPORT,),
        message_id=parsed.message_id,
        sha256=hashlib.sha256(raw).hexdigest(),
        accepted_at=time.time(),
        kind=kind,
        thread_of=thread_of,
        expect_flags=frozenset(str(f) for f in parsed.flags) if kind == "malformed" else frozenset(),
    )
    ledger.record_mail(mail)
    return mail


@dataclass
class World:
    table: Table
    store_dir: Path
    outbox: Path
    ledger: Ledger
    first: str  # conversation ids
    second: str
    broken: str
    malformed_key: str  # message item key
    reply_key: str  # idempotency key of the agent's reply

    def check(self, *, allow_unrecorded: bool = False) -> list[Violation]:
        return check_invariants(
            self.table,
            self.outbox,
            self.ledger,
            raw_store_dir=self.store_dir,
            allow_unrecorded=allow_unrecorded,
        )

    def names(self, **kwargs: bool) -> set[str]:
        return {violation.invariant for violation in self.check(**kwargs)}

    def items(self, conversation_id: str, prefix: str) -> list[dict[str, Any]]:
        return self.table.query_all(
            key_condition=Condition(
                "#pk = :pk AND begins_with(#sk, :p)",
                {"#pk": schema.PK, "#sk": schema.SK},
                {":pk": keys.conversation_pk(conversation_id), ":p": prefix},
            )
        )


@pytest.fixture
def world(env: Path, table: Table, deliver: Deliver, api: Api) -> World:
    """Two threads (one with a duplicate delivery and a customer reply), a broken corpus mail, and an
    admin's reply through the API: everything the checker looks at, all in order."""
    ledger = Ledger()
    first_raw = make_mail(subject="Printer", message_id="<first@example.com>", sender="a@example.com")
    first = deliver(first_raw)
    record(ledger, first_raw, first)
    record(ledger, first_raw, deliver(first_raw), kind="duplicate")
    answer = make_mail(
        subject="Re: Printer",
        message_id="<answer@example.com>",
        sender="a@example.com",
        in_reply_to="<first@example.com>",
    )
    record(ledger, answer, deliver(answer), kind="reply", thread_of="first@example.com")
    second_raw = make_mail(subject="Invoice", message_id="<second@example.com>", sender="b@example.com")
    second = deliver(second_raw)
    record(ledger, second_raw, second)
    broken_raw = (FLANKER_DIR / "missing-boundaries.eml").read_bytes()
    broken = deliver(broken_raw)
    record(ledger, broken_raw, broken, kind="malformed")

    first_id = first.outcomes[0]["conversation_id"]
    conversation = get_conversation(table, first_id)
    assert conversation is not None
    AssignmentStore(table).put_agent(Agent(id=ADMIN, capacity=50))  # replying claims it for them
    body = {
        "idempotency_key": "reply-0001",
        "seen_version": conversation.version,
        "text": "Fixed it.",
        "close_after": "closed",
    }
    status, _, answered = api("POST", f"/api/conversations/{first_id}/replies", body=json.dumps(body))
    assert status == 201, answered
    ledger.record_reply(
        SentReply(
            conversation_id=first_id,
            idempotency_key="reply-0001",
            agent=ADMIN,
            status=status,
            message_id=answered["message_id"],
        )
    )
    return World(
        table=table,
        store_dir=env,
        outbox=env.parent / "outbox",
        ledger=ledger,
        first=first_id,
        second=second.outcomes[0]["conversation_id"],
        broken=broken.outcomes[0]["conversation_id"],
        malformed_key=broken.outcomes[0]["message_key"],
        reply_key="reply-0001",
    )


def test_a_sound_world_has_no_violations(world: World) -> None:
    assert world.check() == []
    snap = snapshot(world.table)
    assert len(snap.inbound()) == 4  # the duplicate made no item
    assert len(snap.replies) == 1


# -- mail in ------------------------------------------------------------------------------------------


def test_an_accepted_mail_without_an_item_is_lost(world: World) -> None:
    raw = make_mail(message_id="<never@example.com>")
    world.ledger.record_mail(
        SentMail(
            ses_message_id="not-delivered",
            mailboxes=(SUPPORT,),
            message_id="never@example.com",
            sha256=hashlib.sha256(raw).hexdigest(),
            accepted_at=time.time(),
        )
    )
    [violation] = world.check()
    assert violation.invariant == "lost"


def test_a_second_item_for_one_message_is_stored_twice(world: World) -> None:
    [message] = world.items(world.second, "MSG#")
    copy = {**message, schema.SK: f"{message[schema.SK]}x", "key": f"{message['key']}x"}
    world.table.put(copy)
    violations = world.check()
    assert {v.invariant for v in violations} == {"stored_twice"}
    assert len(violations) == 2  # two items for one delivery; two unflagged items with one Message-ID


def test_mail_the_ledger_does_not_know_is_reported_unless_allowed(world: World, deliver: Deliver) -> None:
    deliver(make_mail(subject="Other traffic", message_id="<other@example.com>", sender="c@example.com"))
    assert world.names() == {"unrecorded_message"}
    assert world.check(allow_unrecorded=True) == []


def test_malformed_mail_that_lost_its_flags_is_reported(world: World) -> None:
    [item] = [m for m in snapshot(world.table).messages if m["key"] == world.malformed_key]
    world.table.put({**item, "flags": []})
    assert world.names() == {"not_flagged"}


def test_raw_mail_missing_from_the_store_is_reported(world: World) -> None:
    [item] = [m for m in snapshot(world.table).messages if m["key"] == world.malformed_key]
    (world.store_dir / str(item["raw_key"])).unlink()
    assert world.names() == {"raw_missing"}


def test_a_reply_in_another_conversation_is_in_the_wrong_thread(world: World) -> None:
    # The customer's answer must be with <first@example.com>; point that Message-ID elsewhere.
    key = {schema.PK: keys.message_id_pk("first@example.com"), schema.SK: keys.message_id_sk(SUPPORT)}
    entry = world.table.get(key)
    assert entry is not None
    world.table.put({**entry, "conversation_id": world.second})
    assert world.names() == {"wrong_thread"}


# -- assignment ---------------------------------------------------------------------------------------


def _team(table: Table, *, strategy: Strategy, ann: Agent) -> AssignmentStore:
    store = AssignmentStore(table)
    store.put_agent(ann)
    store.put_team(Team(id="support", name="Support", strategy=strategy, members=[ann.id]))
    return store


def _set_team(world: World, conversation_id: str) -> None:
    world.table.update(
        {schema.PK: keys.conversation_pk(conversation_id), schema.SK: keys.META},
        Condition("SET #team = :team", {"#team": "team"}, {":team": "support"}),
    )


def test_two_assignments_from_one_version_are_two_assignees(world: World) -> None:
    store = _team(world.table, strategy=Strategy.MANUAL, ann=Agent(id=ANN, capacity=5))
    conversation = store.get_conversation(world.second)
    assert conversation is not None
    store.assign(conversation, ANN, actor="test", reason="test")
    [event] = [e for e in world.items(world.second, "EVT#") if e["type"] == "assigned"]
    world.table.put({**event, schema.SK: f"{event[schema.SK]}-twin", "data": {**event["data"], "agent": BOB}})
    assert world.names() == {"two_assignees"}


def test_claims_accepted_for_two_agents_are_two_assignees(world: World) -> None:
    for agent in (ANN, BOB):
        world.ledger.record_claim(Claim(conversation_id=world.second, agent=agent, status=200))
    world.ledger.record_claim(Claim(conversation_id=world.first, agent=BOB, status=409))
    [violation] = world.check()
    assert (violation.invariant, violation.subject) == ("two_assignees", world.second)


def test_an_open_conversation_left_unassigned_while_an_agent_has_room(world: World) -> None:
    store = _team(world.table, strategy=Strategy.ROUND_ROBIN, ann=Agent(id=ANN, capacity=5))
    _set_team(world, world.second)
    [violation] = world.check()
    assert (violation.invariant, violation.subject) == ("unassigned_with_available_agent", world.second)

    store.put_agent(Agent(id=ANN, capacity=5, status=AgentStatus.AWAY))  # nobody available: may wait
    assert world.check() == []
    store.put_agent(Agent(id=ANN, capacity=5))
    store.put_team(Team(id="support", name="Support", strategy=Strategy.MANUAL, members=[ANN]))
    assert world.check() == []  # a manual team's queue waits for claims


def test_an_agent_past_capacity_and_a_wrong_open_count_are_reported(world: World) -> None:
    store = _team(world.table, strategy=Strategy.MANUAL, ann=Agent(id=ANN, capacity=1))
    for conversation_id in (world.second, world.broken):
        conversation = store.get_conversation(conversation_id)
        assert conversation is not None
        store.assign(conversation, ANN, actor="admin", reason="forced", respect_capacity=False)
    assert world.names() == {"over_capacity"}

    world.table.update(
        {schema.PK: keys.agent_pk(ANN), schema.SK: keys.META},
        Condition("SET #open = :n", {"#open": "open_count"}, {":n": 5}),
    )
    assert world.names() == {"over_capacity", "open_count_drift"}


def test_a_conversation_reopened_by_its_customer_may_take_its_owner_past_capacity(
    world: World, deliver: Deliver
) -> None:
    store = _team(world.table, strategy=Strategy.MANUAL, ann=Agent(id=ANN, capacity=1))
    first = store.get_conversation(world.first)  # answered and closed
    assert first is not None
    store.assign(first, ANN, actor="admin", reason="test", only_if_unassigned=False)
    second = store.get_conversation(world.second)
    assert second is not None
    store.assign(second, ANN, actor="admin", reason="test")  # within capacity: the first is closed
    again = make_mail(
        subject="Re: Printer", message_id="<again@example.com>", sender="a@example.com",
        in_reply_to="<first@example.com>",
    )  # fmt: skip
    record(world.ledger, again, deliver(again), kind="reply", thread_of="first@example.com")
    reopened = store.get_conversation(world.first)
    assert reopened is not None
    assert (reopened.status.value, reopened.assignee) == ("open", ANN)
    assert world.check() == []  # two held with capacity 1, one of them given back by the customer


# -- replies ------------------------------------------------------------------------------------------


def _reply_file(world: World) -> Path:
    [path] = sorted(world.outbox.glob("*.eml"))
    return path


def test_a_reply_without_its_outbox_message_is_missing(world: World) -> None:
    _reply_file(world).unlink()
    assert world.names() == {"reply_missing"}


def test_a_reply_in_the_outbox_twice_or_handed_over_twice_is_sent_twice(world: World) -> None:
    path = _reply_file(world)
    (world.outbox / f"copy-{path.name}").write_bytes(path.read_bytes())
    assert world.names() == {"reply_sent_twice"}
    (world.outbox / f"copy-{path.name}").unlink()
    world.table.update(
        {schema.PK: keys.conversation_pk(world.first), schema.SK: f"REPLY#{world.reply_key}"},
        Condition("SET #a = :two", {"#a": "attempts"}, {":two": 2}),
    )
    assert world.names() == {"reply_sent_twice"}


def test_a_refused_reply_request_must_leave_no_record(world: World) -> None:
    world.ledger.replies.clear()
    world.ledger.record_reply(
        SentReply(conversation_id=world.first, idempotency_key=world.reply_key, agent="x", status=409)
    )
    names = world.names()
    assert "refused_reply_recorded" in names
    assert "unexpected_outbound" in names  # its .eml is now a message nobody asked for


def test_an_outbox_message_nobody_sent_is_unexpected_unless_automatic(world: World) -> None:
    stray = make_mail(message_id="<stray@acme.test>")
    (world.outbox / "stray.eml").write_bytes(stray)
    assert world.names() == {"unexpected_outbound"}
    (world.outbox / "stray.eml").write_bytes(
        make_mail(message_id="<stray@acme.test>", headers={"Auto-Submitted": "auto-replied"})
    )
    assert world.check() == []
