"""Presence items: ``PRESENCE#<conversation id>`` / ``AGENT#<email>``, expiring through the TTL."""

from __future__ import annotations

from datetime import datetime

from mailroom.presence.model import Presence, PresenceState, current, heartbeat, needs_write
from mailroom.table import keys, schema
from mailroom.table.client import Table, partition


def _item(presence: Presence) -> dict[str, object]:
    return {
        schema.PK: keys.presence_pk(presence.conversation_id),
        schema.SK: keys.presence_sk(presence.agent),
        "entity": "presence",
        **presence.model_dump(mode="json"),
        schema.TTL_ATTRIBUTE: presence.expires_at,
    }


def read_presence(table: Table, conversation_id: str) -> list[Presence]:
    """Every presence item of the conversation, expired ones included (see :func:`current`)."""
    items = table.query_all(key_condition=partition(keys.presence_pk(conversation_id)), max_items=200)
    return [Presence.model_validate(item) for item in items]


def report_presence(
    table: Table,
    *,
    conversation_id: str,
    agent: str,
    name: str,
    state: PresenceState,
    now: datetime,
) -> list[Presence]:
    """Record the caller's heartbeat (when it needs writing) and return the *others* present:
    one query, and at most one small put."""
    everyone = read_presence(table, conversation_id)
    mine = next((p for p in everyone if p.agent == agent.strip().lower()), None)
    if needs_write(mine, state, now):
        table.put(
            _item(heartbeat(conversation_id=conversation_id, agent=agent, name=name, state=state, now=now))
        )
    return current(everyone, now, excluding=agent)


def leave(table: Table, conversation_id: str, agent: str) -> None:
    table.delete({schema.PK: keys.presence_pk(conversation_id), schema.SK: keys.presence_sk(agent)})
