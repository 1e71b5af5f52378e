"""JSON shapes of the API (pydantic): what the OpenAPI document describes and responses carry."""

from __future__ import annotations

from pydantic import BaseModel, Field

from mailroom.domain.conversation import Conversation
from mailroom.domain.event import AuditEvent
from mailroom.domain.message import StoredMessage
from mailroom.domain.note import Note


class AddressOut(BaseModel):
    email: str
    name: str = ""


class AttachmentOut(BaseModel):
    index: int
    filename: str
    content_type: str
    size: int
    inline: bool
    content_id: str | None = None
    url: str


class ConversationSummary(BaseModel):
    id: str
    mailbox: str
    subject: str
    status: str
    assignee: str | None
    team: str | None
    tags: list[str]
    flags: list[str]
    priority: str
    message_count: int
    contact_email: str
    contact_name: str
    snippet: str
    created_at: str
    last_message_at: str
    last_activity_at: str
    waiting_since: str | None
    version: int
    snoozed_until: str | None = None
    merged_into: str | None = Field(default=None, description="Merged into this conversation (and closed).")
    merged_from: list[str] = Field(default_factory=list, description="Conversations merged into this one.")
    first_response_due: str | None = None  # the SLA clock (sort=sla orders by it while the customer waits)

    @classmethod
    def of(cls, conv: Conversation) -> ConversationSummary:
        return cls.model_validate(conv.model_dump(mode="json"))


class ConversationList(BaseModel):
    items: list[ConversationSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at the end.")


class MessageOut(BaseModel):
    id: str
    message_id: str
    direction: str
    from_: AddressOut | None = Field(alias="from", serialization_alias="from")
    to: list[AddressOut]
    cc: list[AddressOut]
    subject: str
    date: str | None
    received_at: str
    text: str
    html: str | None = Field(description="Sanitized HTML (nh3); never the HTML as sent.")
    attachments: list[AttachmentOut]
    flags: list[str]
    verdicts: dict[str, str]
    threaded_by: str
    parse_error: str | None

    @classmethod
    def of(cls, msg: StoredMessage) -> MessageOut:
        base = f"/api/conversations/{msg.conversation_id}/messages/{msg.key}/attachments"
        return cls.model_validate(
            {
                **msg.model_dump(mode="json", by_alias=True),
                "id": msg.key,
                "attachments": [
                    {**a.model_dump(mode="json"), "url": f"{base}/{a.index}"} for a in msg.attachments
                ],
            }
        )


class EventOut(BaseModel):
    id: str
    type: str
    at: str
    actor: str
    data: dict[str, object]

    @classmethod
    def of(cls, event: AuditEvent) -> EventOut:
        return cls.model_validate(event.model_dump(mode="json"))


class NoteOut(BaseModel):
    """An internal note (never sent to customers); ``text`` is empty for callers who may not read
    bodies (finance)."""

    id: str
    author: str
    author_name: str
    text: str
    created_at: str
    mentions: list[str]
    merged_from: str | None = None

    @classmethod
    def of(cls, note: Note) -> NoteOut:
        return cls.model_validate(note.model_dump(mode="json"))


class ConversationDetail(ConversationSummary):
    messages: list[MessageOut]
    events: list[EventOut]
    notes: list[NoteOut] = Field(default_factory=list)


class ErrorOut(BaseModel):
    message: str
