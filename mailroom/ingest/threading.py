"""Which conversation an inbound message belongs to.

In order: the message's In-Reply-To and References (our own replies' Message-IDs are registered
too), then a reply token in the recipient address (``support+<conversation id>@``), then the
normalized subject from the same contact to the same mailbox within a time window, else a new
conversation. The lookups are a small protocol so the decision itself is plain, testable logic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from mailroom.clock import parse_iso
from mailroom.domain.conversation import Conversation, Status

# How many referenced Message-IDs are looked up: In-Reply-To, the newest references and the root.
MAX_REFERENCE_LOOKUPS = 20
# Subject threading never joins these: they are not live work.
_NOT_JOINABLE_BY_SUBJECT = frozenset({Status.SPAM, Status.QUARANTINED})
# A merged conversation's mail goes to the one it was merged into (and so on, this many times).
MAX_MERGE_HOPS = 5


class ThreadedBy(StrEnum):
    REFERENCES = "references"
    TOKEN = "token"  # noqa: S105 - the reply-token threading method, not a secret
    SUBJECT = "subject"
    NEW = "new"


@dataclass(frozen=True)
class ThreadMatch:
    conversation: Conversation | None
    threaded_by: ThreadedBy
    matched: str | None = None  # the Message-ID, token or subject that matched


class ThreadLookup(Protocol):
    def conversation_ids_by_message_id(self, message_ids: list[str], mailbox: str) -> dict[str, str]:
        """Message-ID (lower-case) -> conversation id, for those registered in this mailbox."""
        ...

    def conversation(self, conversation_id: str) -> Conversation | None: ...

    def recent_conversations(self, contact_email: str, limit: int) -> list[Conversation]:
        """The contact's conversations, newest activity first."""
        ...


def reference_candidates(in_reply_to: list[str], references: list[str]) -> list[str]:
    """Referenced ids in the order they should win: In-Reply-To, newest reference first, the root last."""
    ordered = [*in_reply_to, *reversed(references)]
    if references:
        ordered.append(references[0])
    unique: list[str] = []
    for message_id in ordered:
        key = message_id.lower()
        if key not in unique:
            unique.append(key)
    if len(unique) > MAX_REFERENCE_LOOKUPS:
        unique = [*unique[: MAX_REFERENCE_LOOKUPS - 1], unique[-1]]
    return unique


def find_thread(
    *,
    mailbox: str,
    in_reply_to: list[str],
    references: list[str],
    token: str | None,
    subject_norm: str,
    contact_email: str,
    received_at: datetime,
    window: timedelta,
    lookup: ThreadLookup,
) -> ThreadMatch:
    candidates = reference_candidates(in_reply_to, references)
    if candidates:
        found = lookup.conversation_ids_by_message_id(candidates, mailbox)
        for message_id in candidates:
            conversation_id = found.get(message_id)
            if conversation_id is None:
                continue
            conversation = lookup.conversation(conversation_id)
            if conversation is not None and conversation.mailbox == mailbox:
                return ThreadMatch(_merged_target(conversation, lookup), ThreadedBy.REFERENCES, message_id)

    if token:
        conversation = lookup.conversation(token.lower())
        if conversation is not None and conversation.mailbox == mailbox:
            return ThreadMatch(_merged_target(conversation, lookup), ThreadedBy.TOKEN, token)

    if subject_norm and window > timedelta(0):
        oldest = received_at - window
        for conversation in lookup.recent_conversations(contact_email, limit=25):
            if parse_iso(conversation.last_activity_at) < oldest:
                break
            if (
                conversation.mailbox == mailbox
                and conversation.subject_norm == subject_norm
                and conversation.status not in _NOT_JOINABLE_BY_SUBJECT
            ):
                return ThreadMatch(_merged_target(conversation, lookup), ThreadedBy.SUBJECT, subject_norm)

    return ThreadMatch(None, ThreadedBy.NEW)


def _merged_target(conversation: Conversation, lookup: ThreadLookup) -> Conversation:
    """The conversation that mail for ``conversation`` belongs in: itself, or the one it was merged
    into (the Message-ID index is repointed by the merge too, but reply tokens and subjects name
    the merged conversation, and a reply may arrive before the merge has repointed the index)."""
    for _ in range(MAX_MERGE_HOPS):
        if not conversation.merged_into:
            break
        target = lookup.conversation(conversation.merged_into)
        if target is None or target.mailbox != conversation.mailbox:
            break
        conversation = target
    return conversation
