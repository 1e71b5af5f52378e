"""The team metrics, defined once: how a conversation's audit events become counted figures.

Pure: no I/O. :func:`step` takes the conversation's metric state and one audit event, and returns
the next state and the contributions the event makes: counts and durations, each for a *target*
(the mailbox as a whole, the conversation's team, each of its tags, or one agent) at an instant
(which UTC hour it is counted in). ``docs/metrics.md`` says the same in words; the definitions in
short:

* **Volume in**: inbound messages from people (auto-replies, bounces, bulk mail and quarantined
  mail are counted apart as *other*). **Out**: replies people sent; automatic replies apart.
* **First response time**: from the first inbound message from a person in a *cycle* to the first
  reply a person sends after it. A cycle starts with the conversation and again when the customer
  writes to a pending, snoozed or closed conversation (ingest's ``reopened``: the moments routing
  restarts the SLA clock), unless the running cycle has not been answered yet (then its clock keeps
  running). Credited to the agent who replied, not the assignee. In calendar time and in business
  hours of the team's calendar (the team at the time of the reply; calendar time without a team).
* **SLA**: a first response at or before the cycle's ``first_response_due`` (set by routing) is
  met, after it breached; cycles without a due time are not counted.
* **Response time**: every reply to a waiting customer, from the oldest unanswered message.
* **Resolution time**: from the conversation's first message (or a reopen of a closed one) to the
  first close after it; credited to the assignee at the close (else the person who closed it).
* **Reopens**: the customer wrote to a *closed* conversation.
* Notes, tags, priorities and merges count nothing. Figures are counted for the team and the tags
  the conversation has at the time of the event; the first message is also counted for the team and
  tags that routing gives it for that message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mailroom.clock import parse_iso
from mailroom.domain.event import AuditEvent, EventType
from mailroom.schedule.hours import business_seconds_between
from mailroom.schedule.model import ALWAYS_OPEN, WeeklySchedule

# Tags beyond this many on one conversation are not rollup scopes (each is a counter item written
# per counted event): the first ten tags a conversation got are.
MAX_TAG_SCOPES = 10
# Applied event ids are remembered this long (by the events' own time) to drop redeliveries: far
# more than a stream keeps records (24 hours) plus the metrics mapping's maximum record age.
SEEN_WINDOW = timedelta(days=3)

# Inbound mail that is not a person writing to us (ingest's flags; quarantined: a virus verdict).
MACHINE_FLAGS = frozenset({"auto_reply", "bounce", "bulk", "quarantined"})


class Count(StrEnum):
    """Counters, as attribute names of the rollup items (short: every byte is paid per write)."""

    CONVERSATIONS = "cv"  # new conversations (their first message)
    IN = "in"  # inbound messages from people
    IN_OTHER = "io"  # auto-replies, bounces, bulk, quarantined
    OUT = "out"  # replies people sent
    OUT_AUTO = "oa"  # automatic replies (RFC 3834)
    FIRST_RESPONSES = "fr"
    RESPONSES = "rp"  # replies that answered a waiting customer (each has a response time)
    SLA_MET = "sm"
    SLA_BREACHED = "sb"
    RESOLUTIONS = "rs"
    REOPENS = "ro"
    MARKED_SPAM = "sp"
    ASSIGNED = "as"  # assignments to an agent (claims and reassignments included)


class Duration(StrEnum):
    """Durations: each sample adds one to a histogram bucket and its seconds to a sum."""

    FIRST_RESPONSE = "f"
    FIRST_RESPONSE_BUSINESS = "b"
    RESPONSE = "r"
    RESOLUTION = "s"


# Histogram bucket upper bounds in seconds: bucket i holds [bound[i-1], bound[i]), one more bucket
# holds everything from 30 days on. The first bucket is "under a second" (a reply outside business
# hours takes zero business time). From 30 seconds on a bucket is at most 1.5 times as wide as the
# one before, so a median interpolated inside its bucket is off by less than that bucket's width.
BUCKET_BOUNDS: tuple[int, ...] = (
    1, 5, 10, 20, 30, 45, 60, 90, 120, 180, 240, 300, 420, 600, 900, 1200, 1800, 2700, 3600, 5400,
    7200, 10800, 14400, 21600, 28800, 43200, 57600, 86400, 129600, 172800, 259200, 345600, 432000,
    604800, 907200, 1209600, 1814400, 2592000,
)  # fmt: skip


def bucket_of(seconds: float) -> int:
    for index, bound in enumerate(BUCKET_BOUNDS):
        if seconds < bound:
            return index
    return len(BUCKET_BOUNDS)


def bucket_range(index: int) -> tuple[float, float]:
    low = float(BUCKET_BOUNDS[index - 1]) if index > 0 else 0.0
    high = float(BUCKET_BOUNDS[index]) if index < len(BUCKET_BOUNDS) else low * 2
    return low, high


def histogram_field(duration: Duration, bucket: int) -> str:
    return f"h{duration.value}{bucket:02d}"


def sum_field(duration: Duration) -> str:
    return f"t{duration.value}"


def quantile(histogram: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile of a bucketed distribution, interpolated linearly inside its bucket."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index in sorted(histogram):
        count = histogram[index]
        if count <= 0:
            continue
        if seen + count >= rank:
            if index == 0:
                return 0.0  # under a second: as good as none
            low, high = bucket_range(index)
            return low + (high - low) * (rank - seen) / count
        seen += count
    low, high = bucket_range(max(histogram))
    return high


class TargetKind(StrEnum):
    ALL = "all"  # the mailbox as a whole
    TEAM = "team"
    TAG = "tag"
    AGENT = "agent"


@dataclass(frozen=True, order=True)
class Target:
    kind: TargetKind
    name: str = ""


ALL = Target(TargetKind.ALL)


@dataclass
class Contribution:
    """What one event adds to one target's counters, in the hour of ``at``."""

    target: Target
    at: str
    counts: dict[Count, int] = field(default_factory=dict)
    durations: dict[Duration, float] = field(default_factory=dict)  # one sample each, in seconds


