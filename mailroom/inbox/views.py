"""Inbox views as query plans (pure): which index partitions a view reads, in which order, with
which filter. :mod:`mailroom.inbox.queries` runs a plan; nothing here touches the table.

* ``mine``: ``ByAssigneeStatus`` ``AGENT#<me>#STATUS#open``, one source; filter: the mailboxes
  (when the caller doesn't see them all, or asked for one).
* ``unassigned``: ``ByQueue`` ``MAILBOX#<m>#QUEUE``, one source per mailbox.
* ``open``, ``pending``, ``snoozed``, ``closed``, ``spam``, ``quarantined``: ``ByMailboxStatus``
  ``MAILBOX#<m>#STATUS#<s>`` per mailbox; with a team filter ``ByTeamStatus`` ``TEAM#<t>#STATUS#<s>``
  per team instead (filter: the mailboxes).
* ``all``: ``ByMailbox`` per mailbox (filter for non-admins: not spam, not quarantined).
* ``sort=sla`` (mine, unassigned, open): ``BySlaDue`` ``MAILBOX#<m>#SLA`` per mailbox, read forwards
  (overdue, then soonest due); filter: ``assignee = me`` (mine), no assignee (unassigned).
* search by address: ``ByContact`` ``CONTACT#<email>``, one source; filter: the mailboxes.
* search by words: ``ByMailbox`` per mailbox; filter: every word in ``subject_norm``.
  Searches hide spam and quarantined from non-admins with a filter too.

Team (``team``) and tag (``tag``) filters are added to any of them as filter expressions, except
that a team filter on a status view reads the team's own partitions instead.

Sort by SLA lists only conversations whose first-response clock runs (open, the customer waiting,
a due time set): the others have no place in that order, and listing them after the timed ones
would need a second, unbounded read. The page says so and links to the activity order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mailroom.domain.conversation import Status
from mailroom.inbox.search import Search, SearchKind
from mailroom.table import keys, schema
from mailroom.table.client import Condition
from mailroom.table.schema import Index


class View(StrEnum):
    MINE = "mine"
    UNASSIGNED = "unassigned"
    OPEN = "open"
    PENDING = "pending"
    SNOOZED = "snoozed"
    CLOSED = "closed"
    SPAM = "spam"
    QUARANTINED = "quarantined"
    ALL = "all"


class Sort(StrEnum):
    ACTIVITY = "activity"  # last activity, newest first
    SLA = "sla"  # first-response due time, overdue and soonest first


VIEW_STATUS: dict[View, Status] = {
    View.OPEN: Status.OPEN,
    View.PENDING: Status.PENDING,
    View.SNOOZED: Status.SNOOZED,
    View.CLOSED: Status.CLOSED,
    View.SPAM: Status.SPAM,
    View.QUARANTINED: Status.QUARANTINED,
}
# Spam and quarantined (virus) mail: listed for admins only, in their views and in searches.
ADMIN_STATUSES: tuple[Status, ...] = (Status.SPAM, Status.QUARANTINED)
ADMIN_VIEWS = frozenset({View.SPAM, View.QUARANTINED})
SLA_VIEWS = frozenset({View.MINE, View.UNASSIGNED, View.OPEN})
MAX_IN_OPERANDS = 100  # DynamoDB's limit for one IN (...)


class ViewError(ValueError):
    """A combination of parameters no view serves (answer 400 with this message)."""


@dataclass(frozen=True)
class Scope:
    """Who is asking and what the listing may cover.

    ``mailboxes``: the mailboxes to list, already cut to those the caller may see (and to the one
    asked for). ``mailbox_filter``: for sources that are not one mailbox's partition (an agent's,
    a team's, a contact's), the mailboxes their items must be in; None when the caller sees every
    mailbox and asked for no particular one. ``admin``: sees spam and quarantined lists.
    ``requested_mailbox``: the one mailbox asked for, if any (part of what a cursor is bound to).
    """

    me: str
    mailboxes: tuple[str, ...]
    mailbox_filter: tuple[str, ...] | None
    admin: bool = False
    requested_mailbox: str | None = None


@dataclass(frozen=True)
class Filters:
    teams: tuple[str, ...] | None = None  # None: any team (or none); otherwise one of these
    tag: str | None = None


@dataclass(frozen=True)
class Source:
    """One index partition a view reads; ``key`` names its position in the cursor."""

    key: str
    index: Index
    partition: str


@dataclass(frozen=True)
class Plan:
    sources: tuple[Source, ...]
    forward: bool  # True: ascending sort keys (due times); False: newest activity first
    filter: Condition | None = None
    signature: str = ""  # binds cursors to the view they came from
    notes: tuple[str, ...] = field(default=())  # how the plan was chosen (for logs and the report)


class _FilterBuilder:
    """Filter expression parts with placeholders that can't collide with key conditions."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, attribute: str) -> str:
        placeholder = f"#f_{attribute}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":f{len(self.values)}"
        self.values[placeholder] = value
        return placeholder

    def one_of(self, attribute: str, options: Sequence[str]) -> None:
        name = self.name(attribute)
        if len(options) == 1:
            self.parts.append(f"{name} = {self.value(options[0])}")
            return
        groups = []
        for start in range(0, len(options), MAX_IN_OPERANDS):
            chunk = ", ".join(self.value(option) for option in options[start : start + MAX_IN_OPERANDS])
            groups.append(f"{name} IN ({chunk})")
        self.parts.append(groups[0] if len(groups) == 1 else "(" + " OR ".join(groups) + ")")

    def none_of(self, attribute: str, options: Sequence[str]) -> None:
        name = self.name(attribute)
        self.parts += [f"{name} <> {self.value(option)}" for option in options]

    def add(self, expression: str) -> None:
        self.parts.append(expression)

    def condition(self) -> Condition | None:
        if not self.parts:
            return None
        return Condition(" AND ".join(self.parts), dict(self.names), dict(self.values))


