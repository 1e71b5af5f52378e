"""Conversation events that the product-wide audit log also shows: assignments.

A conversation's own event (``CONV#<id>`` / ``EVT#...``) is its timeline; the admin audit log
(:mod:`mailroom.audit.log`) is the product's. Every write that assigns or unassigns a conversation
(routing, a claim, the sidebar, a reply that claims, a transfer that drops the assignee, a
deactivation) puts the log's copy in the **same transaction** as the event, with the event's id as
the entry id: both are written or neither, and a retried transaction writes the same entry again.
"""

from __future__ import annotations

from collections.abc import Iterable

from mailroom.audit.log import audit_item
from mailroom.domain.event import AuditEvent, EventType
from mailroom.table.client import Put

MIRRORED = frozenset({EventType.ASSIGNED, EventType.UNASSIGNED})


def audit_mirror(event: AuditEvent) -> Put:
    """The log's copy of ``event``: ``assignment.assigned`` / ``assignment.unassigned``, targeting
    the conversation, with the mailbox and the event's data (less its version)."""
    return Put(  # unconditional: a retried transaction writes the same entry at the same key
        audit_item(
            actor=event.actor or "system",
            action=f"assignment.{event.type.value}",
            target=event.conversation_id,
            details={"mailbox": event.mailbox, **{k: v for k, v in event.data.items() if k != "version"}},
            at=event.at,
            entry_id=event.id,
        )
    )


def audit_mirrors(events: Iterable[AuditEvent]) -> list[Put]:
    """The copies for those of ``events`` the audit log shows (assignments); none for the others."""
    return [audit_mirror(event) for event in events if event.type in MIRRORED]
