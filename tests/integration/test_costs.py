"""Per-use cost through the real handlers on DynamoDB Local: metering, attribution, recording, the
price table, the finance API and its CSV, and the Cost Explorer adapter (botocore Stubber)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mailroom import clock
from mailroom.assignment.store import AssignmentStore
from mailroom.auth.model import Access
from mailroom.auth.permissions_store import grant
from mailroom.costs import metering
from mailroom.costs.day_items import read_day_items
from mailroom.costs.explorer import CostExplorer, refresh_actuals
from mailroom.costs.prices import PriceTableInput, default_regions
from mailroom.costs.quantities import Q, Usage
from mailroom.costs.recorder import TOP_N, UsagePlan, UsageRecorder, board_entries
from mailroom.deployment import FunctionSpec
from mailroom.domain.agent import Agent
from mailroom.domain.team import Strategy, Team
from mailroom.inbox.directory import upsert_mailbox, upsert_user
from mailroom.routing import wiring as routing_wiring
from mailroom.settings import Settings, reset_settings_cache
from mailroom.table import capacity, keys, schema
from mailroom.table.client import Table, partition, serialize
from mailroom.usage import Attribution, UsageMeter
from sandbox.app import context_factory, scheduled_event
from sandbox.lambda_context import load_handler
from sandbox.stream_events import insert_record
from tests.integration.conftest import Api, Deliver
from tests.mailfactory import make_mail

SUPPORT, SALES = "support@acme.test", "sales@acme.test"
ANN, FINANCE, OUTSIDER = "ann@acme.test", "fin@acme.test", "out@acme.test"


def today() -> str:
    return clock.now().date().isoformat()


def day_items(table: Table, day: str | None = None) -> dict[str, dict[str, Any]]:
    """The day's usage items by sort key, its partitions (the shards) added up."""
    return read_day_items(table, day or today())


def conversation_day(table: Table, conversation_id: str) -> dict[str, Any]:
    item = table.get(
        {
            schema.PK: keys.conversation_usage_pk(conversation_id),
            schema.SK: keys.conversation_usage_sk(today()),
        }
    )
    assert item is not None
    return item


def total_of(values: Iterable[str | Decimal]) -> Decimal:
    """An exact sum (amounts carry more digits than Decimal's default 28)."""
    with localcontext() as ctx:
        ctx.prec = 80
        return sum((Decimal(v) for v in values), Decimal(0))


def q(item: dict[str, Any], quantity: Q) -> Decimal:
    return Usage.from_item(item)[quantity]


@pytest.fixture
def org(table: Table, env: Path) -> Iterator[AssignmentStore]:
    """Support (default team of support@, least loaded, Ann) and sales@ without a team; finance
    sees support@ only; an outsider agent works sales@."""
    routing_wiring.router.cache_clear()
    store = AssignmentStore(table)
    store.put_agent(Agent(id=ANN, name="Ann", capacity=50))
    store.put_team(Team(id="support", name="Support", strategy=Strategy.LEAST_LOADED, members=[ANN]))
    upsert_mailbox(table, SUPPORT, name="Support", team="support")
    upsert_mailbox(table, SALES, name="Sales")
    for email, role in ((ANN, "agent"), (FINANCE, "finance"), (OUTSIDER, "agent")):
        upsert_user(table, email, name=email.split("@")[0].title(), role=role)
    grant(table, SUPPORT, ANN, Access.FULL)
    grant(table, SUPPORT, FINANCE, Access.READ_ONLY)
    grant(table, SALES, OUTSIDER, Access.FULL)
    yield store
    routing_wiring.router.cache_clear()


def route(table: Table, conversation_ids: list[str]) -> dict[str, Any]:
    """Invoke the route function with one stream batch holding these conversations' first messages."""
    records = []
    for n, conversation_id in enumerate(conversation_ids):
        items = table.query_all(key_condition=partition(keys.conversation_pk(conversation_id), "MSG#"))
        records.append(insert_record(items[0], n + 1))
    result: dict[str, Any] = load_handler(metering.ROUTE)(
        {"Records": records}, context_factory(metering.ROUTE)()
    )
    return result