def plan_view(
    view: View,
    *,
    scope: Scope,
    sort: Sort = Sort.ACTIVITY,
    filters: Filters | None = None,
    search: Search | None = None,
) -> Plan:
    """The query plan of a view (or a search, which then replaces the view's status choice).

    Raises :class:`ViewError` for combinations no index serves (sort=sla outside open work, a
    search sorted by SLA, an id search: that is a lookup, not a listing)."""
    filters = filters or Filters()
    if search is not None:
        if sort is Sort.SLA:
            raise ViewError("search results are sorted by last activity; drop sort=sla")
        sources, built = _search_sources(search, scope)
    elif sort is Sort.SLA:
        if view not in SLA_VIEWS:
            raise ViewError(
                f"sort=sla orders open work by first-response due time: use it with view=mine, "
                f"unassigned or open, not {view.value}"
            )
        sources, built = _sla_sources(view, scope)
    else:
        sources, built = _view_sources(view, scope, filters)
    if filters.teams is not None and not _reads_team_partitions(sources):
        if not filters.teams:
            sources = ()  # "my teams" for someone in no team: nothing to read
        else:
            built.one_of("team", filters.teams)
    if filters.tag:
        built.add(f"contains({built.name('tags')}, {built.value(filters.tag)})")
    return Plan(
        sources=sources,
        forward=sort is Sort.SLA,
        filter=built.condition(),
        signature=_signature(view, sort, scope, filters, search),
    )


def _view_sources(view: View, scope: Scope, filters: Filters) -> tuple[tuple[Source, ...], _FilterBuilder]:
    built = _FilterBuilder()
    if view is View.MINE:
        partition = keys.status_partition(keys.agent_pk(scope.me), Status.OPEN.value)
        _restrict_mailboxes(built, scope)
        return _only_if_any_mailbox(scope, (Source("me", schema.BY_ASSIGNEE_STATUS, partition),)), built
    if view is View.UNASSIGNED:
        return _per_mailbox(scope, schema.BY_QUEUE, keys.queue_pk), built
    if view is View.ALL:
        if not scope.admin:
            built.none_of("status", [status.value for status in ADMIN_STATUSES])
        return _per_mailbox(scope, schema.BY_MAILBOX, keys.mailbox_pk), built
    status = VIEW_STATUS[view].value
    if filters.teams:
        # The team's own partitions: one query per team instead of one per mailbox.
        _restrict_mailboxes(built, scope)
        team_sources = tuple(
            Source(f"team:{team}", schema.BY_TEAM_STATUS, keys.status_partition(keys.team_pk(team), status))
            for team in filters.teams
        )
        return _only_if_any_mailbox(scope, team_sources), built
    return (
        _per_mailbox(
            scope, schema.BY_MAILBOX_STATUS, lambda m: keys.status_partition(keys.mailbox_pk(m), status)
        ),
        built,
    )


def _sla_sources(view: View, scope: Scope) -> tuple[tuple[Source, ...], _FilterBuilder]:
    built = _FilterBuilder()
    if view is View.MINE:
        built.add(f"{built.name('assignee')} = {built.value(scope.me)}")
    elif view is View.UNASSIGNED:
        built.add(f"attribute_not_exists({built.name('assignee')})")
    return _per_mailbox(scope, schema.BY_SLA_DUE, keys.sla_pk), built


def _search_sources(search: Search, scope: Scope) -> tuple[tuple[Source, ...], _FilterBuilder]:
    built = _FilterBuilder()
    if not scope.admin:
        built.none_of("status", [status.value for status in ADMIN_STATUSES])
    if search.kind is SearchKind.CONTACT:
        _restrict_mailboxes(built, scope)
        source = Source("contact", schema.BY_CONTACT, keys.contact_pk(search.value))
        return _only_if_any_mailbox(scope, (source,)), built
    if search.kind is SearchKind.WORDS:
        subject = built.name("subject_norm")
        for word in search.words:
            built.add(f"contains({subject}, {built.value(word)})")
        return _per_mailbox(scope, schema.BY_MAILBOX, keys.mailbox_pk), built
    raise ViewError("a conversation id is looked up, not listed")


def _per_mailbox(scope: Scope, index: Index, partition: Any) -> tuple[Source, ...]:
    return tuple(Source(mailbox, index, partition(mailbox)) for mailbox in scope.mailboxes)


def _restrict_mailboxes(built: _FilterBuilder, scope: Scope) -> None:
    if scope.mailbox_filter:
        built.one_of("mailbox", scope.mailbox_filter)


def _only_if_any_mailbox(scope: Scope, sources: tuple[Source, ...]) -> tuple[Source, ...]:
    """A source that spans mailboxes is read only if the caller may see at least one of them."""
    if scope.mailbox_filter is not None and not scope.mailbox_filter:
        return ()
    return sources


def _reads_team_partitions(sources: tuple[Source, ...]) -> bool:
    return bool(sources) and all(source.index is schema.BY_TEAM_STATUS for source in sources)


def _signature(view: View, sort: Sort, scope: Scope, filters: Filters, search: Search | None) -> str:
    document = {
        "view": view.value,
        "sort": sort.value,
        "me": scope.me,
        # Not the list of mailboxes: a mailbox that appears (or is revoked) between two pages must
        # not invalidate the cursor; its position is simply absent (or ignored).
        "mailbox": scope.requested_mailbox,
        "teams": sorted(filters.teams) if filters.teams is not None else None,
        "tag": filters.tag,
        "search": [search.kind.value, search.value, list(search.words)] if search else None,
    }
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode("utf-8")).hexdigest()
    return digest[:16]
