"""Erase a contact (a GDPR request): their mail leaves the table and the raw store.

What goes, for each conversation whose contact they are (the ``ByContact`` index, one query):

* in the raw store: each message's raw mail (``raw/inbound/<ses id>``), large bodies
  (``bodies/<message key>.json``, inbound and replies) and attachments (``attachments/<key>/<n>``);
* the Message-ID index entries of its messages (``MSGID#<id>`` / ``MAILBOX#<mailbox>``, and the
  variant identity of a message that reused a Message-ID, computed again from its raw mail), each
  deleted only while it still points at this conversation;
* every item of the conversation's partition (``CONV#<id>``: messages, events, notes, reply
  records, routing markers), its presence, metric state and SLA warning markers, the @mentions of
  its notes (in the mentioned people's partitions) and the SLA notifications about it;
* the conversation item itself, last, in one transaction with its holder's ``open_count`` - 1
  (conditional on the version read, so the load can't drift and a retry can't count twice);

then the auto-reply slots ``AUTOREPLY#<mailbox>`` / ``<address>`` and the contact item. Metric
rollups and cost counters stay: they are aggregates keyed by mailbox, team, agent or conversation
id, with no address or content. Finally a tombstone in the audit log (:data:`CONTACT_ERASED`):
who, when, the SHA-256 of the address (never the address) and counts.

Retryable: every step deletes by key and tolerates what is already gone, and the order keeps what
a later step needs (the raw mail is read for variant identities before it is deleted; the
conversation item, which makes it findable, goes last). Bounded: batch deletes of 25 and at most
``max_conversations`` per call; the report says when more remain (call again).

Not covered (documented in ``docs/privacy.md``): messages this address sent into a conversation
whose contact is someone else, and copies outside the raw store (the SES outbox of the sandbox,
mail already delivered to people).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mailroom.assignment.load import load_holder, open_count_change
from mailroom.audit.log import CONTACT_ERASED, contact_ref, record
from mailroom.domain.message import StoredMessage
from mailroom.ingest.fingerprint import content_fingerprint, variant_identity
from mailroom.mail.model import MessageFlag
from mailroom.mail.parse import parse_message
from mailroom.settings import Settings, get_settings
from mailroom.storage.base import BlobNotFoundError, BlobStore
from mailroom.table import keys, schema
from mailroom.table.client import (
    Condition,
    ConditionFailedError,
    Delete,
    Table,
    TransactAction,
    TransactionCancelledError,
    partition,
)
from mailroom.table.items import to_conversation

Item = dict[str, Any]

MAX_CONVERSATIONS_PER_CALL = 200
_ROUNDS = 3  # a conversation still receiving mail while it is erased: read and erase again
SLA_NOTIFICATION_KIND = "sla_at_risk"


@dataclass
class ErasureReport:
    contact: str  # contact_ref(email): the hash, as the tombstone names it
    found: bool = False
    conversations: int = 0
    messages: int = 0
    items: int = 0
    blobs: int = 0
    complete: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "contact": self.contact,
            "found": self.found,
            "conversations": self.conversations,
            "messages": self.messages,
            "items": self.items,
            "blobs": self.blobs,
            "complete": self.complete,
        }


def contact_conversation_ids(table: Table, email: str, *, limit: int | None = None) -> list[str]:
    """The ids of the conversations whose contact is ``email`` (the ``ByContact`` index)."""
    items = table.query_all(
        key_condition=Condition(
            "#pk = :pk", {"#pk": schema.BY_CONTACT.pk}, {":pk": keys.contact_pk(email.strip().lower())}
        ),
        index=schema.BY_CONTACT.name,
        max_items=limit or 10_000,
    )
    ids = [str(item["id"]) for item in items if item.get("entity") == "conversation" and item.get("id")]
    return list(dict.fromkeys(ids))[: limit or None]


def erase_contact(
    table: Table,
    store: BlobStore,
    email: str,
    *,
    actor: str,
    settings: Settings | None = None,
    max_conversations: int = MAX_CONVERSATIONS_PER_CALL,
) -> ErasureReport:
    """Erase everything about ``email`` (see the module). Writes the tombstone when complete."""
    address = email.strip().lower()
    settings = settings or get_settings()
    report = ErasureReport(contact=contact_ref(address))
    contact = table.get({schema.PK: keys.contact_pk(address), schema.SK: keys.META}, consistent=True)
    conversation_ids = contact_conversation_ids(table, address, limit=max_conversations + 1)
    report.found = contact is not None or bool(conversation_ids)
    if len(conversation_ids) > max_conversations:
        conversation_ids = conversation_ids[:max_conversations]
        report.complete = False
    mailboxes: set[str] = set()
    for conversation_id in conversation_ids:
        mailboxes |= _erase_conversation(table, store, conversation_id, settings, report)
    # The auto-reply slots of this sender (their key is the address) in every mailbox they wrote to.
    table.batch_delete([{schema.PK: f"AUTOREPLY#{mailbox}", schema.SK: address} for mailbox in mailboxes])
    if report.complete:
        table.delete({schema.PK: keys.contact_pk(address), schema.SK: keys.META})
        report.items += 1 if contact is not None else 0
        record(
            table,
            actor=actor,
            action=CONTACT_ERASED,
            target=report.contact,
            details={k: v for k, v in report.as_dict().items() if k not in {"contact", "complete"}},
        )
    return report


def _erase_conversation(
    table: Table, store: BlobStore, conversation_id: str, settings: Settings, report: ErasureReport
) -> set[str]:
    """Erase one conversation; returns its mailbox (for the auto-reply slots)."""
    mailboxes: set[str] = set()
    counted = False
    for _ in range(_ROUNDS):
        items = table.query_all(
            key_condition=partition(keys.conversation_pk(conversation_id)), consistent=True
        )
        if not items:
            break
        meta = next((i for i in items if i.get(schema.SK) == keys.META), None)
        if meta is not None and meta.get("mailbox"):
            mailboxes.add(str(meta["mailbox"]).lower())
        if not counted:
            report.conversations += 1
            counted = True
        messages = [StoredMessage.model_validate(i) for i in items if i.get("entity") == "message"]
        report.messages += len(messages)
        # 1. Message-ID index entries: before the raw mail (a variant identity is computed from it).
        for message in messages:
            _delete_message_ids(table, store, message, settings)
        # 2. Items in other partitions that point at this conversation.
        report.items += _delete_related(table, conversation_id, items)
        # 3. The raw store.
        for blob in _blob_keys(messages):
            with contextlib.suppress(BlobNotFoundError):
                store.delete(blob)
            report.blobs += 1
        # 4. The conversation's partition, the conversation item last.
        rest = [_key(i) for i in items if i.get(schema.SK) != keys.META]
        report.items += table.batch_delete(rest)
        if meta is None or _delete_conversation_item(table, meta):
            report.items += 1 if meta is not None else 0
            remaining = table.query(
                key_condition=partition(keys.conversation_pk(conversation_id)), consistent=True, limit=1
            )
            if not remaining.items:
                break
    return mailboxes


def _delete_conversation_item(table: Table, meta: Item) -> bool:
    """The conversation item and its holder's load, at the version read; False if it moved on."""
    conversation = to_conversation(meta)
    actions: list[TransactAction] = [
        Delete(_key(meta), Condition("#v = :v", {"#v": "version"}, {":v": meta.get("version")}))
    ]
    holder = load_holder(conversation)
    if holder is not None:
        actions.append(open_count_change(holder, -1))
    try:
        table.transact_write(actions)
    except TransactionCancelledError as exc:
        if exc.failed_condition_at(0):
            return False  # changed (a new message?) or already gone: read again
        raise
    return True


