"""Internal notes and @mentions.

Items:

* ``CONV#<id>`` / ``NOTE#<created_at>#<note id>`` (entity ``note``): the :class:`Note`, in the
  conversation's partition, so the thread reads it with the messages. Never sent to customers.
* ``USER#<email>`` / ``MENTION#<at>#<conversation id>#<note id>`` (entity ``mention``): one per
  person a note mentions, with the conversation's subject, the author and a snippet, so "my
  mentions, newest first" is one query on the person's partition. ``read_at`` once read.

Adding a note is one transaction: the note (``attribute_not_exists``), the conversation at the
version read (version + 1: a note is a change other agents should see before they reply), the
``note_added`` event and the mention items. Mentions resolve against the user directory, and only
people who may read the conversation (its mailbox, and not finance) are notified.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailroom import clock
from mailroom.actions import writes
from mailroom.actions.model import (
    MAX_MENTIONS,
    MAX_NOTE_CHARS,
    MENTION_ID_PATTERN,
    Actor,
    Change,
    ConversationMergedError,
    EventSpec,
    InvalidActionError,
    Mentionable,
    parse_mentions,
    resolve_mentions,
    snippet,
)
from mailroom.assignment.errors import VersionConflictError
from mailroom.auth import policy
from mailroom.auth.model import Principal, Role
from mailroom.auth.permissions_store import mailbox_grants
from mailroom.domain.conversation import Conversation
from mailroom.domain.event import EventType
from mailroom.domain.note import Mention, Note
from mailroom.ids import random_id
from mailroom.inbox.directory import list_users, mailbox_directory_key
from mailroom.table import keys, schema
from mailroom.table.client import Condition, ConditionFailedError, Put, Table, partition, retry_on_conflict
from mailroom.table.paging import visible_page

Item = dict[str, Any]

NOTE_PREFIX = "NOTE#"
_MENTION_ID = re.compile(MENTION_ID_PATTERN)
# Mentions read per request of "mark all read" (the rest on the next request).
MARK_ALL_LIMIT = 1000
# Pages read to fill one page of mentions the caller may still see.


def note_item(note: Note) -> Item:
    return {
        schema.PK: keys.conversation_pk(note.conversation_id),
        schema.SK: keys.note_sk(note.created_at, note.id),
        "entity": "note",
        **note.model_dump(mode="json", exclude_none=True),
    }


def mention_id(mention: Mention) -> str:
    """The mention's id in the API: its sort key without the prefix."""
    return f"{mention.at}#{mention.conversation_id}#{mention.note_id}"


def mention_key(user: str, mention_id_: str) -> Item:
    return {schema.PK: keys.user_pk(user), schema.SK: f"{keys.MENTION_PREFIX}{mention_id_}"}


def mention_item(mention: Mention) -> Item:
    return {
        **mention_key(mention.user, mention_id(mention)),
        "entity": "mention",
        **mention.model_dump(mode="json", exclude_none=True),
    }


@dataclass
class NoteResult:
    note: Note
    conversation: Conversation  # after the note (version + 1)
    unresolved_mentions: list[str] = field(default_factory=list)  # handles that named nobody (or several)


@dataclass
class MentionPage:
    items: list[Mention]
    next_cursor: str | None


