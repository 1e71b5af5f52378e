"""One conversation with everything in it: a single query on its partition."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from mailroom.domain.conversation import Conversation
from mailroom.domain.event import AuditEvent
from mailroom.domain.message import StoredMessage
from mailroom.domain.note import Note
from mailroom.storage import BlobNotFoundError, BlobStore
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table
from mailroom.table.items import to_conversation, to_event, to_message
from mailroom.usage import attribute


@dataclass
class Thread:
    conversation: Conversation
    messages: list[StoredMessage] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)  # internal: never shown to customers


def load_thread(table: Table, store: BlobStore, conversation_id: str) -> Thread | None:
    items = table.query_all(
        key_condition=Condition(
            "#pk = :pk", {"#pk": schema.PK}, {":pk": keys.conversation_pk(conversation_id)}
        ),
    )
    meta = next((item for item in items if item[schema.SK] == keys.META), None)
    if meta is None:
        return None
    thread = Thread(conversation=to_conversation(meta))
    conversation = thread.conversation  # reading a thread is work on this conversation (cost metering)
    attribute(conversation_id=conversation.id, mailbox=conversation.mailbox, team=conversation.team)
    for item in items:  # sort key order is time order within each kind
        entity = item.get("entity")
        if entity == "message":
            thread.messages.append(_with_full_body(to_message(item), store))
        elif entity in {"event", "merged_event"}:  # merged_event: copied from a merged conversation
            thread.events.append(to_event(item))
        elif entity == "note":
            thread.notes.append(Note.model_validate(item))
    return thread


def load_message(
    table: Table, store: BlobStore, conversation_id: str, message_key: str
) -> StoredMessage | None:
    """One message of a conversation (with its full body), or None."""
    thread = load_thread(table, store, conversation_id) if conversation_id.isalnum() else None
    return next((m for m in thread.messages if m.key == message_key), None) if thread else None


def _with_full_body(message: StoredMessage, store: BlobStore) -> StoredMessage:
    """Large bodies live in the raw store; the item keeps a preview."""
    if not message.body_ref:
        return message
    try:
        body = json.loads(store.get(message.body_ref))
    except (BlobNotFoundError, ValueError):
        return message
    return message.model_copy(update={"text": body.get("text") or message.text, "html": body.get("html")})