def new_conversation(deliver: Deliver, n: int, mailbox: str = SUPPORT) -> str:
    outcome = deliver(make_mail(subject=f"Question {n}", message_id=f"<cost-{n}@example.com>"), [mailbox])
    return str(outcome.outcomes[0]["conversation_id"])


# -- metering and attribution -------------------------------------------------------------------------


def test_ingest_attributes_to_mailbox_conversation_and_team(
    deliver: Deliver, table: Table, org: AssignmentStore
) -> None:
    first = new_conversation(deliver, 1)
    route(table, [first])  # the conversation gets its team (support, the mailbox's default)
    threaded = deliver(
        make_mail(
            subject="Re: Question 1", message_id="<cost-1b@example.com>", in_reply_to="<cost-1@example.com>"
        ),
        [SUPPORT],
    ).outcomes[0]
    assert threaded["conversation_id"] == first

    items = day_items(table)
    assert q(items["TOTAL"], Q.SES_IN_MESSAGES) == 2
    assert q(items[f"MAILBOX#{SUPPORT}"], Q.SES_IN_MESSAGES) == 2
    # The first ingest came before routing named the team: routing's recording handed it over.
    assert q(items["TEAM#support"], Q.SES_IN_MESSAGES) == 2
    assert Usage.from_item(items["TEAM#support"]) == Usage.from_item(items[f"MAILBOX#{SUPPORT}"])
    conv = conversation_day(table, first)
    assert not [name for name in conv if name.startswith("n_")]  # nothing left to hand over
    assert conv["mailbox"] == SUPPORT
    assert conv["team"] == "support"
    assert q(conv, Q.SES_IN_MESSAGES) == 2
    assert q(conv, Q.SES_IN_CHUNKS) == 2
    assert q(conv, Q.S3_PUT_REQUESTS) >= 2  # SES's S3 action stored each raw mail
    assert q(conv, Q.LAMBDA_REQUESTS) == 3  # two ingests and the routing
    assert q(items["TOTAL"], Q.LAMBDA_REQUESTS) == 3
    assert "OVERHEAD" not in items  # everything was somebody's work
    assert items["TOTAL"]["fn_ingest_n"] == 2
    assert items["TOTAL"]["fn_route_n"] == 1


def test_a_reply_goes_to_the_agent(deliver: Deliver, table: Table, api: Api, org: AssignmentStore) -> None:
    conversation = new_conversation(deliver, 2)
    _, _, detail = api("GET", f"/api/conversations/{conversation}", user=ANN)
    body = {"idempotency_key": "cost-reply-0001", "seen_version": detail["version"], "text": "On it."}
    status, _, _ = api("POST", f"/api/conversations/{conversation}/replies", body=json.dumps(body), user=ANN)
    assert status == 201

    items = day_items(table)
    agent = items[f"AGENT#{ANN}"]
    assert q(agent, Q.SES_OUT_MESSAGES) == 1
    assert q(agent, Q.SES_OUT_BYTES) > 0
    assert q(agent, Q.API_REQUESTS) == 1  # the reply's request (the GET was not a reply)
    assert q(items["TOTAL"], Q.API_REQUESTS) == 2
    assert q(conversation_day(table, conversation), Q.API_REQUESTS) == 2  # both were about it


def test_the_scheduled_sweep_is_overhead(table: Table, org: AssignmentStore) -> None:
    load_handler(metering.ROUTE)(scheduled_event(), context_factory(metering.ROUTE)())
    items = day_items(table)
    assert q(items["OVERHEAD"], Q.LAMBDA_REQUESTS) == 1
    assert q(items["OVERHEAD"], Q.DDB_REQUESTS) > 0
    assert Usage.from_item(items["OVERHEAD"]) == Usage.from_item(items["TOTAL"])
    assert not [sk for sk in items if sk.startswith(("MAILBOX#", "TEAM#", "AGENT#"))]