class NoteService:
    def __init__(self, table: Table, *, now: Callable[[], datetime] = clock.now) -> None:
        self.table = table
        self.now = now

    # -- notes ------------------------------------------------------------------------------------

    def add_note(
        self, conversation_id: str, text: str, author: Actor, *, seen_version: int | None = None
    ) -> NoteResult:
        """Add a note as ``author``; notify the people it @mentions. Raises
        ``InvalidActionError`` (empty, too long, too many mentions), ``ConversationMergedError``,
        ``StaleVersionError``, ``ConversationNotFoundError``, ``VersionConflictError``."""
        text = text.strip()
        if not text:
            raise InvalidActionError("a note needs some text")
        if len(text) > MAX_NOTE_CHARS:
            raise InvalidActionError(f"a note has at most {MAX_NOTE_CHARS} characters")
        note_id = random_id("n")  # one id for every attempt: the note is written at most once
        for attempt in range(writes.MAX_ATTEMPTS):
            conv = writes.read_conversation(self.table, conversation_id)
            if conv.merged_into:
                raise ConversationMergedError(conv.id, conv.merged_into)
            if seen_version is not None and conv.version != seen_version:
                raise writes.stale_error(self.table, conv, seen_version)
            mentioned, unresolved = resolve_mentions(parse_mentions(text), self.mentionable(conv.mailbox))
            if len(mentioned) > MAX_MENTIONS:
                raise InvalidActionError(f"a note can mention at most {MAX_MENTIONS} people")
            at = clock.iso(self.now())
            note = Note(
                id=note_id,
                conversation_id=conv.id,
                mailbox=conv.mailbox,
                author=author.email,
                author_name=author.name,
                text=text,
                created_at=at,
                mentions=mentioned,
            )
            new = conv.model_copy(update={"version": conv.version + 1})
            change = Change(
                new,
                [
                    EventSpec(
                        EventType.NOTE_ADDED,
                        {"note_id": note.id, "mentions": mentioned, "version": new.version},
                    )
                ],
            )
            extra: list[Put] = [
                Put(note_item(note), Condition("attribute_not_exists(#pk)", {"#pk": schema.PK})),
                *[
                    Put(mention_item(self._mention(user, note, conv)))
                    for user in mentioned
                    if user != author.email  # writing "@me" notifies nobody
                ],
            ]
            try:
                writes.commit(
                    self.table,
                    conv,
                    writes.change_actions(conv, change, actor=author.email, at=at, extra=extra),
                )
            except VersionConflictError:
                if seen_version is not None:
                    current = writes.read_conversation(self.table, conversation_id)
                    if current.version != seen_version:
                        raise writes.stale_error(self.table, current, seen_version) from None
                retry_on_conflict(attempt)
                continue
            return NoteResult(note=note, conversation=new, unresolved_mentions=unresolved)
        raise VersionConflictError(conversation_id, seen_version or 0)

    def list_notes(self, conversation_id: str) -> list[Note]:
        """The conversation's notes, oldest first (copies of merged conversations' notes included)."""
        items = self.table.query_all(
            key_condition=partition(keys.conversation_pk(conversation_id), NOTE_PREFIX), consistent=True
        )
        return [Note.model_validate(item) for item in items if item.get("entity") == "note"]

    def mentionable(self, mailbox: str) -> list[Mentionable]:
        """Active users who may read conversations in ``mailbox`` (admins, agents with any access;
        never finance): the only people a note there may notify."""
        entry = self.table.get(mailbox_directory_key(mailbox)) or {}
        grants = mailbox_grants(entry)
        people: list[Mentionable] = []
        for user in list_users(self.table):
            email = str(user.get("email") or user.get(schema.SK) or "").lower()
            if not email or user.get("active") is False:
                continue
            try:
                role = Role(str(user.get("role")))
            except ValueError:
                continue
            access = {mailbox: grants[email]} if email in grants else {}
            principal = Principal(email=email, role=role, mailbox_access=access)
            if policy.can_read_bodies(principal, mailbox):
                people.append(Mentionable(email=email, name=str(user.get("name") or "")))
        return people

    @staticmethod
    def _mention(user: str, note: Note, conv: Conversation) -> Mention:
        return Mention(
            user=user,
            conversation_id=conv.id,
            note_id=note.id,
            mailbox=conv.mailbox,
            subject=conv.subject,
            author=note.author,
            author_name=note.author_name,
            snippet=snippet(note.text),
            at=note.created_at,
        )

    # -- mentions ---------------------------------------------------------------------------------

    def mentions(
        self,
        user: str,
        *,
        visible: Callable[[Mention], bool],
        limit: int = 25,
        cursor: str | None = None,
        unread_only: bool = False,
    ) -> MentionPage:
        """``user``'s mentions, newest first, only those ``visible`` says they may still see.
        ``cursor`` is the id of the last mention of the previous page (``InvalidActionError`` if
        it is not one)."""
        if cursor is not None and not _MENTION_ID.fullmatch(cursor):
            raise InvalidActionError("the cursor is not one this API gave out")
        items, next_cursor = visible_page(
            self.table,
            pk=keys.user_pk(user),
            prefix=keys.MENTION_PREFIX,
            parse=Mention.model_validate,
            visible=visible,
            limit=limit,
            after=cursor,
            unread_only=unread_only,
        )
        return MentionPage(items, next_cursor)

    def mark_read(self, user: str, ids: list[str]) -> int:
        """Mark ``user``'s mentions ``ids`` read; unknown ids are ignored. Returns how many changed."""
        at = clock.iso(self.now())
        changed = 0
        for mention in dict.fromkeys(ids):
            if not _MENTION_ID.fullmatch(mention):
                raise InvalidActionError(f"{mention!r} is not a mention id")
            try:
                self.table.update(
                    mention_key(user, mention),
                    Condition("SET #read = :at", {"#read": "read_at"}, {":at": at}),
                    Condition(
                        "attribute_exists(#pk) AND attribute_not_exists(#read)",
                        {"#pk": schema.PK, "#read": "read_at"},
                    ),
                )
                changed += 1
            except ConditionFailedError:
                continue  # unknown, or read already
        return changed

    def mark_all_read(self, user: str) -> int:
        items = self.table.query_all(
            key_condition=partition(keys.user_pk(user), keys.MENTION_PREFIX),
            filter_=Condition("attribute_not_exists(#read)", {"#read": "read_at"}),
            consistent=True,
            max_items=MARK_ALL_LIMIT,
        )
        return self.mark_read(user, [mention_id(Mention.model_validate(item)) for item in items])