class ConversationState(BaseModel):
    """What the metrics function remembers of one conversation between its events."""

    model_config = ConfigDict(extra="ignore")

    conversation_id: str
    mailbox: str
    team: str | None = None
    tags: list[str] = Field(default_factory=list)
    assignee: str | None = None
    # The first inbound message: its key, time, and the counts it made (carried over to the team
    # and tags that routing gives the conversation for that message).
    opening_key: str | None = None
    opening_at: str | None = None
    opening: dict[str, int] = Field(default_factory=dict)
    # The first-response clock of the current cycle: started at (None: nobody waits for a first
    # response), answered yet, and the cycle's due time (from routing's sla_set).
    clock_start: str | None = None
    responded: bool = False
    due: str | None = None
    cycles: int = 0
    waiting_since: str | None = None  # the oldest unanswered customer message (response times)
    resolution_start: str | None = None
    resolved: bool = False
    # Ids of the events applied in the last days, with their time (epoch seconds: small), so a
    # redelivered event is recognised and skipped.
    seen: dict[str, int] = Field(default_factory=dict)
    version: int = 0  # of the stored item (optimistic writes)

    def conversation_targets(self) -> list[Target]:
        targets = [ALL]
        if self.team:
            targets.append(Target(TargetKind.TEAM, self.team))
        targets += [Target(TargetKind.TAG, tag) for tag in self.tags[:MAX_TAG_SCOPES]]
        return targets


@dataclass
class Step:
    state: ConversationState
    contributions: list[Contribution]
    duplicate: bool = False  # the event was applied before: nothing changes


CalendarFor = Callable[[str | None], WeeklySchedule]

# The events that change a figure or the state; every other kind is not even read.
RELEVANT = frozenset(
    {
        EventType.RECEIVED,
        EventType.REOPENED,
        EventType.REPLIED,
        EventType.AUTO_REPLIED,
        EventType.STATUS_CHANGED,
        EventType.ASSIGNED,
        EventType.UNASSIGNED,
        EventType.TEAM_SET,
        EventType.TRANSFERRED,
        EventType.TAGGED,
        EventType.UNTAGGED,
        EventType.SLA_SET,
        EventType.MARKED_SPAM,
    }
)


def is_relevant(event: AuditEvent) -> bool:
    return event.type in RELEVANT


def step(
    state: ConversationState | None, event: AuditEvent, *, calendar_for: CalendarFor = lambda _: ALWAYS_OPEN
) -> Step:
    """Apply one event. ``state`` is None for a conversation not seen before."""
    current = state or ConversationState(conversation_id=event.conversation_id, mailbox=event.mailbox)
    if event.id in current.seen or not is_relevant(event):
        return Step(current, [], duplicate=event.id in current.seen)
    new = current.model_copy(deep=True)
    contributions: list[Contribution] = []
    _APPLY[event.type](new, event, contributions, calendar_for)
    new.seen = _remember(new.seen, event)
    return Step(new, contributions)


