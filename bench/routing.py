"""Routing figures: decision CPU per message with 500 rules; DynamoDB cost per routed conversation."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from bench.harness import bench_environment, median
from mailroom.rules.engine import evaluate
from mailroom.rules.model import MessageFacts, RuleSet
from mailroom.rules.yaml_io import parse_rules_yaml
from mailroom.schedule.model import ALWAYS_OPEN
from mailroom.usage import metered
from sandbox.stream_events import insert_record

RULE_COUNT = 500


def synthetic_rules(count: int = RULE_COUNT) -> RuleSet:
    """A large, realistic rule set: keyword, regex, domain, header and nested conditions."""
    lines = ["rules:"]
    for n in range(count):
        kind = n % 5
        if kind == 0:
            when = f"{{subject: {{contains: 'keyword{n}'}}}}"
        elif kind == 1:
            when = f"{{body: {{matches: '\\\\b(order|invoice)-{n}\\\\b'}}}}"
        elif kind == 2:
            when = f"{{sender: {{domain: customer{n}.example}}}}"
        elif kind == 3:
            when = f"{{header: {{name: X-Campaign, equals: 'c{n}'}}}}"
        else:
            either = f"{{any: [{{subject: {{contains: 'urgent{n}'}}}}, {{contact_tag: tier{n}}}]}}"
            when = f"{{all: [{{mailbox: support@acme.test}}, {either}]}}"
        lines.append(f"  - {{id: r{n}, name: Rule {n}, when: {when}, then: [{{add_tags: [t{n}]}}]}}")
    return parse_rules_yaml("\n".join(lines) + "\n")


def facts(n: int) -> MessageFacts:
    body = "Hello team,\n" + "We have a question about order-12 and the export feature. " * 40
    return MessageFacts(
        mailbox="support@acme.test",
        sender=f"user{n}@customer{n % 700}.example",
        sender_domain=f"customer{n % 700}.example",
        to=["support@acme.test"],
        cc=[],
        subject=f"Question {n} about keyword{n % 900}",
        body=body,
        headers=[("From", f"user{n}@example.com"), ("X-Campaign", f"c{n % 1000}")],
        has_attachments=False,
        verdicts={"spam": "PASS", "virus": "PASS"},
        flags=[],
        contact_tags=[],
        received_at=datetime.now(UTC),
        team="support",
    )


def decision_cpu() -> dict[str, Any]:
    ruleset = synthetic_rules()
    for n in range(20):  # warm up: compile and cache the patterns
        evaluate(ruleset, facts(n), calendar_for=lambda _: ALWAYS_OPEN)
    samples = []
    matched = 0
    for n in range(200):
        started = time.process_time()
        decision = evaluate(ruleset, facts(n), calendar_for=lambda _: ALWAYS_OPEN)
        samples.append((time.process_time() - started) * 1000)
        matched += len(decision.matched)
    return {
        "rules": RULE_COUNT,
        "cpu_ms_median": median(samples),
        "messages": len(samples),
        "matches": matched,
    }


def route_cost() -> dict[str, Any]:
    with bench_environment() as store:
        from bench.ingest import deliver, typical_message
        from functions.ingest.handler import handler as ingest_handler
        from functions.route.handler import handler as route_handler
        from mailroom.api import wiring
        from mailroom.deployment import ROUTE
        from mailroom.routing.rules_store import save_rules
        from mailroom.table import keys, schema
        from mailroom.table.client import Condition
        from sandbox.app import context_factory
        from sandbox.demo_setup import seed_demo_organisation

        table = wiring.table()
        seed_demo_organisation(table)
        save_rules(table, synthetic_rules(), expected_version=1, actor="bench")
        summaries = []
        for n in range(5):
            result = deliver(
                store,
                ingest_handler,
                typical_message(5000 + n, subject=f"Help {n}", sender=f"b{n}@example.com"),
            )
            conv = result["outcomes"][0]["conversation_id"]
            items = table.query_all(
                key_condition=Condition("#pk = :pk", {"#pk": schema.PK}, {":pk": keys.conversation_pk(conv)})
            )
            message = next(i for i in items if i.get("entity") == "message")
            event = {"Records": [insert_record(message, n + 1)]}
            with metered() as meter:
                route_handler(event, context_factory(ROUTE)())
            summaries.append(meter.summary())
        return {"routed_and_assigned_conversation": summaries[-1], "with_rules": RULE_COUNT}


def run() -> dict[str, Any]:
    return {"decision": decision_cpu(), **route_cost()}
