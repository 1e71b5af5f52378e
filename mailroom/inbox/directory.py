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


# What a person may say about themselves, for canned responses ("I'm Sam, Account Executive at
# Acme; book a slot: <calendar>") and signatures.
PROFILE_FIELDS = ("title", "company", "calendar_url")


def upsert_user(
    table: Table, email: str, *, name: str, role: str, profile: dict[str, str] | None = None
) -> None:
    """Create or update a user of the product (agents, admins, finance), with optional profile
    fields (:data:`PROFILE_FIELDS`); fields not given are left as they are."""
    unknown = set(profile or {}) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"unknown profile fields: {sorted(unknown)}")
    fields = {"email": email.lower(), "name": name, "role": role, **(profile or {})}
    table.update({schema.PK: DIRECTORY_USERS, schema.SK: email.lower()}, set_fields("user", fields))


def get_user(table: Table, email: str) -> dict[str, Any] | None:
    return table.get({schema.PK: DIRECTORY_USERS, schema.SK: email.strip().lower()})


def get_mailbox(table: Table, address: str) -> dict[str, Any] | None:
    return table.get(mailbox_directory_key(address.strip()))


def list_users(table: Table) -> list[dict[str, Any]]:
    return table.query_all(key_condition=Condition("#pk = :pk", {"#pk": schema.PK}, {":pk": DIRECTORY_USERS}))
