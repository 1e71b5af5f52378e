"""A page of a user's own feed (mentions, notifications): newest first, skipping items the reader
may no longer see, with a cursor that is the sort key of the last item returned."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from mailroom.table import schema
from mailroom.table.client import Condition, Item, Table, partition

T = TypeVar("T")
MAX_PAGES = 10  # many hidden items in a row: hand back what was found, with a cursor to go on


def visible_page(
    table: Table,
    *,
    pk: str,
    prefix: str,
    parse: Callable[[Item], T],
    visible: Callable[[T], bool],
    limit: int,
    after: str | None = None,
    unread_only: bool = False,
) -> tuple[list[T], str | None]:
    """(items, next cursor). ``after`` and the cursor are sort keys without ``prefix``."""
    start: Item | None = {schema.PK: pk, schema.SK: f"{prefix}{after}"} if after else None
    unread = Condition("attribute_not_exists(#read)", {"#read": "read_at"}) if unread_only else None
    found: list[T] = []
    for _ in range(MAX_PAGES):
        page = table.query(
            key_condition=partition(pk, prefix), forward=False, limit=limit, start_key=start, filter_=unread
        )
        for position, item in enumerate(page.items):
            value = parse(item)
            if visible(value):
                found.append(value)
            if len(found) == limit:
                at_end = page.last_key is None and position == len(page.items) - 1
                return found, None if at_end else str(item[schema.SK])[len(prefix) :]
        if page.last_key is None:
            return found, None
        start = page.last_key
    return found, str(start[schema.SK])[len(prefix) :] if start else None
