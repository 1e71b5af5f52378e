"""Internal notes: what agents write to each other on a conversation. Never sent to customers.

A note lives in its conversation's partition (``CONV#<id>`` / ``NOTE#<at>#<id>``), so the thread
reads it with the messages. Each person it @mentions gets a :class:`Mention` in their own
partition (``USER#<email>`` / ``MENTION#<at>#<conversation>#<note>``): "my mentions, newest first"
is one query, and reading one clears its unread state.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Note(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    conversation_id: str
    mailbox: str
    author: str  # the author's email address (lower-case)
    author_name: str = ""
    text: str
    created_at: str
    mentions: list[str] = Field(default_factory=list)  # resolved email addresses, in text order
    merged_from: str | None = None  # copied here when its conversation was merged into this one


class Mention(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user: str  # who was mentioned
    conversation_id: str
    note_id: str
    mailbox: str
    subject: str = ""
    author: str
    author_name: str = ""
    snippet: str = ""
    at: str
    read_at: str | None = None

    @property
    def read(self) -> bool:
        return self.read_at is not None
