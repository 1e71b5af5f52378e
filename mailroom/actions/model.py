"""Conversation actions: the requests (pydantic, validated at the API's edge) and the pure decisions
(the next state of a conversation and the audit events that explain it). No I/O here.

Every decision returns a :class:`Change` whose conversation is at ``version + 1``, or None when the
request changes nothing (tagging with a tag it already has, closing a closed conversation): the
service then answers with the conversation as it is, without a write.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from mailroom.clock import iso, parse_iso
from mailroom.domain.conversation import REOPENABLE, Conversation, Status
from mailroom.domain.event import EventType
from mailroom.domain.team import Team
from mailroom.routing.plan import PRIORITY_ORDER

MAX_TAG_LENGTH = 64
MAX_TAGS = 50
MAX_NOTE_CHARS = 20_000
MAX_MENTIONS = 20
SNIPPET_CHARS = 200
MAX_SNOOZE = timedelta(days=366)

CONVERSATION_ID_PATTERN = r"^c[0-9a-z]{6,32}$"
TEAM_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
# A mention's id is its sort key without the prefix: <at>#<conversation id>#<note id>.
MENTION_ID_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#c[0-9a-z]{6,32}#n[0-9a-z]{6,32}$"


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in person (their email is their agent id) or the system."""

    email: str
    name: str = ""
    is_admin: bool = False


SYSTEM = Actor(email="system")


# -- errors ----------------------------------------------------------------------------------------


class ActionError(Exception):
    """Base of every refusal of a conversation action. Nothing was written when one is raised."""


class InvalidActionError(ActionError):
    """The request can't apply to this conversation (the API's 422); the message says why."""


class NotPermittedError(ActionError):
    """The caller may see the conversation but not do this (the API's 403)."""


class StaleVersionError(ActionError):
    """The request named a ``seen_version`` and the conversation has moved on (the API's 409).
    ``current`` is the conversation now; ``changes`` says what happened since, in words."""

    def __init__(self, current: Conversation, seen_version: int, changes: Sequence[str] = ()) -> None:
        summary = "; ".join(changes) if changes else f"it is now at version {current.version}"
        super().__init__(f"conversation {current.id} changed since version {seen_version}: {summary}")
        self.current = current
        self.seen_version = seen_version
        self.changes = list(changes)


class ConversationMergedError(ActionError):
    """The conversation was merged into another one: act on that one (the API's 409)."""

    def __init__(self, conversation_id: str, merged_into: str) -> None:
        super().__init__(f"conversation {conversation_id} was merged into {merged_into}: work on that one")
        self.conversation_id = conversation_id
        self.merged_into = merged_into


class MergeRefusedError(InvalidActionError):
    """These two conversations can't be merged (different contact or mailbox, itself, ...)."""


# -- tags ------------------------------------------------------------------------------------------

_TAG = re.compile(r"[a-z0-9][a-z0-9-]*")


def normalize_tag(value: str) -> str:
    """``" Billing  Issue "`` → ``billing-issue``: lower-case, trimmed, spaces and ``_`` become one
    ``-``. Letters, digits and ``-`` only (like the tags routing rules add), at most 64 characters.
    Raises ValueError with a message for people."""
    tag = re.sub(r"[\s_-]+", "-", value.strip().lower()).strip("-")
    if not tag:
        raise ValueError("a tag can't be empty")
    if len(tag) > MAX_TAG_LENGTH:
        raise ValueError(f"a tag has at most {MAX_TAG_LENGTH} characters")
    if not _TAG.fullmatch(tag):
        raise ValueError(f"tag {value.strip()!r}: use letters a-z, digits and '-' (spaces become '-')")
    return tag


Tag = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(normalize_tag)]


# -- requests --------------------------------------------------------------------------------------


class ActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seen_version: int | None = Field(
        default=None,
        ge=1,
        description="The version you acted on. If the conversation changed since, nothing is done "
        "and the answer is 409 with its current state; leave out to act on its latest state.",
    )


class ClaimRequest(ActionRequest):
    pass


class UnassignRequest(ActionRequest):
    pass


