"""Cost accounting against figures computed by hand from the built-in us-east-1 price table.

The workload: three invocations with known durations and usage.

* ingest (512 MB), 120.3 ms → billed 121 ms = 0.0605 GB-s; 3 requests, 1.5 RRU, 16 WRU; one 20 KB mail
  (1 message, 1 chunk); S3: its raw PUT by SES (20,480 bytes) and ingest's GET; 1,000 log bytes.
  Conversation c1 in support@.
* route (256 MB), a batch of two records in 45.0001 ms → billed 46 ms = 0.0115 GB-s: record 1
  (c1, support@, team billing: 20 ms, 5 requests, 3 RRU, 10 WRU), record 2 (c2, sales@, billing:
  20 ms, 5 requests, 2.5 RRU, 8 WRU), 5.0001 ms after the last record.
* reply (512 MB), 79 ms = 0.0395 GB-s; 12 requests, 10 RRU, 14 WRU; one 4,096-byte mail out; one
  API Gateway request; c1 by ann@acme.test.

Prices (us-east-1): Lambda $0.0000133334/GB-s and $0.20/M requests; DynamoDB $0.625/M WRU,
$0.125/M RRU; SES receiving $0.10/1,000 messages + $0.09/1,000 chunks; SES sending $0.10/1,000 +
$0.12/GiB; S3 $0.005/1,000 PUT, $0.0004/1,000 GET, $0.023/GiB-month; API Gateway $1.00/M;
CloudWatch Logs $0.50/GiB. Each invocation adds 320 bytes of Lambda's own log lines.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from mailroom.costs.csv_export import to_csv
from mailroom.costs.metering import PLATFORM_LOG_BYTES, billed_gb_seconds, plan_invocation
from mailroom.costs.price_store import in_effect
from mailroom.costs.prices import (
    PriceKey,
    PriceTable,
    PriceTableInput,
    Service,
    cost_by_service,
    cost_of,
    default_prices,
    default_regions,
    default_table,
)
from mailroom.costs.quantities import QUANTUM, Q, Usage, split_exact
from mailroom.costs.recorder import UsagePlan
from mailroom.deployment import INGEST, REPLY, ROUTE
from mailroom.usage import Attribution, UsageMeter

MS = 1_000_000
PRICES = default_prices("us-east-1")
C1 = Attribution("c1", "support@acme.test")
C1_BILLING = Attribution("c1", "support@acme.test", team="billing")
C2 = Attribution("c2", "sales@acme.test", team="billing")


def ingest_invocation() -> UsagePlan:
    meter = UsageMeter()
    meter.start_segments(0)
    meter.record_dynamodb("GetItem", read_units=0.5)
    meter.record_dynamodb("Query", read_units=1.0)
    meter.record_dynamodb("TransactWriteItems", write_units=16)
    meter.record_ses_in(20_480)
    meter.record_s3("PutObject", bytes_written=20_480)  # SES's S3 action
    meter.record_s3("GetObject")
    meter.log_bytes += 1000
    meter.attribute(C1)
    return plan_invocation(INGEST, "2026-11-23", meter, 120_300_000)


def route_invocation() -> UsagePlan:
    meter = UsageMeter()
    meter.start_segments(0)
    for _ in range(3):
        meter.record_dynamodb("GetItem", read_units=1.0)
    meter.record_dynamodb("TransactWriteItems", write_units=6)
    meter.record_dynamodb("TransactWriteItems", write_units=4)
    meter.attribute(C1_BILLING)
    meter.close_segment(20 * MS)
    for read in (1.0, 1.0, 0.5):
        meter.record_dynamodb("GetItem", read_units=read)
    meter.record_dynamodb("TransactWriteItems", write_units=4)
    meter.record_dynamodb("TransactWriteItems", write_units=4)
    meter.attribute(C2)
    meter.close_segment(40 * MS)
    return plan_invocation(ROUTE, "2026-11-23", meter, 45_000_100)


def reply_invocation() -> UsagePlan:
    meter = UsageMeter()
    meter.start_segments(0)
    meter.api_requests += 1
    for n in range(12):
        meter.record_dynamodb(
            "Query" if n < 10 else "TransactWriteItems",
            read_units=1.0 if n < 10 else 0.0,
            write_units=0.0 if n < 10 else 7,
        )
    meter.record_ses_out(4096)
    meter.attribute(Attribution("c1", "support@acme.test", team="billing", agent="ann@acme.test"))
    return plan_invocation(REPLY, "2026-11-23", meter, 79 * MS)


def workload() -> list[UsagePlan]:
    return [ingest_invocation(), route_invocation(), reply_invocation()]


def test_billed_duration_is_rounded_up_to_the_millisecond_times_memory() -> None:
    assert billed_gb_seconds(1, 512) == Decimal("0.0005")  # at least 1 ms
    assert billed_gb_seconds(MS, 512) == Decimal("0.0005")
    assert billed_gb_seconds(MS + 1, 512) == Decimal("0.001")
    assert billed_gb_seconds(120_300_000, 512) == Decimal("0.0605")
    assert billed_gb_seconds(45_000_100, 256) == Decimal("0.0115")
    assert billed_gb_seconds(1000 * MS, 1024) == Decimal(1)


def test_the_workload_quantities() -> None:
    total = Usage.total(plan.total for plan in workload())
    assert total == Usage(
        {
            Q.LAMBDA_GB_SECONDS: Decimal("0.1115"),
            Q.LAMBDA_REQUESTS: 3,
            Q.DDB_REQUESTS: 25,
            Q.DDB_READ_UNITS: Decimal("17"),
            Q.DDB_WRITE_UNITS: Decimal("48"),
            Q.SES_IN_MESSAGES: 1,
            Q.SES_IN_CHUNKS: 1,
            Q.SES_OUT_MESSAGES: 1,
            Q.SES_OUT_BYTES: 4096,
            Q.S3_PUT_REQUESTS: 1,
            Q.S3_GET_REQUESTS: 1,
            Q.S3_BYTES: 20_480,
            Q.API_REQUESTS: 1,
            Q.LOG_BYTES: 1000 + 3 * PLATFORM_LOG_BYTES,
        }
    )


def test_the_workload_costs_exactly_what_the_price_table_says() -> None:
    total = Usage.total(plan.total for plan in workload())
    by_service = cost_by_service(total, PRICES)
    assert by_service == {
        Service.LAMBDA: Decimal("0.0000014866741") + Decimal("0.0000006"),  # 0.1115 GB-s, 3 requests
        Service.DYNAMODB: Decimal("0.000032125"),  # 48 x 0.625/M + 17 x 0.125/M
        Service.SES_RECEIVING: Decimal("0.00019"),  # 0.10/1000 + 0.09/1000
        Service.SES_SENDING: Decimal("0.0001") + Decimal("0.000000457763671875"),  # + 4096 B x 0.12/GiB
        # 0.005/1000 + 0.0004/1000 + 20480 B x 0.023/GiB
        Service.S3: Decimal("0.000005") + Decimal("0.0000004") + Decimal("0.000000438690185546875"),
        Service.API_GATEWAY: Decimal("0.000001"),
        Service.CLOUDWATCH_LOGS: Decimal("0.0000009126961231231689453125"),  # 1960 B x 0.50/GiB
    }
    assert cost_of(total, PRICES) == Decimal("0.0003324208240805450439453125")
    assert all(isinstance(amount, Decimal) for amount in by_service.values())


def test_attribution_of_the_workload() -> None:
    ingest, route, reply = workload()
    # Ingest: everything to c1 (no team yet); nothing to overhead.
    assert ingest.mailboxes["support@acme.test"] == ingest.total
    assert not ingest.teams
    assert not ingest.overhead
    # The batch: each record its own units; the time by measured share (20 ms + half the 5.0001 ms
    # after the last record each: equal), the request and the platform log lines evenly.
    sales = route.mailboxes["sales@acme.test"]
    assert sales == Usage(
        {
            Q.LAMBDA_GB_SECONDS: Decimal("0.00575"),
            Q.LAMBDA_REQUESTS: Decimal("0.5"),
            Q.DDB_REQUESTS: 5,
            Q.DDB_READ_UNITS: Decimal("2.5"),
            Q.DDB_WRITE_UNITS: 8,
            Q.LOG_BYTES: 160,
        }
    )
    assert cost_of(sales, PRICES) == Decimal("0.00000556367285596923828125")
    assert route.teams["billing"] == route.total
    assert set(route.conversations) == {"c1", "c2"}
    # The reply: to c1, its team and the agent.
    assert reply.agents["ann@acme.test"] == reply.total
    assert reply.teams["billing"] == reply.total
    # Every plan: the mailboxes and the overhead add up to the total.
    for plan in workload():
        assert Usage.total([*plan.mailboxes.values(), plan.overhead]) == plan.total


def test_unattributed_work_is_overhead() -> None:
    meter = UsageMeter()
    meter.start_segments(0)
    meter.record_dynamodb("Query", read_units=2.0)
    plan = plan_invocation(ROUTE, "2026-11-23", meter, 7 * MS)  # the scheduled sweep
    assert plan.overhead == plan.total
    assert plan.overhead[Q.LAMBDA_GB_SECONDS] == Decimal("0.00175")
    assert not plan.mailboxes
    assert not plan.conversations


def test_one_mail_to_two_mailboxes_shares_evenly() -> None:
    meter = UsageMeter()
    meter.start_segments(0)
    meter.record_dynamodb("TransactWriteItems", write_units=3)
    meter.attribute(Attribution("a", "support@acme.test"))
    meter.attribute(Attribution("b", "sales@acme.test"))
    plan = plan_invocation(INGEST, "2026-11-23", meter, 3 * MS)
    support, sales = plan.mailboxes["support@acme.test"], plan.mailboxes["sales@acme.test"]
    assert support + sales == plan.total
    assert support[Q.DDB_WRITE_UNITS] + sales[Q.DDB_WRITE_UNITS] == 3
    assert abs(support[Q.DDB_WRITE_UNITS] - sales[Q.DDB_WRITE_UNITS]) <= QUANTUM


def test_naming_a_conversation_again_completes_it() -> None:
    meter = UsageMeter()
    meter.attribute(Attribution("c1", "support@acme.test"))
    meter.attribute(Attribution("c1", "support@acme.test", team="billing", agent="ann@acme.test"))
    assert list(meter.targets.values()) == [
        Attribution("c1", "support@acme.test", team="billing", agent="ann@acme.test")
    ]


@pytest.mark.parametrize(
    ("total", "weights"),
    [
        (Decimal(1), [1, 1, 1]),
        (Decimal("0.0115"), [3, 7]),
        (Decimal("10"), [1, 2, 3, 4, 5, 6, 7]),
        (Decimal("0.000000000003"), [1, 1, 1, 1, 1]),
        (Decimal(5), [0, 0]),
    ],
)
def test_splits_add_up_exactly(total: Decimal, weights: list[int]) -> None:
    parts = split_exact(total, weights)
    assert sum(parts) == total
    assert all(part == part.quantize(QUANTUM) for part in parts)


def test_amounts_are_decimals_with_at_most_twelve_places() -> None:
    prices = default_regions()["us-east-1"]
    assert prices[PriceKey.LAMBDA_GB_SECOND].amount == Decimal("0.0000133334")
    with pytest.raises(ValidationError):
        prices[PriceKey.LAMBDA_GB_SECOND].model_validate(
            {
                "amount": "0.0000000000001",
                "source": "https://aws.amazon.com/lambda/pricing/",
                "published": "x y z",
            }
        )


def _table_input(**changes: object) -> dict[str, object]:
    data = PriceTableInput(effective_from=date(2026, 1, 1), regions=default_regions()).model_dump(mode="json")
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["regions"]["us-east-1"].pop("lambda_requests"),  # a price missing
        lambda d: d["regions"]["us-east-1"]["lambda_requests"].update(amount="-1"),
        lambda d: d["regions"]["us-east-1"]["lambda_requests"].update(amount="NaN"),
        lambda d: d["regions"]["us-east-1"]["lambda_requests"].update(source="http://example.com/x"),
        lambda d: d["regions"]["us-east-1"]["lambda_requests"].update(published=""),
        lambda d: d["regions"].update({"mars-1": d["regions"]["us-east-1"]}),
        lambda d: d["regions"]["us-east-1"].update(unknown_price={"amount": "1"}),
        lambda d: d.update(currency="EUR"),
        lambda d: d.update(regions={}),
    ],
)
def test_invalid_price_tables_are_refused(mutate: object) -> None:
    data = _table_input()
    mutate(data)  # type: ignore[operator]
    with pytest.raises(ValidationError):
        PriceTableInput.model_validate(data)


def test_the_version_in_effect_on_a_day() -> None:
    v1 = default_table()
    v2 = PriceTable(
        **PriceTableInput.model_validate(_table_input()).model_dump(),
        version=2,
        created_at="x",
        created_by="a",
    )
    v3 = PriceTable(
        **PriceTableInput.model_validate(_table_input()).model_dump(),
        version=3,
        created_at="x",
        created_by="a",
    )
    versions = [v1, v2, v3]
    assert in_effect(versions, date(2025, 6, 1)) is v1
    assert in_effect(versions, date(2026, 1, 1)) is v3  # same date: the later version wins
    assert in_effect(versions, date(2020, 1, 1)) is v1  # before any: the earliest
    assert v1.prices_for("ap-south-1") == v1.regions["us-east-1"]  # unknown region: us-east-1's
    assert v1.priced_region("eu-west-1") == "eu-west-1"


def test_csv_is_rfc4180_with_a_bom_and_no_formulas() -> None:
    text = to_csv(
        ["name", "cost"],
        [
            ['=HYPERLINK("http://x")', Decimal("0.000123")],
            ["+1", 3],
            ["-2", None],
            ["@sum", Decimal("-1.5")],
            ['a "b", c', 0],
        ],
    )
    assert text.startswith("\ufeff")
    assert "\r\n" in text
    assert "\n" not in text.replace("\r\n", "")
    rows = list(csv.reader(io.StringIO(text.encode("utf-8").decode("utf-8-sig"))))
    assert rows == [
        ["name", "cost"],
        ['\'=HYPERLINK("http://x")', "0.000123"],
        ["'+1", "3"],
        ["'-2", ""],
        ["'@sum", "-1.5"],  # numbers stay numbers
        ['a "b", c', "0"],
    ]


def test_forecast_is_linear_by_elapsed_days() -> None:
    from mailroom.costs.report import CostReader, DayUsage

    class Reader(CostReader):
        def day(self, day: date) -> DayUsage:
            return DayUsage(day=day, total=Usage({Q.LAMBDA_REQUESTS: 5_000_000}))  # $1.00 a day

        @property
        def versions(self) -> list[PriceTable]:
            return [default_table()]

    forecast = Reader(table=None, region="us-east-1").forecast(  # type: ignore[arg-type]
        datetime(2026, 11, 11, 0, 0, tzinfo=UTC), Decimal(40)
    )
    # 11 days read ($11: today's so far counts), 10 days elapsed, 30 days in November.
    assert forecast.month_to_date == Decimal(11)
    assert forecast.elapsed_days == Decimal(10)
    assert forecast.projected == Decimal(33)
    assert forecast.share_of_budget == Decimal("0.825")
