"""Key builders: the only place that knows how item keys are spelled."""

from __future__ import annotations

CONV = "CONV#"
META = "META"


def conversation_pk(conversation_id: str) -> str:
    return f"{CONV}{conversation_id}"


def message_sk(received_at: str, message_key: str) -> str:
    return f"MSG#{received_at}#{message_key}"


def note_sk(created_at: str, note_id: str) -> str:
    return f"NOTE#{created_at}#{note_id}"


def event_sk(at: str, event_id: str) -> str:
    return f"EVT#{at}#{event_id}"


def presence_pk(conversation_id: str) -> str:
    """Who is on a conversation: a partition of its own, so that reading the thread never reads
    presence heartbeats and a presence poll reads only the few presence items."""
    return f"PRESENCE#{conversation_id}"


def presence_sk(agent: str) -> str:
    return f"AGENT#{agent.lower()}"


def message_id_pk(message_id: str) -> str:
    """The Message-ID index: one item per (Message-ID, mailbox), so one mail to two mailboxes
    makes one conversation in each, and a redelivery to the same mailbox is a duplicate."""
    return f"MSGID#{message_id.lower()}"


def message_id_sk(mailbox: str) -> str:
    return f"MAILBOX#{mailbox.lower()}"


def mailbox_pk(address: str) -> str:
    return f"MAILBOX#{address.lower()}"


def status_partition(base: str, status: str) -> str:
    """One status of a partition: ``MAILBOX#<addr>#STATUS#open``, ``AGENT#<id>#STATUS#open``, ..."""
    return f"{base}#STATUS#{status}"


def queue_pk(mailbox: str) -> str:
    """A mailbox's queue: its open conversations that nobody holds (the ``ByQueue`` index)."""
    return f"{mailbox_pk(mailbox)}#QUEUE"


def sla_pk(mailbox: str) -> str:
    """A mailbox's running first-response clocks (the ``BySlaDue`` index)."""
    return f"{mailbox_pk(mailbox)}#SLA"


def contact_pk(email: str) -> str:
    return f"CONTACT#{email.lower()}"


def agent_pk(agent_id: str) -> str:
    return f"AGENT#{agent_id.lower()}"


def team_pk(team_id: str) -> str:
    return f"TEAM#{team_id}"


def activity_sort_key(last_activity_at: str, conversation_id: str) -> str:
    """Index sort key: ISO-8601 UTC timestamps sort lexically; the id breaks ties stably."""
    return f"{last_activity_at}#{conversation_id}"


def due_sort_key(due_at: str, conversation_id: str) -> str:
    """``BySlaDue`` sort key: soonest (and overdue) first when read forwards."""
    return f"{due_at}#{conversation_id}"


def user_pk(email: str) -> str:
    """A person's own partition (their @mentions)."""
    return f"USER#{email.strip().lower()}"


MENTION_PREFIX = "MENTION#"


def mention_sk(at: str, conversation_id: str, note_id: str) -> str:
    """Newest first is a reverse query on the user's partition: ISO timestamps sort lexically."""
    return f"{MENTION_PREFIX}{at}#{conversation_id}#{note_id}"
