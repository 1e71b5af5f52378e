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
    TRANSFERRED = "transferred"  # moved to another team (data: team, previous_team)
    WOKE = "woke"  # a snoozed conversation's time came: open again
    MERGED = "merged"  # on both sides of a merge (data: into, or from)


class AuditEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    conversation_id: str
    mailbox: str
    type: EventType
    at: str
    actor: str = "system"  # "system", a function name, or an agent's id
    data: dict[str, Any] = Field(default_factory=dict)


def _names(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def describe(event: AuditEvent) -> str:
    """One line for people: "assigned to sam@acme.test (least loaded) by route", ..."""
    data = event.data
    by = "" if event.actor in {"system", ""} else f" by {event.actor}"
    kind = event.type
    if kind is EventType.ASSIGNED and data.get("reason") == "claimed":
        text = f"claimed by {data.get('agent')}"
    elif kind is EventType.ASSIGNED:
        reason = f" ({data['reason']})" if data.get("reason") else ""
        text = f"assigned to {data.get('agent')}{reason}{by}"
    elif kind is EventType.UNASSIGNED:
        text = f"unassigned from {data.get('previous')}{by}"
    elif kind is EventType.REPLIED:
        text = f"reply sent{by}"
    elif kind is EventType.STATUS_CHANGED:
        until = f" until {data['snoozed_until']}" if data.get("snoozed_until") else ""
        text = f"status changed to {data.get('status')}{until}{by}"
    elif kind in {EventType.TAGGED, EventType.UNTAGGED}:
        text = f"{kind.value} {_names(data.get('tags', data.get('tag', '')))}{by}"
    elif kind in {EventType.TEAM_SET, EventType.TRANSFERRED}:
        text = f"{'transferred' if kind is EventType.TRANSFERRED else 'team set'} to {data.get('team')}{by}"
    elif kind is EventType.PRIORITY_SET:
        text = f"priority set to {data.get('priority')}{by}"
    elif kind is EventType.MERGED:
        other = f"into {data['into']}" if data.get("into") else f"with {data.get('from')}"
        text = f"merged {other}{by}"
    elif kind is EventType.REOPENED:
        text = f"reopened by the customer (was {data.get('previous_status')})"
    elif kind is EventType.NOTE_ADDED:
        text = f"note added{by}"
    else:
        text = f"{kind.value.replace('_', ' ')}{by}"
    return text
