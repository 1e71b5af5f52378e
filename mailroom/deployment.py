"""The four functions as deployed: names, entry points, memory, timeouts and stream settings.

Defined once: the CDK stack deploys these, and the sandbox runs the same handlers with the same
memory (for cost figures), timeouts and stream batch settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailroom.table import schema


@dataclass(frozen=True)
class StreamSettings:
    """How an event source mapping feeds a function from the table's stream."""

    patterns: tuple[dict[str, Any], ...]
    batch_size: int
    max_retries: int = 3
    batching_window_s: int = 1


@dataclass(frozen=True)
class FunctionSpec:
    key: str
    name: str
    handler: str  # module:function
    memory_mb: int
    timeout_s: int
    stream: StreamSettings | None = None


INGEST = FunctionSpec(
    # Parsing a 40 MB message with attachments needs memory; 512 MB also buys CPU for parsing.
    key="ingest",
    name="mailroom-ingest",
    handler="functions.ingest.handler:handler",
    memory_mb=512,
    timeout_s=60,
)
ROUTE = FunctionSpec(
    key="route",
    name="mailroom-route",
    handler="functions.route.handler:handler",
    memory_mb=256,
    timeout_s=30,
    # Small batches: a routing decision per message, and a slow batch delays assignment.
    stream=StreamSettings(patterns=schema.ROUTE_FILTERS, batch_size=10),
)
METRICS = FunctionSpec(
    key="metrics",
    name="mailroom-metrics",
    handler="functions.metrics.handler:handler",
    memory_mb=256,
    timeout_s=60,
    # Large batches: counters aggregate well, and metrics may lag by seconds.
    stream=StreamSettings(patterns=schema.METRICS_FILTERS, batch_size=100, batching_window_s=5),
)
REPLY = FunctionSpec(
    # Behind API Gateway (29 s integration limit); 512 MB keeps page renders fast.
    key="reply",
    name="mailroom-reply",
    handler="functions.reply.handler:handler",
    memory_mb=512,
    timeout_s=29,
)

FUNCTIONS: tuple[FunctionSpec, ...] = (INGEST, ROUTE, METRICS, REPLY)
STREAM_FUNCTIONS: tuple[FunctionSpec, ...] = tuple(f for f in FUNCTIONS if f.stream is not None)
