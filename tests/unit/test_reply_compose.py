"""The reply pipeline's pure decisions: headers, recipients, permission, the next conversation state,
what a stale reply reports, and which send failures may be retried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from pydantic import ValidationError

from mailroom.domain.conversation import Conversation, Status
from mailroom.domain.event import AuditEvent, EventType
from mailroom.domain.message import Direction, StoredMessage
from mailroom.mail.model import Address
from mailroom.outbound.compose import (
    HeaderInjectionError,
    OutboundMail,
    UnsendableAddressError,
    ascii_address,
    compose,
)
from mailroom.outbound.sender import ses_failure
from mailroom.replies.model import (
    MAX_REFERENCES,
    AgentIdentity,
    InvalidRecipientError,
    NoRecipientError,
    NotAssigneeError,
    ReplyNotPermittedError,
    ReplyRecord,
    ReplyRequest,
    ReplyStatus,
    check_header_inputs,
    default_cc,
    default_recipients,
    describe_changes,
    effective_status,
    from_addresses,
    mail_from_stored,
    plan_reply,
    recipients,
    reply_claims,
    reply_subject,
    reply_target,
    request_digest,
    split_body,
    threading_headers,
    with_signature,
)
from mailroom.replies.service import classify_send_failure

MAILBOX = "support@acme.test"
T0 = "2026-11-20T09:30:00.000000Z"
T1 = "2026-11-20T10:02:00.000000Z"
NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)


def conversation(**fields: Any) -> Conversation:
    values: dict[str, Any] = {
        "id": "cabc123",
        "mailbox": MAILBOX,
        "subject": "Printer on fire",
        "contact_email": "alice@example.com",
        "contact_name": "Alice Customer",
        "created_at": T0,
        "last_message_at": T0,
        "last_activity_at": T0,
        "last_inbound_at": T0,
        "waiting_since": T0,
        "message_count": 1,
        "version": 3,
    }
    return Conversation(**(values | fields))


def inbound(key: str = "m1", **fields: Any) -> StoredMessage:
    values: dict[str, Any] = {
        "key": key,
        "conversation_id": "cabc123",
        "mailbox": MAILBOX,
        "message_id": f"{key}@example.com",
        "direction": Direction.INBOUND,
        "from_": Address(email="alice@example.com", name="Alice Customer"),
        "received_at": T0,
    }
    return StoredMessage(**(values | fields))


def agent(**fields: Any) -> AgentIdentity:
    values: dict[str, Any] = {
        "email": "Ann@Acme.test",
        "name": "Ann Agent",
        "access": "full",
        "mailbox_name": "Acme Support",
    }
    return AgentIdentity(**(values | fields))


def request(**fields: Any) -> ReplyRequest:
    values: dict[str, Any] = {
        "conversation_id": "cabc123",
        "idempotency_key": "key-00000001",
        "seen_version": 3,
        "text": "Please unplug it.",
    }
    return ReplyRequest(**(values | fields))


def event(kind: EventType, at: str, actor: str = "system", **data: Any) -> AuditEvent:
    return AuditEvent(
        id=f"e{at}{kind}",
        conversation_id="cabc123",
        mailbox=MAILBOX,
        type=kind,
        at=at,
        actor=actor,
        data=data,
    )


def parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


# -- subject, From/Sender, recipients, threading ------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Printer on fire", "Re: Printer on fire"),
        ("Re: Printer on fire", "Re: Printer on fire"),
        ("RE : Printer", "RE : Printer"),
        ("AW: Drucker", "AW: Drucker"),
        ("Sv: Skrivare", "Sv: Skrivare"),
        ("Re[2]: Printer", "Re[2]: Printer"),
        ("[support] Re: Printer", "[support] Re: Printer"),
        ("回复：打印机", "回复：打印机"),  # noqa: RUF001 - the full-width colon is the point
        ("Fwd: Printer", "Re: Fwd: Printer"),
        ("Return policy", "Re: Return policy"),  # starts with "Re" but is no prefix
        ("Printer\r\non fire", "Re: Printer on fire"),  # a customer's line break is cleaned, not refused
        ("", "Re:"),
    ],
)
def test_reply_subject(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


def test_reply_subject_override_wins() -> None:
    assert reply_subject("Printer on fire", " New printer quote ") == "New printer quote"


def test_from_is_the_mailbox_and_send_on_behalf_names_the_agent() -> None:
    assert from_addresses(agent(access="full"), MAILBOX) == (
        Address(email=MAILBOX, name="Acme Support"),
        None,
    )
    assert from_addresses(agent(access="send_as"), MAILBOX)[1] is None
    author, sender = from_addresses(agent(access="send_on_behalf"), MAILBOX)
    assert author == Address(email=MAILBOX, name="Ann Agent via Acme Support")
    assert sender == Address(email="ann@acme.test", name="Ann Agent")
    nameless, _ = from_addresses(agent(access="send_on_behalf", name="", mailbox_name=""), MAILBOX)
    assert nameless.name == f"ann@acme.test via {MAILBOX}"


def test_recipients_prefer_reply_to_then_from_then_the_contact() -> None:
    conv = conversation()
    bob = Address(email="bob@example.com", name="Bob")
    assert default_recipients(conv, inbound(reply_to=[bob])) == [bob]
    assert default_recipients(conv, inbound()) == [Address(email="alice@example.com", name="Alice Customer")]
    assert default_recipients(conv, None) == [Address(email="alice@example.com", name="Alice Customer")]
    # Our own mailbox (a +token address too) is never a recipient: that would be a loop.
    own = inbound(reply_to=[Address(email="support+cabc123@acme.test")])
    assert default_recipients(conv, own)[0].email == "alice@example.com"


def test_no_usable_recipient_is_refused() -> None:
    conv = conversation(contact_email="unknown")
    with pytest.raises(NoRecipientError):
        default_recipients(conv, inbound(from_=Address(email="")))


def test_override_recipients_and_cc_without_duplicates() -> None:
    carol = Address(email="carol@example.com")
    to, cc = recipients(
        request(to=[carol, Address(email="CAROL@example.com")], cc=[carol, Address(email="dan@example.com")]),
        conversation(),
        inbound(),
    )
    assert to == [carol]
    assert cc == [Address(email="dan@example.com")]


def test_threading_headers_chain_and_cap() -> None:
    assert threading_headers(None) == (None, [])
    answered = inbound(references=["root@x", "r2@x"])
    assert threading_headers(answered) == ("m1@example.com", ["root@x", "r2@x", "m1@example.com"])
    long = inbound(references=[f"r{n}@x" for n in range(40)])
    in_reply_to, references = threading_headers(long)
    assert in_reply_to == "m1@example.com"
    assert len(references) == MAX_REFERENCES
    assert (references[0], references[-1]) == ("r0@x", "m1@example.com")


def test_reply_target_is_the_newest_message_a_person_wrote() -> None:
    ours = inbound("o1", direction=Direction.OUTBOUND)
    ooo = inbound("m3", flags=["auto_reply"])
    person = inbound("m2")
    assert reply_target([ours, ooo, person]) == person
    assert reply_target([ours, ooo]) == ooo  # only machines wrote: still answer the newest
    assert reply_target([ours]) is None


def test_signature_goes_below_the_separator() -> None:
    assert with_signature("Hi", None, None) == ("Hi", None)
    assert with_signature("Hi\n\n", None, "Ann\nAcme") == ("Hi\n\n-- \nAnn\nAcme", None)
    text, html = with_signature("Hi", "<p>Hi</p>", "Ann <ann@acme>")
    assert text == "Hi\n\n-- \nAnn <ann@acme>"
    assert html == '<p>Hi</p><div class="signature"><p>-- <br>Ann &lt;ann@acme&gt;</p></div>'


# -- input checks and permission -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_fields", "agent_fields"),
    [
        ({"subject": "Hi\r\nBcc: x@evil.test"}, {}),
        ({"to": [Address(email="a@example.com\nBcc: x@evil.test")]}, {}),
        ({"to": [Address(email="a@example.com", name="A\rB")]}, {}),
        ({"cc": [Address(email="a@example.com", name="A\x00")]}, {}),
        ({}, {"name": "Ann\nBcc: x@evil.test"}),
        ({}, {"mailbox_name": "Support\r\n"}),
    ],
)
def test_header_injection_is_refused(request_fields: dict[str, Any], agent_fields: dict[str, Any]) -> None:
    with pytest.raises(HeaderInjectionError):
        check_header_inputs(request(**request_fields), agent(**agent_fields))


def test_an_address_that_is_not_one_is_refused() -> None:
    with pytest.raises(InvalidRecipientError):
        check_header_inputs(request(to=[Address(email="not an address")]), agent())


def test_request_validation() -> None:
    with pytest.raises(ValidationError):
        request(idempotency_key="short")
    with pytest.raises(ValidationError):
        request(idempotency_key="has spaces in it")
    with pytest.raises(ValidationError):
        request(text="   \n ")
    with pytest.raises(ValidationError):
        request(text="x" * 100_001)
    with pytest.raises(ValidationError):
        request(close_after="spam")
    assert request(idempotency_key="A" * 128).idempotency_key == "A" * 128


def test_who_may_reply() -> None:
    assert reply_claims(conversation(), agent()) is True  # unassigned: the reply claims it
    assert reply_claims(conversation(assignee="ann@acme.test"), agent()) is False
    with pytest.raises(NotAssigneeError) as other:
        reply_claims(conversation(assignee="bob@acme.test"), agent())
    assert other.value.holder == "bob@acme.test"
    with pytest.raises(ReplyNotPermittedError):
        reply_claims(conversation(), agent(access="read_only"))
    with pytest.raises(ReplyNotPermittedError):
        reply_claims(conversation(), agent(mailbox="sales@acme.test"))
    for status in (Status.SPAM, Status.QUARANTINED):
        with pytest.raises(ReplyNotPermittedError):
            reply_claims(conversation(status=status), agent())


def test_digest_ignores_the_seen_version_but_not_the_content_or_the_agent() -> None:
    base = request_digest(request(), agent())
    assert request_digest(request(seen_version=9), agent()) == base
    assert request_digest(request(text="Other"), agent()) != base
    assert request_digest(request(), agent(email="bob@acme.test")) != base


# -- the plan ---------------------------------------------------------------------------------------------


def test_plan_for_an_unassigned_conversation_claims_answers_and_closes() -> None:
    conv = conversation()
    plan = plan_reply(
        request=request(close_after="closed"),
        agent=agent(),
        conversation=conv,
        target=inbound(references=["root@x"]),
        message_id="r1@acme.test",
        at=NOW,
    )

    nxt = plan.conversation
    assert plan.claims
    assert (nxt.assignee, nxt.version, nxt.status, nxt.message_count) == (
        "ann@acme.test",
        4,
        Status.CLOSED,
        2,
    )
    assert nxt.waiting_since is None
    assert nxt.first_replied_at == "2026-11-20T10:30:00.000000Z"
    assert nxt.last_activity_at == nxt.last_message_at == "2026-11-20T10:30:00.000000Z"
    assert [e.type for e in plan.events] == [EventType.ASSIGNED, EventType.REPLIED, EventType.STATUS_CHANGED]
    assert all(e.data["version"] == 4 for e in plan.events)
    assert plan.events[1].data["first_reply"] is True
    assert [e.id[:2] for e in plan.events] == ["00", "01", "02"]  # one timestamp: ordinals keep order

    record = plan.record
    assert (record.status, record.conversation_version, record.claimed) == (ReplyStatus.QUEUED, 4, True)
    assert record.message_sk == f"MSG#2026-11-20T10:30:00.000000Z#{record.message_key}"
    message = plan.message
    assert (message.direction, message.routable, message.message_id) == (
        Direction.OUTBOUND,
        False,
        "r1@acme.test",
    )
    assert message.references == ["root@x", "m1@example.com"]

    email = parse(plan.raw)
    assert email["Message-ID"] == "<r1@acme.test>"
    assert email["In-Reply-To"] == "<m1@example.com>"
    assert email["References"] == "<root@x> <m1@example.com>"
    assert email["Reply-To"].addresses[0].addr_spec == "support+cabc123@acme.test"
    assert email["Subject"] == "Re: Printer on fire"
    assert [part.get_content_type() for part in email.iter_parts()] == ["text/plain", "text/html"]


def test_plan_keeps_the_first_reply_time_and_status_by_default() -> None:
    conv = conversation(assignee="ann@acme.test", first_replied_at=T1, status=Status.PENDING)
    plan = plan_reply(
        request=request(),
        agent=agent(),
        conversation=conv,
        target=inbound(),
        message_id="r2@acme.test",
        at=NOW,
    )
    assert not plan.claims
    assert plan.conversation.first_replied_at == T1
    assert plan.conversation.status is Status.PENDING
    assert [e.type for e in plan.events] == [EventType.REPLIED]
    assert plan.events[0].data["first_reply"] is False


def test_the_message_key_follows_the_idempotency_key() -> None:
    def key(idempotency_key: str, message_id: str) -> str:
        plan = plan_reply(
            request=request(idempotency_key=idempotency_key),
            agent=agent(),
            conversation=conversation(),
            target=None,
            message_id=message_id,
            at=NOW,
        )
        return plan.message.key

    assert key("key-00000001", "a@acme.test") == key("key-00000001", "b@acme.test")
    assert key("key-00000001", "a@acme.test") != key("key-00000002", "a@acme.test")


def test_a_large_body_is_split_off_and_the_mail_can_be_composed_again() -> None:
    plan = plan_reply(
        request=request(text="x" * 9_000),
        agent=agent(access="send_on_behalf"),
        conversation=conversation(),
        target=inbound(),
        message_id="r1@acme.test",
        at=NOW,
    )
    small, body = split_body(plan.message, 8_000, "bodies/k.json")
    assert body is not None
    assert (small.body_ref, len(small.text)) == ("bodies/k.json", 1_000)
    kept, none = split_body(plan.message, 20_000, "bodies/k.json")
    assert (kept, none) == (plan.message, None)

    again = mail_from_stored(plan.message, plan.record.sender)
    assert (again.from_, again.sender, again.reply_to) == (
        plan.mail.from_,
        plan.mail.sender,
        plan.mail.reply_to,
    )
    assert (again.subject, again.message_id, again.in_reply_to) == (
        plan.mail.subject,
        plan.mail.message_id,
        plan.mail.in_reply_to,
    )
    assert (again.to, again.references, again.date) == (plan.mail.to, plan.mail.references, plan.mail.date)


# -- stale replies ----------------------------------------------------------------------------------------


def test_nothing_changed_means_no_changes() -> None:
    assert describe_changes(3, conversation(version=3), [], []) == []


def test_changes_name_new_messages_replies_and_assignments() -> None:
    events = [
        event(
            EventType.ASSIGNED,
            "2026-11-20T09:40:00.000000Z",
            "ann@acme.test",
            agent="ann@acme.test",
            version=2,
        ),
        event(EventType.REPLIED, "2026-11-20T09:50:00.000000Z", "ann@acme.test", version=Decimal(3)),
        event(
            EventType.UNASSIGNED, "2026-11-20T10:05:00.000000Z", "admin", previous="ann@acme.test", version=5
        ),
        event(
            EventType.ASSIGNED,
            "2026-11-20T10:06:00.000000Z",
            "bob@acme.test",
            agent="bob@acme.test",
            version=6,
        ),
        event(EventType.REPLIED, "2026-11-20T10:07:00.000000Z", "bob@acme.test", version=7),
    ]
    messages = [
        inbound("m1", received_at=T0),
        inbound("m2", received_at="2026-11-20T09:45:00.000000Z"),  # before the seen reply: seen
        inbound("o1", direction=Direction.OUTBOUND, received_at="2026-11-20T09:50:00.000000Z"),
        inbound("m3", received_at=T1),
    ]
    changes = describe_changes(3, conversation(version=7), messages, events)
    assert changes == [
        "new message from alice@example.com at 2026-11-20 10:02 UTC",
        "unassigned from ann@acme.test by admin",
        "assigned to bob@acme.test by bob@acme.test",
        "reply sent by bob@acme.test at 2026-11-20 10:07 UTC",
    ]


def test_a_received_event_with_a_version_is_used_exactly() -> None:
    events = [event(EventType.RECEIVED, T1, "ingest", message_key="m2", version=3)]
    messages = [inbound("m2", received_at=T1)]
    # The agent saw version 3, which includes m2; version 4 was something else (tags, say).
    assert describe_changes(3, conversation(version=4), messages, events) == [
        "the conversation changed since version 3 (now 4)"
    ]
    assert describe_changes(2, conversation(version=4), messages, events) == [
        "new message from alice@example.com at 2026-11-20 10:02 UTC"
    ]


def test_a_version_from_the_future_asks_for_a_reload() -> None:
    assert describe_changes(9, conversation(version=4), [], []) == [
        "the conversation is at version 4, not 9: reload it"
    ]


# -- delivery state -------------------------------------------------------------------------------------


def record(status: ReplyStatus, updated_at: datetime) -> ReplyRecord:
    stamp = updated_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return ReplyRecord(
        conversation_id="cabc123",
        idempotency_key="key-00000001",
        mailbox=MAILBOX,
        agent="ann@acme.test",
        message_key="mk",
        message_sk="MSG#x#mk",
        message_id="r1@acme.test",
        status=status,
        request_digest="d",
        conversation_version=4,
        created_at=stamp,
        updated_at=stamp,
    )


def test_sending_left_unfinished_becomes_in_doubt() -> None:
    limit = timedelta(minutes=5)
    assert (
        effective_status(record(ReplyStatus.SENDING, NOW - timedelta(seconds=30)), NOW, limit)
        is ReplyStatus.SENDING
    )
    assert (
        effective_status(record(ReplyStatus.SENDING, NOW - timedelta(minutes=6)), NOW, limit)
        is ReplyStatus.UNKNOWN
    )
    assert (
        effective_status(record(ReplyStatus.QUEUED, NOW - timedelta(days=1)), NOW, limit)
        is ReplyStatus.QUEUED
    )


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "SendEmail"
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (client_error("MessageRejected", 400), ReplyStatus.FAILED),
        (client_error("TooManyRequestsException", 429), ReplyStatus.FAILED),
        (client_error("AccountSendingPausedException", 0), ReplyStatus.FAILED),
        (client_error("InternalFailure", 500), ReplyStatus.UNKNOWN),
        (EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com"), ReplyStatus.FAILED),
        (ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com"), ReplyStatus.UNKNOWN),
        (RuntimeError("connection reset"), ReplyStatus.UNKNOWN),
    ],
)
def test_only_a_certain_refusal_may_be_retried(error: Exception, expected: ReplyStatus) -> None:
    status, reason = classify_send_failure(ses_failure(error))
    assert status is expected
    assert reason


def test_an_international_domain_is_sent_in_its_ascii_form() -> None:
    assert ascii_address("jose@exämple.com") == "jose@xn--exmple-cua.com"
    assert ascii_address("ann@example.com") == "ann@example.com"
    for unsendable in ("josé@example.com", "a@" + "ä" * 70 + ".com", "nobody"):
        with pytest.raises(UnsendableAddressError):
            ascii_address(unsendable)
    raw = compose(
        OutboundMail(
            from_=Address(email=MAILBOX, name="Acme Support"),
            to=[Address(email="jose@exämple.com", name="José Núñez")],
            subject="Re: hola",
            text="Hola",
            message_id="m@acme.test",
        )
    )
    [to] = parse(raw)["To"].addresses
    assert (to.display_name, to.addr_spec) == ("José Núñez", "jose@xn--exmple-cua.com")


def test_a_recipient_ses_cannot_send_to_is_refused_with_the_reason() -> None:
    with pytest.raises(InvalidRecipientError, match="not ASCII"):
        check_header_inputs(request(to=[Address(email="josé@example.com")]), agent())
    conv = conversation(contact_email="josé@example.com")
    with pytest.raises(NoRecipientError, match="not ASCII"):
        default_recipients(conv, inbound(from_=Address(email="josé@example.com")))


def test_reply_all_copies_the_others_but_never_ourselves_or_the_one_answered() -> None:
    """Fox (the customer's colleague) answered Alice's conversation, to Alice with support@ and sales@
    copied: the reply goes to Fox and offers Alice and Gus in Cc, never one of our mailboxes."""
    fox = Address(email="fox@example.com", name="Fox")
    target = inbound(
        from_=fox,
        to=[Address(email="alice@example.com", name="Alice"), Address(email="Support+cabc123@acme.test")],
        cc=[Address(email="sales@acme.test"), Address(email="gus@example.com", name="Gus\r\nX"), fox],
    )
    conv = conversation()
    to = default_recipients(conv, target)
    assert to == [fox]
    cc = default_cc(conv, target, to, own_mailboxes=["sales@acme.test"])
    assert cc == [
        Address(email="alice@example.com", name="Alice"),
        Address(email="gus@example.com", name="Gus X"),
    ]
    # The customer answering alone: nobody else to copy.
    assert default_cc(conv, inbound(), default_recipients(conv, inbound()), own_mailboxes=[]) == []
