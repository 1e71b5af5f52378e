"""Table access for ingest: thread lookups and the one transaction that commits a message."""

from __future__ import annotations

from typing import Any

from mailroom.assignment.load import status_change_actions
from mailroom.domain.conversation import Conversation
from mailroom.inbox.contacts import contact_conversations
from mailroom.inbox.directory import count_conversation_update, get_mailbox, register_mailbox_update
from mailroom.ingest.build import IngestPlan
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Put, Table, TransactAction, Update
from mailroom.table.items import (
    contact_key,
    conversation_item,
    event_item,
    get_conversation,
    message_id_item,
    message_item,
)

# Index of the Message-ID put in the commit transaction: its condition failing means "duplicate".
MESSAGE_ID_ACTION = 0
CONVERSATION_ACTION = 1


class IngestRepository:
    """Implements :class:`mailroom.ingest.threading.ThreadLookup` on the table."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._registered: set[str] = set()  # mailboxes known to have a directory entry

    def conversation_ids_by_message_id(self, message_ids: list[str], mailbox: str) -> dict[str, str]:
        wanted = [
            {schema.PK: keys.message_id_pk(mid), schema.SK: keys.message_id_sk(mailbox)}
            for mid in message_ids
        ]
        return {
            str(item["message_id"]).lower(): str(item["conversation_id"])
            for item in self.table.batch_get(wanted)
        }

    def message_id_record(self, identity: str, mailbox: str) -> dict[str, Any] | None:
        """The Message-ID index entry of a stored message (its conversation and content fingerprint)."""
        key = {schema.PK: keys.message_id_pk(identity), schema.SK: keys.message_id_sk(mailbox)}
        return self.table.get(key, consistent=True)

    def conversation(self, conversation_id: str) -> Conversation | None:
        return get_conversation(self.table, conversation_id)

    def recent_conversations(self, contact_email: str, limit: int) -> list[Conversation]:
        return contact_conversations(self.table, contact_email, limit=limit)

    def commit(self, plan: IngestPlan) -> None:
        """Write everything for one message in one mailbox, atomically.

        The Message-ID item is conditional (a redelivery fails it: duplicate); the conversation is
        created if absent or replaced only at the version that was read (a concurrent change fails it:
        re-read and plan again). Contact counters are part of the same transaction, so a retry after
        any failure can never count twice.
        """
        message = plan.message
        conversation = plan.conversation
        actions: list[TransactAction] = [
            Put(
                message_id_item(
                    plan.identity, message.mailbox, conversation.id, message.key, plan.fingerprint
                ),
                Condition("attribute_not_exists(#pk)", {"#pk": schema.PK}),
            ),
            Put(conversation_item(conversation), self._conversation_condition(plan)),
            Put(message_item(message)),
            *(Put(event_item(event)) for event in plan.events),
        ]
        actions.append(self._contact_update(plan))
        if plan.previous is not None:
            # A reopen puts the conversation back on its owner's load, in the same transaction.
            actions += status_change_actions(plan.previous, conversation)
        if plan.is_new_conversation:
            actions.append(self._count_conversation(conversation.mailbox, message.received_at))
        self.table.transact_write(actions)
        if plan.is_new_conversation:
            self._registered.add(conversation.mailbox.lower())

    def _count_conversation(self, mailbox: str, at: str) -> Update:
        """The mailbox's first conversation registers its directory entry (and is counted there);
        later ones are counted on the mailbox's small counter items, never on the entry, which
        carries the access map (docs/scale.md). Entries are never deleted, so a mailbox seen
        registered stays so: one read of the entry per container and mailbox."""
        address = mailbox.lower()
        if address not in self._registered and get_mailbox(self.table, address) is not None:
            self._registered.add(address)
        if address in self._registered:
            return count_conversation_update(address)
        return register_mailbox_update(address, at)

    @staticmethod
    def _conversation_condition(plan: IngestPlan) -> Condition:
        if plan.previous_version is None:
            return Condition("attribute_not_exists(#pk)", {"#pk": schema.PK})
        return Condition("#v = :v", {"#v": "version"}, {":v": plan.previous_version})

    @staticmethod
    def _contact_update(plan: IngestPlan) -> Update:
        at = plan.message.received_at
        sets = [
            "#entity = :entity",
            "#email = :email",
            "#first = if_not_exists(#first, :at)",
            "#last = :at",
            "#tags = if_not_exists(#tags, :empty)",
        ]
        names = {
            "#entity": "entity",
            "#email": "email",
            "#first": "first_seen_at",
            "#last": "last_seen_at",
            "#tags": "tags",
            "#messages": "message_count",
            "#conversations": "conversation_count",
        }
        values: dict[str, object] = {
            ":entity": "contact",
            ":email": plan.contact_email,
            ":at": at,
            ":empty": [],
            ":one": 1,
            ":new": 1 if plan.is_new_conversation else 0,
        }
        if plan.contact_name:
            sets.append("#name = :name")
            names["#name"] = "name"
            values[":name"] = plan.contact_name
        expression = f"SET {', '.join(sets)} ADD #messages :one, #conversations :new"
        return Update(contact_key(plan.contact_email), Condition(expression, names, values))