def test_a_batch_is_metered_per_record(deliver: Deliver, table: Table, org: AssignmentStore) -> None:
    a, b = new_conversation(deliver, 3), new_conversation(deliver, 4, SALES)
    before = day_items(table)
    route(table, [a, b])
    after = day_items(table)
    assert after["TOTAL"]["fn_route_n"] == 1
    # One invocation, two records: each conversation gets half the request and its own units.
    for conversation in (a, b):
        assert q(conversation_day(table, conversation), Q.LAMBDA_REQUESTS) == Decimal("1.5")  # ingest + half
    sales_route = Usage.from_item(after[f"MAILBOX#{SALES}"]) - Usage.from_item(before[f"MAILBOX#{SALES}"])
    support_route = Usage.from_item(after[f"MAILBOX#{SUPPORT}"]) - Usage.from_item(
        before[f"MAILBOX#{SUPPORT}"]
    )
    assert sales_route[Q.DDB_REQUESTS] > 0
    assert support_route[Q.DDB_WRITE_UNITS] > sales_route[Q.DDB_WRITE_UNITS]  # support's was assigned
    assert sales_route + support_route == Usage.from_item(after["TOTAL"]) - Usage.from_item(before["TOTAL"])


def test_recording_is_a_few_writes_per_invocation(
    deliver: Deliver, table: Table, api: Api, org: AssignmentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[tuple[str, int]] = []
    record = metering.record_invocation

    def spy(spec: FunctionSpec, settings: Settings, day: str, meter: UsageMeter, elapsed_ns: int) -> int:
        count = record(spec, settings, day, meter, elapsed_ns)
        writes.append((spec.key, count))
        return count

    monkeypatch.setattr(metering, "record_invocation", spy)
    conversation = new_conversation(deliver, 5)
    route(table, [conversation])
    api("GET", f"/conversations/{conversation}", user=ANN)
    api("GET", "/", user=ANN)
    # ingest: TOTAL, MAILBOX, CONV, board (no team yet); route: + TEAM and the hand-over of the
    # ingest's usage to the team; the page: TOTAL, MAILBOX, TEAM, CONV, board; the inbox (no
    # conversation): TOTAL and OVERHEAD.
    assert writes == [("ingest", 4), ("route", 6), ("reply", 5), ("reply", 2)]
    total = day_items(table)["TOTAL"]
    assert Decimal(str(total["m_d_req"])) == sum(n for _, n in writes)
    assert Decimal(str(total["m_d_wru"])) == sum(n for _, n in writes)  # one write unit each


def test_usage_items_stay_under_one_kilobyte(
    deliver: Deliver, table: Table, api: Api, org: AssignmentStore
) -> None:
    conversations = [new_conversation(deliver, 10 + n, SUPPORT if n % 2 else SALES) for n in range(6)]
    route(table, conversations)
    for conversation in conversations:
        api("GET", f"/api/conversations/{conversation}")
    items = [*day_items(table).values(), *(conversation_day(table, c) for c in conversations)]
    assert len(items) >= 10
    for item in items:
        assert capacity.item_size(serialize(item)) < 1024, item[schema.SK]


def test_the_board_keeps_the_costliest_conversations(table: Table, env: Path) -> None:
    recorder = UsageRecorder(table, region="us-east-1")
    for n in range(TOP_N + 5):
        plan = UsagePlan(day="2026-01-02", function="ingest", invocation_gb_seconds=Decimal(0))
        plan.add(Attribution(f"c{n:04d}", SUPPORT), Usage({Q.DDB_WRITE_UNITS: n + 1}))
        recorder.write_dimensions(plan)
    board = board_entries(day_items(table, "2026-01-02")["TOPCONV"])
    assert sorted(board) == [f"c{n:04d}" for n in range(5, TOP_N + 5)]
    # A conversation that grows past the floor enters; one that stays below costs no write.
    plan = UsagePlan(day="2026-01-02", function="ingest", invocation_gb_seconds=Decimal(0))
    plan.add(Attribution("c0000", SUPPORT), Usage({Q.DDB_WRITE_UNITS: 100}))
    recorder.write_dimensions(plan)
    board = board_entries(day_items(table, "2026-01-02")["TOPCONV"])
    assert "c0000" in board
    assert "c0005" not in board
    assert len(board) == TOP_N


# -- the price table ----------------------------------------------------------------------------------


def price_table(**changes: Any) -> dict[str, Any]:
    data = PriceTableInput(effective_from=clock.now().date(), regions=default_regions()).model_dump(
        mode="json"
    )
    data.update(changes)
    return data


def test_price_table_versions_and_admin_update(
    deliver: Deliver, table: Table, api: Api, org: AssignmentStore
) -> None:
    status, _, body = api("GET", "/api/prices", user=FINANCE)
    assert status == 200
    assert [v["version"] for v in body["versions"]] == [1]  # the built-in table, seeded
    v1 = body["versions"][0]
    assert v1["regions"]["us-east-1"]["ses_receive_messages"]["amount"] == "0.10"
    assert v1["regions"]["eu-west-1"]["lambda_arm64_gb_second"]["source"].startswith(
        "https://aws.amazon.com/"
    )

    raised = price_table(note="SES got dearer")
    raised["regions"]["us-east-1"]["ses_receive_messages"]["amount"] = "1.00"
    broken = price_table()
    del broken["regions"]["us-east-1"]["lambda_requests"]
    negative = price_table()
    negative["regions"]["us-east-1"]["lambda_requests"]["amount"] = "-0.2"
    for bad in (broken, negative, {**price_table(), "effective_from": "soon"}):
        status, _, refusal = api("PUT", "/api/prices", body=json.dumps(bad))
        assert status == 422, refusal
    for user in (FINANCE, ANN):
        status, _, _ = api("PUT", "/api/prices", body=json.dumps(raised), user=user)
        assert status == 403
    status, _, saved = api("PUT", "/api/prices", body=json.dumps(raised))
    assert status == 201
    assert saved["version"] == 2
    assert saved["created_by"] == "admin@acme.test"

    status, _, body = api("GET", "/api/prices")
    assert [v["version"] for v in body["versions"]] == [1, 2]
    assert body["versions"][0] == v1  # history is kept as it was

    deliver(make_mail(message_id="<priced@example.com>"), [SUPPORT])
    _, _, costs = api("GET", "/api/costs", "group=service")
    receiving = next(s for s in costs["services"] if s["service"] == "SES receiving")
    assert Decimal(receiving["cost"]) == Decimal("1.00") / 1000 + Decimal("0.09") / 1000  # today: version 2
    assert costs["price_version"]["version"] == 2


# -- the finance API ----------------------------------------------------------------------------------


@pytest.fixture
def workload(deliver: Deliver, table: Table, api: Api, org: AssignmentStore) -> list[str]:
    conversations = [new_conversation(deliver, 20 + n, SUPPORT if n < 3 else SALES) for n in range(5)]
    route(table, conversations)
    for conversation in conversations[:2]:
        _, _, detail = api("GET", f"/api/conversations/{conversation}", user=ANN)
        body = {"idempotency_key": f"k-{conversation}", "seen_version": detail["version"], "text": "Hello"}
        status, _, _ = api(
            "POST", f"/api/conversations/{conversation}/replies", body=json.dumps(body), user=ANN
        )
        assert status == 201
    load_handler(metering.ROUTE)(scheduled_event(), context_factory(metering.ROUTE)())
    return conversations


@pytest.mark.parametrize("group", ["mailbox", "team", "agent", "conversation", "service"])
def test_finance_figures_add_up(api: Api, workload: list[str], group: str) -> None:
    status, _, costs = api("GET", "/api/costs", f"group={group}&limit=3")
    assert status == 200
    total = Decimal(costs["total"])
    assert total > 0
    assert total_of(row["cost"] for row in costs["rows"]) == total
    assert total_of(day["cost"] for day in costs["days"]) == total
    assert total_of(s["cost"] for s in costs["services"]) == total
    assert costs["inbound_emails"] == 5
    with localcontext() as ctx:
        ctx.prec = 80
        assert Decimal(costs["per_1000_emails"]) == total / 5 * 1000
    assert Decimal(costs["ses_receiving_floor"]["per_1000_emails"]) == Decimal("0.19")
    assert costs["estimate_only"] is True
    kinds = [row["kind"] for row in costs["rows"]]
    assert "metering" in kinds
    if group == "mailbox":
        assert {row["key"] for row in costs["rows"] if row["kind"] == "dimension"} == {SUPPORT, SALES}
        assert "rest" not in kinds  # every attributed cent has a mailbox
        emails = sum(Decimal(row["quantities"].get("ses_in_messages", "0")) for row in costs["rows"])
        assert emails == 5
    if group == "conversation":
        assert len([k for k in kinds if k == "dimension"]) == 3
    assert {"services", "mailbox", "team", "agent", "conversation"} <= set(costs["drivers"])
    assert {f["function"] for f in costs["functions"]} >= {"ingest", "route", "reply"}


def test_finance_sees_only_their_mailboxes_by_name(api: Api, workload: list[str]) -> None:
    status, _, costs = api("GET", "/api/costs", "group=mailbox", user=FINANCE)
    assert status == 200
    keys_ = {row["key"] for row in costs["rows"]}
    assert SUPPORT in keys_
    assert SALES not in json.dumps(costs)
    assert "rest" in keys_  # sales@'s cost, unnamed, so the total still adds up
    assert total_of(row["cost"] for row in costs["rows"]) == Decimal(costs["total"])
    for user in (ANN, OUTSIDER):
        assert api("GET", "/api/costs", user=user)[0] == 403
        assert api("GET", "/finance", user=user)[0] == 403


def test_periods_and_time_zones_are_validated(api: Api, org: AssignmentStore) -> None:
    assert api("GET", "/api/costs", "from=2026-02-01&to=2026-01-01")[0] == 422
    assert api("GET", "/api/costs", "from=2025-01-01&to=2026-01-01")[0] == 422  # over 92 days
    assert api("GET", "/api/costs", "tz=Mars/Olympus")[0] == 422
    status, _, costs = api("GET", "/api/costs", "tz=Pacific/Kiritimati")
    assert status == 200
    assert costs["tz"] == "Pacific/Kiritimati"


def test_seat_comparison_only_with_the_users_figure(api: Api, workload: list[str]) -> None:
    _, _, costs = api("GET", "/api/costs")
    assert costs["seat_comparison"] is None
    _, _, costs = api("GET", "/api/costs", "seat_price=19&seats=4")
    assert costs["seat_comparison"]["monthly_at_seat_price"] == "76"
    assert "your input" in costs["seat_comparison"]["label"]
    status, _, page = api("GET", "/finance", "seat_price=19&seats=4")
    assert status == 200
    assert "Your input:" in page


def test_budget_and_forecast(api: Api, workload: list[str]) -> None:
    assert api("PUT", "/api/costs/budget", body=json.dumps({"amount": "250"}), user=FINANCE)[0] == 403
    assert api("PUT", "/api/costs/budget", body=json.dumps({"amount": "-1"}))[0] == 422
    assert api("PUT", "/api/costs/budget", body=json.dumps({"amount": "250"}))[0] == 200
    _, _, costs = api("GET", "/api/costs")
    forecast = costs["forecast"]
    assert forecast["budget"] == "250"
    assert Decimal(forecast["projected"]) >= Decimal(forecast["month_to_date"]) > 0


def test_the_finance_page_and_every_csv(
    api: Api, workload: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every request is metered too: switch metering off so the figures hold still between requests.
    monkeypatch.setenv("MAILROOM_COST_METERING", "false")
    reset_settings_cache()
    status, headers, page = api("GET", "/finance", user=FINANCE)
    assert status == 200
    assert "Estimate only" in page
    assert '<svg class="chart"' in page
    assert "Per 1,000 emails" in page
    _, _, costs = api("GET", "/api/costs", "group=mailbox")
    for table_name in (
        "days",
        "services",
        "mailboxes",
        "teams",
        "agents",
        "conversations",
        "functions",
        "prices",
    ):
        status, headers, body = api("GET", f"/finance/export/{table_name}")
        assert status == 200, table_name
        assert headers["Content-Type"].startswith("text/csv")
        assert "attachment" in headers["Content-Disposition"]
        raw = body.encode("utf-8")
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
        assert len(rows) >= 2, table_name
        assert len({len(row) for row in rows}) == 1, table_name  # a rectangle
        if table_name == "mailboxes":
            cost = rows[0].index("cost_usd")
            assert total_of(row[cost] for row in rows[1:]) == Decimal(costs["total"])
            assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row[:3])
    assert api("GET", "/finance/export/secrets")[0] == 404


# -- Cost Explorer ------------------------------------------------------------------------------------


def ce_response(day: date, amounts: dict[str, str], token: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
                "Total": {},
                "Groups": [
                    {"Keys": [service], "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}}
                    for service, amount in amounts.items()
                ],
                "Estimated": True,
            }
        ],
        "DimensionValueAttributes": [],
    }
    if token:
        response["NextPageToken"] = token
    return response


