"""What 1,000 inbound emails cost, end to end, as the product meters it (`python -m bench.costs`).

The sandbox's handlers run in-process against DynamoDB Local, each wrapped by its cost metering
exactly as deployed: every email (about 20 KB, text and HTML) is received (SES event to ingest),
routed and assigned (route, stream batches of 10 as the event source mapping sends them), opened
by its agent (the conversation page) and answered once (a reply through the JSON API), and its audit
events go through the metrics function (stream batches of 100). N emails (default 200) are run
and the figures scaled to 1,000; warm-up invocations (imports, connections) are left out.

Reported: dollars per 1,000 emails by service at the built-in us-east-1 list prices, the SES
receiving fee on its own (the floor: what receiving mail costs at SES whatever we do), the metering
overhead (its own writes and time) and its share, and the scheduled queue sweep (every minute,
whatever the volume) as a fixed cost per day. Logging at INFO, as deployed; EMF metrics are off in
the sandbox, so their log bytes are not in the figures.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

from bench.harness import bench_environment
from bench.ingest import deliver, typical_message
from mailroom.costs.prices import PriceKey, Service, cost_by_service, default_prices
from mailroom.costs.quantities import METERING_PREFIX, Usage
from mailroom.table import keys, schema
from mailroom.table.client import Table, partition

AGENTS = [f"agent{n}@acme.test" for n in range(4)]
MAILBOX = "support@acme.test"
SWEEPS_PER_DAY = 24 * 60  # EventBridge Scheduler, rate 1 minute
REGION = "us-east-1"


class _NullStream:
    """Where the handlers' log lines go during the run (they are counted, not kept)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None


@dataclass(frozen=True)
class Snapshot:
    workload: Usage
    metering: Usage
    invocations: dict[str, Decimal]


def snapshot(table: Table) -> Snapshot:
    from mailroom import clock
    from mailroom.costs.day_items import read_day_items

    item = read_day_items(table, clock.now().date().isoformat()).get(keys.USAGE_TOTAL) or {}
    invocations = {
        name.removeprefix("fn_").removesuffix("_n"): Decimal(str(value))
        for name, value in item.items()
        if name.startswith("fn_") and name.endswith("_n")
    }
    return Snapshot(Usage.from_item(item), Usage.from_item(item, METERING_PREFIX), invocations)


