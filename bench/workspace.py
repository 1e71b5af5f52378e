"""Agent workspace figures, through the real reply handler against DynamoDB Local: server time and
read units of the conversation page (HTML) and of the conversation JSON for a thread of typical
size, and the requests and write units of one reply (queued, sent, recorded).

Server time is the handler call (no network in front), median and p95 over repeated calls. Units
are the table adapter's own figures (item sizes by DynamoDB's published rules).
"""

from __future__ import annotations

import json
import time
from typing import Any

from bench.harness import bench_environment, median
from bench.inbox import p95
from bench.ingest import deliver, typical_message
from sandbox.apigw_events import http_api_event

AGENT = "agent@acme.test"
THREAD_MESSAGES = 10  # a customer's first message and nine follow-ups (about 20 KB each)
CALLS = 30
REPLIES = 20


def run() -> dict[str, Any]:
    with bench_environment() as store:
        from functions.ingest.handler import handler as ingest
        from functions.reply.handler import handler
        from mailroom.api import wiring
        from mailroom.assignment.store import AssignmentStore
        from mailroom.auth.model import Access
        from mailroom.auth.permissions_store import grant
        from mailroom.auth.tokens import issue_token
        from mailroom.domain.agent import Agent
        from mailroom.inbox.directory import upsert_mailbox, upsert_user
        from mailroom.settings import get_settings
        from mailroom.usage import metered
        from sandbox.lambda_context import make_context

        table = wiring.table()
        upsert_mailbox(table, "support@acme.test", name="Acme Support", signature="{{ agent.name }}\nAcme")
        upsert_user(table, AGENT, name="Sam Agent", role="agent")
        grant(table, "support@acme.test", AGENT, Access.FULL)
        AssignmentStore(table).put_agent(Agent(id=AGENT, name="Sam Agent", capacity=1000))
        first = deliver(store, ingest, typical_message(0))["outcomes"][0]["conversation_id"]
        for n in range(1, THREAD_MESSAGES):
            deliver(
                store, ingest, typical_message(n, in_reply_to=f"<bench-{n - 1}@example.com>", subject="Re: x")
            )
        token = issue_token(get_settings().session_secret or "", AGENT, 3600, kind="api")
        auth = {"authorization": f"Bearer {token}"}
        context = make_context("mailroom-reply", 512, 29)

        def call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
            headers = {**auth, "content-type": "application/json"}
            event = http_api_event(method, path, body=json.dumps(body) if body else None, headers=headers)
            response: dict[str, Any] = handler(event, context)
            return response

        pages = {
            "conversation_page_html": f"/conversations/{first}",
            "conversation_json": f"/api/conversations/{first}",
        }
        for path in pages.values():  # warm: imports, templates, connections
            for _ in range(3):
                call("GET", path)
        results: dict[str, Any] = {"thread_messages": THREAD_MESSAGES}
        for name, path in pages.items():
            with metered() as meter:
                response = call("GET", path)
            assert response["statusCode"] == 200, response.get("body")
            times = []
            for _ in range(CALLS):
                started = time.perf_counter()
                call("GET", path)
                times.append((time.perf_counter() - started) * 1000)
            summary = meter.summary()
            results[name] = {
                "server_ms_median": median(times),
                "server_ms_p95": p95(times),
                "dynamodb_requests": summary["dynamodb_requests"],
                "read_units": summary["read_units"],
                "response_kb": round(len(response.get("body") or "") / 1024, 1),
            }

        reply_meters = []
        times = []
        for n in range(REPLIES):
            detail = json.loads(call("GET", f"/api/conversations/{first}")["body"])
            body = {
                "idempotency_key": f"bench-reply-{n:04d}",
                "seen_version": detail["version"],
                "text": "On it.",
            }
            with metered() as meter:
                started = time.perf_counter()
                response = call("POST", f"/api/conversations/{first}/replies", body)
                times.append((time.perf_counter() - started) * 1000)
            assert response["statusCode"] == 201, response.get("body")
            reply_meters.append(meter)
        results["reply"] = {
            "server_ms_median": median(times),
            "server_ms_p95": p95(times),
            "dynamodb_requests_median": median(
                [float(sum(m.dynamodb_requests.values())) for m in reply_meters]
            ),
            "write_units_median": median([m.write_units for m in reply_meters]),
            "read_units_median": median([m.read_units for m in reply_meters]),
            "first_reply_requests": dict(reply_meters[0].dynamodb_requests),
            "later_reply_requests": dict(reply_meters[-1].dynamodb_requests),
            "note": "the first reply also claims the conversation; later ones are by the assignee",
        }
        return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
