"""The inbox page: views, filters, search and a list that refreshes itself without losing the
agent's place.

The view state lives in the URL (``/?view=open&team=billing&sort=sla&cursor=...``), so reloads,
the back button and shared links keep it. The first page polls ``/partials/inbox-rows`` with the
fingerprint of what it shows; the answer is ``204 No Content`` (no swap) unless the rows changed,
so scrolling, the keyboard selection and the search box's text stay put. Later pages and searches
don't poll: the agent moved there on purpose.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from markupsafe import Markup

from mailroom.api import wiring
from mailroom.api.guard import current_session
from mailroom.api.render import environment
from mailroom.api.render import page as render_page
from mailroom.assignment.store import DIRECTORY_TEAMS
from mailroom.auth import policy
from mailroom.auth.model import Principal, Role
from mailroom.inbox.cursor import InvalidCursorError
from mailroom.inbox.listing import MY_TEAMS, InboxForbiddenError, InboxQuery, InboxResult, list_inbox
from mailroom.inbox.queries import ConversationPage
from mailroom.inbox.search import SearchError, SearchKind
from mailroom.inbox.views import ADMIN_VIEWS, SLA_VIEWS, Sort, View, ViewError
from mailroom.table.client import partition

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated

PAGE_SIZE = 50
POLL_SECONDS = 15
DEFAULT_VIEW = View.OPEN
VIEW_LABELS: dict[View, str] = {
    View.MINE: "Mine",
    View.UNASSIGNED: "Unassigned",
    View.OPEN: "All open",
    View.PENDING: "Pending",
    View.SNOOZED: "Snoozed",
    View.CLOSED: "Closed",
    View.SPAM: "Spam",
    View.QUARANTINED: "Quarantined",
    View.ALL: "Everything",
}
_STATE_ORDER = ("view", "mailbox", "team", "tag", "sort", "q", "cursor")


def _state_from_request() -> tuple[InboxQuery, list[str]]:
    """The inbox state from the URL, leniently: what can't be understood is named and dropped."""
    params = router.current_event.query_string_parameters or {}
    problems: list[str] = []

    def text(name: str, longest: int) -> str | None:
        value = (params.get(name) or "").strip()
        if len(value) > longest:
            problems.append(f"{name} is longer than {longest} characters")
            return None
        return value or None

    view = DEFAULT_VIEW
    view_name = text("view", 20) or text("status", 20)  # ?status= was the old tab parameter
    if view_name:
        try:
            view = View(view_name)
        except ValueError:
            problems.append(f"there is no {view_name!r} list")
    sort = Sort.ACTIVITY
    sort_name = text("sort", 20)
    if sort_name:
        try:
            sort = Sort(sort_name)
        except ValueError:
            problems.append(f"sort by {sort_name!r} isn't possible: last activity or SLA")
    if sort is Sort.SLA and view not in SLA_VIEWS:
        sort = Sort.ACTIVITY  # a tab link from an SLA-sorted view keeps working
    tag = text("tag", 64)
    query = InboxQuery(
        view=view,
        sort=sort,
        mailbox=text("mailbox", 254),
        team=text("team", 64),
        tag=tag.lower() if tag else None,
        q=text("q", 200),
        cursor=text("cursor", 4096),
        limit=PAGE_SIZE,
    )
    return query, problems


def _pairs(query: InboxQuery, **changes: str | None) -> list[tuple[str, str]]:
    """The query string of an inbox state (defaults left out), in a stable order."""
    state: dict[str, str | None] = {
        "view": query.view.value,
        "mailbox": query.mailbox,
        "team": query.team,
        "tag": query.tag,
        "sort": query.sort.value,
        "q": query.q,
        "cursor": query.cursor,
    }
    state.update(changes)
    defaults = {"view": DEFAULT_VIEW.value, "sort": Sort.ACTIVITY.value}
    return [
        (name, value) for name in _STATE_ORDER if (value := state.get(name)) and value != defaults.get(name)
    ]


def _url(query: InboxQuery, **changes: str | None) -> str:
    pairs = _pairs(query, **changes)
    return "/?" + urlencode(pairs) if pairs else "/"


