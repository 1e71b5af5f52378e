"""Inbox search: what a search box's text means, and the one lookup that is not a listing.

Three kinds, told apart by the text alone (pure, see :func:`parse_search`):

* a full customer address (``alice@example.com``): the contact's conversations, one ``ByContact``
  partition, newest first;
* a conversation id (``c`` + 11 letters and digits): one ``GetItem``, shown only if visible;
* anything else: words that must all occur in the (normalized, case-folded) subject. There is no
  word index: each mailbox's ``ByMailbox`` partition is read newest first with a filter, at most
  :data:`~mailroom.inbox.queries.FILTERED_BUDGET` index items per mailbox per page, and the cursor
  continues where the reading stopped. A Query, never a Scan; its cost grows with how far back the
  search reaches, not with the table.

Searches cover every status (a search is how a closed conversation is found again); the view's
mailbox, team and tag filters still apply, visibility always does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from mailroom.domain.conversation import Conversation
from mailroom.table.client import Table
from mailroom.table.items import conversation_key, to_conversation

MAX_QUERY_LENGTH = 200
MAX_WORDS = 6
MAX_WORD_LENGTH = 64

_CONVERSATION_ID = re.compile(r"c[0-9a-z]{11}")
_ADDRESS = re.compile(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+")


class SearchKind(StrEnum):
    CONTACT = "contact"
    ID = "id"
    WORDS = "words"


class SearchError(ValueError):
    """The search text can't be used (too long, nothing but punctuation): answer 400."""


@dataclass(frozen=True)
class Search:
    kind: SearchKind
    text: str  # what was typed, trimmed
    value: str = ""  # the address or id, lower-case (CONTACT, ID)
    words: tuple[str, ...] = ()  # case-folded, distinct, in order (WORDS)


def parse_search(text: str | None) -> Search | None:
    """What the search box's ``text`` asks for; None for an empty box."""
    if text is None:
        return None
    typed = " ".join(text.split())
    if not typed:
        return None
    if len(typed) > MAX_QUERY_LENGTH:
        raise SearchError(f"the search is longer than {MAX_QUERY_LENGTH} characters")
    lowered = typed.lower()
    if _ADDRESS.fullmatch(lowered.strip("<>")):
        return Search(SearchKind.CONTACT, typed, value=lowered.strip("<>"))
    if _CONVERSATION_ID.fullmatch(lowered):
        return Search(SearchKind.ID, typed, value=lowered)
    words = subject_words(typed)
    if not words:
        raise SearchError("search for a customer address, words of a subject, or a conversation id")
    return Search(SearchKind.WORDS, typed, words=words)


def subject_words(text: str) -> tuple[str, ...]:
    """Words to look for in ``subject_norm`` (which is case-folded with whitespace collapsed).

    Surrounding punctuation is dropped ("refund?" finds "refund"), each word is matched as a
    substring ("print" finds "printer"), all words must occur, in any order."""
    words: list[str] = []
    for raw in text.casefold().split():
        word = raw.strip(".,;:!?\"'()[]{}<>")
        if word and word not in words:
            if len(word) > MAX_WORD_LENGTH:
                raise SearchError(f"a search word is longer than {MAX_WORD_LENGTH} characters")
            words.append(word)
    if len(words) > MAX_WORDS:
        raise SearchError(f"search for at most {MAX_WORDS} words")
    return tuple(words)


def conversation_by_id(table: Table, conversation_id: str) -> Conversation | None:
    """One ``GetItem`` (eventually consistent, like the listings). The caller decides visibility."""
    item = table.get(conversation_key(conversation_id))
    return to_conversation(item) if item and item.get("entity") == "conversation" else None
