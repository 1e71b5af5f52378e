"""The sandbox's stand-in for Lambda's DynamoDB event source mappings.

``StreamPoller`` reads the table's stream from DynamoDB Local and calls each consumer's handler with
Lambda-shaped batches, as the event source mappings of the deployed stack do:

* every consumer reads every shard on its own, with its own checkpoint per shard (the last sequence
  number it is done with), kept as JSON in ``state_dir/checkpoints/<consumer>.json``, so a restart
  resumes after it; a stream it has not seen starts at TRIM_HORIZON;
* records are turned into exactly what Lambda delivers (:func:`to_lambda_record`), then the
  consumer's filter patterns are applied before batching; records that match none are skipped and
  the checkpoint moves past them;
* the handler gets ``{"Records": [...]}`` and a context. ``{"batchItemFailures": [...]}`` in its
  answer (ReportBatchItemFailures) moves the checkpoint to just before the lowest failed record and
  retries from there; an exception, or an answer naming a record not in the batch, fails the whole
  batch, which is halved until the failing record is alone (BisectBatchOnFunctionError);
* a record that failed ``1 + max_retries`` times (Lambda's MaximumRetryAttempts; -1 retries forever)
  goes to ``state_dir/dead-letter/<consumer>/<sequence number>.json`` with the error, and the
  consumer goes on after it;
* one batch at a time per consumer and shard, shards in parent-before-child order: per-shard
  ordering is kept, as on Lambda.
* ``redeliver`` (fault injection, ``sandbox/faults.py``) may have a batch that succeeded delivered
  once more, as Lambda's at-least-once delivery may: handlers must be idempotent.

Retry counts live in memory only: a restart gives a failing record its retries again.

Use ``start()``/``stop()`` for background threads (one per consumer, as each event source mapping
polls on its own: a slow consumer, such as metrics with its rollups, never holds routing back),
``poll_once()`` to step by hand in tests (consumers in order), and ``drain(timeout)`` to wait until
every consumer has processed everything in the stream.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from sandbox.dynamodb_local import local_client
from sandbox.event_filter import matches_any, validate_pattern

__all__ = ["Consumer", "LocalLambdaContext", "StreamPoller", "to_lambda_record"]

logger = logging.getLogger("mailroom.sandbox.streams")

# A handler returns None, or a mapping that may hold "batchItemFailures" (Powertools' TypedDict
# PartialItemFailureResponse fits).
Handler = Callable[[dict[str, Any], Any], Mapping[str, Any] | None]

# GetRecords' maximum; filtering happens before batching, so read as much as the API gives.
_READ_LIMIT = 1000
# Lambda's limits for a DynamoDB event source mapping.
_MAX_BATCH_SIZE = 10_000
_MAX_RETRIES_LIMIT = 10_000
_STATE_VERSION = 1
_CONSUMER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# GetShardIterator errors that mean "this checkpoint cannot be resumed": trimmed away, or unknown to
# the stream (DynamoDB Local answers an unknown sequence number with a 500 InternalFailure).
_CHECKPOINT_UNUSABLE = frozenset(
    {"TrimmedDataAccessException", "ValidationException", "InternalFailure", "InternalServerError"}
)

# How long a described stream ARN is reused before the table is described again.
ARN_REFRESH_S = 2.0


@dataclass(frozen=True)
class Consumer:
    """One stream consumer: what Lambda calls a function with an event source mapping."""

    name: str
    handler: Handler
    # Lambda FilterCriteria patterns (OR); empty means every record.
    patterns: tuple[dict[str, Any], ...] = ()
    batch_size: int = 100
    # Retries after the first failed attempt (Lambda's MaximumRetryAttempts); -1 retries forever.
    max_retries: int = 3
    # Builds the handler's context for each invocation; None gives a LocalLambdaContext.
    context_factory: Callable[[], Any] | None = None
    # Halve a batch whose handler raised, until the failing record is alone (Lambda's
    # BisectBatchOnFunctionError), so one bad record does not take its batch-mates down with it.
    bisect_on_error: bool = True


@dataclass
class LocalLambdaContext:
    """Enough of Lambda's context object for handlers and Powertools (logger, tracer, metrics)."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = "sandbox"
    timeout_seconds: float = 60.0
    _deadline: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        if not self.invoked_function_arn:
            self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"
        if not self.log_group_name:
            self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# ---------------------------------------------------------------------------------------------
