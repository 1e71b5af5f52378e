"""Inbox views, filters, SLA sort, search and pagination through the real reply handler on
DynamoDB Local: each list holds exactly the right conversations, never one the caller may not see,
and costs a known number of queries (never a scan)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from mailroom import clock
from mailroom.assignment.store import AssignmentStore
from mailroom.auth.model import Access
from mailroom.auth.permissions_store import grant
from mailroom.domain.agent import Agent
from mailroom.domain.conversation import Conversation, Status
from mailroom.domain.team import Team
from mailroom.inbox import queries
from mailroom.inbox.directory import upsert_mailbox, upsert_user
from mailroom.table.client import Table
from mailroom.table.items import conversation_item
from mailroom.usage import metered
from tests.integration.conftest import ADMIN, Api, Deliver
from tests.mailfactory import make_mail

SUPPORT, SALES, BILLING = "support@acme.test", "sales@acme.test", "billing@acme.test"
ANN = "ann@acme.test"  # agent: support and sales, team support
BOB = "bob@acme.test"  # agent: support only, no team
FIN = "fin@acme.test"  # finance: support, read-only
NOW = datetime.now(UTC).replace(microsecond=0)


def cid(n: int) -> str:
    return f"c{n:011d}"


@dataclass(frozen=True)
class Spec:
    n: int
    mailbox: str
    status: Status = Status.OPEN
    assignee: str | None = None
    team: str | None = None
    tags: tuple[str, ...] = ()
    due_minutes: int | None = None  # first-response due, from now; None: no SLA clock
    waiting: bool = True
    contact: str = "dave@example.com"
    subject: str = "Question"


WORLD = [
    Spec(
        1,
        SUPPORT,
        assignee=ANN,
        team="support",
        tags=("vip",),
        due_minutes=30,
        contact="alice@example.com",
        subject="Printer on fire",
    ),
    Spec(2, SUPPORT, team="support", due_minutes=-10, subject="Refund for invoice 42"),
    Spec(3, SUPPORT, subject="Cannot log in"),
    Spec(4, SALES, assignee=ANN, team="sales", due_minutes=5, subject="Quote for 40 seats"),
    Spec(5, SALES, team="sales", tags=("vip",), waiting=False, subject="Renewal"),
    Spec(6, BILLING, team="billing", due_minutes=1, contact="alice@example.com", subject="Refund request"),
    Spec(7, BILLING, assignee=ANN, team="billing", subject="Invoice address"),
    Spec(8, SUPPORT, Status.PENDING, assignee=ANN, team="support", subject="Waiting on logs"),
    Spec(9, SUPPORT, Status.SNOOZED, assignee=BOB, team="support", subject="Call back Monday"),
    Spec(
        10, SALES, Status.CLOSED, assignee=ANN, team="sales", contact="alice@example.com", subject="Old deal"
    ),
    Spec(11, SUPPORT, Status.SPAM, subject="Cheap refund pills"),
    Spec(12, SUPPORT, Status.QUARANTINED, subject="Invoice.exe"),
    Spec(13, SUPPORT, Status.CLOSED, team="support", tags=("vip",), subject="Printer ink refund"),
]


def seed(table: Table, specs: list[Spec]) -> None:
    for spec in specs:
        activity = clock.iso(NOW - timedelta(minutes=100 - spec.n))  # higher n: more recent
        conv = Conversation(
            id=cid(spec.n),
            mailbox=spec.mailbox,
            status=spec.status,
            assignee=spec.assignee,
            team=spec.team,
            tags=list(spec.tags),
            contact_email=spec.contact,
            subject=spec.subject,
            subject_norm=spec.subject.casefold(),
            snippet=f"secret body {spec.n}",
            created_at=activity,
            last_message_at=activity,
            last_activity_at=activity,
            waiting_since=activity if spec.waiting else None,
            first_response_due=(
                clock.iso(NOW + timedelta(minutes=spec.due_minutes)) if spec.due_minutes is not None else None
            ),
        )
        table.put(conversation_item(conv))


@pytest.fixture
def world(table: Table, api: Api) -> Table:
    for mailbox in (SUPPORT, SALES, BILLING):
        upsert_mailbox(table, mailbox, name=mailbox.split("@")[0].title())
    for email, role in ((ANN, "agent"), (BOB, "agent"), (FIN, "finance")):
        upsert_user(table, email, name=email.split("@")[0].title(), role=role)
    grant(table, SUPPORT, ANN, Access.FULL)
    grant(table, SALES, ANN, Access.SEND_AS)
    grant(table, SUPPORT, BOB, Access.FULL)
    grant(table, SUPPORT, FIN, Access.READ_ONLY)
    store = AssignmentStore(table)
    store.put_agent(Agent(id=ANN, name="Ann", teams=["support"]))
    store.put_agent(Agent(id=BOB, name="Bob"))
    for team in ("support", "sales", "billing"):
        store.put_team(Team(id=team, name=team.title()))
    seed(table, WORLD)
    return table


def ids(api: Api, query: str = "", user: str = ADMIN) -> list[str]:
    status, _, body = api("GET", "/api/conversations", query, user=user)
    assert status == 200, body
    assert body["next_cursor"] is None
    return [item["id"] for item in body["items"]]


def newest_first(*numbers: int) -> list[str]:
    return [cid(n) for n in sorted(numbers, reverse=True)]


# -- views and filters -------------------------------------------------------------------------------


def test_each_view_lists_exactly_its_conversations(world: Table, api: Api) -> None:
    assert ids(api) == newest_first(*range(1, 14))  # the API's default: all
    assert ids(api, "view=open") == newest_first(1, 2, 3, 4, 5, 6, 7)
    assert ids(api, "view=unassigned") == newest_first(2, 3, 5, 6)
    assert ids(api, "view=pending") == [cid(8)]
    assert ids(api, "view=snoozed") == [cid(9)]
    assert ids(api, "view=closed") == newest_first(10, 13)
    assert ids(api, "view=spam") == [cid(11)]
    assert ids(api, "view=quarantined") == [cid(12)]
    assert ids(api, "status=closed") == newest_first(10, 13)  # the old parameter still works
    assert ids(api, "view=mine") == []  # the admin holds nothing
    assert ids(api, "view=mine", user=ANN) == newest_first(1, 4)  # not 7: billing is hidden from Ann
    assert ids(api, "view=mine", user=BOB) == []  # Bob's one is snoozed


def test_filters_by_mailbox_team_and_tag(world: Table, api: Api) -> None:
    assert ids(api, f"view=open&mailbox={quote(SALES)}") == newest_first(4, 5)
    assert ids(api, "view=open&team=support") == newest_first(1, 2)  # 3 has no team yet
    assert ids(api, "view=closed&team=sales") == [cid(10)]
    assert ids(api, "view=unassigned&team=support") == [cid(2)]
    assert ids(api, "view=all&team=billing") == newest_first(6, 7)
    assert ids(api, "tag=vip") == newest_first(1, 5, 13)
    assert ids(api, "view=open&tag=VIP") == newest_first(1, 5)
    assert ids(api, "view=unassigned&tag=vip&team=sales") == [cid(5)]
    assert ids(api, "view=open&team=@mine", user=ANN) == newest_first(1, 2)
    assert ids(api, "view=unassigned&team=@mine", user=ANN) == [cid(2)]
    assert ids(api, "view=open&team=@mine", user=BOB) == []  # in no team
    assert ids(api, "view=open&team=@mine") == []  # the admin has no agent record


def test_agents_see_only_their_mailboxes_and_no_spam(world: Table, api: Api) -> None:
    assert ids(api, "view=open", user=ANN) == newest_first(1, 2, 3, 4, 5)
    assert ids(api, "view=unassigned", user=ANN) == newest_first(2, 3, 5)
    assert ids(api, "view=open&team=billing", user=ANN) == []  # the team's mailbox is hidden
    assert ids(api, f"view=open&mailbox={quote(BILLING)}", user=ANN) == []
    assert ids(api, "view=all", user=ANN) == newest_first(1, 2, 3, 4, 5, 8, 9, 10, 13)
    assert ids(api, "view=open", user=BOB) == newest_first(1, 2, 3)
    assert ids(api, "view=open&sort=sla", user=BOB) == [cid(2), cid(1)]
    for view in ("spam", "quarantined"):
        status, _, body = api("GET", "/api/conversations", f"view={view}", user=ANN)
        assert status == 403
        assert "admins" in body["message"]


def test_finance_lists_without_snippets(world: Table, api: Api) -> None:
    status, _, body = api("GET", "/api/conversations", "view=open", user=FIN)
    assert status == 200
    assert [item["id"] for item in body["items"]] == newest_first(1, 2, 3)
    assert {item["snippet"] for item in body["items"]} == {""}
    status, _, page = api("GET", "/", user=FIN)
    assert status == 200
    assert "secret body" not in page
    assert "Printer on fire" in page


def test_sla_sort_is_overdue_then_soonest_and_leaves_out_conversations_without_a_clock(
    world: Table, api: Api
) -> None:
    status, _, body = api("GET", "/api/conversations", "view=open&sort=sla")
    assert status == 200
    assert [item["id"] for item in body["items"]] == [cid(2), cid(6), cid(4), cid(1)]  # not 3, 5, 7
    dues = [item["first_response_due"] for item in body["items"]]
    assert dues == sorted(dues)
    assert ids(api, "view=unassigned&sort=sla") == [cid(2), cid(6)]
    assert ids(api, "view=mine&sort=sla", user=ANN) == [cid(4), cid(1)]
    assert ids(api, "view=open&sort=sla&team=support") == [cid(2), cid(1)]


# -- search ----------------------------------------------------------------------------------------


def test_search_by_address_words_and_id_never_reveals_a_hidden_mailbox(world: Table, api: Api) -> None:
    assert ids(api, "q=alice@example.com") == newest_first(1, 6, 10)
    assert ids(api, "q=Alice@Example.com", user=ANN) == newest_first(1, 10)  # 6 is in billing
    assert ids(api, "q=refund") == newest_first(2, 6, 11, 13)
    assert ids(api, "q=refund", user=ANN) == newest_first(2, 13)  # not billing, not spam
    assert ids(api, "q=REFUND+invoice") == [cid(2)]
    assert ids(api, "q=printer&tag=vip") == newest_first(1, 13)
    assert ids(api, f"q=refund&mailbox={quote(SUPPORT)}") == newest_first(2, 11, 13)
    assert ids(api, f"q={cid(6)}") == [cid(6)]
    assert ids(api, f"q={cid(6)}", user=ANN) == []  # exists, but not for Ann: like a missing one
    assert ids(api, f"q={cid(11)}", user=ANN) == []  # spam: admins only
    assert ids(api, f"q={cid(11)}") == [cid(11)]
    assert ids(api, "q=c99999999999") == []
    assert ids(api, "q=nobody@example.com") == []


def test_search_finds_ingested_mail_by_subject_words_and_sender(deliver: Deliver, api: Api) -> None:
    deliver(make_mail(subject="Re: [Acme] Export FAILS at step 3", message_id="<s1@example.com>"))
    deliver(make_mail(subject="Export works", message_id="<s2@example.com>", sender="Bo <bo@example.org>"))
    status, _, body = api("GET", "/api/conversations", "q=export+fails")
    assert status == 200
    assert [item["subject"] for item in body["items"]] == ["Re: [Acme] Export FAILS at step 3"]
    _, _, body = api("GET", "/api/conversations", "q=bo@example.org")
    assert [item["subject"] for item in body["items"]] == ["Export works"]


# -- pagination ------------------------------------------------------------------------------------


def walk(api: Api, query: str, *, limit: int, user: str = ADMIN) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(200):
        page_query = f"{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        status, _, body = api("GET", "/api/conversations", page_query, user=user)
        assert status == 200, body
        assert len(body["items"]) <= limit
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


@pytest.fixture
def crowd(table: Table, api: Api) -> list[Spec]:
    mailboxes = (SUPPORT, SALES, BILLING)
    for mailbox in mailboxes:
        upsert_mailbox(table, mailbox, name=mailbox)
    specs = [
        Spec(
            n,
            mailboxes[(n * 7) % 3],
            status=Status.OPEN if n % 5 else Status.PENDING,
            assignee=ANN if n % 3 == 0 else None,
            tags=("vip",) if n % 4 == 0 else (),
            due_minutes=((n * 37) % 90) - 45 if n % 2 else None,
        )
        for n in range(1, 61)
    ]
    seed(table, specs)
    return specs


def test_cursor_pages_cover_every_view_once_across_mailboxes(crowd: list[Spec], api: Api) -> None:
    open_ = [s for s in crowd if s.status is Status.OPEN]
    assert walk(api, "view=open", limit=7) == newest_first(*(s.n for s in open_))
    assert walk(api, "view=unassigned", limit=5) == newest_first(*(s.n for s in open_ if not s.assignee))
    assert walk(api, "view=all&tag=vip", limit=4) == newest_first(*(s.n for s in crowd if "vip" in s.tags))
    timed = sorted((s for s in open_ if s.due_minutes is not None), key=lambda s: (s.due_minutes, cid(s.n)))
    assert walk(api, "view=open&sort=sla", limit=6) == [cid(s.n) for s in timed]


def test_short_read_budgets_still_give_every_match_once(
    crowd: list[Spec], api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tiny budgets make every page stop early in some mailbox (real LastEvaluatedKeys on an index).
    monkeypatch.setattr(queries, "FILTERED_READ", 3)
    monkeypatch.setattr(queries, "FILTERED_BUDGET", 5)
    vip = [s for s in crowd if "vip" in s.tags]
    assert walk(api, "view=all&tag=vip", limit=2) == newest_first(*(s.n for s in vip))
    timed = sorted(
        (s for s in crowd if s.status is Status.OPEN and s.due_minutes is not None and not s.assignee),
        key=lambda s: (s.due_minutes, cid(s.n)),
    )
    assert walk(api, "view=unassigned&sort=sla", limit=3) == [cid(s.n) for s in timed]


# -- cost: queries only, a known number of them ----------------------------------------------------------


def requests(api: Api, query: str, user: str = ADMIN, path: str = "/api/conversations") -> dict[str, int]:
    with metered() as meter:
        status, _, _ = api("GET", path, query, user=user)
    assert status == 200
    assert "Scan" not in meter.dynamodb_requests
    return dict(meter.dynamodb_requests)


def test_every_view_is_a_bounded_number_of_queries(world: Table, api: Api) -> None:
    # Every request: the caller's user item (GetItem) and the mailbox directory (Query) to sign in,
    # the directory again for the listing's visible mailboxes; then the view's own queries.
    per_mailbox = {"GetItem": 1, "Query": 2 + 3}
    for view in ("all", "open", "unassigned", "pending", "snoozed", "closed", "spam", "quarantined"):
        assert requests(api, f"view={view}") == per_mailbox, view
    assert requests(api, "view=open&sort=sla") == per_mailbox
    assert requests(api, "view=open&tag=vip") == per_mailbox  # small partitions: one read each
    assert requests(api, "q=refund") == per_mailbox
    assert requests(api, "view=mine", user=ANN) == {"GetItem": 1, "Query": 2 + 1}
    assert requests(api, "view=open", user=ANN) == {"GetItem": 1, "Query": 2 + 2}
    assert requests(api, "view=open&team=support") == {"GetItem": 1, "Query": 2 + 1}
    assert requests(api, "view=open&team=@mine", user=ANN) == {"GetItem": 2, "Query": 2 + 1}
    assert requests(api, "q=alice@example.com") == {"GetItem": 1, "Query": 2 + 1}
    assert requests(api, f"q={cid(1)}") == {"GetItem": 2, "Query": 2}
    # The page adds the team directory for its filter; the poll does not.
    assert requests(api, "", path="/") == {"GetItem": 1, "Query": 2 + 3 + 1}
    assert requests(api, "", path="/partials/inbox-rows") == {"GetItem": 1, "Query": 2 + 3}


def test_a_filtered_page_reads_at_most_its_budget(
    crowd: list[Spec], api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "FILTERED_READ", 4)
    monkeypatch.setattr(queries, "FILTERED_BUDGET", 8)
    counts = requests(api, "view=all&tag=nothing-has-this&limit=2")
    assert counts["Query"] <= 2 + 3 * 2  # at most budget / read queries per mailbox


# -- invalid requests --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("view=everything", 422, "view"),
        ("sort=oldest", 422, "sort"),
        ("team=Not%20a%20team", 422, "team"),
        ("tag=" + "x" * 65, 422, "tag"),
        ("limit=101", 422, "limit"),
        ("q=" + "x" * 201, 422, "q"),
        ("view=pending&sort=sla", 400, "sort=sla"),
        ("q=refund&sort=sla", 400, "last activity"),
        ("view=open&status=closed", 400, "disagree"),
        ("q=%3F%21", 400, "search"),
        ("cursor=bm9wZQ", 400, "cursor"),
    ],
)
def test_invalid_parameters_are_refused_with_a_reason(
    world: Table, api: Api, query: str, status: int, says: str
) -> None:
    code, _, body = api("GET", "/api/conversations", query)
    assert code == status
    assert says in str(body.get("message") or body.get("detail"))


def test_a_cursor_only_continues_its_own_view(crowd: list[Spec], api: Api) -> None:
    _, _, body = api("GET", "/api/conversations", "view=open&limit=3")
    cursor = body["next_cursor"]
    assert cursor
    status, _, refused = api("GET", "/api/conversations", f"view=unassigned&limit=3&cursor={cursor}")
    assert status == 400
    assert "another view" in refused["message"]


# -- the page ----------------------------------------------------------------------------------------


def test_the_page_shows_views_filters_and_keyboard_help_without_inline_code(world: Table, api: Api) -> None:
    status, headers, page = api("GET", "/", user=ANN)
    assert status == 200
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert re.search(r'<script src="/static/inbox\.js\?v=[0-9a-f]{12}" defer></script>', page)
    assert re.search(r'<link rel="stylesheet" href="/static/inbox\.css\?v=[0-9a-f]{12}">', page)
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)  # no inline scripts
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers
    assert 'href="/mentions"' in page
    assert re.search(r'<a href="/"\s+aria-current="page">All open</a>', page)  # the default view
    assert ">Spam<" not in page  # admin lists are not offered to agents
    for label in ("Mine", "Unassigned", "Pending", "Snoozed", "Closed"):
        assert f">{label}</a>" in page
    assert '<label for="inbox-q">Search</label>' in page
    assert 'id="conv-c00000000001"' in page
    assert "Invoice address" not in page  # billing
    status, _, page = api("GET", "/", "view=mine&sort=sla", user=ANN)
    assert re.search(r'aria-current="page">Mine</a>', page)
    assert page.index(cid(4)) < page.index(cid(1))


def test_the_page_names_what_to_do_when_a_list_is_empty(world: Table, api: Api) -> None:
    cases = {
        "view=mine": "Nothing is assigned to you",
        "view=snoozed&mailbox=sales%40acme.test": "Clear the filters",  # hidden: like an empty one
        "view=open&tag=none-has-it": "Clear the filters",
        "q=zebra": "No subject contains “zebra”",
        "view=open&team=@mine": "aren't in a team",
    }
    for query, advice in cases.items():
        status, _, page = api("GET", "/", query, user=BOB)
        assert status == 200, query
        assert "No conversations here" in page
        assert advice in page, query


def test_each_empty_view_says_what_to_do(table: Table, api: Api) -> None:
    status, _, page = api("GET", "/", "view=all")
    assert "Mail sent to one of your mailboxes appears here" in page  # a new installation
    upsert_mailbox(table, SUPPORT, name="Support")
    seed(table, [Spec(1, SUPPORT, assignee=ANN)])
    advice = {
        "view=unassigned": "Every open conversation has an owner",
        "view=pending": "Nothing is waiting on a customer",
        "status=snoozed": "Nothing is snoozed",
        "view=closed": "Nothing is closed yet",
        "view=spam": "No spam",
        "view=quarantined": "Nothing is quarantined",
        "view=open&sort=sla": "No open conversation is waiting on an SLA clock",
        "q=alice@example.com": "Search needs the whole address",
        f"q={cid(9)}": "No conversation c00000000009 that you can see",
    }
    for query, text in advice.items():
        status, _, page = api("GET", "/", query)
        assert status == 200, query
        assert '<div class="empty">\n  <h2>No conversations here</h2>' in page, query
        assert text in page, query
    upsert_user(table, BOB, name="Bob", role="agent")
    _, _, page = api("GET", "/", user=BOB)
    assert "You don't have access to any mailbox yet" in page


def test_the_page_reports_what_it_could_not_understand(world: Table, api: Api) -> None:
    status, _, page = api("GET", "/", "view=nonsense")
    assert status == 400
    assert "there is no &#39;nonsense&#39; list" in page
    status, _, page = api("GET", "/", "view=spam", user=ANN)
    assert status == 400
    assert "for admins" in page


def test_the_poll_answers_no_content_until_the_first_page_changes(world: Table, api: Api) -> None:
    status, _, page = api("GET", "/", "view=unassigned")
    poll = re.search(r'hx-get="(/partials/inbox-rows\?[^"]+)"', page)
    assert poll
    url = poll.group(1).replace("&amp;", "&")
    assert "view=unassigned" in url
    path, query = url.split("?", 1)
    status, _, body = api("GET", path, query)
    assert status == 204
    assert body == ""
    seed(world, [Spec(40, SUPPORT, subject="Brand new")])
    status, _, rows = api("GET", path, query)
    assert status == 200
    assert rows.startswith('<div id="inbox-list"')
    assert "Brand new" in rows
    assert 'hx-trigger="every' in rows  # the new list polls with its own fingerprint
    # A later page, and a search, are where the agent went on purpose: they don't poll.
    for later in ("view=unassigned&cursor=x", "q=refund"):
        _, _, other = api("GET", "/", later)
        assert "hx-trigger" not in other


def test_page_two_of_the_inbox_continues_the_first(crowd: list[Spec], api: Api) -> None:
    _, _, first = api("GET", "/", "view=all")
    found = re.search(r'<a rel="next" href="/\?([^"]+)"', first)
    assert found
    _, _, second = api("GET", "/", found.group(1).replace("&amp;", "&"))
    first_ids = set(re.findall(r'id="conv-(c\d+)"', first))
    second_ids = set(re.findall(r'id="conv-(c\d+)"', second))
    assert len(first_ids) == 50
    assert len(second_ids) == 10
    assert not first_ids & second_ids
    assert "← First page" in second
    assert "hx-trigger" not in second  # a later page doesn't poll
