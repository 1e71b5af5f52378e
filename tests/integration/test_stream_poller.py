"""The sandbox's stream poller against DynamoDB Local's real stream implementation.

Every test gets a fresh table (the ``table_name`` fixture) and its own state directory, writes items,
then steps the poller with ``drain()``/``poll_once()``; nothing waits on a clock.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mailroom.table.admin import ensure_table
from sandbox.streams import Consumer, LocalLambdaContext, StreamPoller

INBOUND_MESSAGES = {
    "eventName": ["INSERT"],
    "dynamodb": {"NewImage": {"entity": {"S": ["message"]}, "direction": {"S": ["inbound"]}}},
}

LAMBDA_RECORD_KEYS = {
    "eventID",
    "eventName",
    "eventVersion",
    "eventSource",
    "awsRegion",
    "dynamodb",
    "eventSourceARN",
}


class Recorder:
    """A handler that remembers each batch; ``fail`` decides which records to report as failed."""

    def __init__(self, fail: Callable[[dict[str, Any]], bool] | None = None, *, raise_on_fail: bool = False):
        self.batches: list[list[dict[str, Any]]] = []
        self.contexts: list[Any] = []
        self.threads: list[str] = []
        self.fail = fail
        self.raise_on_fail = raise_on_fail

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any] | None:
        records = event["Records"]
        self.batches.append(records)
        self.contexts.append(context)
        self.threads.append(threading.current_thread().name)
        failed = [r for r in records if self.fail is not None and self.fail(r)]
        if failed and self.raise_on_fail:
            raise RuntimeError(f"cannot handle {sk(failed[0])}")
        return {"batchItemFailures": [{"itemIdentifier": seq(r)} for r in failed]}

    @property
    def records(self) -> list[dict[str, Any]]:
        return [record for batch in self.batches for record in batch]

    @property
    def sks(self) -> list[str]:
        return [sk(record) for record in self.records]


def seq(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def sk(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["SK"]["S"])


def item(number: int, *, entity: str = "message", direction: str = "inbound", **extra: Any) -> dict[str, Any]:
    return {
        "PK": {"S": "CONV#c1"},
        "SK": {"S": f"ITEM#{number:03d}"},
        "entity": {"S": entity},
        "direction": {"S": direction},
        **extra,
    }


@pytest.fixture
def put(ddb_client: Any, table_name: str) -> Callable[..., None]:
    def put_items(*items: dict[str, Any]) -> None:
        for it in items:
            ddb_client.put_item(TableName=table_name, Item=it)

    return put_items


@pytest.fixture
def make_poller(ddb_endpoint: str, table_name: str, tmp_path: Path) -> Iterator[Callable[..., StreamPoller]]:
    pollers: list[StreamPoller] = []

    def make(*consumers: Consumer, state_dir: Path | None = None, **kwargs: Any) -> StreamPoller:
        poller = StreamPoller(
            endpoint=ddb_endpoint,
            table_name=table_name,
            consumers=list(consumers),
            state_dir=state_dir or tmp_path / "state",
            **kwargs,
        )
        pollers.append(poller)
        return poller

    yield make
    for poller in pollers:
        poller.stop()


def test_records_arrive_in_order_as_lambda_delivers_them(
    put: Callable[..., None], make_poller: Callable[..., StreamPoller], ddb_client: Any, table_name: str
) -> None:
    put(*(item(n) for n in range(25)))
    handler = Recorder()
    poller = make_poller(Consumer(name="all", handler=handler, batch_size=10))

    assert poller.drain(timeout=30)

    assert handler.sks == [f"ITEM#{n:03d}" for n in range(25)]
    assert [len(batch) for batch in handler.batches] == [10, 10, 5]
    sequence_numbers = [int(seq(r)) for r in handler.records]
    assert sequence_numbers == sorted(sequence_numbers)
    assert len(set(sequence_numbers)) == 25

    stream_arn = ddb_client.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    record = handler.records[0]
    assert set(record) == LAMBDA_RECORD_KEYS
    assert record["eventName"] == "INSERT"
    assert record["eventVersion"] == "1.1"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventSourceARN"] == stream_arn
    dynamodb = record["dynamodb"]
    assert set(dynamodb) == {
        "ApproximateCreationDateTime",
        "Keys",
        "NewImage",
        "SequenceNumber",
        "SizeBytes",
        "StreamViewType",
    }
    assert isinstance(dynamodb["ApproximateCreationDateTime"], int | float)
    assert dynamodb["ApproximateCreationDateTime"] > 1_600_000_000
    assert dynamodb["Keys"] == {"PK": {"S": "CONV#c1"}, "SK": {"S": "ITEM#000"}}
    assert dynamodb["NewImage"] == item(0)
    assert dynamodb["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(dynamodb["SizeBytes"], int)
    json.dumps(handler.batches)  # exactly JSON, as Lambda's event is

    context = handler.contexts[0]
    assert isinstance(context, LocalLambdaContext)
    assert context.function_name == "mailroom-sandbox-all"
    assert context.get_remaining_time_in_millis() > 0
    assert len({c.aws_request_id for c in handler.contexts}) == 3  # one per invocation

    assert poller.poll_once() == 0  # caught up: nothing more to read


def test_filters_apply_before_batching_and_skipped_records_are_checkpointed(
    put: Callable[..., None], make_poller: Callable[..., StreamPoller], ddb_client: Any, table_name: str
) -> None:
    put(
        item(1),
        item(2, direction="outbound"),
        item(3, entity="event"),
        item(4),
        item(5, entity="note"),
        item(6, direction="outbound"),
    )
    # A MODIFY of an inbound message: not an INSERT, so the filter drops it.
    ddb_client.update_item(
        TableName=table_name,
        Key={"PK": {"S": "CONV#c1"}, "SK": {"S": "ITEM#001"}},
        UpdateExpression="SET seen = :t",
        ExpressionAttributeValues={":t": {"BOOL": True}},
    )
    put(item(7, entity="event"))
    inbound, everything = Recorder(), Recorder()
    poller = make_poller(
        Consumer(name="route", handler=inbound, patterns=(INBOUND_MESSAGES,), batch_size=10),
        Consumer(name="all", handler=everything),
    )

    assert poller.drain(timeout=30)

    assert inbound.sks == ["ITEM#001", "ITEM#004"]
    assert len(inbound.batches) == 1  # filtered first, then batched
    assert len(everything.records) == 8
    # The filtered consumer's checkpoint moved past the trailing records it did not want.
    last = seq(everything.records[-1])
    assert list(poller.checkpoints("route").values()) == [last]
    assert list(poller.checkpoints("all").values()) == [last]


def test_partial_batch_failure_retries_from_the_lowest_failed_record(
    put: Callable[..., None], make_poller: Callable[..., StreamPoller]
) -> None:
    put(*(item(n) for n in range(6)))
    failed_once: set[str] = set()

    def flaky(record: dict[str, Any]) -> bool:
        # ITEM#003 and ITEM#005 fail on their first delivery only.
        if sk(record) in ("ITEM#003", "ITEM#005") and sk(record) not in failed_once:
            failed_once.add(sk(record))
            return True
        return False

    handler = Recorder(flaky)
    poller = make_poller(Consumer(name="route", handler=handler))

    assert poller.drain(timeout=30)

    assert [[sk(r) for r in batch] for batch in handler.batches] == [
        [f"ITEM#{n:03d}" for n in range(6)],
        # Resumed just before the lowest failure; 004 and 005 come again, as on Lambda.
        ["ITEM#003", "ITEM#004", "ITEM#005"],
    ]
    assert poller.dead_letters() == []


def test_a_record_that_always_fails_is_dead_lettered_and_the_rest_go_on(
    put: Callable[..., None], make_poller: Callable[..., StreamPoller], tmp_path: Path
) -> None:
    put(*(item(n) for n in range(5)))
    handler = Recorder(lambda record: sk(record) == "ITEM#002")
    poller = make_poller(Consumer(name="route", handler=handler, max_retries=2))

    assert poller.drain(timeout=30)

    # One first attempt and two retries, then it is set aside.
    assert handler.sks.count("ITEM#002") == 3
    firsts = [sk(batch[0]) for batch in handler.batches]
    assert firsts == ["ITEM#000", "ITEM#002", "ITEM#002", "ITEM#003"]  # batches' first records
    assert [sk(r) for r in handler.batches[-1]] == ["ITEM#003", "ITEM#004"]

    letters = poller.dead_letters("route")
    assert len(letters) == 1
    letter = letters[0]
    assert sk(letter["record"]) == "ITEM#002"
    assert letter["consumer"] == "route"
    assert letter["attempts"] == 3
    assert letter["error"]["type"] == "BatchItemFailure"
    assert letter["failed_at"]
    assert letter["sequence_number"] == seq(letter["record"])
    path = tmp_path / "state" / "dead-letter" / "route" / f"{letter['sequence_number']}.json"
    assert json.loads(path.read_text()) == letter
    assert poller.dead_letters() == letters
    assert poller.dead_letters("other") == []

    assert poller.poll_once() == 0  # nothing redelivered afterwards


def test_an_exception_is_bisected_down_to_the_bad_record(
    put: Callable[..., None], make_poller: Callable[..., StreamPoller]
) -> None:
    put(*(item(n) for n in range(8)))
    handler = Recorder(lambda record: sk(record) == "ITEM#005", raise_on_fail=True)
    poller = make_poller(Consumer(name="route", handler=handler, max_retries=1))

    assert poller.drain(timeout=30)

    letters = poller.dead_letters("route")
    assert [sk(letter["record"]) for letter in letters] == ["ITEM#005"]
    assert letters[0]["error"]["type"] == "RuntimeError"
    assert "cannot handle ITEM#005" in letters[0]["error"]["message"]
    # Every other record got through in a batch that succeeded (batches with 005 raised).
    succeeded = [sk(r) for batch in handler.batches if "ITEM#005" not in map(sk, batch) for r in batch]
    assert sorted(set(succeeded)) == [f"ITEM#{n:03d}" for n in range(8) if n != 5]
    # The lone bad record was tried 1 + max_retries times.
    assert handler.batches.count([letters[0]["record"]]) == 2


def test_without_bisecting_an_exhausted_batch_is_dead_lettered_whole(
    put: Callable[..., None], make_poller: Callable[..., StreamPoller]
) -> None:
    put(*(item(n) for n in range(4)))
    handler = Recorder(lambda record: sk(record) == "ITEM#001", raise_on_fail=True)
    poller = make_poller(Consumer(name="route", handler=handler, max_retries=1, bisect_on_error=False))

    assert poller.drain(timeout=30)

    # As Lambda without BisectBatchOnFunctionError: the whole failing batch is set aside.
    assert len(handler.batches) == 2
    assert [sk(letter["record"]) for letter in poller.dead_letters()] == [f"ITEM#{n:03d}" for n in range(4)]
    assert poller.poll_once() == 0


def test_restart_resumes_after_the_checkpoint(
    put: Callable[..., None], make_poller: Callable[..., StreamPoller], tmp_path: Path
) -> None:
    put(item(1), item(2), item(3))
    first = Recorder()
    poller = make_poller(Consumer(name="route", handler=first))
    assert poller.drain(timeout=30)
    assert first.sks == ["ITEM#001", "ITEM#002", "ITEM#003"]

    put(item(4), item(5))
    second = Recorder()
    restarted = make_poller(Consumer(name="route", handler=second))  # same state_dir
    assert restarted.drain(timeout=30)
    assert second.sks == ["ITEM#004", "ITEM#005"]

    # A consumer without a checkpoint starts at TRIM_HORIZON.
    newcomer = Recorder()
    fresh = make_poller(Consumer(name="route", handler=newcomer), state_dir=tmp_path / "other-state")
    assert fresh.drain(timeout=30)
    assert newcomer.sks == [f"ITEM#{n:03d}" for n in range(1, 6)]


def test_a_table_deleted_and_made_again_is_followed_to_its_new_stream(
    put: Callable[..., None],
    make_poller: Callable[..., StreamPoller],
    ddb_client: Any,
    table_name: str,
) -> None:
    """The poller reuses the described stream for a moment; a deleted table's stream is then gone,
    which is a quiet pass (no error), and the table made again is read from its new stream."""
    put(item(1))
    handler = Recorder()
    poller = make_poller(Consumer(name="route", handler=handler))
    assert poller.drain(timeout=30)
    assert handler.sks == ["ITEM#001"]

    ddb_client.delete_table(TableName=table_name)
    assert poller.poll_once() == 0  # the stream it described has gone with the table

    ensure_table(ddb_client, table_name)
    put(item(2))
    assert poller.drain(timeout=30)
    assert handler.sks == ["ITEM#001", "ITEM#002"]


def test_drain_ends_when_one_consumers_handler_writes_what_the_next_reads(
    put: Callable[..., None], make_poller: Callable[..., StreamPoller]
) -> None:
    """A chain (the first consumer's handler writes the next item, as route writes what metrics
    reads) leaves the consumers finding nothing on different passes; drain() still sees a pass in
    which both are idle, and ends."""
    last = 5

    def chain(event: dict[str, Any], context: Any) -> None:
        for record in event["Records"]:
            number = int(sk(record).removeprefix("ITEM#"))
            if number < last:
                put(item(number + 1))

    tail = Recorder()
    poller = make_poller(Consumer(name="chain", handler=chain), Consumer(name="tail", handler=tail))
    put(item(1))

    assert poller.drain(timeout=30)
    assert tail.sks == [f"ITEM#{n:03d}" for n in range(1, last + 1)]


def test_an_unusable_checkpoint_falls_back_to_trim_horizon(
    put: Callable[..., None], make_poller: Callable[..., StreamPoller], tmp_path: Path
) -> None:
    put(item(1), item(2))
    poller = make_poller(Consumer(name="route", handler=Recorder()))
    assert poller.drain(timeout=30)
    # Point the checkpoint before the shard's first record: DynamoDB Local rejects it.
    state_file = tmp_path / "state" / "checkpoints" / "route.json"
    state = json.loads(state_file.read_text())
    (shard_id,) = state["shards"]
    state["shards"][shard_id]["checkpoint"] = "0" * 21
    state_file.write_text(json.dumps(state))

    handler = Recorder()
    restarted = make_poller(Consumer(name="route", handler=handler))
    assert restarted.drain(timeout=30)
    assert handler.sks == ["ITEM#001", "ITEM#002"]


def test_modify_and_remove_carry_old_and_new_images(
    put: Callable[..., None], make_poller: Callable[..., StreamPoller], ddb_client: Any, table_name: str
) -> None:
    key = {"PK": {"S": "CONV#c1"}, "SK": {"S": "ITEM#001"}}
    put(item(1, blob={"B": b"\x00\xffraw"}, count={"N": "1"}))
    ddb_client.update_item(
        TableName=table_name,
        Key=key,
        UpdateExpression="SET #c = :two, tags = :tags",
        ExpressionAttributeNames={"#c": "count"},
        ExpressionAttributeValues={":two": {"N": "2"}, ":tags": {"SS": ["vip"]}},
    )
    ddb_client.delete_item(TableName=table_name, Key=key)
    handler = Recorder()
    poller = make_poller(Consumer(name="all", handler=handler))

    assert poller.drain(timeout=30)

    insert, modify, remove = handler.records
    assert [r["eventName"] for r in handler.records] == ["INSERT", "MODIFY", "REMOVE"]
    assert "OldImage" not in insert["dynamodb"]
    # Binary attributes arrive base64-encoded, as in Lambda's JSON event.
    assert insert["dynamodb"]["NewImage"]["blob"] == {"B": base64.b64encode(b"\x00\xffraw").decode()}
    assert modify["dynamodb"]["OldImage"]["count"] == {"N": "1"}
    assert modify["dynamodb"]["NewImage"]["count"] == {"N": "2"}
    assert "tags" not in modify["dynamodb"]["OldImage"]
    assert modify["dynamodb"]["NewImage"]["tags"] == {"SS": ["vip"]}
    assert modify["dynamodb"]["Keys"] == key
    assert "NewImage" not in remove["dynamodb"]
    assert remove["dynamodb"]["OldImage"]["count"] == {"N": "2"}
    assert remove["dynamodb"]["Keys"] == key


def test_background_thread_delivers_from_its_own_thread(
    put: Callable[..., None], make_poller: Callable[..., StreamPoller]
) -> None:
    handler = Recorder()
    poller = make_poller(Consumer(name="all", handler=handler), poll_interval=0.05)
    poller.start()
    assert poller.running
    put(item(1), item(2))
    assert poller.drain(timeout=30)
    assert handler.sks == ["ITEM#001", "ITEM#002"]
    put(item(3))
    assert poller.drain(timeout=30)  # includes records written after the previous drain
    assert handler.sks == ["ITEM#001", "ITEM#002", "ITEM#003"]
    assert set(handler.threads) == {"stream-all"}
    poller.stop(timeout=5)
    assert not poller.running


def test_each_consumer_polls_on_its_own_so_a_slow_one_holds_no_other_back(
    put: Callable[..., None], make_poller: Callable[..., StreamPoller]
) -> None:
    release = threading.Event()
    slow_started = threading.Event()

    def slow(event: dict[str, Any], context: Any) -> None:
        slow_started.set()
        assert release.wait(60), "never released"

    fast = Recorder()
    poller = make_poller(
        Consumer(name="slow", handler=slow), Consumer(name="fast", handler=fast), poll_interval=0.05
    )
    poller.start()
    try:
        put(item(1))
        assert slow_started.wait(30)
        put(item(2))  # written while the slow consumer is still busy with the first record
        deadline = time.monotonic() + 30
        while fast.sks != ["ITEM#001", "ITEM#002"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fast.sks == ["ITEM#001", "ITEM#002"]
        assert set(fast.threads) == {"stream-fast"}
        assert not poller.drain(timeout=0.5)  # the slow one has not caught up
    finally:
        release.set()
    assert poller.drain(timeout=30)
    poller.stop(timeout=5)
    assert not poller.running


def test_an_expired_iterator_is_renewed_from_the_checkpoint(
    put: Callable[..., None], make_poller: Callable[..., StreamPoller], ddb_endpoint: str
) -> None:
    from sandbox.dynamodb_local import local_client

    class ExpiringStreams:
        """The real streams client, except that the second GetRecords says the iterator expired."""

        def __init__(self) -> None:
            self.real = local_client("dynamodbstreams", ddb_endpoint)
            self.calls = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def get_records(self, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == 2:
                raise ClientError(
                    {"Error": {"Code": "ExpiredIteratorException", "Message": "Iterator expired"}},
                    "GetRecords",
                )
            return self.real.get_records(**kwargs)

    put(item(1))
    handler = Recorder()
    poller = make_poller(Consumer(name="all", handler=handler), streams_client=ExpiringStreams())
    assert poller.poll_once() == 1
    put(item(2))
    assert poller.poll_once() == 0  # the expired read
    assert poller.drain(timeout=30)
    assert handler.sks == ["ITEM#001", "ITEM#002"]


# ---------------------------------------------------------------------------------------------
# Shard lineage. DynamoDB Local keeps one open shard per stream, so the split is played by a fake.
# ---------------------------------------------------------------------------------------------


class FakeStream:
    """A stream whose closed parent shard was split into a child, listed child first."""

    ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/fake/stream/2026-01-01T00:00:00.000"

    def __init__(self) -> None:
        self.shards = {
            "shardId-child-0000000000000000000002": [self.record(3), self.record(4)],
            "shardId-parent-000000000000000000001": [self.record(1), self.record(2)],
        }
        self.open_shard = "shardId-child-0000000000000000000002"

    @staticmethod
    def record(number: int) -> dict[str, Any]:
        keys = {"PK": {"S": "P"}, "SK": {"S": f"ITEM#{number:03d}"}}
        return {
            "eventID": f"e{number}",
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "Keys": keys,
                "NewImage": keys,
                "SequenceNumber": f"{number:021d}",
                "SizeBytes": 10,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
        }

    def describe_table(self, **_: Any) -> dict[str, Any]:
        return {"Table": {"LatestStreamArn": self.ARN, "StreamSpecification": {"StreamEnabled": True}}}

    def describe_stream(self, **_: Any) -> dict[str, Any]:
        return {
            "StreamDescription": {
                "Shards": [
                    {
                        "ShardId": "shardId-child-0000000000000000000002",
                        "ParentShardId": "shardId-parent-000000000000000000001",
                    },
                    {"ShardId": "shardId-parent-000000000000000000001"},
                ]
            }
        }

    def get_shard_iterator(self, *, ShardId: str, ShardIteratorType: str, **kwargs: Any) -> dict[str, Any]:
        start = 0
        if ShardIteratorType == "AFTER_SEQUENCE_NUMBER":
            start = 1 + [seq(r) for r in self.shards[ShardId]].index(kwargs["SequenceNumber"])
        return {"ShardIterator": f"{ShardId}|{start}"}

    def get_records(self, *, ShardIterator: str, **_: Any) -> dict[str, Any]:
        shard_id, start = ShardIterator.split("|")
        records = self.shards[shard_id][int(start) :]
        position = int(start) + len(records)
        response: dict[str, Any] = {"Records": records}
        if shard_id == self.open_shard or records:
            response["NextShardIterator"] = f"{shard_id}|{position}"
        return response


def test_parent_shards_are_read_before_their_children(tmp_path: Path) -> None:
    fake = FakeStream()
    handler = Recorder()
    poller = StreamPoller(
        endpoint="http://127.0.0.1:9",
        table_name="fake",
        consumers=[Consumer(name="all", handler=handler)],
        state_dir=tmp_path,
        dynamodb_client=fake,
        streams_client=fake,
    )
    assert poller.drain(timeout=10)
    assert handler.sks == ["ITEM#001", "ITEM#002", "ITEM#003", "ITEM#004"]
    state = json.loads((tmp_path / "checkpoints" / "all.json").read_text())
    assert state["shards"]["shardId-parent-000000000000000000001"] == {
        "checkpoint": f"{2:021d}",
        "finished": True,
    }
    assert state["shards"]["shardId-child-0000000000000000000002"]["finished"] is False