def _remember(seen: Mapping[str, int], event: AuditEvent) -> dict[str, int]:
    kept = {**seen, event.id: int(parse_iso(event.at).timestamp())}
    oldest = max(kept.values()) - int(SEEN_WINDOW.total_seconds())
    return {key: at for key, at in kept.items() if at >= oldest}


# -- the definitions, one per event kind ------------------------------------------------------------

Out = list[Contribution]


def _add(
    out: Out,
    targets: Iterable[Target],
    at: str,
    counts: Mapping[Count, int] | None = None,
    durations: Mapping[Duration, float] | None = None,
) -> None:
    for target in targets:
        out.append(Contribution(target, at, dict(counts or {}), dict(durations or {})))


def _seconds(start: str, end: str) -> float:
    """Never negative: clocks of different writers may disagree by a little."""
    return max(0.0, (parse_iso(end) - parse_iso(start)).total_seconds())


def _agent(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    return text if "@" in text else None


def _received(state: ConversationState, event: AuditEvent, out: Out, _: CalendarFor) -> None:
    flags = {str(flag) for flag in event.data.get("flags") or []}
    person = not (flags & MACHINE_FLAGS)
    counts: dict[Count, int] = {Count.IN if person else Count.IN_OTHER: 1}
    if state.opening_key is None:  # the conversation's first message
        counts[Count.CONVERSATIONS] = 1
        state.opening_key = str(event.data.get("message_key") or event.id)
        state.opening_at = event.at
        state.opening = {count.value: value for count, value in counts.items()}
        state.resolution_start = state.resolution_start or event.at
    if person:
        if state.clock_start is None and not state.responded:
            state.clock_start = event.at
        state.waiting_since = state.waiting_since or event.at
    _add(out, state.conversation_targets(), event.at, counts)


def _reopened(state: ConversationState, event: AuditEvent, out: Out, _: CalendarFor) -> None:
    was_closed = event.data.get("previous_status") == "closed"
    if was_closed:
        _add(out, state.conversation_targets(), event.at, {Count.REOPENS: 1})
        state.resolution_start = event.at
        state.resolved = False
    if state.responded or was_closed or state.clock_start is None:
        # A new cycle: its first response is measured from this message.
        state.clock_start = event.at
        state.responded = False
        state.due = None  # routing sets the new cycle's due time
        state.cycles += 1
    state.waiting_since = state.waiting_since or event.at


def _replied(state: ConversationState, event: AuditEvent, out: Out, calendar_for: CalendarFor) -> None:
    targets = state.conversation_targets()
    agent = _agent(event.actor)
    credited = [*targets, Target(TargetKind.AGENT, agent)] if agent else targets
    counts: dict[Count, int] = {Count.OUT: 1}
    durations: dict[Duration, float] = {}
    if state.waiting_since is not None:
        counts[Count.RESPONSES] = 1
        durations[Duration.RESPONSE] = _seconds(state.waiting_since, event.at)
        state.waiting_since = None
    if state.clock_start is not None and not state.responded:
        counts[Count.FIRST_RESPONSES] = 1
        durations[Duration.FIRST_RESPONSE] = _seconds(state.clock_start, event.at)
        durations[Duration.FIRST_RESPONSE_BUSINESS] = business_seconds(
            calendar_for(state.team), state.clock_start, event.at
        )
        if state.due is not None:
            met = parse_iso(event.at) <= parse_iso(state.due)
            counts[Count.SLA_MET if met else Count.SLA_BREACHED] = 1
        state.responded = True
    _add(out, credited, event.at, counts, durations)


def business_seconds(calendar: WeeklySchedule, start: str, end: str) -> float:
    return business_seconds_between(calendar, parse_iso(start), parse_iso(end))


def _auto_replied(state: ConversationState, event: AuditEvent, out: Out, _: CalendarFor) -> None:
    _add(out, state.conversation_targets(), event.at, {Count.OUT_AUTO: 1})


def _status_changed(state: ConversationState, event: AuditEvent, out: Out, _: CalendarFor) -> None:
    if event.data.get("status") != "closed" or event.data.get("previous") == "closed":
        return
    state.waiting_since = None  # nobody waits on a closed conversation
    if state.resolved or state.resolution_start is None:
        return
    state.resolved = True
    durations = {Duration.RESOLUTION: _seconds(state.resolution_start, event.at)}
    _add(out, state.conversation_targets(), event.at, {Count.RESOLUTIONS: 1}, durations)
    credited = state.assignee or _agent(event.actor)
    if credited:
        _add(out, [Target(TargetKind.AGENT, credited)], event.at, {Count.RESOLUTIONS: 1})


def _assigned(state: ConversationState, event: AuditEvent, out: Out, _: CalendarFor) -> None:
    agent = _agent(event.data.get("agent"))
    state.assignee = agent
    if agent:
        _add(out, [Target(TargetKind.AGENT, agent)], event.at, {Count.ASSIGNED: 1})


def _unassigned(state: ConversationState, event: AuditEvent, out: Out, _: CalendarFor) -> None:
    state.assignee = None


def _carries_opening(state: ConversationState, event: AuditEvent) -> bool:
    """Routing's decisions for the first message: that message counts for them too."""
    return (
        event.actor == "route"
        and bool(state.opening)
        and state.opening_at is not None
        and event.data.get("message_key") == state.opening_key
    )


def _carry(state: ConversationState, event: AuditEvent, out: Out, targets: list[Target]) -> None:
    if targets and state.opening_at is not None and _carries_opening(state, event):
        _add(out, targets, state.opening_at, {Count(name): value for name, value in state.opening.items()})


def _team_set(state: ConversationState, event: AuditEvent, out: Out, _: CalendarFor) -> None:
    team = str(event.data.get("team") or "") or None
    if team == state.team:
        return
    state.team = team
    _carry(state, event, out, [Target(TargetKind.TEAM, team)] if team else [])


def _event_tags(event: AuditEvent) -> list[str]:
    value = event.data.get("tags", event.data.get("tag"))
    values = value if isinstance(value, list) else [value] if value else []
    return [str(tag) for tag in values if str(tag)]


def _tagged(state: ConversationState, event: AuditEvent, out: Out, _: CalendarFor) -> None:
    before = set(state.conversation_targets())
    state.tags = [*state.tags, *[tag for tag in dict.fromkeys(_event_tags(event)) if tag not in state.tags]]
    added = [target for target in state.conversation_targets() if target not in before]
    _carry(state, event, out, added)


def _untagged(state: ConversationState, event: AuditEvent, out: Out, _: CalendarFor) -> None:
    removed = set(_event_tags(event))
    state.tags = [tag for tag in state.tags if tag not in removed]


def _sla_set(state: ConversationState, event: AuditEvent, out: Out, _: CalendarFor) -> None:
    due = event.data.get("first_response_due")
    if due:
        state.due = str(due)


def _marked_spam(state: ConversationState, event: AuditEvent, out: Out, _: CalendarFor) -> None:
    _add(out, state.conversation_targets(), event.at, {Count.MARKED_SPAM: 1})


_APPLY: dict[EventType, Callable[[ConversationState, AuditEvent, Out, CalendarFor], None]] = {
    EventType.RECEIVED: _received,
    EventType.REOPENED: _reopened,
    EventType.REPLIED: _replied,
    EventType.AUTO_REPLIED: _auto_replied,
    EventType.STATUS_CHANGED: _status_changed,
    EventType.ASSIGNED: _assigned,
    EventType.UNASSIGNED: _unassigned,
    EventType.TEAM_SET: _team_set,
    EventType.TRANSFERRED: _team_set,
    EventType.TAGGED: _tagged,
    EventType.UNTAGGED: _untagged,
    EventType.SLA_SET: _sla_set,
    EventType.MARKED_SPAM: _marked_spam,
}


# -- rollup fields: contributions as counter increments --------------------------------------------


def hour_of(at: str) -> str:
    """The UTC hour an instant is counted in: ``2026-11-23T14``."""
    return parse_iso(at).astimezone(UTC).strftime("%Y-%m-%dT%H")


def increments(contribution: Contribution) -> dict[str, int]:
    """The counter increments of one contribution: counts, and for each duration its histogram
    bucket (+1) and its sum in whole seconds."""
    fields: dict[str, int] = {count.value: value for count, value in contribution.counts.items() if value}
    for duration, seconds in contribution.durations.items():
        bucket = histogram_field(duration, bucket_of(seconds))
        fields[bucket] = fields.get(bucket, 0) + 1
        total = sum_field(duration)
        fields[total] = fields.get(total, 0) + round(seconds)
    return fields


def merge_increments(contributions: Iterable[Contribution]) -> dict[tuple[Target, str], dict[str, int]]:
    """Contributions summed per (target, UTC hour): one counter item update each."""
    merged: dict[tuple[Target, str], dict[str, int]] = {}
    for contribution in contributions:
        key = (contribution.target, hour_of(contribution.at))
        fields = merged.setdefault(key, {})
        for name, value in increments(contribution).items():
            fields[name] = fields.get(name, 0) + value
    return {key: fields for key, fields in merged.items() if any(fields.values())}