class AssignRequest(ActionRequest):
    agent: str = Field(min_length=3, max_length=320, description="The agent's id (email address).")
    force: bool = Field(default=False, description="Admins only: assign even past the agent's capacity.")

    @field_validator("agent")
    @classmethod
    def _agent(cls, value: str) -> str:
        value = value.strip().lower()
        if "@" not in value or any(c.isspace() for c in value):
            raise ValueError("agent must be an agent's email address")
        return value


class TransferRequest(ActionRequest):
    team: str = Field(pattern=TEAM_ID_PATTERN, description="The team's id.")


class TagRequest(ActionRequest):
    tag: Tag


class TargetStatus(StrEnum):
    """The statuses a person sets (spam and quarantine have their own flows)."""

    OPEN = "open"
    PENDING = "pending"
    SNOOZED = "snoozed"
    CLOSED = "closed"


class StatusRequest(ActionRequest):
    status: TargetStatus
    snooze_until: AwareDatetime | None = Field(
        default=None, description="Required with status snoozed (a future time with a UTC offset)."
    )

    @model_validator(mode="after")
    def _snooze_time(self) -> StatusRequest:
        if self.status is TargetStatus.SNOOZED and self.snooze_until is None:
            raise ValueError("snoozing needs snooze_until: when the conversation should wake up")
        if self.status is not TargetStatus.SNOOZED and self.snooze_until is not None:
            raise ValueError("snooze_until goes only with status snoozed")
        return self


class MergeRequest(ActionRequest):
    into: str = Field(
        pattern=CONVERSATION_ID_PATTERN,
        description="The conversation to merge this one into (same contact, same mailbox).",
    )


class NoteRequest(ActionRequest):
    text: str = Field(
        max_length=MAX_NOTE_CHARS, description="The note; @name or @name@domain mentions a colleague."
    )

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("a note needs some text")
        return value


class MentionsReadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[str, Field(pattern=MENTION_ID_PATTERN)]] = Field(default_factory=list, max_length=100)
    all: bool = Field(default=False, description="Mark every unread mention read.")

    @model_validator(mode="after")
    def _one_of(self) -> MentionsReadRequest:
        if bool(self.ids) == self.all:
            raise ValueError("give either ids (the mentions to mark read) or all: true")
        return self


# -- decisions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventSpec:
    """An audit event to write with a change (its id and time are given when it is written)."""

    type: EventType
    data: dict[str, Any]


@dataclass
class Change:
    conversation: Conversation  # the next state, at version + 1
    events: list[EventSpec] = field(default_factory=list)


def _next(conv: Conversation, **updates: Any) -> Conversation:
    return conv.model_copy(update={**updates, "version": conv.version + 1})


