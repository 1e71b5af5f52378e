"""The scale simulation counts writes on the product's own keys (bench/scale_sim.py): a small day's
peak hour, checked for what the layouts promise (docs/scale.md)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from itertools import pairwise

import pytest

from bench.scale_items import measure
from bench.scale_ledger import SHADOW, TABLE
from bench.scale_sim import BEFORE, Simulation, hottest
from bench.scale_traffic import Scenario
from bench.scale_world import DAY
from mailroom.inbox.directory import DIRECTORY_MAILBOXES
from mailroom.table import keys, schema

PEAK_HOUR = (14 * 3600 + 50 * 60, 15 * 3600 + 5 * 60)  # the burst, and around it
SUPPORT = Scenario().busiest_mailbox


@cache
def peak_hour() -> Simulation:
    sim = Simulation(Scenario(emails_per_day=30_000, agents=40, seed=7), sizes=measure())
    sim.run(*PEAK_HOUR)
    return sim


def totals(sim: Simulation, space: str, pks: set[str]) -> float:
    return sum(v for (s, pk), v in sim.ledger.writes.peaks.total.items() if s == space and pk in pks)


def test_usage_lines_go_to_the_days_shards_and_add_up_to_the_single_partition() -> None:
    sim = peak_hour()
    shards = {keys.usage_day_pk(DAY, s) for s in range(keys.USAGE_SHARDS)}
    unsharded = keys.usage_day_pk(DAY)
    written = {pk for _, pk in sim.ledger.writes.peaks.total if pk.startswith("USAGE#2")}
    assert written == {*shards, unsharded}
    assert (TABLE, unsharded) not in sim.ledger.writes.peaks.total  # the product writes the shards
    items = sim.ledger.items.peaks.total
    before: dict[str, float] = {}
    after: dict[str, float] = {}
    for (pk, sk), value in items.items():
        if sk == keys.USAGE_TOP_CONVERSATIONS:
            continue  # a board per shard is written while conversations climb it: not comparable
        if pk == SHADOW + unsharded:
            before[sk] = before.get(sk, 0.0) + value
        elif pk in shards:
            after[sk] = after.get(sk, 0.0) + value
    assert before == after  # every line's writes, only spread
    assert before[keys.USAGE_TOTAL] > 0
    peaks = sim.ledger.items.peaks.second
    busiest_shard = max(peaks[(pk, keys.USAGE_TOTAL)] for pk in shards)
    assert busiest_shard < peaks[(SHADOW + unsharded, keys.USAGE_TOTAL)]


def test_the_busy_mailbox_entry_is_written_once_and_its_count_goes_to_counter_items() -> None:
    sim = peak_hour()
    entry_writes = sim.ledger.items.peaks.total
    entry = (DIRECTORY_MAILBOXES, SUPPORT)
    entry_bytes = sim.sizes.directory_entry(sim.org.grants[SUPPORT])
    registration = 2 * -(-entry_bytes // 1024)  # transactional: twice the started kilobytes
    assert entry_writes[entry] == registration
    counters = {(pk, sk): v for (pk, sk), v in entry_writes.items() if pk == keys.mailbox_counter_pk(SUPPORT)}
    assert counters
    new_in_support = sum(counters.values()) / 2 + 1  # 2 units per counter update, +1 registration
    shadow = (SHADOW + DIRECTORY_MAILBOXES, SUPPORT)
    assert entry_writes[shadow] == new_in_support * registration


def test_index_keys_are_the_products() -> None:
    sim = peak_hour()
    spaces = {space for space, _ in sim.ledger.writes.peaks.total}
    assert spaces - {TABLE, BEFORE} <= {index.name for index in schema.INDEXES}
    written = sim.ledger.writes.peaks.total
    assert (schema.BY_QUEUE.name, keys.queue_pk(SUPPORT)) in written
    assert (schema.BY_MAILBOX_STATUS.name, keys.status_partition(keys.mailbox_pk(SUPPORT), "open")) in written
    assert (schema.BY_SLA_DUE.name, keys.sla_pk(SUPPORT)) in written


@pytest.mark.parametrize("layout", ["before", "after"])
def test_the_report_lists_each_layouts_own_keys(layout: str) -> None:
    report = hottest(peak_hour(), layout, 50)
    table = {row["key"] for row in report["write_units_by_partition"][TABLE]}
    shards = {keys.usage_day_pk(DAY, s) for s in range(keys.USAGE_SHARDS)}
    if layout == "before":
        assert keys.usage_day_pk(DAY) in table
        assert not table & shards
    else:
        assert keys.usage_day_pk(DAY) not in table
        assert table & shards


def test_cached_directory_listings_read_at_most_once_per_container_and_period() -> None:
    # One container per function: each lists the directory at most once every 5 s, however many
    # calls it serves.
    sim = Simulation(
        Scenario(emails_per_day=30_000, agents=40, seed=7, api_containers=1, ingest_containers=1),
        sizes=measure(),
    )
    calls: dict[str, list[int]] = {}
    listed: dict[str, list[int]] = {}
    for function, listing in sim.directory_caches.items():

        def counted(
            at: int, needs_read: Callable[[int], bool] = listing.needs_read, name: str = function
        ) -> bool:
            calls.setdefault(name, []).append(at)
            read = needs_read(at)
            if read:
                listed.setdefault(name, []).append(at)
            return read

        listing.needs_read = counted  # type: ignore[method-assign]
    sim.run(PEAK_HOUR[0], PEAK_HOUR[0] + 600)
    assert set(listed) == {"ingest", "reply"}
    for function, times in listed.items():
        assert all(b - a >= sim.s.directory_cache_seconds for a, b in pairwise(sorted(times))), function
        assert len(calls[function]) > 2 * len(times)  # most calls were served from the listing


def test_the_read_report_lists_each_layouts_directory_reads() -> None:
    sim = peak_hour()
    reads = sim.ledger.reads.peaks
    assert 0 < reads.total[(TABLE, DIRECTORY_MAILBOXES)] < reads.total[(BEFORE, DIRECTORY_MAILBOXES)]
    before = {row["key"] for row in hottest(sim, "before", 50)["read_units_by_partition"]}
    after = hottest(sim, "after", 50)["read_units_by_partition"]
    assert DIRECTORY_MAILBOXES in before
    assert [row["peak_per_second"] for row in after if row["key"] == DIRECTORY_MAILBOXES] == [
        round(reads.second[(TABLE, DIRECTORY_MAILBOXES)], 1)
    ]