def dollars(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.000001")), "f")


def run(emails: int = 200) -> dict[str, Any]:  # noqa: PLR0915 - one straight scenario
    with bench_environment() as store, localcontext() as ctx:
        ctx.prec = 60
        from functions.ingest.handler import handler as ingest
        from functions.metrics.handler import handler as metrics_handler
        from functions.reply.handler import handler as reply
        from functions.route.handler import handler as route
        from mailroom.api import wiring
        from mailroom.assignment.store import AssignmentStore
        from mailroom.auth.model import Access
        from mailroom.auth.permissions_store import grant
        from mailroom.auth.tokens import issue_token
        from mailroom.deployment import METRICS, REPLY, ROUTE
        from mailroom.domain.agent import Agent
        from mailroom.domain.team import Strategy, Team
        from mailroom.inbox.directory import upsert_mailbox, upsert_user
        from mailroom.observability import logger
        from mailroom.settings import get_settings
        from sandbox.apigw_events import http_api_event
        from sandbox.app import context_factory, scheduled_event
        from sandbox.stream_events import insert_record

        table = wiring.table()
        upsert_mailbox(
            table, MAILBOX, name="Acme Support", team="support", signature="{{ agent.name }}\nAcme"
        )
        assignments = AssignmentStore(table)
        for agent in AGENTS:
            upsert_user(table, agent, name=agent.split("@")[0].title(), role="agent")
            grant(table, MAILBOX, agent, Access.FULL)
            assignments.put_agent(Agent(id=agent, name=agent, capacity=100_000))
        assignments.put_team(
            Team(id="support", name="Support", strategy=Strategy.LEAST_LOADED, members=AGENTS)
        )
        upsert_mailbox(
            table, MAILBOX, name="Acme Support", team="support", signature="{{ agent.name }}\nAcme"
        )
        secret = get_settings().session_secret or ""
        tokens = {agent: issue_token(secret, agent, 3600, kind="api") for agent in AGENTS}
        logger.setLevel("INFO")  # as deployed (the bench harness quiets it)
        handler_stream = logger.registered_handler
        saved_stream = getattr(handler_stream, "stream", None)
        if hasattr(handler_stream, "setStream"):
            handler_stream.setStream(_NullStream())

        sequence = 0

        def records(items: list[dict[str, Any]]) -> dict[str, Any]:
            nonlocal sequence
            batch = []
            for item in items:
                sequence += 1
                batch.append(insert_record(item, sequence))
            return {"Records": batch}

        def partition_items(conversation_id: str, prefix: str) -> list[dict[str, Any]]:
            return table.query_all(key_condition=partition(keys.conversation_pk(conversation_id), prefix))

        def call(method: str, path: str, agent: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
            headers = {"authorization": f"Bearer {tokens[agent]}", "content-type": "application/json"}
            event = http_api_event(method, path, body=json.dumps(body) if body else None, headers=headers)
            response: dict[str, Any] = reply(event, context_factory(REPLY)())
            return response

        def process(count: int, offset: int) -> list[str]:
            conversations: list[str] = []
            for start in range(0, count, 10):  # the route mapping's batch size
                batch = []
                for n in range(offset + start, offset + min(count, start + 10)):
                    raw = typical_message(n, subject=f"Order {n} is late", sender=f"customer{n}@example.com")
                    result = deliver(store, ingest, raw)
                    batch.append(str(result["outcomes"][0]["conversation_id"]))
                route(records([partition_items(c, "MSG#")[0] for c in batch]), context_factory(ROUTE)())
                conversations += batch
            events: list[dict[str, Any]] = []
            for n, conversation_id in enumerate(conversations):
                conversation = table.get(
                    {schema.PK: keys.conversation_pk(conversation_id), schema.SK: keys.META}
                )
                assert conversation is not None
                agent = str(conversation["assignee"])
                page = call("GET", f"/conversations/{conversation_id}", agent)
                assert page["statusCode"] == 200, page.get("body")
                answer = {
                    "idempotency_key": f"bench-cost-{offset + n:06d}",
                    "seen_version": int(conversation["version"]),
                    "text": "Thanks for waiting: your order ships today.",
                }
                sent = call("POST", f"/api/conversations/{conversation_id}/replies", agent, answer)
                assert sent["statusCode"] == 201, sent.get("body")
                events += [i for i in partition_items(conversation_id, "EVT#") if i.get("entity") == "event"]
            for start in range(0, len(events), 100):  # the metrics mapping's batch size
                metrics_handler(records(events[start : start + 100]), context_factory(METRICS)())
            return conversations

        try:
            process(2, offset=1_000_000)  # warm up: imports, templates, connections
            before = snapshot(table)
            started = time.perf_counter()
            process(emails, offset=0)
            elapsed = time.perf_counter() - started
            after = snapshot(table)
            route(scheduled_event(), context_factory(ROUTE)())
            swept = snapshot(table)
        finally:
            if hasattr(handler_stream, "setStream") and saved_stream is not None:
                handler_stream.setStream(saved_stream)

        prices = default_prices(REGION)
        scale = Decimal(1000) / emails
        workload = after.workload - before.workload
        metering_usage = after.metering - before.metering
        by_service = {s.value: v * scale for s, v in cost_by_service(workload, prices).items()}
        metering = sum(cost_by_service(metering_usage, prices).values(), Decimal(0)) * scale
        total = sum(by_service.values(), Decimal(0)) + metering
        floor = by_service.get(Service.SES_RECEIVING.value, Decimal(0))
        sweep = (swept.workload - after.workload) + (swept.metering - after.metering)
        sweep_day = sum(cost_by_service(sweep, prices).values(), Decimal(0)) * SWEEPS_PER_DAY
        invocations = {k: (after.invocations.get(k, Decimal(0)) - v) for k, v in before.invocations.items()}
        per_email = {q.name.lower(): format((v / emails).normalize(), "f") for q, v in workload.items()}
        return {
            "emails_run": emails,
            "per_1000_emails_usd": {
                "total": dollars(total),
                "ses_receiving_floor": dollars(floor),
                "above_the_floor": dollars(total - floor),
                "by_service": {
                    name: dollars(value) for name, value in sorted(by_service.items(), key=lambda kv: -kv[1])
                },
                "metering_overhead": dollars(metering),
                "metering_share_of_total": f"{metering / total * 100:.1f}%",
            },
            "per_email_quantities": per_email,
            "metering_per_email": {
                q.name.lower(): format((v / emails).normalize(), "f") for q, v in metering_usage.items()
            },
            "invocations_per_email": {
                k: format((v / emails).normalize(), "f") for k, v in sorted(invocations.items())
            },
            "queue_sweep_fixed_usd_per_day": dollars(sweep_day),
            "prices": f"built-in list prices, {REGION}",
            "lambda_arm64_usd_per_gb_second": str(prices[PriceKey.LAMBDA_GB_SECOND].amount),
            "wall_seconds": round(elapsed, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--emails", type=int, default=200)
    arguments = parser.parse_args()
    import sys

    figures = sys.stdout
    sys.stdout = sys.stderr  # handlers write to stdout as on Lambda; keep stdout for the figures
    try:
        result = run(arguments.emails)
    finally:
        sys.stdout = figures
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
