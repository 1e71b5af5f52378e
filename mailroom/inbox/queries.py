"""Inbox listings: newest activity first, across the mailboxes a caller may see, with cursors.

Each mailbox's conversations are one index partition (``ByMailbox``, or ``ByMailboxStatus`` for one
status). A page queries each mailbox from its own position and merges by last activity, so the cost
of a page is one query per mailbox, whatever the size of the inbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailroom.domain.conversation import Conversation, Status
from mailroom.inbox.cursor import InvalidCursorError, decode_cursor, encode_cursor
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table
from mailroom.table.items import to_conversation

MAX_PAGE = 100
_EXHAUSTED = "~"  # a cursor position meaning "nothing more in this mailbox"


@dataclass(frozen=True)
class ConversationPage:
    items: list[Conversation]
    next_cursor: str | None


def _index_for(status: Status | None) -> schema.Index:
    return schema.BY_MAILBOX_STATUS if status else schema.BY_MAILBOX


def _partition(mailbox: str, status: Status | None) -> str:
    base = keys.mailbox_pk(mailbox)
    return f"{base}#STATUS#{status.value}" if status else base


def list_conversations(
    table: Table,
    *,
    mailboxes: list[str],
    status: Status | None = None,
    limit: int = 25,
    cursor: str | None = None,
) -> ConversationPage:
    limit = max(1, min(limit, MAX_PAGE))
    positions: dict[str, str] = {}
    if cursor:
        decoded = decode_cursor(cursor)
        if not set(decoded) <= set(mailboxes) or not all(isinstance(v, str) for v in decoded.values()):
            raise InvalidCursorError("the cursor belongs to another view; start again without it")
        positions = decoded
    index = _index_for(status)

    fetched: list[tuple[str, str, Conversation]] = []
    more_in: set[str] = set()
    for mailbox in mailboxes:
        position = positions.get(mailbox)
        if position == _EXHAUSTED:
            continue
        condition = Condition("#pk = :pk", {"#pk": index.pk}, {":pk": _partition(mailbox, status)})
        if position:
            condition = Condition(
                "#pk = :pk AND #sk < :after",
                {"#pk": index.pk, "#sk": index.sk},
                {":pk": _partition(mailbox, status), ":after": position},
            )
        page = table.query(key_condition=condition, index=index.name, forward=False, limit=limit)
        fetched += [(str(item[index.sk]), mailbox, to_conversation(item)) for item in page.items]
        if page.last_key is not None:
            more_in.add(mailbox)

    fetched.sort(key=lambda entry: entry[0], reverse=True)
    chosen, left_over = fetched[:limit], fetched[limit:]
    next_positions = dict(positions)
    for mailbox in mailboxes:
        if next_positions.get(mailbox) == _EXHAUSTED:
            continue
        taken = [sort_key for sort_key, owner, _ in chosen if owner == mailbox]
        if taken:
            next_positions[mailbox] = taken[-1]
        if mailbox not in more_in and not any(owner == mailbox for _, owner, _ in left_over):
            next_positions[mailbox] = _EXHAUSTED
    remaining = any(next_positions.get(mailbox) != _EXHAUSTED for mailbox in mailboxes)
    return ConversationPage(
        items=[conversation for _, _, conversation in chosen],
        next_cursor=encode_cursor(next_positions) if remaining else None,
    )
