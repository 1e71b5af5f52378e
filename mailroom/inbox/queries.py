"""Inbox listings: run a view's plan (:mod:`mailroom.inbox.views`) as index queries, with cursors.

A plan has one or more sources (index partitions: a mailbox's, an agent's, a team's, a contact's).
A page queries each source from its own position and merges by the index sort key (newest activity
first, or soonest due first), so the cost of a page is a bounded number of queries per source,
whatever the size of the inbox. The cursor records one position per source.

Without a filter a source is read once, ``limit`` items. With a filter (team, tag, subject words,
visibility) DynamoDB's ``Limit`` counts the items it examined, not the matches, so a source is read
in pages of :data:`FILTERED_READ` until it yields ``limit`` matches, ends, or
:data:`FILTERED_BUDGET` items were examined. Merging then only emits what is certainly in order: a
source that stopped on its budget has unknown items after the point it reached, so nothing later
than that point is emitted yet. Such a page may hold fewer than ``limit`` items (even none) and
still have a next cursor: every page makes progress, and no item is skipped or repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailroom.domain.conversation import Conversation
from mailroom.inbox.cursor import InvalidCursorError, decode_cursor, encode_cursor
from mailroom.inbox.views import Plan, Source
from mailroom.table.client import Condition, Table
from mailroom.table.items import to_conversation

MAX_PAGE = 100
FILTERED_READ = 100  # index items per query when a filter applies (at least 2 x limit)
FILTERED_BUDGET = 300  # index items examined per source per page when a filter applies
_EXHAUSTED = "~"  # a cursor position meaning "nothing more in this source"
_MAX_POSITION = 512


@dataclass(frozen=True)
class ConversationPage:
    items: list[Conversation]
    next_cursor: str | None
    # True when a source stopped on its read budget: the page may be short although more follow.
    partial: bool = False


@dataclass
class SourceRead:
    """What one page learned about one source."""

    source: Source
    matches: list[tuple[str, Conversation]]  # (sort key, conversation), in index order
    exhausted: bool  # read to the end
    frontier: str | None  # the sort key of the last item examined (None: nothing examined)
    full: bool  # yielded at least ``limit`` matches


def run_plan(table: Table, plan: Plan, *, limit: int = 25, cursor: str | None = None) -> ConversationPage:
    limit = max(1, min(limit, MAX_PAGE))
    positions = _positions(cursor, plan)
    reads = [
        _read_source(table, plan, source, positions.get(source.key), limit)
        for source in plan.sources
        if positions.get(source.key) != _EXHAUSTED
    ]
    return merge_reads(plan, reads, positions, limit)


def merge_reads(
    plan: Plan, reads: list[SourceRead], positions: dict[str, str], limit: int
) -> ConversationPage:
    """Pick the page from what each source yielded, and where each source continues (pure)."""

    def before(a: str, b: str) -> bool:
        """``a`` comes before ``b`` in the listing's order."""
        return a < b if plan.forward else a > b

    # Sources that stopped on their budget: items after their frontier are unknown yet.
    cut: str | None = None
    for read in reads:
        if read.exhausted or read.full or read.frontier is None:
            continue
        if cut is None or before(read.frontier, cut):
            cut = read.frontier
    candidates = [
        (sort_key, read.source.key, conv)
        for read in reads
        for sort_key, conv in read.matches
        if cut is None or sort_key == cut or before(sort_key, cut)
    ]
    candidates.sort(key=lambda entry: entry[0], reverse=not plan.forward)
    chosen = candidates[:limit]
    chosen_keys = {sort_key for sort_key, _, _ in chosen}

    next_positions = {s.key: p for s, p in ((s, positions.get(s.key)) for s in plan.sources) if p}
    for read in reads:
        key = read.source.key
        taken = [sort_key for sort_key, owner, _ in chosen if owner == key]
        left_over = any(sort_key not in chosen_keys for sort_key, _ in read.matches)
        if left_over:
            if taken:
                next_positions[key] = taken[-1]
        elif read.exhausted:
            next_positions[key] = _EXHAUSTED
        elif read.frontier is not None:
            next_positions[key] = read.frontier
    remaining = any(next_positions.get(source.key) != _EXHAUSTED for source in plan.sources)
    return ConversationPage(
        items=[conv for _, _, conv in chosen],
        next_cursor=encode_cursor({"v": plan.signature, "p": next_positions}) if remaining else None,
        partial=cut is not None and len(chosen) < limit,
    )


def _positions(cursor: str | None, plan: Plan) -> dict[str, str]:
    if not cursor:
        return {}
    decoded = decode_cursor(cursor)
    if decoded.get("v") != plan.signature:
        raise InvalidCursorError("the cursor belongs to another view; start again without it")
    positions = decoded.get("p")
    if not isinstance(positions, dict) or not all(
        isinstance(value, str) and len(value) <= _MAX_POSITION for value in positions.values()
    ):
        raise InvalidCursorError("the cursor is not valid; start again without it")
    # A source that is gone (a revoked mailbox) is ignored; a new one starts from its beginning.
    known = {source.key for source in plan.sources}
    return {str(key): value for key, value in positions.items() if key in known}


def _read_source(table: Table, plan: Plan, source: Source, position: str | None, limit: int) -> SourceRead:
    index = source.index
    names = {"#pk": index.pk}
    values: dict[str, Any] = {":pk": source.partition}
    expression = "#pk = :pk"
    if position:
        names["#sk"] = index.sk
        values[":after"] = position
        expression += " AND #sk > :after" if plan.forward else " AND #sk < :after"
    condition = Condition(expression, names, values)
    if plan.filter is None:
        page = table.query(key_condition=condition, index=index.name, forward=plan.forward, limit=limit)
        matches = [(str(item[index.sk]), to_conversation(item)) for item in page.items]
        return SourceRead(
            source,
            matches,
            exhausted=page.last_key is None,
            frontier=matches[-1][0] if matches else None,
            full=len(matches) >= limit,
        )
    matches = []
    examined = 0
    start: dict[str, Any] | None = None
    frontier: str | None = None
    read_size = max(FILTERED_READ, 2 * limit)
    budget = max(FILTERED_BUDGET, read_size)
    while True:
        this_read = min(read_size, budget - examined)
        page = table.query(
            key_condition=condition,
            index=index.name,
            forward=plan.forward,
            limit=this_read,
            start_key=start,
            filter_=plan.filter,
        )
        examined += this_read
        matches += [(str(item[index.sk]), to_conversation(item)) for item in page.items]
        if page.last_key is None:
            return SourceRead(source, matches, exhausted=True, frontier=None, full=len(matches) >= limit)
        frontier = str(page.last_key[index.sk])
        if len(matches) >= limit or examined >= budget:
            return SourceRead(source, matches, exhausted=False, frontier=frontier, full=len(matches) >= limit)
        start = page.last_key
