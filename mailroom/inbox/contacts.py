"""A customer as the agent sees them: the contact item and their conversations (one index query)."""

from __future__ import annotations

from mailroom.domain.contact import Contact
from mailroom.domain.conversation import Conversation
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table
from mailroom.table.items import contact_key, to_contact, to_conversation


def get_contact(table: Table, email: str) -> Contact | None:
    item = table.get(contact_key(email))
    return to_contact(item) if item else None


def contact_conversations(table: Table, email: str, *, limit: int) -> list[Conversation]:
    """The contact's conversations in every mailbox, most recent activity first (``ByContact``).
    Callers filter them to the mailboxes the reader may see."""
    page = table.query(
        key_condition=Condition("#pk = :pk", {"#pk": schema.BY_CONTACT.pk}, {":pk": keys.contact_pk(email)}),
        index=schema.BY_CONTACT.name,
        forward=False,
        limit=limit,
    )
    return [to_conversation(item) for item in page.items]
