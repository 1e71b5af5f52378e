"""The directory of mailboxes: one small partition, so listing them is a query.

Ingest registers a mailbox the first time mail for it opens a conversation; admins describe it
further (name, team, signature, access) later.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table, Update
from mailroom.table.expressions import set_fields

DIRECTORY_MAILBOXES = "DIR#MAILBOX"


def mailbox_directory_key(address: str) -> dict[str, Any]:
    return {schema.PK: DIRECTORY_MAILBOXES, schema.SK: address.lower()}


def register_mailbox_update(address: str, at: str) -> Update:
    """Idempotent upsert of a directory entry, counting the conversation that registers it. Ingest
    uses it only while the mailbox has no entry; later conversations are counted on the mailbox's
    counter items (:func:`count_conversation_update`), never on the entry (it carries the access
    map: rewriting it per conversation is what would not scale)."""
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


def count_conversation_update(address: str) -> Update:
    """One more conversation in the mailbox, on one of its small counter items (at random)."""
    shard = secrets.randbelow(keys.MAILBOX_COUNTER_SHARDS)
    return Update(
        {schema.PK: keys.mailbox_counter_pk(address), schema.SK: keys.mailbox_counter_sk(shard)},
        Condition(
            "SET #entity = :entity ADD #conversations :one",
            {"#entity": "entity", "#conversations": "conversation_count"},
            {":entity": "mailbox_counter", ":one": 1},
        ),
    )


def conversation_counts(table: Table, addresses: Sequence[str]) -> dict[str, int]:
    """Conversations opened in each mailbox, from its counter items (the entry's own count, from
    its registration and from before the counters, is added by the caller that has the entry)."""
    wanted = [
        {schema.PK: keys.mailbox_counter_pk(a), schema.SK: keys.mailbox_counter_sk(n)}
        for a in addresses
        for n in range(keys.MAILBOX_COUNTER_SHARDS)
    ]
    counts = {a.lower(): 0 for a in addresses}
    for start in range(0, len(wanted), 100):
        for item in table.batch_get(wanted[start : start + 100]):
            address = str(item[schema.PK]).removeprefix(keys.mailbox_counter_pk(""))
            counts[address] = counts.get(address, 0) + int(item.get("conversation_count") or 0)
    return counts


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
