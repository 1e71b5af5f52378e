"""Mailbox access in the table, and building a :class:`~mailroom.auth.model.Principal` from it.

Access lives on each mailbox's directory item as a map ``access: {email: level}``: the directory
is one small partition, so one query (:func:`~mailroom.inbox.directory.list_mailboxes`) yields
every grant of every person, and the admin page for a mailbox reads its grants from one item.
Users are the directory's ``DIR#USER`` items (email, name, role, and ``active: false`` once
deactivated).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mailroom.audit.log import PERMISSION_GRANT, PERMISSION_REVOKE, record
from mailroom.auth.model import Access, Principal, Role
from mailroom.inbox.directory import (
    DIRECTORY_USERS,
    forget_cached_mailboxes,
    list_mailboxes_cached,
    mailbox_directory_key,
)
from mailroom.table import schema
from mailroom.table.client import Condition, ConditionFailedError, Table

ACCESS_ATTRIBUTE = "access"
_GRANT_ATTEMPTS = 3


class UnknownMailboxError(LookupError):
    """Access can only be granted on a mailbox in the directory (no phantom entries from typos)."""


def parse_access(value: Any) -> Access | None:
    """A stored level, or None for anything unrecognised (fail closed, don't crash sign-in)."""
    try:
        return Access(value)
    except ValueError:
        return None


def mailbox_grants(mailbox_item: Mapping[str, Any]) -> dict[str, Access]:
    """The grants stored on one mailbox directory item: ``{email: level}``."""
    stored = mailbox_item.get(ACCESS_ATTRIBUTE)
    if not isinstance(stored, Mapping):
        return {}
    grants: dict[str, Access] = {}
    for email, value in stored.items():
        access = parse_access(value)
        if isinstance(email, str) and access is not None:
            grants[email.lower()] = access
    return grants


def load_principal(table: Table, email: str, *, directory_max_age_s: float = 0.0) -> Principal | None:
    """The principal for a signed-in ``email``, or None if they are not an active user with a
    known role (sign-in succeeded at Cognito but the directory doesn't know them: refuse).

    Two reads: the user item (always: a deactivated user is refused at once) and the mailbox
    directory, which may be this process's listing from at most ``directory_max_age_s`` ago; a
    grant revoked in another process then lasts at most that long.
    """
    address = email.strip().lower()
    if not address:
        return None
    user = table.get({schema.PK: DIRECTORY_USERS, schema.SK: address})
    if user is None or user.get("active") is False:
        return None
    try:
        role = Role(str(user.get("role")))
    except ValueError:
        return None
    access: dict[str, Access] = {}
    for item in list_mailboxes_cached(table, directory_max_age_s):
        level = mailbox_grants(item).get(address)
        mailbox = item.get("address") or item.get(schema.SK)
        if level is not None and isinstance(mailbox, str):
            access[mailbox.lower()] = level
    return Principal(email=address, name=str(user.get("name") or ""), role=role, mailbox_access=access)


def grant(table: Table, mailbox: str, email: str, access: Access | None, *, actor: str = "system") -> None:
    """Give ``email`` the ``access`` level on ``mailbox``, replacing any other; None revokes.
    ``actor`` (who did it) goes to the audit log.

    Raises :class:`UnknownMailboxError` if the mailbox is not in the directory.
    """
    try:
        _grant(table, mailbox, email, access)
    finally:
        forget_cached_mailboxes()
    record(
        table,
        actor=actor,
        action=PERMISSION_REVOKE if access is None else PERMISSION_GRANT,
        target=email.strip().lower(),
        details={"mailbox": mailbox.lower(), "access": access.value if access is not None else None},
    )


def _grant(table: Table, mailbox: str, email: str, access: Access | None) -> None:
    if not email.strip():
        raise ValueError("grant needs an email address")
    key = mailbox_directory_key(mailbox)
    names = {"#pk": schema.PK, "#access": ACCESS_ATTRIBUTE, "#email": email.strip().lower()}
    if access is None:
        _revoke(table, key, names)
        return
    for _ in range(_GRANT_ATTEMPTS):
        try:  # the common case: the mailbox already has an access map
            table.update(
                key,
                Condition("SET #access.#email = :level", names, {":level": access.value}),
                Condition("attribute_exists(#pk) AND attribute_exists(#access)"),
            )
            return
        except ConditionFailedError:
            pass
        _require_mailbox(table, key, mailbox)
        try:  # the first grant on this mailbox creates the map
            table.update(
                key,
                Condition(
                    "SET #access = :map",
                    {"#access": ACCESS_ATTRIBUTE},
                    {":map": {names["#email"]: access.value}},
                ),
                Condition("attribute_exists(#pk) AND attribute_not_exists(#access)", {"#pk": schema.PK}),
            )
            return
        except ConditionFailedError:
            continue  # another grant created the map meanwhile: set our entry in it
    raise RuntimeError(f"could not grant access to {mailbox}: kept racing with other writes")


def _revoke(table: Table, key: dict[str, Any], names: dict[str, str]) -> None:
    try:
        table.update(
            key,
            Condition("REMOVE #access.#email", {"#access": names["#access"], "#email": names["#email"]}),
            Condition("attribute_exists(#pk) AND attribute_exists(#access)", {"#pk": names["#pk"]}),
        )
    except ConditionFailedError:
        _require_mailbox(table, key, str(key[schema.SK]))  # no map: nothing to revoke


def _require_mailbox(table: Table, key: dict[str, Any], mailbox: str) -> None:
    if table.get(key, consistent=True) is None:
        raise UnknownMailboxError(mailbox)
