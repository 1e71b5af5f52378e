"""Team metrics through the real handlers on DynamoDB Local: mail in through ingest, routing and the
metrics function fed by the sandbox's stream poller (Lambda-shaped records, the deployed filters),
replies and closes through the API, then the report as JSON, as a page and as CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailroom.assignment.store import AssignmentStore
from mailroom.auth.model import Access, Principal, Role
from mailroom.auth.permissions_store import grant
from mailroom.clock import iso
from mailroom.deployment import METRICS, ROUTE
from mailroom.domain.agent import Agent
from mailroom.domain.team import SlaPolicy, Strategy, Team
from mailroom.inbox.directory import upsert_mailbox, upsert_user
from mailroom.metrics.export import BOM
from mailroom.metrics.model import ALL, Contribution, Count, Duration, Target, TargetKind, hour_of, increments
from mailroom.metrics.report import ReportQuery, build_report
from mailroom.metrics.rollups import counter_key
from mailroom.routing import wiring as routing_wiring
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table, serialize
from mailroom.usage import metered
from sandbox.app import context_factory
from sandbox.lambda_context import load_handler
from sandbox.stream_events import insert_record
from sandbox.streams import Consumer, StreamPoller
from tests.integration.conftest import Api, Deliver
from tests.mailfactory import make_mail

SUPPORT, SALES = "support@acme.test", "sales@acme.test"
SAM, PRIYA = "sam@acme.test", "priya@acme.test"
FINANCE = "finance@acme.test"


@pytest.fixture
def org(table: Table, env: Path) -> Iterator[AssignmentStore]:
    """Support (manual queue: nobody is auto-assigned) with an SLA of 60 calendar minutes; Sam and
    Priya work it; finance may see Support's figures, not Sales'."""
    routing_wiring.router.cache_clear()
    store = AssignmentStore(table)
    policy = SlaPolicy(
        id="std", name="Std", first_response_minutes=60, resolution_minutes=600, business_hours=False
    )
    for email, name in ((SAM, "Sam"), (PRIYA, '=HYPERLINK("http://x")')):  # a name that is a formula
        store.put_agent(Agent(id=email, name=name, capacity=10))
        upsert_user(table, email, name=name, role="agent")
    store.put_team(
        Team(
            id="support",
            name="Support",
            strategy=Strategy.MANUAL,
            members=[SAM, PRIYA],
            sla_policies=[policy],
            default_sla="std",
        )
    )
    upsert_mailbox(table, SUPPORT, name="Support", team="support")
    upsert_mailbox(table, SALES, name="Sales")
    for email in (SAM, PRIYA):
        grant(table, SUPPORT, email, Access.FULL)
    upsert_user(table, FINANCE, name="Fiona", role="finance")
    grant(table, SUPPORT, FINANCE, Access.READ_ONLY)
    yield store
    routing_wiring.router.cache_clear()


class Recorder:
    """Wraps the metrics handler and keeps every batch it was given (to deliver them again)."""

    def __init__(self, handler: Callable[..., Any]) -> None:
        self.handler = handler
        self.batches: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.batches.append(json.loads(json.dumps(event)))
        return self.handler(event, context)


@pytest.fixture
def metrics_handler() -> Recorder:
    return Recorder(load_handler(METRICS))


@pytest.fixture
def pump(
    ddb_endpoint: str, table_name: str, tmp_path: Path, org: AssignmentStore, metrics_handler: Recorder
) -> Iterator[Callable[[], None]]:
    """The sandbox's stream poller with the route and metrics consumers, wired as in the sandbox."""
    consumers = []
    for spec, handler in ((ROUTE, load_handler(ROUTE)), (METRICS, metrics_handler)):
        assert spec.stream is not None
        consumers.append(
            Consumer(
                name=spec.key,
                handler=handler,
                patterns=spec.stream.patterns,
                batch_size=spec.stream.batch_size,
                max_retries=spec.stream.max_retries,
                context_factory=context_factory(spec),
            )
        )
    with StreamPoller(
        endpoint=ddb_endpoint, table_name=table_name, consumers=consumers, state_dir=tmp_path / "streams"
    ) as poller:

        def drain() -> None:
            assert poller.drain(timeout=60)
            assert poller.dead_letters() == []

        yield drain


def reply(api: Api, conversation_id: str, user: str, key: str, close: bool = False) -> None:
    _, _, detail = api("GET", f"/api/conversations/{conversation_id}", user=user)
    body: dict[str, Any] = {"idempotency_key": key, "seen_version": detail["version"], "text": "On it."}
    if close:
        body["close_after"] = "closed"
    status, _, answer = api(
        "POST", f"/api/conversations/{conversation_id}/replies", body=json.dumps(body), user=user
    )
    assert status == 201, answer


def rollup_items(table: Table, mailbox: str = SUPPORT) -> list[dict[str, Any]]:
    return table.query_all(
        key_condition=Condition("#pk = :pk", {"#pk": schema.PK}, {":pk": keys.metrics_pk(mailbox)}),
        consistent=True,
    )


