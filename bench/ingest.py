"""Ingest figures: CPU per message, DynamoDB requests and write units, cold import time."""

from __future__ import annotations

import time
from typing import Any

from bench.harness import bench_environment, import_seconds, median, now
from mailroom.storage.local import LocalStore
from mailroom.usage import metered
from sandbox.lambda_context import make_context
from sandbox.ses_event import build_ses_event, new_ses_message_id
from tests.corpus import flanker_files
from tests.mailfactory import make_mail

FUNCTION_MODULES = [
    "functions.ingest.handler",
    "functions.route.handler",
    "functions.reply.handler",
    "functions.metrics.handler",
]


def typical_message(n: int, **kwargs: Any) -> bytes:
    """About 20 KB: a text and an HTML part, like a customer's mail with some quoted history."""
    paragraph = "Thanks for getting back to me. The export still fails at the last step, see below.\n"
    html = "<html><body>" + "".join(f"<p>{paragraph}</p>" for _ in range(120)) + "</body></html>"
    return make_mail(body=paragraph * 110, html=html, message_id=f"<bench-{n}@example.com>", **kwargs)


def deliver(store: Any, handler: Any, raw: bytes) -> dict[str, Any]:
    ses_id = new_ses_message_id()
    LocalStore(store).put(f"raw/inbound/{ses_id}", raw)
    event = build_ses_event(
        raw=raw,
        ses_message_id=ses_id,
        envelope_from="c@example.com",
        recipients=["support@acme.test"],
        received_at=now(),
    )
    result: dict[str, Any] = handler(event, make_context("mailroom-ingest", 512, 60))
    return result


def run() -> dict[str, Any]:
    with bench_environment() as store:
        from functions.ingest.handler import handler

        deliver(store, handler, typical_message(-1))  # warm up: imports, connections

        corpus_ms = []
        for path in flanker_files():
            raw = path.read_bytes()
            started = time.process_time()
            deliver(store, handler, raw)
            corpus_ms.append((time.process_time() - started) * 1000)

        typical_ms = []
        for n in range(50):
            raw = typical_message(n, subject=f"Export fails {n}", sender=f"user{n}@example.com")
            started = time.process_time()
            deliver(store, handler, raw)
            typical_ms.append((time.process_time() - started) * 1000)

        with metered() as new_conversation:
            deliver(
                store, handler, typical_message(1000, subject="Fresh question", sender="fresh@example.com")
            )
        with metered() as threaded_reply:
            deliver(
                store,
                handler,
                typical_message(
                    1001,
                    subject="Re: Fresh question",
                    sender="fresh@example.com",
                    in_reply_to="<bench-1000@example.com>",
                ),
            )

    boto3_s = import_seconds("boto3")
    return {
        "ingest_cpu_ms_per_message": {
            "corpus_median": median(corpus_ms),
            "corpus_messages": len(corpus_ms),
            "typical_20kb_median": median(typical_ms),
            "typical_size_bytes": len(typical_message(0)),
        },
        "dynamodb_new_conversation": new_conversation.summary(),
        "dynamodb_threaded_reply": threaded_reply.summary(),
        "cold_import": {
            "boto3_seconds": round(boto3_s, 4),
            **{module: round(import_seconds(module) / boto3_s, 2) for module in FUNCTION_MODULES},
            "unit": "ratio to `import boto3` in the same run",
        },
    }
