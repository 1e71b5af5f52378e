"""Domain models to table items and back: keys, index attributes and the ``entity`` marker.

Index attributes are derived here from the model, never set by hand, so an item can't drift out of
its inbox views.
"""

from __future__ import annotations

from typing import Any

from mailroom import clock
from mailroom.domain.contact import Contact
from mailroom.domain.conversation import Conversation, Status
from mailroom.domain.event import AuditEvent
from mailroom.domain.message import StoredMessage
from mailroom.table import keys, schema
from mailroom.table.client import Table

Item = dict[str, Any]


def _dump(model: Any) -> Item:
    data: Item = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


def in_queue(conv: Conversation) -> bool:
    """Waiting in its mailbox's (and team's) queue: open and held by nobody. The ``ByQueue`` index,
    the Unassigned view and the routing sweep all mean this."""
    return conv.status is Status.OPEN and not conv.assignee


def first_response_clock(conv: Conversation) -> str | None:
    """The first-response due time while it runs (the customer waits on an open conversation), in
    the fixed-width UTC format so that it sorts; None when no clock runs."""
    if conv.status is not Status.OPEN or not conv.waiting_since or not conv.first_response_due:
        return None
    return clock.iso(clock.parse_iso(conv.first_response_due))


def conversation_index_attributes(conv: Conversation) -> Item:
    """Index keys for a conversation's inbox views (a sparse set: unassigned has no assignee key,
    only queued conversations have a queue key, only running SLA clocks have a due key)."""
    sort_key = keys.activity_sort_key(conv.last_activity_at, conv.id)
    status = conv.status.value
    attributes: Item = {
        schema.BY_MAILBOX.pk: keys.mailbox_pk(conv.mailbox),
        schema.BY_MAILBOX.sk: sort_key,
        schema.BY_MAILBOX_STATUS.pk: keys.status_partition(keys.mailbox_pk(conv.mailbox), status),
        schema.BY_MAILBOX_STATUS.sk: sort_key,
        schema.BY_CONTACT.pk: keys.contact_pk(conv.contact_email),
        schema.BY_CONTACT.sk: sort_key,
    }
    if conv.assignee:
        attributes[schema.BY_ASSIGNEE_STATUS.pk] = keys.status_partition(keys.agent_pk(conv.assignee), status)
        attributes[schema.BY_ASSIGNEE_STATUS.sk] = sort_key
    if conv.team:
        attributes[schema.BY_TEAM_STATUS.pk] = keys.status_partition(keys.team_pk(conv.team), status)
        attributes[schema.BY_TEAM_STATUS.sk] = sort_key
    if in_queue(conv):
        attributes[schema.BY_QUEUE.pk] = keys.queue_pk(conv.mailbox)
        attributes[schema.BY_QUEUE.sk] = sort_key
    due = first_response_clock(conv)
    if due is not None:
        attributes[schema.BY_SLA_DUE.pk] = keys.sla_pk(conv.mailbox)
        attributes[schema.BY_SLA_DUE.sk] = keys.due_sort_key(due, conv.id)
    return attributes


def conversation_item(conv: Conversation) -> Item:
    return {
        schema.PK: keys.conversation_pk(conv.id),
        schema.SK: keys.META,
        "entity": "conversation",
        **_dump(conv),
        **conversation_index_attributes(conv),
    }


def message_item(msg: StoredMessage) -> Item:
    item = {
        schema.PK: keys.conversation_pk(msg.conversation_id),
        schema.SK: keys.message_sk(msg.received_at, msg.key),
        "entity": "message",
        **_dump(msg),
    }
    item["headers"] = [list(pair) for pair in msg.headers]
    return item


def event_item(event: AuditEvent) -> Item:
    return {
        schema.PK: keys.conversation_pk(event.conversation_id),
        schema.SK: keys.event_sk(event.at, event.id),
        "entity": "event",
        **_dump(event),
    }


def message_id_item(
    message_id: str, mailbox: str, conversation_id: str, message_key: str, fingerprint: str | None = None
) -> Item:
    """``message_id`` is the dedupe identity: the Message-ID, or a variant identity for a different
    message that reuses one (see :mod:`mailroom.ingest.fingerprint`)."""
    item: Item = {
        schema.PK: keys.message_id_pk(message_id),
        schema.SK: keys.message_id_sk(mailbox),
        "entity": "msgid",
        "message_id": message_id,
        "mailbox": mailbox.lower(),
        "conversation_id": conversation_id,
        "message_key": message_key,
    }
    if fingerprint:
        item["fingerprint"] = fingerprint
    return item


def contact_key(email: str) -> Item:
    return {schema.PK: keys.contact_pk(email), schema.SK: keys.META}


def conversation_key(conversation_id: str) -> Item:
    return {schema.PK: keys.conversation_pk(conversation_id), schema.SK: keys.META}


def get_conversation(table: Table, conversation_id: str) -> Conversation | None:
    """The conversation as it is now (a consistent read), or None."""
    item = table.get(conversation_key(conversation_id), consistent=True)
    return to_conversation(item) if item and item.get("entity") == "conversation" else None


def to_conversation(item: Item) -> Conversation:
    return Conversation.model_validate(item)


def to_message(item: Item) -> StoredMessage:
    return StoredMessage.model_validate(item)


def to_event(item: Item) -> AuditEvent:
    return AuditEvent.model_validate(item)


def to_contact(item: Item) -> Contact:
    return Contact.model_validate(item)