def report(api: Api, query: str = "period=1d", user: str | None = None) -> dict[str, Any]:
    status, _, body = api("GET", "/api/reports/team", query, **({"user": user} if user else {}))
    assert status == 200, body
    return dict(body)


@pytest.fixture
def traffic(deliver: Deliver, api: Api, pump: Callable[[], None]) -> list[str]:
    """Four customers write, and an out-of-office robot; Sam answers two (closing one), Priya one;
    the fourth customer waits."""
    minutes_ago = datetime.now(UTC) - timedelta(minutes=20)
    ids = [
        str(
            deliver(
                make_mail(
                    subject=f"Question {n}", sender=f"c{n}@example.com", message_id=f"<q{n}@example.com>"
                ),
                received_at=minutes_ago,
            ).outcomes[0]["conversation_id"]
        )
        for n in range(4)
    ]
    deliver(
        make_mail(subject="Out of office", sender="robot@example.com", message_id="<ooo@example.com>",
                  headers={"Auto-Submitted": "auto-replied"}),
        received_at=minutes_ago,
    )  # fmt: skip
    pump()
    reply(api, ids[0], SAM, "reply-key-0001", close=True)
    reply(api, ids[1], SAM, "reply-key-0002")
    reply(api, ids[1], SAM, "reply-key-0003")  # a second reply: not a first response
    reply(api, ids[2], PRIYA, "reply-key-0004")
    pump()
    return ids


def test_rollups_add_up_and_a_redelivered_batch_does_not_count_twice(
    traffic: list[str], api: Api, table: Table, metrics_handler: Recorder
) -> None:
    body = report(api)
    totals = body["totals"]
    assert totals["conversations"] == 5
    assert totals["volume_in"] == 4
    assert totals["volume_in_other"] == 1
    assert totals["replies"] == 4
    assert totals["first_responses"] == 3
    assert 19 * 60 <= totals["first_response"]["mean_seconds"] <= 30 * 60
    assert totals["sla_met"] == 3  # within the hour
    assert totals["sla_breached"] == 0
    assert totals["sla_attainment"] == 1.0
    assert totals["resolutions"] == 1
    assert sum(day["volume_in"] for day in body["days"]) == 4
    assert body["backlog"]["open"] == 4  # one is closed
    assert body["backlog"]["waiting"] == 1  # the fourth customer (the robot waits for nobody)
    assert body["backlog"]["oldest_waiting_conversation"] == traffic[3]
    assert body["backlog"]["oldest_waiting_seconds"] >= 20 * 60
    rows = {row["agent"]: row for row in body["agents"]}
    assert rows[SAM]["replies"] == 3
    assert rows[SAM]["first_responses"] == 2
    assert rows[SAM]["assigned"] == 2  # claimed by replying
    assert rows[SAM]["resolutions"] == 1
    assert rows[PRIYA]["first_responses"] == 1
    assert rows[SAM]["open_now"] == 1  # one closed, one still open
    team = report(api, "period=1d&team=support")["totals"]
    assert (team["volume_in"], team["first_responses"]) == (4, 3)
    sam = report(api, f"period=1d&agent={SAM}")["totals"]
    assert (sam["replies"], sam["first_responses"], sam["volume_in"]) == (3, 2, None)

    # Lambda delivers a batch again (a retry after a timeout, a replayed shard): nothing changes.
    before = rollup_items(table)
    handler = load_handler(METRICS)
    for batch in metrics_handler.batches:
        assert handler(batch, context_factory(METRICS)()) == {"batchItemFailures": []}
    assert rollup_items(table) == before
    assert report(api)["totals"] == totals


def test_csv_exports_are_well_formed_and_safe(traffic: list[str], api: Api) -> None:
    status, headers, text = api("GET", "/reports/team.csv", "period=7d&table=days")
    assert status == 200
    assert headers["Content-Type"].startswith("text/csv")
    assert "attachment" in headers["Content-Disposition"]
    assert text.startswith(BOM)
    assert "\r\n" in text
    rows = list(csv.reader(io.StringIO(text.removeprefix(BOM))))
    assert rows[0][:3] == ["date", "conversations", "volume_in"]
    assert len(rows) == 1 + 7
    assert all(len(row) == len(rows[0]) for row in rows)
    assert sum(int(row[2]) for row in rows[1:]) == 4
    _, _, agents = api("GET", "/reports/team.csv", "period=7d&table=agents")
    names = {row["agent"]: row["name"] for row in csv.DictReader(io.StringIO(agents.removeprefix(BOM)))}
    assert names[PRIYA] == '\'=HYPERLINK("http://x")'  # shown as text, never run as a formula
    for table in ("totals", "backlog"):
        status, _, text = api("GET", "/reports/team.csv", f"period=7d&table={table}")
        assert status == 200
        assert len(list(csv.reader(io.StringIO(text.removeprefix(BOM))))) >= 2
    status, _, _ = api("GET", "/reports/team.csv", "table=nope")
    assert status == 422