# Record shape
# ---------------------------------------------------------------------------------------------


def to_lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A record from boto3's ``GetRecords`` as Lambda delivers it to a function.

    boto3 parses timestamps into datetimes and binary attributes into bytes; Lambda's JSON has epoch
    seconds and base64 strings, and adds ``eventSourceARN`` (the stream ARN).
    """
    source = record["dynamodb"]
    dynamodb: dict[str, Any] = {}
    if "ApproximateCreationDateTime" in source:
        dynamodb["ApproximateCreationDateTime"] = _epoch_seconds(source["ApproximateCreationDateTime"])
    for key in ("Keys", "NewImage", "OldImage"):
        if key in source:
            dynamodb[key] = {name: _attribute_json(value) for name, value in source[key].items()}
    for key in ("SequenceNumber", "SizeBytes", "StreamViewType"):
        if key in source:
            dynamodb[key] = source[key]
    converted: dict[str, Any] = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": record.get("eventSource", "aws:dynamodb"),
        "awsRegion": record.get("awsRegion"),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in record:  # TTL deletions: {"type": "Service", "principalId": "dynamodb..."}
        converted["userIdentity"] = dict(record["userIdentity"])
    return converted


def _epoch_seconds(value: Any) -> int | float:
    seconds = value.timestamp() if isinstance(value, datetime) else float(value)
    return int(seconds) if seconds.is_integer() else seconds


def _attribute_json(value: Mapping[str, Any]) -> dict[str, Any]:
    """One DynamoDB AttributeValue with bytes turned back into base64 text, as on the wire."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": _b64(inner)}
    if kind == "BS":
        return {"BS": [_b64(item) for item in inner]}
    if kind == "M":
        return {"M": {name: _attribute_json(item) for name, item in inner.items()}}
    if kind == "L":
        return {"L": [_attribute_json(item) for item in inner]}
    if kind in ("SS", "NS"):
        return {kind: list(inner)}
    return {kind: inner}


def _b64(data: Any) -> str:
    if isinstance(data, str):  # already text
        return data
    return base64.b64encode(bytes(data)).decode("ascii")


