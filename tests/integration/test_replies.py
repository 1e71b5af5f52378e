"""Replies on DynamoDB Local, with conversations made by the real ingest handler: exactly one send
per idempotency key, no reply over a conversation that changed, and a send in doubt never repeated."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mailroom.assignment.errors import AgentAtCapacityError
from mailroom.assignment.store import AssignmentStore
from mailroom.canned.model import CannedResponse
from mailroom.canned.store import get_canned, put_canned
from mailroom.domain.agent import Agent
from mailroom.domain.conversation import Conversation, Status
from mailroom.mail.model import Address
from mailroom.outbound.compose import HeaderInjectionError
from mailroom.outbound.sender import OutboxSender, ses_failure
from mailroom.replies import (
    AgentIdentity,
    IdempotencyKeyReusedError,
    NotAssigneeError,
    ReplyNotPermittedError,
    ReplyRequest,
    ReplyResult,
    ReplyService,
    ReplyStateError,
    ReplyStatus,
    StaleReplyError,
)
from mailroom.replies.store import ReplyStore
from mailroom.settings import get_settings
from mailroom.storage.local import LocalStore
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table
from tests.integration.conftest import Deliver
from tests.mailfactory import make_mail

MAILBOX = "support@acme.test"
ANN = "ann@acme.test"
BOB = "bob@acme.test"


class Crash(BaseException):
    """Raised by the fake sender to stand for the function being killed after the mail went out."""


def rejected() -> Exception:
    """What SesSender raises for SES's MessageRejected (tests/unit/test_ses_sender.py proves it)."""
    return ses_failure(
        ClientError(
            {
                "Error": {"Code": "MessageRejected", "Message": "Email address is not verified."},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            "SendEmail",
        )
    )


@dataclass
class FakeSender:
    """The sandbox outbox, plus scripted failures: ``before`` is raised instead of sending (the
    provider refused), ``after`` once the mail is in the outbox (accepted, then the line dropped)."""

    outbox: OutboxSender
    before: list[BaseException] = field(default_factory=list)
    after: list[BaseException] = field(default_factory=list)
    delay: float = 0.0
    calls: int = 0
    sent: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, raw: bytes, *, message_id: str) -> str:
        with self.lock:
            self.calls += 1
            before = self.before.pop(0) if self.before else None
        if before is not None:
            raise before
        if self.delay:
            threading.Event().wait(self.delay)
        provider_id = self.outbox.send(raw, message_id=message_id)
        with self.lock:
            self.sent.append(raw)
            after = self.after.pop(0) if self.after else None
        if after is not None:
            raise after
        return provider_id

    def emails(self) -> list[EmailMessage]:
        return [parse(raw) for raw in self.sent]


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def plain_text(email: EmailMessage) -> str:
    """The text part as written (the wire form has CRLF line ends)."""
    part = email.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content()).replace("\r\n", "\n").rstrip()


