"""The directory of mailboxes: one small partition, so listing them is a query.

Ingest registers a mailbox the first time mail for it opens a conversation; admins describe it
further (name, team, signature, access) later.
"""

from __future__ import annotations

from typing import Any

from mailroom.table import schema
from mailroom.table.client import Condition, Table, Update
from mailroom.table.expressions import set_fields

DIRECTORY_MAILBOXES = "DIR#MAILBOX"


def mailbox_directory_key(address: str) -> dict[str, Any]:
    return {schema.PK: DIRECTORY_MAILBOXES, schema.SK: address.lower()}


def register_mailbox_update(address: str, at: str) -> Update:
    """Idempotent upsert of a directory entry, counting the conversations opened in the mailbox."""
    return Update(
        mailbox_directory_key(address),
        Condition(
            "SET #entity = :entity, #address = :address, #created = if_not_exists(#created, :at) "
            "ADD #conversations :one",
            {
                "#entity": "entity",
                "#address": "address",
                "#created": "created_at",
                "#conversations": "conversation_count",
            },
            {":entity": "mailbox", ":address": address.lower(), ":at": at, ":one": 1},
        ),
    )


def list_mailboxes(table: Table) -> list[dict[str, Any]]:
    return table.query_all(
        key_condition=Condition("#pk = :pk", {"#pk": schema.PK}, {":pk": DIRECTORY_MAILBOXES}),
    )


def upsert_mailbox(table: Table, address: str, **attributes: Any) -> None:
    """Create or describe a mailbox (name, team, ...) without touching its counters."""
    fields = {"address": address.lower(), **attributes}
    table.update(mailbox_directory_key(address), set_fields("mailbox", fields))


DIRECTORY_USERS = "DIR#USER"


def upsert_user(table: Table, email: str, *, name: str, role: str) -> None:
    """Create or update a user of the product (agents, admins, finance)."""
    table.update(
        {schema.PK: DIRECTORY_USERS, schema.SK: email.lower()},
        Condition(
            "SET #entity = :entity, #email = :email, #name = :name, #role = :role",
            {"#entity": "entity", "#email": "email", "#name": "name", "#role": "role"},
            {":entity": "user", ":email": email.lower(), ":name": name, ":role": role},
        ),
    )


def list_users(table: Table) -> list[dict[str, Any]]:
    return table.query_all(key_condition=Condition("#pk = :pk", {"#pk": schema.PK}, {":pk": DIRECTORY_USERS}))
