"""When the load test may look: the route function has caught up with the stream.

The sandbox's stream poller keeps each consumer's checkpoint per shard in
``<data-dir>/streams/checkpoints/<consumer>.json`` (see :mod:`sandbox.streams`) and moves it only
after the handler returned for a batch (routing and assignment done). The route function has caught
up when no shard holds a record after that checkpoint which its filter patterns pass (a routable
inbound message): what the agents write meanwhile (replies, claims) is not routed and does not count.
Reading the stream from the checkpoint costs a few requests, not a scan of the table.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from mailroom.deployment import ROUTE
from sandbox.dynamodb_local import local_client
from sandbox.event_filter import matches_any
from sandbox.streams import to_lambda_record

ROUTE_PATTERNS = ROUTE.stream.patterns if ROUTE.stream else ()
PAGE = 1000  # GetRecords' maximum
# Per shard and look. The stream carries about 40 records per email (the metrics function's rollups,
# the agents' writes), so the route function's checkpoint can trail the stream's end by 100,000
# records that are not routable at all; all of them are read to be sure.
MAX_PAGES = 2000


def _checkpoints(data_dir: Path, consumer: str) -> dict[str, dict[str, Any]]:
    path = data_dir / "streams" / "checkpoints" / f"{consumer}.json"
    try:
        shards: dict[str, dict[str, Any]] = json.loads(path.read_text())["shards"]
    except (OSError, ValueError, KeyError):
        return {}
    return shards


def _shards(streams: Any, arn: str) -> list[dict[str, Any]]:
    shards: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StreamArn": arn}
    while True:
        description = streams.describe_stream(**kwargs)["StreamDescription"]
        shards += description.get("Shards", [])
        if not description.get("LastEvaluatedShardId"):
            return shards
        kwargs["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]


def _routable_after(streams: Any, arn: str, shard_id: str, checkpoint: str | None) -> bool:
    if checkpoint:
        iterator = streams.get_shard_iterator(
            StreamArn=arn,
            ShardId=shard_id,
            ShardIteratorType="AFTER_SEQUENCE_NUMBER",
            SequenceNumber=checkpoint,
        )["ShardIterator"]
    else:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
    for _ in range(MAX_PAGES):
        if not iterator:
            return False
        page = streams.get_records(ShardIterator=iterator, Limit=PAGE)
        records = page.get("Records", [])
        if any(matches_any(ROUTE_PATTERNS, to_lambda_record(r, arn)) for r in records):
            return True
        if not records:
            return False
        iterator = page.get("NextShardIterator")
    return True  # more than MAX_PAGES pages behind: count it as not caught up


def route_caught_up(data_dir: Path) -> bool:
    state = json.loads((data_dir / "sandbox.json").read_text())
    endpoint = state["dynamodb_endpoint"]
    table = local_client("dynamodb", endpoint).describe_table(TableName=state["table_name"])["Table"]
    arn = table.get("LatestStreamArn")
    if not arn:
        return True
    streams = local_client("dynamodbstreams", endpoint)
    checkpoints = _checkpoints(data_dir, ROUTE.key)
    for shard in _shards(streams, arn):
        entry = checkpoints.get(shard["ShardId"], {})
        if entry.get("finished"):
            continue
        if _routable_after(streams, arn, shard["ShardId"], entry.get("checkpoint")):
            return False
    return True


def wait_until_routed(data_dir: Path, timeout_s: float, *, poll_s: float = 1.0) -> bool:
    """True once the route function has caught up (False after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if route_caught_up(data_dir):
            return True
        time.sleep(poll_s)
    return False
