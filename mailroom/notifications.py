"""In-app notifications: ``USER#<email>`` / ``NOTIFY#<at>#<conversation>#<kind>`` (entity
``notification``), one per person, newest first by a reverse query on their partition, ``read_at``
once read. The first kind is ``sla_at_risk`` (see :mod:`mailroom.metrics.warnings`); they hold
the conversation's id, mailbox and subject, never message content."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from mailroom.table import keys, schema
from mailroom.table.client import Condition, ConditionFailedError, Table, partition
from mailroom.table.paging import visible_page

Item = dict[str, Any]

NOTIFICATION_ID_PATTERN = r"^\d{4}-\d{2}-\d{2}T[0-9:.]+Z#c[0-9a-z]{6,32}#[a-z_]{1,32}$"
_NOTIFICATION_ID = re.compile(NOTIFICATION_ID_PATTERN)
MARK_ALL_LIMIT = 1000
# Pages read to fill one page of notifications the caller may still see.


class Notification(BaseModel):
    user: str
    kind: str  # "sla_at_risk"
    conversation_id: str
    mailbox: str
    subject: str = ""
    text: str  # one line for people: "First response due at 14:30 UTC (in 10 min)"
    at: str
    due: str | None = None
    read_at: str | None = None

    @property
    def id(self) -> str:
        return f"{self.at}#{self.conversation_id}#{self.kind}"

    @property
    def read(self) -> bool:
        return self.read_at is not None


class InvalidNotificationError(ValueError):
    """A notification id or cursor that this service did not give out."""


def notification_key(user: str, notification_id: str) -> Item:
    return {schema.PK: keys.user_pk(user), schema.SK: f"{keys.NOTIFY_PREFIX}{notification_id}"}


def notification_item(notification: Notification) -> Item:
    return {
        schema.PK: keys.user_pk(notification.user),
        schema.SK: keys.notification_sk(notification.at, notification.conversation_id, notification.kind),
        "entity": "notification",
        **notification.model_dump(mode="json", exclude_none=True),
    }


@dataclass
class NotificationPage:
    items: list[Notification]
    next_cursor: str | None


def list_notifications(
    table: Table,
    user: str,
    *,
    visible: Callable[[Notification], bool],
    limit: int = 50,
    cursor: str | None = None,
    unread_only: bool = False,
) -> NotificationPage:
    """``user``'s notifications, newest first, only those ``visible`` says they may still see."""
    if cursor is not None and not _NOTIFICATION_ID.fullmatch(cursor):
        raise InvalidNotificationError("the cursor is not one this page gave out")
    items, next_cursor = visible_page(
        table,
        pk=keys.user_pk(user),
        prefix=keys.NOTIFY_PREFIX,
        parse=Notification.model_validate,
        visible=visible,
        limit=limit,
        after=cursor,
        unread_only=unread_only,
    )
    return NotificationPage(items, next_cursor)


def mark_read(table: Table, user: str, ids: list[str], *, at: str) -> int:
    """Mark ``user``'s notifications ``ids`` read; unknown ids are ignored. Returns how many changed."""
    changed = 0
    for notification_id in dict.fromkeys(ids):
        if not _NOTIFICATION_ID.fullmatch(notification_id):
            raise InvalidNotificationError(f"{notification_id!r} is not a notification id")
        try:
            table.update(
                notification_key(user, notification_id),
                Condition("SET #read = :at", {"#read": "read_at"}, {":at": at}),
                Condition(
                    "attribute_exists(#pk) AND attribute_not_exists(#read)",
                    {"#pk": schema.PK, "#read": "read_at"},
                ),
            )
            changed += 1
        except ConditionFailedError:
            continue
    return changed


def mark_all_read(table: Table, user: str, *, at: str) -> int:
    items = table.query_all(
        key_condition=partition(keys.user_pk(user), keys.NOTIFY_PREFIX),
        filter_=Condition("attribute_not_exists(#read)", {"#read": "read_at"}),
        consistent=True,
        max_items=MARK_ALL_LIMIT,
    )
    return mark_read(table, user, [Notification.model_validate(item).id for item in items], at=at)