def ce_params(start: date, end: date, token: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": (end + timedelta(days=1)).isoformat()},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        "Filter": {"Tags": {"Key": "application", "Values": ["mailroom"], "MatchOptions": ["EQUALS"]}},
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
    }
    if token:
        params["NextPageToken"] = token
    return params


def test_cost_explorer_adapter_pages_and_stores_once_a_day(
    table: Table, api: Api, org: AssignmentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = boto3.client("ce", region_name="us-east-1")
    explorer = CostExplorer(client, tag_key="application", tag_value="mailroom")
    now = clock.now().date()
    start = now - timedelta(days=14)
    with Stubber(client) as stub:
        stub.add_response(
            "get_cost_and_usage",
            ce_response(
                now - timedelta(days=1), {"AWS Lambda": "0.0123", "Amazon DynamoDB": "0.5"}, "page-2"
            ),
            ce_params(start, now),
        )
        stub.add_response(
            "get_cost_and_usage",
            ce_response(now, {"Amazon Simple Email Service": "0.2"}),
            ce_params(start, now, "page-2"),
        )
        assert refresh_actuals(table, explorer, now) is True
        assert refresh_actuals(table, explorer, now) is False  # once a day: no second request
        stub.assert_no_pending_responses()

    actual = day_items(table, (now - timedelta(days=1)).isoformat())["ACTUAL"]
    assert actual["total"] == Decimal("0.5123")
    assert actual["services"]["AWS Lambda"] == Decimal("0.0123")

    monkeypatch.setenv("MAILROOM_COST_EXPLORER_ENABLED", "true")
    reset_settings_cache()
    monkeypatch.setattr("mailroom.api.finance_view.explorer_from_settings", lambda *_: explorer)
    _, _, costs = api(
        "GET", "/api/costs", f"from={(now - timedelta(days=1)).isoformat()}&to={now.isoformat()}"
    )
    assert costs["estimate_only"] is False
    assert costs["actual_total"] == "0.7123"
    assert [day["actual"] for day in costs["days"]] == ["0.5123", "0.2"]


def test_cost_explorer_failure_leaves_the_estimate(table: Table, env: Path) -> None:
    client = boto3.client("ce", region_name="us-east-1")
    explorer = CostExplorer(client, tag_key="application", tag_value="mailroom")
    with Stubber(client) as stub:
        stub.add_client_error("get_cost_and_usage", "AccessDeniedException", http_status_code=400)
        assert refresh_actuals(table, explorer, date(2026, 3, 4)) is False
    assert "ACTUAL" not in day_items(table, "2026-03-04")