def test_the_dashboard_page_and_who_may_see_it(traffic: list[str], api: Api) -> None:
    status, _, page = api("GET", "/reports", "period=7d&tz=Europe/Berlin")
    assert status == 200
    assert page.count("<svg") == 4
    assert "Team report" in page
    assert "/reports/team.csv?" in page
    status, _, page = api("GET", "/reports", "period=7d", user=SAM)
    assert status == 403  # agents don't see reports
    # Finance sees the mailboxes granted to it, and no more.
    assert report(api, user=FINANCE)["mailboxes"] == [SUPPORT]
    status, _, _ = api("GET", "/api/reports/team", f"mailbox={SALES}", user=FINANCE)
    assert status == 404
    status, _, body = api("GET", "/api/reports/team", "period=yesterday")
    assert status == 422
    assert "period" in body["message"]
    status, _, body = api("GET", "/api/reports/team", f"team=support&agent={SAM}")
    assert status == 422


def test_a_months_report_is_a_handful_of_reads(table: Table, org: AssignmentStore) -> None:
    """A busy month (every hour of 30 days has traffic, two agents reply) reads one rollup
    partition, whatever the number of events."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    items = []
    for n in range(30 * 24):
        at = iso(start + timedelta(hours=n))
        hour = hour_of(at)
        replier = Target(TargetKind.AGENT, SAM if n % 2 else PRIYA)
        durations = {Duration.FIRST_RESPONSE: 60.0 * (n % 50), Duration.RESPONSE: 60.0 * (n % 50)}
        counts = {
            Count.CONVERSATIONS: 1,
            Count.IN: 1,
            Count.OUT: 1,
            Count.FIRST_RESPONSES: 1,
            Count.SLA_MET: 1,
        }
        for target in (ALL, Target(TargetKind.TEAM, "support"), replier):
            fields = increments(Contribution(target, at, counts, durations))
            item = {**counter_key(SUPPORT, target, hour), "entity": "metric", "scope": target.kind.value}
            items.append({**item, "name": target.name, "hour": hour, **fields})
    for first in range(0, len(items), 25):
        table.client.batch_write_item(
            RequestItems={
                table.name: [{"PutRequest": {"Item": serialize(i)}} for i in items[first : first + 25]]
            }
        )
    admin = Principal(email="admin@acme.test", role=Role.ADMIN)
    now = start + timedelta(days=40)
    with metered() as meter:
        month = build_report(table, admin, ReportQuery(period="2026-11", tz="Europe/Berlin"), now=now)
    assert month.totals.volume_in == 30 * 24 - 1  # 00:00 UTC on 1 November is still October in Berlin
    assert month.totals.first_responses == month.totals.volume_in
    assert "Scan" not in meter.dynamodb_requests
    requests = sum(meter.dynamodb_requests.values())
    # The mailbox directory, one rollup query per mailbox, the backlog's three status queries per
    # mailbox, the mailboxes' team and one batch of agents.
    assert requests <= 12, meter.summary()
    assert meter.read_units < 100, meter.summary()
    print("month report:", meter.summary())


def test_a_failed_record_holds_back_the_rest_of_its_batch(table: Table, org: AssignmentStore) -> None:
    """After an unreadable record the rest of the batch is reported failed, unapplied, so Lambda
    retries it in order; delivered again, everything counts exactly once."""

    def event(number: int, kind: str, at: str, actor: str = "ingest", **data: Any) -> dict[str, Any]:
        item = {
            "id": f"e{number:04d}",
            "conversation_id": "c00000000042",
            "mailbox": SUPPORT,
            "type": kind,
            "at": at,
            "actor": actor,
            "data": data,
        }
        return {schema.PK: keys.conversation_pk("c00000000042"), schema.SK: f"EVT#{at}#e{number:04d}",
                "entity": "event", **item}  # fmt: skip

    received = event(1, "received", "2026-11-23T09:00:00.000000Z", message_key="m1", flags=[])
    broken = {**event(2, "replied", "2026-11-23T09:05:00.000000Z", actor=SAM), "type": "no-such-kind"}
    replied = event(3, "replied", "2026-11-23T09:10:00.000000Z", actor=SAM)
    handler = load_handler(METRICS)
    records = [insert_record(item, n) for n, item in enumerate((received, broken, replied), start=1)]
    answer = handler({"Records": records}, context_factory(METRICS)())
    assert answer == {"batchItemFailures": [{"itemIdentifier": f"{n:021d}"} for n in (2, 3)]}
    hour = {item[schema.SK]: item for item in rollup_items(table)}["A#2026-11-23T09"]
    assert (hour["in"], hour.get("out")) == (1, None)  # the reply after the broken record waits
    # The retry (the broken record fixed or dropped) and a redelivery of the whole batch.
    for batch in ([records[0], records[2]], [records[0], records[2]]):
        assert handler({"Records": batch}, context_factory(METRICS)()) == {"batchItemFailures": []}
    hour = {item[schema.SK]: item for item in rollup_items(table)}["A#2026-11-23T09"]
    assert (hour["in"], hour["out"], hour["fr"], hour["tf"]) == (1, 1, 1, 600)
