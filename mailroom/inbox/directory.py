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
from mailroom.table.process_cache import directory_cache

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


def list_mailboxes_cached(table: Table, max_age_s: float) -> list[dict[str, Any]]:
    """:func:`list_mailboxes`, reusing this process's last listing of the table while it is younger
    than ``max_age_s`` (0: always read); see :mod:`mailroom.table.process_cache`. Read-only for
    callers: the items are shared."""
    return directory_cache.get(f"mailboxes:{table.name}", max_age_s, lambda: list_mailboxes(table))


def mailbox_entry(table: Table, address: str, max_age_s: float = 0) -> dict[str, Any] | None:
    """One mailbox's directory entry: from the cached listing when ``max_age_s`` allows reusing
    one, else its own read (a GetItem is cheaper than the listing)."""
    if max_age_s <= 0:
        return table.get(mailbox_directory_key(address))
    wanted = address.lower()
    return next((m for m in list_mailboxes_cached(table, max_age_s) if m.get(schema.SK) == wanted), None)


def forget_cached_mailboxes() -> None:
    """Drop this process's cached directory reads (after it changed a directory entry)."""
    directory_cache.forget()


def upsert_mailbox(table: Table, address: str, **attributes: Any) -> None:
    """Create or describe a mailbox (name, team, ...) without touching its counters."""
    fields = {"address": address.lower(), **attributes}
    table.update(mailbox_directory_key(address), set_fields("mailbox", fields))
    forget_cached_mailboxes()


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
