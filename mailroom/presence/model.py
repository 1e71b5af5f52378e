"""Presence: short-lived heartbeats, decided here without I/O.

Each open conversation page sends a heartbeat every few seconds with its state (viewing or
replying). A heartbeat is an item that expires ``TTL`` after it was written. DynamoDB deletes
expired items lazily (within days), and DynamoDB Local never does, so an item past its
``expires_at`` is treated as gone everywhere: :func:`current` filters on it.

To keep writes low, a heartbeat that repeats the stored state is written again only once the
stored one is ``REFRESH_AFTER`` old; a changed state (viewing → replying) is written at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from mailroom.clock import parse_iso

TTL = timedelta(seconds=30)  # three missed heartbeats, and the agent is gone
REFRESH_AFTER = timedelta(seconds=10)
HEARTBEAT_SECONDS = 4  # how often a page reports (and sees the others)


class PresenceState(StrEnum):
    VIEWING = "viewing"
    REPLYING = "replying"


class Presence(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    conversation_id: str
    agent: str  # email, lower-case
    name: str = ""
    state: PresenceState
    updated_at: str
    expires_at: int  # epoch seconds (the table's TTL attribute)

    def alive(self, now: datetime) -> bool:
        return self.expires_at > int(now.timestamp())

    @property
    def label(self) -> str:
        return f"{self.name or self.agent} is {self.state.value}"


def heartbeat(
    *, conversation_id: str, agent: str, name: str, state: PresenceState, now: datetime
) -> Presence:
    return Presence(
        conversation_id=conversation_id,
        agent=agent.strip().lower(),
        name=name,
        state=state,
        updated_at=now.isoformat(),
        expires_at=int((now + TTL).timestamp()),
    )


def needs_write(stored: Presence | None, state: PresenceState, now: datetime) -> bool:
    """Write the heartbeat unless the stored one says the same and is still fresh."""
    if stored is None or not stored.alive(now) or stored.state is not state:
        return True
    return now - parse_iso(stored.updated_at) >= REFRESH_AFTER


def current(presences: Iterable[Presence], now: datetime, *, excluding: str | None = None) -> list[Presence]:
    """The live presences, replying first, then by name; without ``excluding`` (the viewer)."""
    me = excluding.strip().lower() if excluding else None
    live = [p for p in presences if p.alive(now) and p.agent != me]
    return sorted(live, key=lambda p: (p.state is not PresenceState.REPLYING, p.name or p.agent))