def _tab_url(query: InboxQuery, view: View) -> str:
    sort = query.sort.value if query.sort is Sort.SLA and view in SLA_VIEWS else None
    return _url(query, view=view.value, sort=sort, q=None, cursor=None)


def _list(principal: Principal, query: InboxQuery, problems: list[str]) -> tuple[InboxResult, str | None]:
    error = "; ".join(problems) or None
    try:
        return list_inbox(wiring.table(), principal, query), error
    except (InvalidCursorError, ViewError, SearchError, InboxForbiddenError) as exc:
        empty = InboxResult(ConversationPage([], None), query, None)
        return empty, "; ".join([*problems, str(exc)])


def _list_context(
    principal: Principal, query: InboxQuery, result: InboxResult, error: str | None
) -> dict[str, Any]:
    searching = result.search is not None
    poll = not query.cursor and not searching and not error
    filtered = bool(query.mailbox or query.team or query.tag)
    context: dict[str, Any] = {
        "error": error,
        "conversations": result.page.items,
        "next_cursor": result.page.next_cursor,
        "partial": result.page.partial,
        "query": query,
        "search": result.search,
        "search_kinds": SearchKind,
        "view_label": VIEW_LABELS[query.view],
        "sla": query.sort is Sort.SLA,
        "filtered": filtered,
        "no_mailboxes": not result.visible and principal.role is not Role.ADMIN,
        "my_teams_empty": query.team == MY_TEAMS and result.teams == (),
        "bodies": {m for m in result.visible if policy.can_read_bodies(principal, m)},
        "mixed_statuses": searching or query.view is View.ALL,
        "url": lambda **changes: _url(query, **changes),
        "clear_url": _url(query, mailbox=None, team=None, tag=None, q=None, cursor=None),
        "next_url": _url(query, cursor=result.page.next_cursor) if result.page.next_cursor else None,
        "first_url": _url(query, cursor=None) if query.cursor else None,
    }
    table_html = environment().get_template("_inbox_table.html").render(**context)
    fingerprint = hashlib.sha256(table_html.encode("utf-8")).hexdigest()[:16]
    context["table_html"] = Markup(table_html)  # noqa: S704  # rendered by our autoescaping templates
    context["fingerprint"] = fingerprint
    context["poll_url"] = (
        "/partials/inbox-rows?" + urlencode([*_pairs(query, cursor=None), ("seen", fingerprint)])
        if poll
        else None
    )
    context["poll_seconds"] = POLL_SECONDS
    return context


def _teams() -> list[dict[str, str]]:
    """The team directory (one query): ids and names for the filter."""
    entries = wiring.table().query_all(key_condition=partition(DIRECTORY_TEAMS))
    return sorted(
        ({"id": str(e.get("id") or e["SK"]), "name": str(e.get("name") or e["SK"])} for e in entries),
        key=lambda team: team["name"].lower(),
    )


def page(template: str, status_code: int = 200, **context: Any) -> Response[str]:
    return render_page(current_session(router.context), template, status_code, active="inbox", **context)


@router.get("/", include_in_schema=False)
def inbox_page() -> Response[str]:
    principal = current_session(router.context).principal
    query, problems = _state_from_request()
    result, error = _list(principal, query, problems)
    views = [v for v in View if v not in ADMIN_VIEWS or principal.role is Role.ADMIN]
    return page(
        "inbox.html",
        status_code=400 if error else 200,
        views=[(v, VIEW_LABELS[v], _tab_url(query, v)) for v in views],
        mailboxes=result.visible,
        teams=_teams(),
        my_teams=MY_TEAMS,
        sla_views=[v.value for v in SLA_VIEWS],
        **_list_context(principal, query, result, error),
    )


@router.get("/partials/inbox-rows", include_in_schema=False)
def inbox_rows() -> Response[str]:
    """The list alone, for polling: 204 (htmx keeps what it shows) when nothing changed."""
    principal = current_session(router.context).principal
    query, problems = _state_from_request()
    result, error = _list(principal, query, problems)
    context = _list_context(principal, query, result, error)
    seen = (router.current_event.query_string_parameters or {}).get("seen")
    if seen and seen == context["fingerprint"] and not error:
        return Response(status_code=204, body="", headers={"Cache-Control": "no-store"})
    return page("_inbox_rows.html", status_code=400 if error else 200, **context)
