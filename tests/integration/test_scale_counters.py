"""The counters spread over several items for scale (docs/scale.md), on DynamoDB Local: a day's usage
over ``keys.USAGE_SHARDS`` partitions, added up by every reader; a mailbox's conversation count over
small counter items instead of its directory entry."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from mailroom.costs.day_items import read_day_items
from mailroom.costs.quantities import Q, Usage
from mailroom.costs.recorder import TOP_N, UsagePlan, UsageRecorder, board_entries
from mailroom.costs.report import CostReader, read_day
from mailroom.inbox.directory import get_mailbox, upsert_mailbox
from mailroom.table import keys, schema
from mailroom.table.client import Table, partition
from mailroom.usage import Attribution
from tests.integration.conftest import Api, Deliver
from tests.mailfactory import make_mail

DAY = "2026-02-03"
SUPPORT, SALES = "support@acme.test", "sales@acme.test"


def plan(shard: int, function: str = "ingest") -> UsagePlan:
    return UsagePlan(day=DAY, function=function, invocation_gb_seconds=Decimal("0.25"), shard=shard)


def record(recorder: UsageRecorder, invocation: UsagePlan) -> None:
    recorder.write_dimensions(invocation)
    recorder.write_total(invocation, Usage({Q.DDB_WRITE_UNITS: 3, Q.DDB_REQUESTS: 3}))


def partitions_written(table: Table) -> set[str]:
    return {pk for pk in keys.usage_day_pks(DAY) if table.query_all(key_condition=partition(pk), max_items=1)}


def test_a_days_usage_is_spread_over_shards_and_read_back_whole(table: Table, env: Path) -> None:
    recorder = UsageRecorder(table, region="us-east-1")
    for n in range(keys.USAGE_SHARDS * 2):
        invocation = plan(n % keys.USAGE_SHARDS)
        invocation.add(
            Attribution(f"c{n:04d}", SUPPORT if n % 2 else SALES, team="support" if n % 2 else None),
            Usage({Q.SES_IN_MESSAGES: 1, Q.DDB_WRITE_UNITS: 10 + n}),
        )
        invocation.add(None, Usage({Q.LAMBDA_REQUESTS: 1}))
        record(recorder, invocation)

    # Every shard holds part of the day, and none of it is in the day's own partition.
    assert partitions_written(table) == {keys.usage_day_pk(DAY, s) for s in range(keys.USAGE_SHARDS)}
    items = read_day_items(table, DAY)
    total = Usage.from_item(items[keys.USAGE_TOTAL])
    assert total[Q.SES_IN_MESSAGES] == keys.USAGE_SHARDS * 2
    assert total[Q.DDB_WRITE_UNITS] == sum(10 + n for n in range(keys.USAGE_SHARDS * 2))
    assert total[Q.LAMBDA_REQUESTS] == keys.USAGE_SHARDS * 2
    assert items[keys.USAGE_TOTAL]["fn_ingest_n"] == keys.USAGE_SHARDS * 2
    assert items[keys.USAGE_TOTAL]["m_d_wru"] == 3 * keys.USAGE_SHARDS * 2
    support = Usage.from_item(items[keys.USAGE_MAILBOX + SUPPORT])
    assert support[Q.SES_IN_MESSAGES] == keys.USAGE_SHARDS
    assert Usage.from_item(items[keys.USAGE_TEAM + "support"]) == support
    overhead = Usage.from_item(items[keys.USAGE_OVERHEAD])
    assert overhead[Q.LAMBDA_REQUESTS] == keys.USAGE_SHARDS * 2

    # The report's day is the sum, so mailboxes + overhead still add up to the total.
    day = read_day(table, date.fromisoformat(DAY))
    assert day.total == total
    assert day.mailboxes[SUPPORT] + day.mailboxes[SALES] + day.overhead == day.total
    assert day.functions["ingest"] == (
        Decimal(keys.USAGE_SHARDS * 2),
        Decimal("0.25") * keys.USAGE_SHARDS * 2,
    )


def test_days_recorded_before_the_shards_and_cost_explorer_figures_are_still_read(
    table: Table, env: Path
) -> None:
    """The day's own partition (older days, Cost Explorer's ACTUAL) is read beside the shards."""
    legacy = {schema.PK: keys.usage_day_pk(DAY), "entity": "usage", "day": DAY}
    table.put({**legacy, schema.SK: keys.USAGE_TOTAL, Q.SES_IN_MESSAGES.value: 5, "fn_route_n": 2})
    table.put({**legacy, schema.SK: keys.USAGE_MAILBOX + SUPPORT, Q.SES_IN_MESSAGES.value: 5})
    table.put(
        {
            **legacy,
            schema.SK: keys.USAGE_ACTUAL,
            "entity": "usage_actual",
            "total": Decimal("1.5"),
            "services": {},
        }
    )
    recorder = UsageRecorder(table, region="us-east-1")
    invocation = plan(3, "route")
    invocation.add(Attribution("c0001", SUPPORT), Usage({Q.SES_IN_MESSAGES: 2}))
    record(recorder, invocation)

    day = read_day(table, date.fromisoformat(DAY))
    assert day.total[Q.SES_IN_MESSAGES] == 7
    assert day.mailboxes[SUPPORT][Q.SES_IN_MESSAGES] == 7
    assert day.functions["route"][0] == 3
    assert day.actual == {"total": Decimal("1.5")}
    report = CostReader(table, region="us-east-1").report(date.fromisoformat(DAY), date.fromisoformat(DAY))
    assert report.inbound_emails == 7


def test_the_shards_boards_merge_into_the_days_costliest_conversations(table: Table, env: Path) -> None:
    recorder = UsageRecorder(table, region="us-east-1")
    conversations = TOP_N + 10
    for n in range(conversations):
        invocation = plan(n % 3)
        invocation.add(Attribution(f"c{n:04d}", SUPPORT), Usage({Q.DDB_WRITE_UNITS: n + 1}))
        recorder.write_dimensions(invocation)
    # c0000 grows on another shard than its first: its weight there is its whole day.
    invocation = plan(4)
    invocation.add(Attribution("c0000", SUPPORT), Usage({Q.DDB_WRITE_UNITS: 500}))
    recorder.write_dimensions(invocation)

    shard_boards = [
        table.get({schema.PK: keys.usage_day_pk(DAY, s), schema.SK: keys.USAGE_TOP_CONVERSATIONS})
        for s in (0, 1, 2, 4)
    ]
    assert all(board is not None for board in shard_boards)
    board = board_entries(read_day_items(table, DAY)[keys.USAGE_TOP_CONVERSATIONS])
    heaviest = ["c0000", *(f"c{n:04d}" for n in range(conversations - 1, conversations - TOP_N, -1))]
    assert sorted(board) == sorted(heaviest)
    day = read_day(table, date.fromisoformat(DAY))
    assert day.board["c0000"] == max(day.board.values())
    assert day.board["c0000"] == recorder.weight(Usage({Q.DDB_WRITE_UNITS: 501}))


def test_conversations_are_counted_beside_the_mailbox_entry_not_on_it(
    deliver: Deliver, table: Table, api: Api
) -> None:
    upsert_mailbox(
        table, SUPPORT, name="Support", access={f"agent{n:03d}@acme.test": "full" for n in range(40)}
    )
    entry_before = get_mailbox(table, SUPPORT)
    assert entry_before is not None
    for n in range(5):
        deliver(make_mail(subject=f"Question {n}", message_id=f"<count-{n}@example.com>"), [SUPPORT])
    deliver(make_mail(subject="New box", message_id="<count-sales@example.com>"), [SALES])

    # The existing entry was not rewritten by ingest: its access map and count are as they were.
    assert get_mailbox(table, SUPPORT) == entry_before
    counters = table.query_all(key_condition=partition(keys.mailbox_counter_pk(SUPPORT)))
    assert sum(int(item["conversation_count"]) for item in counters) == 5
    assert {item[schema.SK] for item in counters} <= {
        keys.mailbox_counter_sk(s) for s in range(keys.MAILBOX_COUNTER_SHARDS)
    }
    # A mailbox's first conversation registers its entry, counted there.
    sales = get_mailbox(table, SALES)
    assert sales is not None
    assert sales["conversation_count"] == 1
    assert not table.query_all(key_condition=partition(keys.mailbox_counter_pk(SALES)))

    status, _, listed = api("GET", "/api/admin/mailboxes")
    assert status == 200
    counts = {m["address"]: m["conversation_count"] for m in listed["mailboxes"]}
    assert counts == {SUPPORT: 5, SALES: 1}
    status, _, one = api("GET", f"/api/admin/mailboxes/{SUPPORT}")
    assert status == 200
    assert one["conversation_count"] == 5
