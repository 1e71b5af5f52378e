"""The inbox list for one caller: views, filters, sort and search, always scoped to what they may
see. The JSON API and the inbox page both call :func:`list_inbox`.

Requests (``GET /api/conversations`` with a view over N visible mailboxes; the caller's own
session costs one ``GetItem`` and one ``Query`` before this):

* the mailbox directory: one ``Query`` (which mailboxes exist, to cut to the visible ones);
* the view: see :mod:`mailroom.inbox.views` (one ``Query`` per source, more only when a filter
  applies, bounded by :data:`~mailroom.inbox.queries.FILTERED_BUDGET`);
* ``team=@mine``: one ``GetItem`` for the caller's agent record (their teams);
* a conversation-id search: one ``GetItem`` instead of the view's queries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailroom.assignment.store import AssignmentStore
from mailroom.auth import policy
from mailroom.auth.model import Principal, Role
from mailroom.domain.conversation import Conversation
from mailroom.inbox.directory import list_mailboxes
from mailroom.inbox.queries import ConversationPage, run_plan
from mailroom.inbox.search import Search, SearchKind, conversation_by_id, parse_search
from mailroom.inbox.views import (
    ADMIN_STATUSES,
    ADMIN_VIEWS,
    Filters,
    Scope,
    Sort,
    View,
    ViewError,
    plan_view,
)
from mailroom.table.client import Table

MY_TEAMS = "@mine"  # team=@mine: the caller's teams ("mine" could be a team's id)
TEAM_PATTERN = r"^(@mine|[a-z0-9][a-z0-9-]{0,62})$"
TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$"
_TEAM = re.compile(TEAM_PATTERN)
_TAG = re.compile(TAG_PATTERN)


class InboxForbiddenError(PermissionError):
    """The caller sees the mailboxes but not this list (spam, quarantined): answer 403."""


@dataclass(frozen=True)
class InboxQuery:
    view: View = View.ALL
    sort: Sort = Sort.ACTIVITY
    mailbox: str | None = None
    team: str | None = None  # a team id, or MY_TEAMS
    tag: str | None = None
    q: str | None = None
    cursor: str | None = None
    limit: int = 25


@dataclass(frozen=True)
class InboxResult:
    page: ConversationPage
    query: InboxQuery
    search: Search | None
    visible: list[str] = field(default_factory=list)  # every mailbox the caller may see (for filters)
    teams: tuple[str, ...] | None = None  # the team filter as resolved (@mine: the caller's teams)


def list_inbox(table: Table, principal: Principal, query: InboxQuery) -> InboxResult:
    """One page of the caller's inbox. Raises :class:`ViewError`, :class:`~mailroom.inbox.search.
    SearchError` and :class:`~mailroom.inbox.cursor.InvalidCursorError` (400) and
    :class:`InboxForbiddenError` (403)."""
    admin = principal.role is Role.ADMIN
    if query.view in ADMIN_VIEWS and not admin:
        raise InboxForbiddenError(f"the {query.view.value} list is for admins")
    if query.team is not None and not _TEAM.fullmatch(query.team):
        raise ViewError(f"team {query.team!r}: a team id (letters a-z, digits, '-') or {MY_TEAMS}")
    if query.tag is not None and not _TAG.fullmatch(query.tag):
        raise ViewError(f"tag {query.tag!r}: letters, digits and '-'")
    search = parse_search(query.q)

    visible = policy.visible_mailboxes(principal, [str(item["address"]) for item in list_mailboxes(table)])
    wanted = query.mailbox.strip().lower() if query.mailbox else None
    mailboxes = ([wanted] if wanted in visible else []) if wanted else sorted(visible)
    scope = Scope(
        me=principal.email,
        mailboxes=tuple(mailboxes),
        mailbox_filter=None if admin and wanted is None else tuple(mailboxes),
        admin=admin,
        requested_mailbox=wanted,
    )
    teams = _teams(table, principal, query.team)

    if search is not None and search.kind is SearchKind.ID:
        if query.sort is Sort.SLA:
            raise ViewError("search results are sorted by last activity; drop sort=sla")
        found = conversation_by_id(table, search.value)
        items = [found] if found is not None and _may_list(principal, found) else []
        return InboxResult(ConversationPage(items, None), query, search, sorted(visible), teams)

    plan = plan_view(
        query.view,
        scope=scope,
        sort=query.sort,
        filters=Filters(teams=teams, tag=query.tag.lower() if query.tag else None),
        search=search,
    )
    page = run_plan(table, plan, limit=query.limit, cursor=query.cursor)
    # The plan only reads what the caller may see; this is the second lock on the same door.
    kept = [conv for conv in page.items if _may_list(principal, conv)]
    return InboxResult(
        ConversationPage(kept, page.next_cursor, page.partial), query, search, sorted(visible), teams
    )


def _may_list(principal: Principal, conv: Conversation) -> bool:
    if not policy.can_see_mailbox(principal, conv.mailbox):
        return False
    return principal.role is Role.ADMIN or conv.status not in ADMIN_STATUSES


def _teams(table: Table, principal: Principal, team: str | None) -> tuple[str, ...] | None:
    if team is None:
        return None
    if team != MY_TEAMS:
        return (team,)
    agent = AssignmentStore(table).get_agent(principal.email, consistent=False)
    return tuple(sorted(agent.teams)) if agent else ()
