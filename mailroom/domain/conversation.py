"""A conversation: one thread with one customer in one mailbox."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Status(StrEnum):
    OPEN = "open"
    PENDING = "pending"  # waiting on the customer
    SNOOZED = "snoozed"  # hidden until snoozed_until, then open again
    CLOSED = "closed"
    SPAM = "spam"
    QUARANTINED = "quarantined"  # SES virus verdict FAIL: stored, never routed or shown as work


# A customer's new message brings these back to open.
REOPENABLE = frozenset({Status.PENDING, Status.SNOOZED, Status.CLOSED})


class Conversation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    mailbox: str
    subject: str = ""
    subject_norm: str = ""
    status: Status = Status.OPEN
    assignee: str | None = None
    team: str | None = None
    tags: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    priority: str = "normal"
    version: int = 1
    message_count: int = 0
    contact_email: str
    contact_name: str = ""
    snippet: str = ""
    created_at: str
    last_message_at: str
    last_activity_at: str
    last_inbound_at: str | None = None
    # When the customer started waiting for us (the oldest unanswered inbound); None when answered.
    waiting_since: str | None = None
    required_skills: list[str] = Field(default_factory=list)
    sla_policy: str | None = None
    first_response_due: str | None = None  # moved when the conversation is reopened
    resolution_due: str | None = None
    first_replied_at: str | None = None
    snoozed_until: str | None = None  # set only while snoozed; the scheduled sweep wakes it then
    merged_into: str | None = None  # this conversation was merged into that one (and is closed)
    merged_from: list[str] = Field(default_factory=list)  # conversations merged into this one
