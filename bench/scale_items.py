"""Item sizes for the scale simulation, measured on items the product's own builders make.

Write units depend on item size (one unit per started KB, twice that in a transaction, and an index
write costs the projected item's size: every index projects ALL). Rather than guess, the items are
built with the real code: a typical 20 KB customer mail is parsed and planned by ingest
(:func:`mailroom.ingest.build.plan_ingest`), the conversation is routed and assigned as routing
would leave it, and the sizes come from :mod:`mailroom.table.capacity` on the serialized items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.ingest import typical_message
from mailroom.audit.log import audit_item
from mailroom.domain.conversation import Conversation
from mailroom.domain.event import AuditEvent, EventType
from mailroom.domain.message import Direction
from mailroom.ingest.build import Envelope, body_of, plan_ingest
from mailroom.ingest.threading import ThreadedBy, ThreadMatch
from mailroom.mail.parse import parse_message
from mailroom.metrics.model import ConversationState
from mailroom.metrics.rollups import state_item
from mailroom.settings import Settings
from mailroom.table import capacity, keys, schema
from mailroom.table.client import serialize
from mailroom.table.items import conversation_item, event_item, message_id_item, message_item

RECEIVED_AT = "2026-11-23T14:00:00.000000Z"
SAMPLE_MAILBOX = "support@acme.test"
SAMPLE_AGENT = "agent0001@acme.test"


def size_of(item: dict[str, Any]) -> int:
    return capacity.item_size(serialize(item))


def units(size: int, *, transactional: bool = False) -> int:
    """Write units of one write of an item of ``size`` bytes (DynamoDB's rule, from the product)."""
    return capacity.write_units(size, transactional=transactional)


@dataclass(frozen=True)
class ItemSizes:
    """Bytes of each kind of item the simulation writes (as DynamoDB counts them)."""

    conversation: int
    inbound_message: int
    outbound_message: int
    event: int
    message_id: int
    contact: int
    reply_record: int
    metric_state: int
    audit_entry: int
    directory_entry_per_grant: int
    directory_entry_base: int

    def directory_entry(self, grants: int) -> int:
        """A ``DIR#MAILBOX`` entry: its access map (``{email: level}``) grows with every grant."""
        return self.directory_entry_base + grants * self.directory_entry_per_grant


def measure() -> ItemSizes:
    """Sizes of real items: a typical mail through ingest's planner, its routed conversation."""
    raw = typical_message(1, subject="Export fails at the last step", sender="customer1@example.com")
    parsed = parse_message(raw)
    inline_limit = int(Settings.model_fields["inline_body_limit_bytes"].default)
    body, _ = body_of(parsed.text, parsed.html, "m0123456789abcdef", inline_limit=inline_limit)
    envelope = Envelope(
        ses_message_id="0100018c0a1b2c3d-4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8-000000",
        source="customer1@example.com",
        received_at=RECEIVED_AT,
        raw_key="raw/inbound/0100018c0a1b2c3d-4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8-000000",
        size=len(raw),
        verdicts={"spam": "PASS", "virus": "PASS", "spf": "PASS", "dkim": "PASS", "dmarc": "PASS"},
        verdict_flags=frozenset(),
    )
    plan = plan_ingest(
        parsed=parsed,
        envelope=envelope,
        mailbox=SAMPLE_MAILBOX,
        match=ThreadMatch(None, ThreadedBy.NEW),
        body=body,
        attachments=[],
        identity=parsed.message_id,
        fingerprint="f" * 64,
    )
    routed = routed_conversation(plan.conversation)
    outbound = plan.message.model_copy(
        update={
            "key": "m1123456789abcdef",
            "direction": Direction.OUTBOUND,
            "text": "Thanks for waiting: the export is fixed, please try again.\n\nSam\nAcme Support",
            "html": None,
            "body_ref": None,
            "headers": [],
            "verdicts": {},
            "flags": [],
            "raw_key": None,
            "ses_message_id": None,
        }
    )
    assigned = AuditEvent(
        id="00e0123456789abcdef",
        conversation_id=routed.id,
        mailbox=SAMPLE_MAILBOX,
        type=EventType.ASSIGNED,
        at=RECEIVED_AT,
        actor="route",
        data={"agent": SAMPLE_AGENT, "reason": "least loaded: 3 open of 30", "strategy": "least_loaded"},
    )
    return ItemSizes(
        conversation=size_of(conversation_item(routed)),
        inbound_message=size_of(message_item(plan.message)),
        outbound_message=size_of(message_item(outbound)),
        event=max(size_of(event_item(e)) for e in [*plan.events, assigned]),
        message_id=size_of(
            message_id_item(parsed.message_id, SAMPLE_MAILBOX, routed.id, plan.message.key, "f" * 64)
        ),
        contact=size_of(_contact(plan.contact_email)),
        reply_record=size_of(_reply_record(routed.id)),
        metric_state=size_of(state_item(_metric_state(routed))),
        audit_entry=size_of(
            audit_item(
                actor="route",
                action="assignment.assigned",
                target=routed.id,
                details={"mailbox": SAMPLE_MAILBOX, **assigned.data},
                at=RECEIVED_AT,
                entry_id=assigned.id,
            )
        ),
        directory_entry_per_grant=_directory_size(2) - _directory_size(1),
        directory_entry_base=_directory_size(0),
    )


def routed_conversation(conv: Conversation) -> Conversation:
    """The conversation as routing and assignment leave it: team, tags, SLA, owner."""
    return conv.model_copy(
        update={
            "team": "support-1",
            "tags": ["export", "priority-customer"],
            "priority": "high",
            "sla_policy": "standard",
            "first_response_due": "2026-11-23T18:00:00.000000Z",
            "assignee": SAMPLE_AGENT,
            "version": 4,
        }
    )


def _contact(email: str) -> dict[str, Any]:
    return {
        schema.PK: keys.contact_pk(email),
        schema.SK: keys.META,
        "entity": "contact",
        "email": email,
        "name": "Casey Customer",
        "first_seen_at": RECEIVED_AT,
        "last_seen_at": RECEIVED_AT,
        "tags": ["vip"],
        "message_count": 12,
        "conversation_count": 5,
    }


def _reply_record(conversation_id: str) -> dict[str, Any]:
    return {
        schema.PK: keys.conversation_pk(conversation_id),
        schema.SK: "REPLY#reply-2026-11-23-0001",
        "entity": "reply",
        "idempotency_key": "reply-2026-11-23-0001",
        "conversation_id": conversation_id,
        "agent": SAMPLE_AGENT,
        "sender": SAMPLE_MAILBOX,
        "message_key": "m1123456789abcdef",
        "message_id": "m1123456789abcdef@acme.test",
        "status": "sent",
        "attempts": 1,
        "provider_id": "0100018c0a1b2c3d-4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8-000000",
        "created_at": RECEIVED_AT,
        "updated_at": RECEIVED_AT,
        "sent_at": RECEIVED_AT,
    }


def _metric_state(conv: Conversation) -> ConversationState:
    return ConversationState.model_validate(
        {
            "conversation_id": conv.id,
            "mailbox": conv.mailbox,
            "team": conv.team,
            "tags": conv.tags,
            "assignee": conv.assignee,
            "opening_key": "m0123456789abcdef",
            "opening_at": RECEIVED_AT,
            "opening": {"in": 1, "cv": 1},
            "clock_start": RECEIVED_AT,
            "due": conv.first_response_due,
            "cycles": 1,
            "waiting_since": RECEIVED_AT,
            "resolution_start": RECEIVED_AT,
            "version": 3,
            "seen": {f"0{n}e0123456789abcdef{n}": 1795420800 + n for n in range(6)},
        }
    )


def _directory_size(grants: int) -> int:
    access = {f"agent{n:04d}@acme.test": "full" for n in range(grants)}
    return size_of(
        {
            schema.PK: "DIR#MAILBOX",
            schema.SK: SAMPLE_MAILBOX,
            "entity": "mailbox",
            "address": SAMPLE_MAILBOX,
            "name": "Acme Support",
            "team": "support-1",
            "signature": "{{ agent.name }}\nAcme Support · acme.test/help",
            "created_at": RECEIVED_AT,
            "conversation_count": 123456,
            **({"access": access} if access else {}),
        }
    )