def _seq(record: Mapping[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def _after(sequence_number: str, checkpoint: str | None) -> bool:
    """Sequence numbers are decimal strings that grow within a shard; compare them as numbers."""
    return checkpoint is None or int(sequence_number) > int(checkpoint)


# ---------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------


@dataclass
class _ShardState:
    checkpoint: str | None = None  # last sequence number done with (processed, skipped or dead-lettered)
    finished: bool = False  # a closed shard read to its end
    # In memory only:
    iterator: str | None = None
    from_trim_horizon: bool = False  # the checkpoint could not be resumed: re-read, skipping up to it
    attempts: dict[str, int] = field(default_factory=dict)
    batch_cap: int | None = None  # bisecting a failed batch


@dataclass
class _ConsumerState:
    stream_arn: str | None = None
    shards: dict[str, _ShardState] = field(default_factory=dict)


@dataclass
class _Failure:
    index: int  # position in the batch of the lowest failed record
    whole_batch: bool
    error: dict[str, Any]


def _write_json_atomically(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# ---------------------------------------------------------------------------------------------
# The poller
# ---------------------------------------------------------------------------------------------


IDLE_CYCLES = 10  # empty passes in a row (2 s at the default interval) before polling slows down


class StreamPoller:
    """Polls one table's stream and feeds its consumers; see the module docstring."""

    def __init__(
        self,
        *,
        endpoint: str,
        table_name: str,
        consumers: list[Consumer],
        state_dir: Path,
        poll_interval: float = 0.2,
        idle_interval: float = 1.0,
        dynamodb_client: Any = None,
        streams_client: Any = None,
        redeliver: Callable[[str], bool] | None = None,
    ) -> None:
        _check_consumers(consumers)
        # Fault injection (sandbox/faults.py): True when the batch just delivered to the named
        # consumer is to be delivered again, as Lambda may (at-least-once delivery).
        self._redeliver = redeliver
        self.endpoint = endpoint
        self.table_name = table_name
        self.consumers = list(consumers)
        self.state_dir = Path(state_dir)
        self.poll_interval = poll_interval
        # After IDLE_CYCLES empty passes in a row the thread polls every ``idle_interval`` instead
        # (an idle sandbox costs the machine little) until a pass reads something or :meth:`wake`.
        self.idle_interval = max(idle_interval, poll_interval)
        self._dynamodb = dynamodb_client or local_client("dynamodb", endpoint)
        self._streams = streams_client or local_client("dynamodbstreams", endpoint)
        self._states: dict[str, _ConsumerState] = {c.name: self._load_state(c.name) for c in self.consumers}
        names = [c.name for c in self.consumers]
        # One pass per consumer at a time, whichever thread runs it (its own, or a test's).
        self._locks = {name: threading.RLock() for name in names}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._wakes = {name: threading.Event() for name in names}
        self._cond = threading.Condition()
        self._cycles_started = dict.fromkeys(names, 0)
        self._last_idle_cycle = dict.fromkeys(names, 0)
        self._table_missing_logged = False
        # Per consumer, (when, stream ARN) as last described: see _stream_arn.
        self._arn_found: dict[str, tuple[float, str]] = {}

    # -- public API -------------------------------------------------------------------------

    def start(self) -> None:
        """Poll in background threads, one per consumer, until :meth:`stop`."""
        if self.running:
            raise RuntimeError("stream poller already running")
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._run, args=(consumer,), name=f"stream-{consumer.name}", daemon=True)
            for consumer in self.consumers
        ]
        for thread in self._threads:
            thread.start()
        logger.info(
            "stream poller started",
            extra={"table_name": self.table_name, "consumers": [c.name for c in self.consumers]},
        )

    def wake(self) -> None:
        """Something was probably written (mail ingested, an API call): poll now, and briskly."""
        for wake in self._wakes.values():
            wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background threads: each finishes the batch in hand, then exits."""
        self._stop.set()
        self.wake()
        if not self._threads:
            return
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        busy = [thread.name for thread in self._threads if thread.is_alive()]
        if busy:
            logger.warning(
                "stream poller still busy after stop timeout (a handler is running)",
                extra={"timeout_s": timeout, "threads": busy},
            )
            return
        self._threads = []
        logger.info("stream poller stopped", extra={"table_name": self.table_name})

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def poll_once(self) -> int:
        """One pass over every consumer and shard; returns how many stream records were read."""
        read, _ = self._cycle()
        return read

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every consumer has caught up with everything in the stream (including records
        its handlers write meanwhile). True if it did within ``timeout`` seconds.

        With the background threads running, waits for each to finish a pass that started after
        this call and found nothing to do; otherwise polls in the calling thread.
        """
        deadline = time.monotonic() + timeout
        if self.running:
            with self._cond:
                start = dict(self._cycles_started)
                self.wake()
                while any(self._last_idle_cycle[name] <= start[name] for name in start):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self.running:
                        return False
                    self._cond.wait(min(remaining, 0.5))
                return True
        while True:
            read, idle = self._cycle()
            if idle:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if read == 0:  # nothing read yet not idle (an iterator to renew, a missing stream): breathe
                time.sleep(min(self.poll_interval, remaining))

    def dead_letters(self, consumer: str | None = None) -> list[dict[str, Any]]:
        """Every dead-lettered record (of one consumer, or all), oldest sequence number first."""
        root = self.state_dir / "dead-letter"
        directories = [root / consumer] if consumer is not None else sorted(root.glob("*"))
        entries: list[dict[str, Any]] = []
        for directory in directories:
            for path in directory.glob("*.json"):
                entries.append(json.loads(path.read_text(encoding="utf-8")))
        entries.sort(key=lambda e: (e.get("consumer", ""), int(e.get("sequence_number", 0))))
        return entries

    def checkpoints(self, consumer: str) -> dict[str, str | None]:
        """The consumer's checkpoint per shard (for diagnostics and tests)."""
        with self._locks[consumer]:
            return {shard: state.checkpoint for shard, state in self._states[consumer].shards.items()}

    def __enter__(self) -> StreamPoller:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the loop ---------------------------------------------------------------------------

    def _run(self, consumer: Consumer) -> None:
        failures, empty = 0, 0
        wake = self._wakes[consumer.name]
        while not self._stop.is_set():
            with self._cond:
                self._cycles_started[consumer.name] += 1
                number = self._cycles_started[consumer.name]
            read, idle = 0, False
            try:
                read, idle = self._consumer_cycle(consumer)
                failures = 0
            except Exception:
                failures += 1
                logger.exception(
                    "stream poll failed",
                    extra={
                        "table_name": self.table_name,
                        "consumer": consumer.name,
                        "consecutive_failures": failures,
                    },
                )
            with self._cond:
                if idle:
                    self._last_idle_cycle[consumer.name] = number
                self._cond.notify_all()
            empty = empty + 1 if read == 0 and not failures else 0
            if read == 0 or failures:
                if failures:
                    delay = self.poll_interval * min(2**failures, 25)
                else:
                    delay = self.idle_interval if empty >= IDLE_CYCLES else self.poll_interval
                if wake.wait(delay):
                    empty = 0
                wake.clear()

    def _stopping(self) -> bool:
        return self._stop.is_set() and threading.current_thread() in self._threads

    def _cycle(self) -> tuple[int, bool]:
        """One pass over every consumer, in order: (records read, idle). Idle means every read came
        back empty and nothing failed."""
        read, idle = 0, True
        for consumer in self.consumers:
            if self._stopping():
                return read, False
            consumer_read, consumer_idle = self._consumer_cycle(consumer)
            read += consumer_read
            idle = idle and consumer_idle
        return read, idle

    def _consumer_cycle(self, consumer: Consumer) -> tuple[int, bool]:
        """One pass of one consumer over every shard: (records read, idle)."""
        with self._locks[consumer.name]:
            stream_arn, described_now = self._stream_arn(consumer.name)
            if stream_arn is None:
                return 0, True
            shards = self._list_shards(stream_arn)
            if shards is None:  # the table went away since its stream was described: look again
                self._arn_found.pop(consumer.name, None)
                return 0, False
            state = self._sync_state(consumer, stream_arn, shards)
            read, incomplete = self._poll_consumer(consumer, state, stream_arn, shards)
            if read == 0 and not incomplete and not described_now:
                # Nothing on a stream described a moment ago: the table may have a new one (made
                # again). The pass is idle only if that stream is still the table's (drain() relies
                # on it), so look now: deciding on the next pass instead lets consumers that read in
                # turn (one's handler writes what the other reads) never be idle in the same cycle.
                self._arn_found.pop(consumer.name, None)
                current, _ = self._stream_arn(consumer.name)
                return 0, current == stream_arn
            return read, read == 0 and not incomplete

    def _stream_arn(self, consumer: str) -> tuple[str | None, bool]:
        """The table's stream (None: no table or no stream) and whether it was described just now.
        While records flow it is described at most every ``ARN_REFRESH_S`` for each consumer (it asks
        every pass); a pass that finds nothing describes it again (see :meth:`_consumer_cycle`)."""
        found = self._arn_found.get(consumer)
        if found is not None and time.monotonic() - found[0] < ARN_REFRESH_S:
            return found[1], False
        described_at = time.monotonic()
        try:
            table = self._dynamodb.describe_table(TableName=self.table_name)["Table"]
        except ClientError as exc:
            if _error_code(exc) != "ResourceNotFoundException":
                raise
            if not self._table_missing_logged:
                logger.info("table not found; nothing to poll yet", extra={"table_name": self.table_name})
                self._table_missing_logged = True
            return None, True
        self._table_missing_logged = False
        arn = table.get("LatestStreamArn")
        if not table.get("StreamSpecification", {}).get("StreamEnabled", False) or not arn:
            return None, True
        self._arn_found[consumer] = (described_at, str(arn))
        return str(arn), True

    def _list_shards(self, stream_arn: str) -> list[dict[str, Any]] | None:
        """The stream's shards; None when the stream is gone (the table was deleted: the next
        pass describes the table again)."""
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamArn": stream_arn}
        while True:
            try:
                description = self._streams.describe_stream(**kwargs)["StreamDescription"]
            except ClientError as exc:
                if _error_code(exc) != "ResourceNotFoundException":
                    raise
                return None
            shards.extend(description.get("Shards", []))
            last = description.get("LastEvaluatedShardId")
            if not last:
                return shards
            kwargs["ExclusiveStartShardId"] = last

    def _sync_state(
        self, consumer: Consumer, stream_arn: str, shards: list[dict[str, Any]]
    ) -> _ConsumerState:
        state = self._states[consumer.name]
        if state.stream_arn != stream_arn:
            if state.stream_arn is not None:
                logger.warning(
                    "the table has a new stream; starting it at TRIM_HORIZON",
                    extra={
                        "consumer": consumer.name,
                        "old_stream": state.stream_arn,
                        "stream_arn": stream_arn,
                    },
                )
            state.stream_arn = stream_arn
            state.shards = {}
            self._save_state(consumer.name)
        present = {shard["ShardId"] for shard in shards}
        gone = [shard_id for shard_id in state.shards if shard_id not in present]
        for shard_id in gone:  # trimmed out of the stream (24 h on AWS)
            del state.shards[shard_id]
        if gone:
            self._save_state(consumer.name)
        return state

    def _poll_consumer(
        self, consumer: Consumer, state: _ConsumerState, stream_arn: str, shards: list[dict[str, Any]]
    ) -> tuple[int, bool]:
        """Read every shard whose parent is done, parents first; a child opened by a parent finishing
        in this pass is read in this pass too."""
        present = {shard["ShardId"] for shard in shards}
        visited: set[str] = set()
        read, incomplete = 0, False
        progress = True
        while progress:
            progress = False
            for shard in shards:
                shard_id = shard["ShardId"]
                if shard_id in visited:
                    continue
                parent = shard.get("ParentShardId")
                if (
                    parent
                    and parent in present
                    and not state.shards.setdefault(parent, _ShardState()).finished
                ):
                    continue
                visited.add(shard_id)
                progress = True
                shard_state = state.shards.setdefault(shard_id, _ShardState())
                if shard_state.finished:
                    continue
                if self._stopping():
                    return read, True
                shard_read, shard_incomplete = self._poll_shard(consumer, stream_arn, shard_id, shard_state)
                read += shard_read
                incomplete = incomplete or shard_incomplete
        return read, incomplete

    def _poll_shard(
        self, consumer: Consumer, stream_arn: str, shard_id: str, shard: _ShardState
    ) -> tuple[int, bool]:
        log_extra = {"consumer": consumer.name, "shard_id": shard_id}
        if shard.iterator is None:
            shard.iterator = self._open_iterator(consumer, stream_arn, shard_id, shard)
            if shard.iterator is None:
                return 0, True
        try:
            response = self._streams.get_records(ShardIterator=shard.iterator, Limit=_READ_LIMIT)
        except ClientError as exc:
            code = _error_code(exc)
            shard.iterator = None
            if code == "TrimmedDataAccessException":
                logger.warning("records were trimmed; re-reading from TRIM_HORIZON", extra=log_extra)
                shard.from_trim_horizon = True
            elif code in ("ExpiredIteratorException", "ValidationException", "ResourceNotFoundException"):
                logger.info("shard iterator not usable; renewing it", extra={**log_extra, "error_code": code})
            else:
                raise
            return 0, True
        records = response.get("Records", [])
        next_iterator = response.get("NextShardIterator")
        shard.iterator = next_iterator
        fresh = [to_lambda_record(r, stream_arn) for r in records if _after(_seq(r), shard.checkpoint)]
        done = self._deliver(consumer, shard_id, shard, fresh) if fresh else True
        if not done:
            shard.iterator = None  # re-read from the checkpoint next pass
            return len(records), True
        if next_iterator is None:  # a closed shard read to its end: its children may start
            shard.finished = True
            self._save_state(consumer.name)
            logger.info("shard finished", extra=log_extra)
        return len(records), False

    def _open_iterator(
        self, consumer: Consumer, stream_arn: str, shard_id: str, shard: _ShardState
    ) -> str | None:
        log_extra = {"consumer": consumer.name, "shard_id": shard_id, "checkpoint": shard.checkpoint}
        try:
            if shard.checkpoint is not None and not shard.from_trim_horizon:
                try:
                    response = self._streams.get_shard_iterator(
                        StreamArn=stream_arn,
                        ShardId=shard_id,
                        ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                        SequenceNumber=shard.checkpoint,
                    )
                    return str(response["ShardIterator"])
                except ClientError as exc:
                    if _error_code(exc) not in _CHECKPOINT_UNUSABLE:
                        raise
                    logger.warning(
                        "checkpoint cannot be resumed; reading the shard from TRIM_HORIZON and "
                        "skipping records up to the checkpoint",
                        extra={**log_extra, "error_code": _error_code(exc)},
                    )
                    shard.from_trim_horizon = True
            response = self._streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            )
            iterator = response.get("ShardIterator")
            return str(iterator) if iterator else None
        except ClientError as exc:
            if _error_code(exc) != "ResourceNotFoundException":
                raise
            logger.info("shard no longer in the stream", extra=log_extra)
            return None

    # -- delivery ---------------------------------------------------------------------------

    def _deliver(
        self, consumer: Consumer, shard_id: str, shard: _ShardState, records: list[dict[str, Any]]
    ) -> bool:
        """Filter, batch and hand ``records`` (after the checkpoint, in order) to the consumer.
        True if all were dealt with; False if the consumer must re-read from its checkpoint."""
        if consumer.patterns:
            selected = [i for i, record in enumerate(records) if matches_any(consumer.patterns, record)]
        else:
            selected = list(range(len(records)))
        position = 0
        while position < len(selected):
            if self._stopping():
                self._advance(consumer, shard, records, selected, position)
                return False
            size = min(consumer.batch_size, shard.batch_cap or consumer.batch_size)
            indexes = selected[position : position + size]
            batch = [records[i] for i in indexes]
            failure = self._invoke(consumer, shard_id, batch)
            if failure is None and self._redeliver is not None and self._redeliver(consumer.name):
                failure = self._invoke(consumer, shard_id, batch)
            if failure is None:
                for record in batch:
                    shard.attempts.pop(_seq(record), None)
                shard.batch_cap = None
                position += len(indexes)
                self._advance(consumer, shard, records, selected, position)
                continue
            self._handle_failure(
                consumer=consumer,
                shard_id=shard_id,
                shard=shard,
                records=records,
                selected=selected,
                position=position,
                batch=batch,
                failure=failure,
            )
            return False
        # Everything matched was processed: move past the trailing records that matched nothing.
        self._set_checkpoint(consumer, shard, _seq(records[-1]))
        return True

    def _advance(
        self,
        consumer: Consumer,
        shard: _ShardState,
        records: list[dict[str, Any]],
        selected: list[int],
        position: int,
    ) -> None:
        """Checkpoint just before the ``position``-th selected record (past everything else before it)."""
        upto = selected[position] if position < len(selected) else len(records)
        if upto > 0:
            self._set_checkpoint(consumer, shard, _seq(records[upto - 1]))

    def _handle_failure(
        self,
        *,
        consumer: Consumer,
        shard_id: str,
        shard: _ShardState,
        records: list[dict[str, Any]],
        selected: list[int],
        position: int,
        batch: list[dict[str, Any]],
        failure: _Failure,
    ) -> None:
        # Records of the batch before the lowest failure are done; so is anything unselected before it.
        self._advance(consumer, shard, records, selected, position + failure.index)
        failed = batch[failure.index]
        failed_seq = _seq(failed)
        log_extra = {
            "consumer": consumer.name,
            "shard_id": shard_id,
            "sequence_number": failed_seq,
            "batch_size": len(batch),
            "error": failure.error.get("message"),
        }
        if failure.whole_batch and consumer.bisect_on_error and len(batch) > 1:
            shard.batch_cap = max(1, len(batch) // 2)
            logger.warning(
                "batch failed; retrying it in halves", extra={**log_extra, "next_size": shard.batch_cap}
            )
            return
        attempts = shard.attempts.get(failed_seq, 0) + 1
        shard.attempts[failed_seq] = attempts
        if consumer.max_retries < 0 or attempts <= consumer.max_retries:
            logger.warning("batch failed; will retry", extra={**log_extra, "attempts": attempts})
            return
        # Retries exhausted: the failed record (or, without bisecting, the whole failed batch) goes
        # to the dead-letter folder, and the consumer moves on after it.
        victims = batch if failure.whole_batch else [failed]
        for record in victims:
            self._dead_letter(consumer, shard_id, record, failure.error, attempts)
            shard.attempts.pop(_seq(record), None)
        shard.batch_cap = None
        self._set_checkpoint(consumer, shard, _seq(victims[-1]))

    def _invoke(self, consumer: Consumer, shard_id: str, batch: list[dict[str, Any]]) -> _Failure | None:
        # A JSON round trip gives the handler its own copy of exactly what Lambda would send.
        event = json.loads(json.dumps({"Records": batch}))
        context = consumer.context_factory() if consumer.context_factory else self._context(consumer)
        started = time.monotonic()
        try:
            result = consumer.handler(event, context)
        except Exception as exc:
            logger.exception(
                "stream handler raised",
                extra={"consumer": consumer.name, "shard_id": shard_id, "batch_size": len(batch)},
            )
            return _Failure(
                index=0,
                whole_batch=True,
                error={
                    "type": type(exc).__name__,
                    "message": str(exc),
                    "traceback": traceback.format_exc(),
                },
            )
        logger.debug(
            "stream batch delivered",
            extra={
                "consumer": consumer.name,
                "shard_id": shard_id,
                "batch_size": len(batch),
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return _batch_item_failure(result, batch)

    @staticmethod
    def _context(consumer: Consumer) -> LocalLambdaContext:
        return LocalLambdaContext(function_name=f"mailroom-sandbox-{consumer.name}")

    def _dead_letter(
        self,
        consumer: Consumer,
        shard_id: str,
        record: dict[str, Any],
        error: dict[str, Any],
        attempts: int,
    ) -> None:
        seq = _seq(record)
        path = self.state_dir / "dead-letter" / consumer.name / f"{seq}.json"
        _write_json_atomically(
            path,
            {
                "consumer": consumer.name,
                "table_name": self.table_name,
                "stream_arn": record.get("eventSourceARN"),
                "shard_id": shard_id,
                "sequence_number": seq,
                "attempts": attempts,
                "error": error,
                "failed_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "record": record,
            },
        )
        logger.error(
            "stream record dead-lettered after its retries",
            extra={
                "consumer": consumer.name,
                "shard_id": shard_id,
                "sequence_number": seq,
                "attempts": attempts,
                "error": error.get("message"),
                "dead_letter_path": str(path),
            },
        )

    # -- checkpoints --------------------------------------------------------------------------

    def _set_checkpoint(self, consumer: Consumer, shard: _ShardState, sequence_number: str) -> None:
        if _after(sequence_number, shard.checkpoint):
            shard.checkpoint = sequence_number
            shard.from_trim_horizon = False  # a checkpoint just read from the stream can be resumed
            self._save_state(consumer.name)

    def _state_path(self, consumer: str) -> Path:
        return self.state_dir / "checkpoints" / f"{consumer}.json"

    def _load_state(self, consumer: str) -> _ConsumerState:
        path = self._state_path(consumer)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return _ConsumerState()
        except (OSError, ValueError):
            logger.warning("unreadable checkpoint file; starting afresh", extra={"path": str(path)})
            return _ConsumerState()
        if data.get("version") != _STATE_VERSION or data.get("table_name") != self.table_name:
            return _ConsumerState()
        shards = {
            shard_id: _ShardState(checkpoint=entry.get("checkpoint"), finished=bool(entry.get("finished")))
            for shard_id, entry in data.get("shards", {}).items()
        }
        return _ConsumerState(stream_arn=data.get("stream_arn"), shards=shards)

    def _save_state(self, consumer: str) -> None:
        state = self._states[consumer]
        _write_json_atomically(
            self._state_path(consumer),
            {
                "version": _STATE_VERSION,
                "table_name": self.table_name,
                "stream_arn": state.stream_arn,
                "shards": {
                    shard_id: {"checkpoint": shard.checkpoint, "finished": shard.finished}
                    for shard_id, shard in state.shards.items()
                },
            },
        )


def _batch_item_failure(result: Any, batch: list[dict[str, Any]]) -> _Failure | None:
    """Read a ReportBatchItemFailures answer. A malformed one fails the whole batch, as on Lambda."""
    if not isinstance(result, Mapping):
        return None
    failures = result.get("batchItemFailures")
    if not failures:
        return None
    positions = {_seq(record): i for i, record in enumerate(batch)}
    indexes: list[int] = []
    for item in failures if isinstance(failures, list) else [failures]:
        identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not isinstance(identifier, str) or identifier not in positions:
            return _Failure(
                index=0,
                whole_batch=True,
                error={
                    "type": "InvalidBatchItemFailures",
                    "message": f"batchItemFailures names {identifier!r}, which is not in the batch",
                },
            )
        indexes.append(positions[identifier])
    lowest = min(indexes)
    return _Failure(
        index=lowest,
        whole_batch=False,
        error={
            "type": "BatchItemFailure",
            "message": f"the handler reported {len(indexes)} failed record(s) in batchItemFailures",
        },
    )


def _check_consumers(consumers: Iterable[Consumer]) -> None:
    names: set[str] = set()
    for consumer in consumers:
        if not _CONSUMER_NAME.match(consumer.name):
            raise ValueError(f"consumer name {consumer.name!r} must match {_CONSUMER_NAME.pattern}")
        if consumer.name in names:
            raise ValueError(f"two consumers are named {consumer.name!r}")
        names.add(consumer.name)
        if not 1 <= consumer.batch_size <= _MAX_BATCH_SIZE:
            raise ValueError(f"{consumer.name}: batch_size must be 1..{_MAX_BATCH_SIZE}")
        if not -1 <= consumer.max_retries <= _MAX_RETRIES_LIMIT:
            raise ValueError(f"{consumer.name}: max_retries must be -1..{_MAX_RETRIES_LIMIT}")
        if len(consumer.patterns) > 5:
            raise ValueError(f"{consumer.name}: Lambda allows at most 5 filter patterns")
        for pattern in consumer.patterns:
            validate_pattern(pattern)