def _delete_message_ids(table: Table, store: BlobStore, message: StoredMessage, settings: Settings) -> None:
    identities = [message.message_id]
    if MessageFlag.MESSAGE_ID_REUSED.value in message.flags and message.raw_key:
        try:
            raw = store.get(message.raw_key)
        except BlobNotFoundError:
            raw = None
        if raw is not None:
            parsed = parse_message(raw, max_parts=settings.max_mime_parts, max_depth=settings.max_mime_depth)
            identities.append(variant_identity(parsed.message_id, content_fingerprint(parsed)))
    for identity in identities:
        # Gone already, or another conversation's message with the same id: leave it.
        with contextlib.suppress(ConditionFailedError):
            table.delete(
                {schema.PK: keys.message_id_pk(identity), schema.SK: keys.message_id_sk(message.mailbox)},
                Condition("#c = :c", {"#c": "conversation_id"}, {":c": message.conversation_id}),
            )


def _delete_related(table: Table, conversation_id: str, items: list[Item]) -> int:
    """@mentions of its notes, SLA notifications and markers, presence, metric state."""
    doomed: list[Item] = []
    for note in (i for i in items if i.get("entity") == "note"):
        for user in note.get("mentions") or []:
            doomed.append(
                {
                    schema.PK: keys.user_pk(str(user)),
                    schema.SK: keys.mention_sk(str(note["created_at"]), conversation_id, str(note["id"])),
                }
            )
    for pk in (
        keys.sla_warning_pk(conversation_id),
        keys.presence_pk(conversation_id),
        keys.metric_state_pk(conversation_id),
    ):
        for item in table.query_all(key_condition=partition(pk), consistent=True):
            doomed.append(_key(item))
            if item.get("entity") == "sla_warning":
                for user in item.get("recipients") or []:
                    doomed.append(
                        {
                            schema.PK: keys.user_pk(str(user)),
                            schema.SK: keys.notification_sk(
                                str(item.get("at")), conversation_id, SLA_NOTIFICATION_KIND
                            ),
                        }
                    )
    return table.batch_delete(doomed)


def _blob_keys(messages: Iterable[StoredMessage]) -> list[str]:
    found: list[str] = []
    for message in messages:
        found += [k for k in (message.raw_key, message.body_ref) if k]
        found += [attachment.key for attachment in message.attachments if attachment.key]
    return list(dict.fromkeys(found))


def _key(item: Item) -> Item:
    return {schema.PK: item[schema.PK], schema.SK: item[schema.SK]}
