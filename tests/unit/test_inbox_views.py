"""Inbox views without a table: search parsing, query plans, index attributes, and the paginating
merge against an in-memory stand-in for index queries (Limit counts examined items, as in DynamoDB)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest

from mailroom.domain.conversation import Conversation, Status
from mailroom.inbox import queries
from mailroom.inbox.cursor import InvalidCursorError, decode_cursor, encode_cursor
from mailroom.inbox.queries import run_plan
from mailroom.inbox.search import SearchError, SearchKind, parse_search
from mailroom.inbox.views import Filters, Plan, Scope, Sort, Source, View, ViewError, plan_view
from mailroom.table import schema
from mailroom.table.client import Condition, Page
from mailroom.table.items import conversation_index_attributes, conversation_item

ADMIN = Scope(
    me="ann@acme.test", mailboxes=("sales@acme.test", "support@acme.test"), mailbox_filter=None, admin=True
)
AGENT = Scope(
    me="ann@acme.test",
    mailboxes=("support@acme.test",),
    mailbox_filter=("support@acme.test",),
    admin=False,
)


def conversation(n: int = 1, **changes: Any) -> Conversation:
    base: dict[str, Any] = {
        "id": f"c{n:011d}",
        "mailbox": "support@acme.test",
        "contact_email": "alice@example.com",
        "created_at": "2026-11-20T09:00:00.000000Z",
        "last_message_at": "2026-11-20T09:00:00.000000Z",
        "last_activity_at": f"2026-11-20T09:{n % 60:02d}:00.000000Z",
    }
    return Conversation.model_validate({**base, **changes})


# -- search ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "value", "words"),
    [
        ("alice@example.com", SearchKind.CONTACT, "alice@example.com", ()),
        ("  <Alice@Example.COM> ", SearchKind.CONTACT, "alice@example.com", ()),
        ("cabcdefgh234", SearchKind.ID, "cabcdefgh234", ()),
        ("CABCDEFGH234", SearchKind.ID, "cabcdefgh234", ()),
        ("Refund?  INVOICE", SearchKind.WORDS, "", ("refund", "invoice")),
        ("printer printer on", SearchKind.WORDS, "", ("printer", "on")),
        ("cabc", SearchKind.WORDS, "", ("cabc",)),  # too short for an id: a word
        ("Straße", SearchKind.WORDS, "", ("strasse",)),  # case-folded like subject_norm
    ],
)
def test_search_text_is_an_address_an_id_or_words(
    text: str, kind: SearchKind, value: str, words: tuple[str, ...]
) -> None:
    search = parse_search(text)
    assert search is not None
    assert (search.kind, search.value, search.words) == (kind, value, words)


def test_empty_search_is_no_search_and_nonsense_is_refused() -> None:
    assert parse_search(None) is None
    assert parse_search("   ") is None
    for bad in ["?!", "x" * 201, "a b c d e f g", "w" * 65]:
        with pytest.raises(SearchError):
            parse_search(bad)


# -- plans -----------------------------------------------------------------------------------------


def test_status_views_read_one_partition_per_mailbox_without_a_filter() -> None:
    for view, status in [(View.OPEN, "open"), (View.PENDING, "pending"), (View.CLOSED, "closed")]:
        plan = plan_view(view, scope=ADMIN)
        assert [(s.index.name, s.partition) for s in plan.sources] == [
            ("ByMailboxStatus", f"MAILBOX#sales@acme.test#STATUS#{status}"),
            ("ByMailboxStatus", f"MAILBOX#support@acme.test#STATUS#{status}"),
        ]
        assert plan.filter is None
        assert plan.forward is False


def test_mine_reads_the_agents_partition_and_keeps_to_visible_mailboxes() -> None:
    plan = plan_view(View.MINE, scope=AGENT)
    assert [(s.index.name, s.partition) for s in plan.sources] == [
        ("ByAssigneeStatus", "AGENT#ann@acme.test#STATUS#open")
    ]
    assert plan.filter is not None
    assert plan.filter.expression == "#f_mailbox = :f0"
    assert plan.filter.values == {":f0": "support@acme.test"}
    assert plan_view(View.MINE, scope=ADMIN).filter is None  # an admin sees every mailbox


def test_unassigned_is_the_queue_index_and_sla_the_due_index() -> None:
    queue = plan_view(View.UNASSIGNED, scope=ADMIN)
    assert {s.partition for s in queue.sources} == {
        "MAILBOX#sales@acme.test#QUEUE",
        "MAILBOX#support@acme.test#QUEUE",
    }
    assert {s.index.name for s in queue.sources} == {"ByQueue"}
    sla = plan_view(View.UNASSIGNED, scope=ADMIN, sort=Sort.SLA)
    assert {s.index.name for s in sla.sources} == {"BySlaDue"}
    assert sla.forward is True
    assert sla.filter is not None
    assert sla.filter.expression == "attribute_not_exists(#f_assignee)"
    mine = plan_view(View.MINE, scope=ADMIN, sort=Sort.SLA)
    assert mine.filter is not None
    assert mine.filter.values == {":f0": "ann@acme.test"}


def test_a_team_filter_on_a_status_view_reads_the_teams_partitions() -> None:
    plan = plan_view(View.OPEN, scope=AGENT, filters=Filters(teams=("billing", "sales")))
    assert [(s.key, s.index.name, s.partition) for s in plan.sources] == [
        ("team:billing", "ByTeamStatus", "TEAM#billing#STATUS#open"),
        ("team:sales", "ByTeamStatus", "TEAM#sales#STATUS#open"),
    ]
    assert plan.filter is not None
    assert plan.filter.expression == "#f_mailbox = :f0"  # visibility, not the team
    unassigned = plan_view(View.UNASSIGNED, scope=ADMIN, filters=Filters(teams=("billing",), tag="vip"))
    assert unassigned.filter is not None
    assert unassigned.filter.expression == "#f_team = :f0 AND contains(#f_tags, :f1)"
    assert unassigned.filter.values == {":f0": "billing", ":f1": "vip"}


def test_my_teams_for_someone_in_no_team_reads_nothing() -> None:
    for view in [View.OPEN, View.UNASSIGNED, View.ALL, View.MINE]:
        assert plan_view(view, scope=ADMIN, filters=Filters(teams=())).sources == ()


def test_agents_lists_and_searches_leave_out_spam_and_quarantined() -> None:
    plan = plan_view(View.ALL, scope=AGENT)
    assert plan.filter is not None
    assert plan.filter.expression == "#f_status <> :f0 AND #f_status <> :f1"
    assert plan_view(View.ALL, scope=ADMIN).filter is None
    words = parse_search("refund invoice")
    search = plan_view(View.OPEN, scope=AGENT, search=words)
    assert search.filter is not None
    assert "contains(#f_subject_norm, :f2) AND contains(#f_subject_norm, :f3)" in search.filter.expression
    assert {s.index.name for s in search.sources} == {"ByMailbox"}
    contact = plan_view(View.OPEN, scope=AGENT, search=parse_search("alice@example.com"))
    assert [(s.index.name, s.partition) for s in contact.sources] == [
        ("ByContact", "CONTACT#alice@example.com")
    ]
    assert contact.filter is not None
    assert "#f_mailbox = " in contact.filter.expression


def test_nothing_visible_means_nothing_read() -> None:
    nobody = Scope(me="x@acme.test", mailboxes=(), mailbox_filter=(), admin=False)
    for view in View:
        assert plan_view(view, scope=nobody).sources == ()
    assert plan_view(View.OPEN, scope=nobody, search=parse_search("alice@example.com")).sources == ()


def test_many_mailboxes_split_the_in_list_at_dynamodbs_limit() -> None:
    mailboxes = tuple(f"m{n}@acme.test" for n in range(150))
    scope = Scope(me="a@acme.test", mailboxes=mailboxes, mailbox_filter=mailboxes, admin=False)
    plan = plan_view(View.MINE, scope=scope)
    assert plan.filter is not None
    assert plan.filter.expression.startswith("(#f_mailbox IN (")
    assert plan.filter.expression.count(" IN (") == 2
    assert len(plan.filter.values) == 150


def test_impossible_combinations_are_refused_with_a_reason() -> None:
    with pytest.raises(ViewError, match="sort=sla"):
        plan_view(View.PENDING, scope=ADMIN, sort=Sort.SLA)
    with pytest.raises(ViewError, match="last activity"):
        plan_view(View.OPEN, scope=ADMIN, sort=Sort.SLA, search=parse_search("refund"))


def test_cursors_are_bound_to_their_view_but_not_to_the_mailbox_list() -> None:
    open_ = plan_view(View.OPEN, scope=ADMIN)
    assert open_.signature != plan_view(View.PENDING, scope=ADMIN).signature
    assert open_.signature != plan_view(View.OPEN, scope=ADMIN, filters=Filters(tag="vip")).signature
    grown = Scope(me=ADMIN.me, mailboxes=(*ADMIN.mailboxes, "new@acme.test"), mailbox_filter=None, admin=True)
    assert open_.signature == plan_view(View.OPEN, scope=grown).signature
    table = FakeTable([])
    foreign = encode_cursor({"v": plan_view(View.PENDING, scope=ADMIN).signature, "p": {}})
    with pytest.raises(InvalidCursorError, match="another view"):
        run_plan(table, open_, cursor=foreign)  # type: ignore[arg-type]
    with pytest.raises(InvalidCursorError):
        run_plan(table, open_, cursor=encode_cursor({"sales@acme.test": "x"}))  # type: ignore[arg-type]


# -- index attributes --------------------------------------------------------------------------------


def test_queue_and_due_keys_exist_only_while_they_mean_something() -> None:
    waiting = {
        "waiting_since": "2026-11-20T09:00:00.000000Z",
        "first_response_due": "2026-11-20T10:00:00+00:00",
        "team": "support",
    }
    queued = conversation_index_attributes(conversation(1, **waiting))
    assert queued["GSI6PK"] == "MAILBOX#support@acme.test#QUEUE"
    assert queued["GSI7PK"] == "MAILBOX#support@acme.test#SLA"
    assert queued["GSI7SK"] == "2026-11-20T10:00:00.000000Z#c00000000001"  # normalized: sorts as time
    held = conversation_index_attributes(conversation(1, assignee="ann@acme.test", **waiting))
    assert "GSI6PK" not in held
    assert "GSI7PK" in held
    states: list[dict[str, Any]] = [
        {"status": Status.PENDING},
        {"status": Status.CLOSED},
        {"waiting_since": None},
    ]
    for state in states:
        attributes = conversation_index_attributes(conversation(1, **{**waiting, **state}))
        assert "GSI7PK" not in attributes
    assert "GSI7PK" not in conversation_index_attributes(
        conversation(1, waiting_since="2026-11-20T09:00:00Z")
    )
    assert "GSI6PK" not in conversation_index_attributes(conversation(1, status=Status.SPAM))
    assert set(schema.key_attributes()) >= {"GSI6PK", "GSI6SK", "GSI7PK", "GSI7SK"}


# -- paginating merge, against a stand-in for index queries -----------------------------------------------


@dataclass
class FakeTable:
    """Index queries over in-memory items: key condition, direction, ``Limit`` counting examined
    items, ``ExclusiveStartKey``, and a Python predicate standing in for the filter expression."""

    items: list[dict[str, Any]]
    predicate: Any = None
    calls: int = 0

    def query(
        self,
        *,
        key_condition: Condition,
        index: str | None = None,
        forward: bool = True,
        limit: int | None = None,
        start_key: dict[str, Any] | None = None,
        filter_: Condition | None = None,
        consistent: bool = False,
    ) -> Page:
        self.calls += 1
        spec = next(i for i in schema.INDEXES if i.name == index)
        rows = sorted(
            (item for item in self.items if item.get(spec.pk) == key_condition.values[":pk"]),
            key=lambda item: str(item[spec.sk]),
            reverse=not forward,
        )
        after = key_condition.values.get(":after")
        if after is not None:
            rows = [r for r in rows if (r[spec.sk] > after if forward else r[spec.sk] < after)]
        if start_key is not None:
            rows = [
                r
                for r in rows
                if (r[spec.sk] > start_key[spec.sk] if forward else r[spec.sk] < start_key[spec.sk])
            ]
        examined = rows[:limit] if limit else rows
        more = limit is not None and len(rows) >= limit
        kept = [r for r in examined if filter_ is None or self.predicate is None or self.predicate(r)]
        last = {spec.sk: examined[-1][spec.sk]} if more and examined else None
        return Page(kept, last)


def walk(table: FakeTable, plan: Plan, limit: int) -> tuple[list[str], int]:
    seen: list[str] = []
    cursor = None
    for pages in range(1, 500):
        page = run_plan(table, plan, limit=limit, cursor=cursor)  # type: ignore[arg-type]
        assert len(page.items) <= limit
        seen += [c.id for c in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return seen, pages
        assert set(decode_cursor(cursor)["p"]) <= {s.key for s in plan.sources}
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("seed", range(25))
def test_pages_never_skip_or_repeat_whatever_the_filter_and_budget(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    monkeypatch.setattr(queries, "FILTERED_READ", rng.choice([2, 3, 5]))
    monkeypatch.setattr(queries, "FILTERED_BUDGET", rng.choice([3, 6, 10]))
    mailboxes = ["a@acme.test", "b@acme.test", "c@acme.test"][: rng.randint(1, 3)]
    items = []
    for n in range(rng.randint(0, 60)):
        conv = conversation(
            n,
            mailbox=rng.choice(mailboxes),
            tags=["vip"] if rng.random() < rng.choice([0.05, 0.3, 0.9]) else [],
            last_activity_at=f"2026-11-{rng.randint(10, 28)}T{rng.randint(0, 23):02d}:00:00.000000Z",
            waiting_since="2026-11-20T09:00:00.000000Z",
            first_response_due=f"2026-11-{rng.randint(10, 28)}T{rng.randint(0, 23):02d}:30:00.000000Z",
        )
        items.append(conversation_item(conv))
    scope = Scope(me="ann@acme.test", mailboxes=tuple(mailboxes), mailbox_filter=None, admin=True)
    sort = rng.choice([Sort.ACTIVITY, Sort.SLA])
    filtered = rng.random() < 0.7
    plan = plan_view(View.OPEN, scope=scope, sort=sort, filters=Filters(tag="vip" if filtered else None))
    table = FakeTable(items, predicate=lambda item: "vip" in item.get("tags", []))
    index = plan.sources[0].index if plan.sources else schema.BY_MAILBOX_STATUS
    expected = sorted(
        (i for i in items if not filtered or "vip" in i.get("tags", [])),
        key=lambda i: str(i[index.sk]),
        reverse=sort is Sort.ACTIVITY,
    )
    seen, _ = walk(table, plan, limit=rng.randint(1, 8))
    assert seen == [str(i["id"]) for i in expected]


def test_an_unfiltered_page_is_one_query_per_source_and_full() -> None:
    items = [
        conversation_item(conversation(n, mailbox=["a@acme.test", "b@acme.test"][n % 2])) for n in range(30)
    ]
    scope = Scope(me="x", mailboxes=("a@acme.test", "b@acme.test"), mailbox_filter=None, admin=True)
    table = FakeTable(items)
    page = run_plan(table, plan_view(View.OPEN, scope=scope), limit=10)  # type: ignore[arg-type]
    assert table.calls == 2
    assert len(page.items) == 10
    assert page.partial is False
    assert [c.last_activity_at for c in page.items] == sorted(
        (c.last_activity_at for c in page.items), reverse=True
    )


def test_a_filter_that_rarely_matches_gives_short_pages_that_still_progress(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(queries, "FILTERED_READ", 5)
    monkeypatch.setattr(queries, "FILTERED_BUDGET", 10)
    items = [conversation_item(conversation(n, tags=["vip"] if n in {3, 47} else [])) for n in range(50)]
    scope = Scope(me="x", mailboxes=("support@acme.test",), mailbox_filter=None, admin=True)
    plan = plan_view(View.OPEN, scope=scope, filters=Filters(tag="vip"))
    table = FakeTable(items, predicate=lambda item: "vip" in item.get("tags", []))
    first = run_plan(table, plan, limit=2)  # type: ignore[arg-type]
    assert first.partial is True
    assert table.calls == 2  # the budget: 10 items examined, in reads of 5
    assert [c.id for c in first.items] == [conversation(47).id]
    seen, pages = walk(table, plan, limit=2)
    assert seen == [conversation(47).id, conversation(3).id]
    assert pages <= 6  # 50 items, 10 examined per page (the last page learns the end)


def test_a_source_that_stopped_early_holds_back_later_items_of_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(queries, "FILTERED_READ", 4)
    monkeypatch.setattr(queries, "FILTERED_BUDGET", 4)
    sparse = [
        conversation(n, mailbox="a@acme.test", last_activity_at=f"2026-11-20T10:{n:02d}:00.000000Z")
        for n in range(10)
    ]
    dense = [
        conversation(20 + n, mailbox="b@acme.test", last_activity_at=f"2026-11-20T09:{n:02d}:00.000000Z")
        for n in range(10)
    ]
    matches = {sparse[0].id} | {c.id for c in dense}  # a's only match is its oldest
    table = FakeTable([conversation_item(c) for c in sparse + dense], predicate=lambda i: i["id"] in matches)
    scope = Scope(me="x", mailboxes=("a@acme.test", "b@acme.test"), mailbox_filter=None, admin=True)
    plan = plan_view(View.OPEN, scope=scope, filters=Filters(tag="vip"))
    first = run_plan(table, plan, limit=3)  # type: ignore[arg-type]
    assert first.items == []  # b's matches are older than what a has not read yet
    seen, _ = walk(table, plan, limit=3)
    assert seen == [sparse[0].id] + [c.id for c in reversed(dense)]


def test_positions_of_sources_that_left_are_ignored() -> None:
    scope = Scope(me="x", mailboxes=("a@acme.test",), mailbox_filter=None, admin=True)
    plan = Plan(
        sources=(Source("a@acme.test", schema.BY_MAILBOX_STATUS, "MAILBOX#a@acme.test#STATUS#open"),),
        forward=False,
        signature="s",
    )
    cursor = encode_cursor({"v": "s", "p": {"gone@acme.test": "2026", "a@acme.test": "~"}})
    page = run_plan(FakeTable([]), plan, cursor=cursor)  # type: ignore[arg-type]
    assert page.items == []
    assert page.next_cursor is None
    assert scope.mailboxes == ("a@acme.test",)