@pytest.fixture
def sender(tmp_path: Path) -> FakeSender:
    return FakeSender(OutboxSender(tmp_path / "outbox"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(table: Table, sender: FakeSender, store: LocalStore, clock: Clock) -> ReplyService:
    return ReplyService(table, sender, get_settings(), store=store, now=clock.now)


@pytest.fixture(autouse=True)
def assignment(table: Table) -> AssignmentStore:
    store = AssignmentStore(table)
    for agent_id in (ANN, BOB, *(f"agent{n}@acme.test" for n in range(8))):
        store.put_agent(Agent(id=agent_id, name=agent_id.split("@")[0].title()))
    return store


def identity(
    email: str = ANN, *, name: str = "Ann Agent", access: Any = "full", **fields: Any
) -> AgentIdentity:
    fields.setdefault("mailbox_name", "Acme Support")
    return AgentIdentity(email=email, name=name, access=access, **fields)


def request(conv: Conversation, key: str = "key-00000001", **fields: Any) -> ReplyRequest:
    fields.setdefault("text", "Hello Alice,\n\nPlease unplug it.")
    return ReplyRequest(conversation_id=conv.id, idempotency_key=key, seen_version=conv.version, **fields)


def new_conversation(deliver: Deliver, table: Table, **mail: Any) -> Conversation:
    conversation_id = deliver(make_mail(**mail)).outcomes[0]["conversation_id"]
    return reload(table, conversation_id)


def reload(table: Table, conversation_id: str) -> Conversation:
    conv = ReplyStore(table).get_conversation(conversation_id)
    assert conv is not None
    return conv


def snapshot(table: Table) -> list[str]:
    """Every item in the table, canonically: equal snapshots mean nothing was written."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table.name, "ConsistentRead": True}
    while True:
        page = table.client.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(repr(sorted(item.items())) for item in items)


def conversation_items(table: Table, conversation_id: str, entity: str) -> list[dict[str, Any]]:
    items = table.query_all(
        key_condition=Condition(
            "#pk = :pk", {"#pk": schema.PK}, {":pk": keys.conversation_pk(conversation_id)}
        ),
        consistent=True,
    )
    return [item for item in items if item.get("entity") == entity]


def open_count(assignment: AssignmentStore, agent_id: str) -> int:
    agent = assignment.get_agent(agent_id)
    assert agent is not None
    return agent.open_count


# -- the happy path -------------------------------------------------------------------------------------


def test_reply_to_unassigned_claims_it_and_the_answer_threads_back(
    deliver: Deliver, table: Table, service: ReplyService, sender: FakeSender, assignment: AssignmentStore
) -> None:
    conv = new_conversation(deliver, table)
    assert conv.assignee is None
    assert conv.waiting_since is not None

    result = service.send_reply(request(conv), identity(signature="Ann\nAcme Support"))

    assert result.status is ReplyStatus.SENT
    assert result.claimed
    assert not result.replayed
    assert result.provider_id == f"outbox-{result.message_id}"
    assert result.conversation_version == conv.version + 1
    after = reload(table, conv.id)
    assert (after.assignee, after.version, after.message_count) == (ANN, conv.version + 1, 2)
    assert after.waiting_since is None
    assert after.first_replied_at is not None
    assert open_count(assignment, ANN) == 1

    [email] = sender.emails()
    assert email["From"].addresses[0].display_name == "Acme Support"
    assert email["From"].addresses[0].addr_spec == MAILBOX
    assert email["Sender"] is None
    assert email["Reply-To"].addresses[0].addr_spec == f"support+{conv.id}@acme.test"
    assert email["To"].addresses[0].addr_spec == "alice@example.com"
    assert email["Subject"] == "Re: Printer on fire"
    assert email["Message-ID"] == f"<{result.message_id}>"
    assert email["In-Reply-To"] == "<m1@example.com>"
    assert email["References"] == "<m1@example.com>"
    assert email.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in email.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert plain_text(email).endswith("Please unplug it.\n\n-- \nAnn\nAcme Support")

    [message] = [m for m in conversation_items(table, conv.id, "message") if m["direction"] == "outbound"]
    assert (message["key"], message["message_id"], message["routable"]) == (
        result.message_key,
        result.message_id,
        False,
    )
    events = Counter(e["type"] for e in conversation_items(table, conv.id, "event"))
    assert (events["assigned"], events["replied"]) == (1, 1)

    # The customer answers with another subject: only our registered Message-ID can thread it.
    answer = deliver(
        make_mail(
            subject="Something else entirely",
            message_id="<a2@example.com>",
            in_reply_to=f"<{result.message_id}>",
            references=f"<m1@example.com> <{result.message_id}>",
        )
    )
    [outcome] = answer.outcomes
    assert (outcome["conversation_id"], outcome["threaded_by"]) == (conv.id, "references")
    assert reload(table, conv.id).waiting_since is not None  # waiting again


def test_assignee_replies_again_first_reply_time_is_kept(
    deliver: Deliver, table: Table, service: ReplyService, sender: FakeSender, assignment: AssignmentStore
) -> None:
    conv = new_conversation(deliver, table)
    service.send_reply(request(conv), identity())
    first = reload(table, conv.id)
    deliver(make_mail(message_id="<m2@example.com>", in_reply_to="<m1@example.com>", body="Still burning."))
    second_seen = reload(table, conv.id)

    result = service.send_reply(request(second_seen, "key-00000002", close_after="closed"), identity())

    assert result.status is ReplyStatus.SENT
    assert not result.claimed
    after = reload(table, conv.id)
    assert after.first_replied_at == first.first_replied_at
    assert after.status is Status.CLOSED
    assert after.waiting_since is None
    assert open_count(assignment, ANN) == 0  # closed: no longer load
    second = sender.emails()[1]
    assert second["In-Reply-To"] == "<m2@example.com>"
    assert "status_changed" in {e["type"] for e in conversation_items(table, conv.id, "event")}


def test_a_reply_that_claims_and_closes_at_once_adds_no_load(
    deliver: Deliver, table: Table, service: ReplyService, assignment: AssignmentStore
) -> None:
    conv = new_conversation(deliver, table)

    result = service.send_reply(request(conv, close_after="closed"), identity())

    assert result.claimed
    after = reload(table, conv.id)
    assert (after.assignee, after.status) == (ANN, Status.CLOSED)
    assert open_count(assignment, ANN) == 0
    pending = new_conversation(deliver, table, message_id="<p1@example.com>", subject="Another one")
    service.send_reply(request(pending, "key-00000002", close_after="pending"), identity())
    assert open_count(assignment, ANN) == 1  # pending is still the agent's work


# -- exactly once ---------------------------------------------------------------------------------------


def test_same_key_submitted_ten_times_at_once_sends_one_email(
    deliver: Deliver, table: Table, service: ReplyService, sender: FakeSender, assignment: AssignmentStore
) -> None:
    conv = new_conversation(deliver, table)
    sender.delay = 0.05  # keep the winner in ``sending`` while the others arrive
    barrier = threading.Barrier(10)
    results: list[ReplyResult] = []
    errors: list[BaseException] = []

    def submit() -> None:
        barrier.wait()
        try:
            results.append(service.send_reply(request(conv, "double-click-1"), identity()))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(sender.sent) == 1
    assert sender.calls == 1
    assert len({result.message_key for result in results}) == 1
    assert {result.status for result in results} <= {ReplyStatus.SENT, ReplyStatus.SENDING}
    assert sum(not result.replayed for result in results) == 1
    assert reload(table, conv.id).version == conv.version + 1
    assert len(conversation_items(table, conv.id, "reply")) == 1
    settled = service.get_reply(conv.id, "double-click-1")
    assert settled is not None
    assert settled.status is ReplyStatus.SENT
    assert open_count(assignment, ANN) == 1


def test_eight_agents_racing_for_an_unassigned_conversation_send_one_reply(
    deliver: Deliver, table: Table, service: ReplyService, sender: FakeSender, assignment: AssignmentStore
) -> None:
    conv = new_conversation(deliver, table)
    agents = [f"agent{n}@acme.test" for n in range(8)]
    barrier = threading.Barrier(len(agents))
    outcomes: dict[str, ReplyResult | BaseException] = {}

    def submit(agent_id: str) -> None:
        barrier.wait()
        try:
            outcomes[agent_id] = service.send_reply(
                request(conv, f"key-{agent_id.split('@', maxsplit=1)[0]}"), identity(agent_id, name=agent_id)
            )
        except BaseException as exc:  # collected and asserted below
            outcomes[agent_id] = exc

    threads = [threading.Thread(target=submit, args=(agent_id,)) for agent_id in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [agent_id for agent_id, outcome in outcomes.items() if isinstance(outcome, ReplyResult)]
    assert len(winners) == 1, outcomes
    [winner] = winners
    assert len(sender.sent) == 1
    for agent_id, outcome in outcomes.items():
        if agent_id == winner:
            continue
        if isinstance(outcome, NotAssigneeError):
            assert outcome.holder == winner
        else:
            assert isinstance(outcome, StaleReplyError), outcome
            assert f"assigned to {winner}" in outcome.changes
    after = reload(table, conv.id)
    assert (after.assignee, after.version) == (winner, conv.version + 1)
    assert [open_count(assignment, agent_id) for agent_id in agents].count(1) == 1
    assert sum(open_count(assignment, agent_id) for agent_id in agents) == 1


# -- stale and refused replies: nothing written -----------------------------------------------------------


def test_stale_reply_after_a_new_inbound_message_is_refused_with_what_changed(
    deliver: Deliver, table: Table, service: ReplyService, sender: FakeSender
) -> None:
    seen = new_conversation(deliver, table)
    later = datetime.now(UTC) + timedelta(minutes=1)
    deliver(
        make_mail(message_id="<m2@example.com>", in_reply_to="<m1@example.com>", body="It is worse now."),
        received_at=later,
    )
    before = snapshot(table)

    with pytest.raises(StaleReplyError) as refused:
        service.send_reply(request(seen), identity())

    assert refused.value.current_version == seen.version + 1
    assert refused.value.changes == [f"new message from alice@example.com at {later:%Y-%m-%d %H:%M} UTC"]
    assert snapshot(table) == before
    assert sender.calls == 0
    # The same draft at the version now shown goes out, answering the newer message.
    result = service.send_reply(request(reload(table, seen.id)), identity())
    assert result.status is ReplyStatus.SENT
    assert sender.emails()[0]["In-Reply-To"] == "<m2@example.com>"


def test_someone_elses_conversation_and_a_missed_assignment(
    deliver: Deliver, table: Table, service: ReplyService, sender: FakeSender, assignment: AssignmentStore
) -> None:
    seen = new_conversation(deliver, table)
    assignment.claim(seen.id, BOB)
    before = snapshot(table)

    with pytest.raises(NotAssigneeError) as not_yours:
        service.send_reply(request(seen), identity(ANN))
    assert not_yours.value.holder == BOB
    with pytest.raises(StaleReplyError) as stale:  # Bob's own page predates his claim
        service.send_reply(request(seen), identity(BOB, name="Bob"))
    assert stale.value.changes == [f"claimed by {BOB}"]

    assert snapshot(table) == before
    assert sender.calls == 0


@pytest.mark.parametrize(
    "fields",
    [
        ({"subject": "Hello\r\nBcc: victim@example.net"}, {}),
        ({"to": [Address(email="bob@example.com\r\nBcc: victim@example.net")]}, {}),
        ({"to": [Address(email="bob@example.com", name="Bob\nBcc: victim@example.net")]}, {}),
        ({"cc": [Address(email="carol@example.com\nX-Evil: 1")]}, {}),
        ({}, {"name": "Ann\r\nBcc: victim@example.net", "access": "send_on_behalf"}),
        ({}, {"mailbox_name": "Support\nBcc: victim@example.net"}),
    ],
)
def test_header_injection_is_refused_before_anything_is_written(
    deliver: Deliver,
    table: Table,
    service: ReplyService,
    sender: FakeSender,
    fields: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    request_fields, agent_fields = fields
    conv = new_conversation(deliver, table)
    before = snapshot(table)

    with pytest.raises(HeaderInjectionError):
        service.send_reply(request(conv, **request_fields), identity(**agent_fields))

    assert snapshot(table) == before
    assert sender.calls == 0


def test_read_only_access_may_not_reply(
    deliver: Deliver, table: Table, service: ReplyService, sender: FakeSender
) -> None:
    conv = new_conversation(deliver, table)
    before = snapshot(table)

    with pytest.raises(ReplyNotPermittedError):
        service.send_reply(request(conv), identity(access="read_only"))
    with pytest.raises(ReplyNotPermittedError):  # access granted for another mailbox
        service.send_reply(request(conv), identity(mailbox="sales@acme.test"))

    assert snapshot(table) == before
    assert sender.calls == 0


def test_claiming_by_reply_respects_capacity(
    deliver: Deliver, table: Table, service: ReplyService, sender: FakeSender, assignment: AssignmentStore
) -> None:
    assignment.put_agent(Agent(id="full@acme.test", name="Full", capacity=0))
    conv = new_conversation(deliver, table)
    before = snapshot(table)

    with pytest.raises(AgentAtCapacityError):
        service.send_reply(request(conv), identity("full@acme.test"))

    assert snapshot(table) == before
    assert sender.calls == 0


def test_a_key_reused_for_another_reply_is_refused(
    deliver: Deliver, table: Table, service: ReplyService, sender: FakeSender
) -> None:
    conv = new_conversation(deliver, table)
    first = service.send_reply(request(conv), identity())

    with pytest.raises(IdempotencyKeyReusedError):
        service.send_reply(request(conv, text="Something else"), identity())

    # The same request again (its seen version long gone) is the same reply, not a stale one.
    again = service.send_reply(request(conv), identity())
    assert again.replayed
    assert again.status is ReplyStatus.SENT
    assert (again.message_key, again.provider_id) == (first.message_key, first.provider_id)
    assert sender.calls == 1


# -- failures and sends in doubt --------------------------------------------------------------------------


def test_provider_rejection_fails_and_a_retry_with_the_same_key_sends_once(
    deliver: Deliver, table: Table, service: ReplyService, sender: FakeSender
) -> None:
    conv = new_conversation(deliver, table)
    sender.before.append(rejected())

    failed = service.send_reply(request(conv), identity())

    assert failed.status is ReplyStatus.FAILED
    assert failed.reason is not None
    assert "MessageRejected" in failed.reason
    assert sender.sent == []

    retried = service.send_reply(request(conv), identity())
    assert retried.status is ReplyStatus.SENT
    assert retried.replayed
    assert retried.message_key == failed.message_key
    assert len(sender.sent) == 1
    assert service.send_reply(request(conv), identity()).status is ReplyStatus.SENT
    assert len(sender.sent) == 1
    assert sender.calls == 2
    [record] = ReplyStore(table).records(conv.id)
    assert (record.status, record.attempts) == (ReplyStatus.SENT, 2)


def test_an_error_after_the_provider_took_the_mail_is_in_doubt_and_never_resent(
    deliver: Deliver, table: Table, service: ReplyService, sender: FakeSender
) -> None:
    conv = new_conversation(deliver, table)
    sender.after.append(TimeoutError("read timed out"))

    doubtful = service.send_reply(request(conv), identity())

    assert doubtful.status is ReplyStatus.UNKNOWN
    assert len(sender.sent) == 1  # it did go out
    for _ in range(3):
        assert service.send_reply(request(conv), identity()).status is ReplyStatus.UNKNOWN
    assert sender.calls == 1

    # The agent checked: the customer never got it. Back to queued; the next retry sends it once.
    settled = service.resolve_unknown(conv.id, "key-00000001", sent=False, actor=ANN)
    assert settled.status is ReplyStatus.QUEUED
    resent = service.send_reply(request(conv), identity())
    assert resent.status is ReplyStatus.SENT
    assert sender.calls == 2
    assert service.send_reply(request(conv), identity()).status is ReplyStatus.SENT
    assert sender.calls == 2
    with pytest.raises(ReplyStateError):
        service.resolve_unknown(conv.id, "key-00000001", sent=True)
    emails = sender.emails()
    assert emails[0]["Message-ID"] == emails[1]["Message-ID"]  # the same message, not a new one


def test_a_crash_between_sending_and_sent_is_reported_in_doubt_and_settled_by_an_agent(
    deliver: Deliver,
    table: Table,
    service: ReplyService,
    sender: FakeSender,
    clock: Clock,
) -> None:
    conv = new_conversation(deliver, table)
    sender.after.append(Crash())

    with pytest.raises(Crash):
        service.send_reply(request(conv), identity())
    assert len(sender.sent) == 1

    # Right after, the record may still belong to a live attempt: "sending", and not sent again.
    assert service.send_reply(request(conv), identity()).status is ReplyStatus.SENDING
    with pytest.raises(ReplyStateError):
        service.resolve_unknown(conv.id, "key-00000001", sent=True)
    clock.offset = timedelta(minutes=10)
    doubtful = service.send_reply(request(conv), identity())
    assert doubtful.status is ReplyStatus.UNKNOWN
    assert doubtful.reason is not None
    assert "in doubt" in doubtful.reason
    assert sender.calls == 1

    settled = service.resolve_unknown(conv.id, "key-00000001", sent=True, actor=ANN)
    assert settled.status is ReplyStatus.SENT
    assert service.send_reply(request(conv), identity()).status is ReplyStatus.SENT
    assert sender.calls == 1


def test_a_large_body_is_stored_aside_and_a_retry_sends_it_whole(
    deliver: Deliver, table: Table, service: ReplyService, sender: FakeSender
) -> None:
    conv = new_conversation(deliver, table)
    text = "\n\n".join(f"Paragraph {n}: " + "details " * 40 for n in range(60))
    sender.before.append(rejected())

    assert service.send_reply(request(conv, text=text), identity()).status is ReplyStatus.FAILED
    [message] = [m for m in conversation_items(table, conv.id, "message") if m["direction"] == "outbound"]
    assert message["body_ref"] == f"bodies/{message['key']}.json"
    assert len(message["text"]) < len(text)

    assert service.send_reply(request(conv, text=text), identity()).status is ReplyStatus.SENT
    assert plain_text(sender.emails()[0]) == text.rstrip()


# -- send on behalf, canned responses ------------------------------------------------------------------


def test_send_on_behalf_names_the_agent_in_from_and_sender(
    deliver: Deliver, table: Table, service: ReplyService, sender: FakeSender
) -> None:
    conv = new_conversation(deliver, table, subject="Re: Printer on fire")

    service.send_reply(request(conv), identity(access="send_on_behalf"))

    [email] = sender.emails()
    author = email["From"].addresses[0]
    assert (author.display_name, author.addr_spec) == ("Ann Agent via Acme Support", MAILBOX)
    agent = email["Sender"].addresses[0]
    assert (agent.display_name, agent.addr_spec) == ("Ann Agent", ANN)
    assert email["Subject"] == "Re: Printer on fire"  # no "Re: Re:"


def test_canned_use_is_counted_and_a_deleted_one_does_not_block_the_reply(
    deliver: Deliver, table: Table, service: ReplyService, sender: FakeSender
) -> None:
    put_canned(table, CannedResponse(id="unplug", name="Unplug it", body="Please unplug it."))
    conv = new_conversation(deliver, table)
    service.send_reply(request(conv, canned_id="unplug"), identity())
    canned = get_canned(table, "unplug")
    assert canned is not None
    assert canned.usage_count == 1

    other = new_conversation(deliver, table, message_id="<other@example.com>", subject="Another one")
    result = service.send_reply(request(other, "key-00000002", canned_id="gone"), identity())
    assert result.status is ReplyStatus.SENT
    assert get_canned(table, "gone") is None
