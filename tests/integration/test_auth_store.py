"""Mailbox grants on the directory items and principals loaded from them, on DynamoDB Local."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mailroom.auth import Access, Role, can_act, visible_mailboxes
from mailroom.auth.permissions_store import UnknownMailboxError, grant, load_principal, mailbox_grants
from mailroom.inbox import directory
from mailroom.inbox.directory import (
    forget_cached_mailboxes,
    list_mailboxes,
    mailbox_directory_key,
    register_mailbox_update,
    upsert_mailbox,
    upsert_user,
)
from mailroom.table import schema
from mailroom.table.client import Condition, Table, table_from_settings
from mailroom.table.process_cache import directory_cache

SUPPORT = "support@example.com"
SALES = "sales@example.com"
BILLING = "billing@example.com"


@pytest.fixture
def table(mailroom_env: Path) -> Table:
    table = table_from_settings()
    for mailbox in (SUPPORT, SALES, BILLING):
        upsert_mailbox(table, mailbox, name=mailbox.split("@")[0].title())
    upsert_user(table, "pat@example.com", name="Pat", role="agent")
    upsert_user(table, "root@example.com", name="Root", role="admin")
    upsert_user(table, "fin@example.com", name="Fin", role="finance")
    return table


def test_load_principal_collects_grants_across_mailboxes(table: Table) -> None:
    grant(table, SUPPORT, "Pat@Example.com", Access.FULL)
    grant(table, SALES, "pat@example.com", Access.READ_ONLY)
    grant(table, SALES, "other@example.com", Access.SEND_AS)

    pat = load_principal(table, "PAT@example.com")
    assert pat is not None
    assert (pat.email, pat.name, pat.role) == ("pat@example.com", "Pat", Role.AGENT)
    assert pat.mailbox_access == {SUPPORT: Access.FULL, SALES: Access.READ_ONLY}
    directory = [item["address"] for item in list_mailboxes(table)]
    assert sorted(visible_mailboxes(pat, directory)) == [SALES, SUPPORT]
    assert can_act(pat, SUPPORT)
    assert not can_act(pat, SALES)


def test_grant_replaces_and_none_revokes(table: Table) -> None:
    grant(table, SUPPORT, "pat@example.com", Access.READ_ONLY)
    grant(table, SUPPORT, "pat@example.com", Access.SEND_ON_BEHALF)
    grant(table, SUPPORT, "kim@example.com", Access.FULL)
    pat = load_principal(table, "pat@example.com")
    assert pat is not None
    assert pat.mailbox_access == {SUPPORT: Access.SEND_ON_BEHALF}

    grant(table, SUPPORT, "pat@example.com", None)
    pat = load_principal(table, "pat@example.com")
    assert pat is not None
    assert pat.mailbox_access == {}
    item = table.get(mailbox_directory_key(SUPPORT), consistent=True)
    assert item is not None
    assert mailbox_grants(item) == {"kim@example.com": Access.FULL}  # others' grants untouched


def test_revoking_what_was_never_granted_is_a_no_op(table: Table) -> None:
    grant(table, BILLING, "pat@example.com", None)  # no access map on the item yet
    grant(table, BILLING, "kim@example.com", Access.FULL)
    grant(table, BILLING, "pat@example.com", None)  # a map without pat
    item = table.get(mailbox_directory_key(BILLING), consistent=True)
    assert item is not None
    assert mailbox_grants(item) == {"kim@example.com": Access.FULL}


def test_concurrent_first_grants_all_land(table: Table) -> None:
    """Several admins granting on a mailbox without an access map yet race to create it."""
    emails = [f"agent{n}@example.com" for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda email: grant(table, BILLING, email, Access.FULL), emails))
    item = table.get(mailbox_directory_key(BILLING), consistent=True)
    assert item is not None
    assert mailbox_grants(item) == dict.fromkeys(emails, Access.FULL)


def test_grants_need_a_mailbox_in_the_directory(table: Table) -> None:
    with pytest.raises(UnknownMailboxError):
        grant(table, "typo@example.com", "pat@example.com", Access.FULL)
    with pytest.raises(UnknownMailboxError):
        grant(table, "typo@example.com", "pat@example.com", None)
    assert table.get(mailbox_directory_key("typo@example.com"), consistent=True) is None


def test_grants_survive_the_directory_updates_of_ingest_and_admins(table: Table) -> None:
    grant(table, SUPPORT, "pat@example.com", Access.SEND_AS)
    table.update(*_register(SUPPORT))
    upsert_mailbox(table, SUPPORT, name="Customer support")
    item = table.get(mailbox_directory_key(SUPPORT), consistent=True)
    assert item is not None
    assert item["name"] == "Customer support"
    assert item["conversation_count"] == 1
    assert mailbox_grants(item) == {"pat@example.com": Access.SEND_AS}


def test_a_mailbox_registered_by_ingest_accepts_grants(table: Table) -> None:
    new = "new@example.com"
    table.update(*_register(new))
    grant(table, new, "pat@example.com", Access.FULL)
    pat = load_principal(table, "pat@example.com")
    assert pat is not None
    assert pat.mailbox_access == {new: Access.FULL}


def test_roles_come_from_the_directory(table: Table) -> None:
    admin = load_principal(table, "root@example.com")
    finance = load_principal(table, "fin@example.com")
    assert admin is not None
    assert finance is not None
    assert (admin.role, finance.role) == (Role.ADMIN, Role.FINANCE)
    directory = [item["address"] for item in list_mailboxes(table)]
    assert sorted(visible_mailboxes(admin, directory)) == [BILLING, SALES, SUPPORT]
    assert visible_mailboxes(finance, directory) == []


def test_unknown_inactive_and_unroled_users_get_no_principal(table: Table) -> None:
    assert load_principal(table, "stranger@example.com") is None
    assert load_principal(table, "  ") is None

    grant(table, SUPPORT, "pat@example.com", Access.FULL)
    _set_user(table, "pat@example.com", "active", False)
    assert load_principal(table, "pat@example.com") is None
    _set_user(table, "pat@example.com", "active", True)
    assert load_principal(table, "pat@example.com") is not None

    upsert_user(table, "odd@example.com", name="Odd", role="superuser")
    assert load_principal(table, "odd@example.com") is None


def test_unrecognised_stored_levels_are_ignored(table: Table) -> None:
    table.update(
        mailbox_directory_key(SALES),
        Condition("SET #access = :map", {"#access": "access"}, {":map": {"pat@example.com": "owner"}}),
    )
    grant(table, SUPPORT, "pat@example.com", Access.READ_ONLY)
    pat = load_principal(table, "pat@example.com")
    assert pat is not None
    assert pat.mailbox_access == {SUPPORT: Access.READ_ONLY}


def access(table: Table, max_age_s: float) -> dict[str, Access]:
    principal = load_principal(table, "pat@example.com", directory_max_age_s=max_age_s)
    assert principal is not None
    return principal.mailbox_access


def _grant_elsewhere(table: Table, mailbox: str, email: str, level: str | None) -> None:
    """A grant written by another container: straight to the item, this process's cache untouched."""
    names = {"#access": "access", "#email": email}
    if level is None:
        table.update(mailbox_directory_key(mailbox), Condition("REMOVE #access.#email", names))
    else:
        set_level = Condition("SET #access.#email = :l", names, {":l": level})
        table.update(mailbox_directory_key(mailbox), set_level)