def _data(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def check_can_change(conv: Conversation) -> None:
    """Merged-away and quarantined conversations are not changed by people."""
    if conv.merged_into:
        raise ConversationMergedError(conv.id, conv.merged_into)
    if conv.status is Status.QUARANTINED:
        raise InvalidActionError(
            f"conversation {conv.id} is quarantined (virus verdict): it can't be changed"
        )


def plan_status_change(conv: Conversation, request: StatusRequest, now: datetime) -> Change | None:
    """Open, pending, snoozed until a future moment (at most a year ahead), or closed. Leaving
    snoozed clears ``snoozed_until``; snoozing again moves it."""
    check_can_change(conv)
    target = Status(request.status.value)
    until: str | None = None
    if target is Status.SNOOZED:
        assert request.snooze_until is not None  # the request model requires it
        if request.snooze_until <= now:
            raise InvalidActionError(
                f"snooze_until must be in the future (it is {iso(request.snooze_until)}, now is {iso(now)})"
            )
        if request.snooze_until > now + MAX_SNOOZE:
            raise InvalidActionError("a conversation can be snoozed for at most a year")
        until = iso(request.snooze_until)
    if conv.status is target and conv.snoozed_until == until:
        return None
    new = _next(conv, status=target, snoozed_until=until)
    data = _data(status=target.value, previous=conv.status.value, snoozed_until=until, version=new.version)
    return Change(new, [EventSpec(EventType.STATUS_CHANGED, data)])


def is_due(conv: Conversation, now: datetime) -> bool:
    return (
        conv.status is Status.SNOOZED
        and conv.merged_into is None
        and (conv.snoozed_until is None or parse_iso(conv.snoozed_until) <= now)
    )


def plan_wake(conv: Conversation, now: datetime) -> Change | None:
    """A snoozed conversation whose time has come is open again (None: not snoozed, or not yet)."""
    if not is_due(conv, now):
        return None
    new = _next(conv, status=Status.OPEN, snoozed_until=None)
    data = _data(
        status=Status.OPEN.value,
        previous=Status.SNOOZED.value,
        reason="snooze ended",
        snoozed_until=conv.snoozed_until,
        version=new.version,
    )
    return Change(new, [EventSpec(EventType.WOKE, data)])


def plan_tag(conv: Conversation, tag: str, *, add: bool) -> Change | None:
    """Add or remove one (normalized) tag; None when that is already so."""
    check_can_change(conv)
    if add:
        if tag in conv.tags:
            return None
        if len(conv.tags) >= MAX_TAGS:
            raise InvalidActionError(f"a conversation has at most {MAX_TAGS} tags")
        new = _next(conv, tags=[*conv.tags, tag])
        return Change(new, [EventSpec(EventType.TAGGED, {"tags": [tag], "version": new.version})])
    if tag not in conv.tags:
        return None
    new = _next(conv, tags=[t for t in conv.tags if t != tag])
    return Change(new, [EventSpec(EventType.UNTAGGED, {"tags": [tag], "version": new.version})])


def plan_transfer(conv: Conversation, team: Team) -> Change | None:
    """Move to ``team``; the assignee stays only if they are a member of it (the caller's write
    takes them off the load counter with :func:`~mailroom.assignment.load.status_change_actions`)."""
    check_can_change(conv)
    if conv.team == team.id:
        return None
    dropped = conv.assignee.lower() if conv.assignee and conv.assignee.lower() not in team.members else None
    new = _next(conv, team=team.id, assignee=None if dropped else conv.assignee)
    events = [
        EventSpec(
            EventType.TRANSFERRED,
            _data(team=team.id, previous_team=conv.team, unassigned=dropped, version=new.version),
        )
    ]
    if dropped:
        reason = f"not a member of team {team.id}"
        events.append(
            EventSpec(EventType.UNASSIGNED, _data(previous=dropped, reason=reason, version=new.version))
        )
    return Change(new, events)


# -- merge -----------------------------------------------------------------------------------------


def check_merge(secondary: Conversation, primary: Conversation) -> None:
    """Refuse a merge that would mix different customers or mailboxes (or make a loop)."""
    if secondary.id == primary.id:
        raise MergeRefusedError("a conversation can't be merged into itself")
    if secondary.merged_into and secondary.merged_into != primary.id:
        raise ConversationMergedError(secondary.id, secondary.merged_into)
    if primary.merged_into:
        raise MergeRefusedError(
            f"conversation {primary.id} was itself merged into {primary.merged_into}: merge into that one"
        )
    if secondary.mailbox.lower() != primary.mailbox.lower():
        raise MergeRefusedError(
            "only conversations of the same mailbox can be merged "
            f"({secondary.mailbox} and {primary.mailbox})"
        )
    if secondary.contact_email.lower() != primary.contact_email.lower():
        raise MergeRefusedError(
            "only conversations with the same contact can be merged "
            f"({secondary.contact_email} and {primary.contact_email})"
        )
    for conv in (secondary, primary):
        if conv.status is Status.QUARANTINED:
            raise MergeRefusedError(f"conversation {conv.id} is quarantined: it can't be merged")


@dataclass
class MergePlan:
    secondary: Change  # closed, merged_into = primary
    primary: Change  # absorbs the secondary's counts, activity, tags, flags


def _latest(*values: str | None) -> str | None:
    present = [value for value in values if value]
    return max(present) if present else None


def _earliest(*values: str | None) -> str | None:
    present = [value for value in values if value]
    return min(present) if present else None


def _higher_priority(a: str, b: str) -> str:
    rank = {name: n for n, name in enumerate(PRIORITY_ORDER)}
    return b if rank.get(b, -1) > rank.get(a, -1) else a


def plan_merge(secondary: Conversation, primary: Conversation) -> MergePlan:
    """The two conversation writes of a merge (made in one transaction).

    The secondary is closed with ``merged_into``. The primary counts the secondary's messages, takes
    the later activity (and that side's snippet), the earlier ``waiting_since`` of the two, the
    union of tags and flags and the higher priority; it keeps its own assignee and team. If the
    secondary was open, a pending, snoozed or closed primary opens: the customer's open request must
    not disappear into a conversation nobody looks at.
    """
    check_merge(secondary, primary)
    if secondary.merged_into == primary.id:
        raise InvalidActionError(f"conversation {secondary.id} is already merged into {primary.id}")
    reopen = secondary.status is Status.OPEN and primary.status in REOPENABLE
    newer = secondary if secondary.last_message_at > primary.last_message_at else primary
    primary_new = _next(
        primary,
        merged_from=[*[c for c in primary.merged_from if c != secondary.id], secondary.id],
        message_count=primary.message_count + secondary.message_count,
        last_message_at=max(primary.last_message_at, secondary.last_message_at),
        last_activity_at=max(primary.last_activity_at, secondary.last_activity_at),
        last_inbound_at=_latest(primary.last_inbound_at, secondary.last_inbound_at),
        waiting_since=_earliest(primary.waiting_since, secondary.waiting_since),
        snippet=newer.snippet,
        tags=[*primary.tags, *[t for t in secondary.tags if t not in primary.tags]],
        flags=sorted({*primary.flags, *secondary.flags}),
        priority=_higher_priority(primary.priority, secondary.priority),
        status=Status.OPEN if reopen else primary.status,
        snoozed_until=None if reopen else primary.snoozed_until,
    )
    secondary_new = _next(secondary, status=Status.CLOSED, snoozed_until=None, merged_into=primary.id)
    return MergePlan(
        secondary=Change(
            secondary_new,
            [
                EventSpec(
                    EventType.MERGED,
                    _data(
                        into=primary.id, previous_status=secondary.status.value, version=secondary_new.version
                    ),
                )
            ],
        ),
        primary=Change(
            primary_new,
            [
                EventSpec(
                    EventType.MERGED,
                    _data(
                        **{"from": secondary.id},
                        messages=secondary.message_count,
                        reopened=reopen or None,
                        version=primary_new.version,
                    ),
                )
            ],
        ),
    )


# -- mentions --------------------------------------------------------------------------------------

# "@sam" or "@sam@acme.test", not the "@" inside an address ("mail sam@acme.test").
_MENTION = re.compile(
    r"(?<![\w.@+-])@([a-z0-9][a-z0-9._%+-]*(?:@[a-z0-9-]+(?:\.[a-z0-9-]+)+)?)", re.IGNORECASE
)


def parse_mentions(text: str) -> list[str]:
    """The handles mentioned in ``text``, lower-case, in order, once each (sentence punctuation
    after a handle is not part of it: "thanks @sam." mentions ``sam``)."""
    handles: list[str] = []
    for match in _MENTION.finditer(text):
        handle = match.group(1).lower().rstrip("._-")
        if handle and handle not in handles:
            handles.append(handle)
    return handles


@dataclass(frozen=True)
class Mentionable:
    """A person who may be mentioned on a conversation (someone who may read it)."""

    email: str
    name: str = ""


def resolve_mentions(handles: Sequence[str], people: Sequence[Mentionable]) -> tuple[list[str], list[str]]:
    """(resolved email addresses, handles that name nobody or several people).

    ``@sam@acme.test`` must be someone's full address; ``@sam`` the local part of exactly one
    person's address (two people called sam@ in different domains: ambiguous, nobody is notified).
    """
    by_email = {person.email.lower(): person for person in people}
    by_local: dict[str, list[str]] = {}
    for email in by_email:
        by_local.setdefault(email.partition("@")[0], []).append(email)
    resolved: list[str] = []
    unresolved: list[str] = []
    for handle in handles:
        if "@" in handle:
            match = handle if handle in by_email else None
        else:
            candidates = by_local.get(handle, [])
            match = candidates[0] if len(candidates) == 1 else None
        if match is None:
            unresolved.append(handle)
        elif match not in resolved:
            resolved.append(match)
    return resolved, unresolved


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
