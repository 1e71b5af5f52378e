"""Audit events: the immutable log of what happened to a conversation and why."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventType(StrEnum):
    RECEIVED = "received"  # an inbound message joined (or started) the conversation
    CREATED = "created"  # a conversation was started by an inbound message
    REOPENED = "reopened"  # a customer wrote to a closed, pending or snoozed conversation
    QUARANTINED = "quarantined"
    TAGGED = "tagged"
    UNTAGGED = "untagged"
    ROUTED = "routed"
    ASSIGNED = "assigned"
    UNASSIGNED = "unassigned"
    REPLIED = "replied"
    NOTE_ADDED = "note_added"
    STATUS_CHANGED = "status_changed"
    PRIORITY_SET = "priority_set"
    TEAM_SET = "team_set"
    SLA_SET = "sla_set"
    MARKED_SPAM = "marked_spam"
    AUTO_REPLIED = "auto_replied"


class AuditEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    conversation_id: str
    mailbox: str
    type: EventType
    at: str
    actor: str = "system"  # "system", a function name, or an agent's id
    data: dict[str, Any] = Field(default_factory=dict)