def test_a_cached_directory_is_reused_for_its_age_then_read_again(
    table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(directory_cache, "clock", lambda: clock[0])
    forget_cached_mailboxes()
    grant(table, SUPPORT, "pat@example.com", Access.FULL)
    assert access(table, 5) == {SUPPORT: Access.FULL}

    _grant_elsewhere(table, SUPPORT, "pat@example.com", None)  # revoked by another container
    clock[0] += 4.9
    assert access(table, 5) == {SUPPORT: Access.FULL}  # still the listing
    assert access(table, 0) == {}  # 0: read every time
    clock[0] += 0.2  # older than 5 s: read again
    assert access(table, 5) == {}

    # A deactivated user is refused at once: their own item is never cached.
    _set_user(table, "pat@example.com", "active", False)
    assert load_principal(table, "pat@example.com", directory_max_age_s=5) is None


def test_changes_made_in_this_process_are_seen_at_once(table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(directory_cache, "clock", lambda: 1000.0)  # never expires here
    forget_cached_mailboxes()
    assert access(table, 60) == {}

    grant(table, SALES, "pat@example.com", Access.READ_ONLY)
    assert access(table, 60) == {SALES: Access.READ_ONLY}

    upsert_mailbox(table, SALES, disabled=True)
    listed = directory.list_mailboxes_cached(table, 60)
    assert {str(m["address"]): bool(m.get("disabled")) for m in listed}[SALES] is True

    grant(table, SUPPORT, "kim@example.com", Access.FULL)  # (the item gets its access map)
    assert access(table, 60) == {SALES: Access.READ_ONLY}
    _grant_elsewhere(table, SUPPORT, "pat@example.com", "full")
    assert SUPPORT not in access(table, 60)  # another's change: not yet
    forget_cached_mailboxes()
    assert access(table, 60) == {SALES: Access.READ_ONLY, SUPPORT: Access.FULL}


def _register(address: str) -> tuple[dict[str, str], Condition]:
    update = register_mailbox_update(address, "2026-11-20T08:00:00.000000Z")
    return update.key, update.update


def _set_user(table: Table, email: str, name: str, value: object) -> None:
    table.update(
        {schema.PK: "DIR#USER", schema.SK: email},
        Condition("SET #n = :v", {"#n": name}, {":v": value}),
    )
