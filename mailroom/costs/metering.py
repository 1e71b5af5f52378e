"""Metering every invocation: ``@metered_invocation(INGEST)`` on each handler (the outermost decorator).

It opens a meter (:mod:`mailroom.usage`), runs the handler, and records, even when the handler fails
(a failed invocation is billed too):

* Lambda: the invocation's wall time rounded up to the next millisecond, times the function's
  configured memory (:mod:`mailroom.deployment`), in GB-seconds; and one request.
* DynamoDB read/write units and requests (the table adapter), S3 requests and bytes (the stores),
  SES inbound messages and chunks (ingest) and outbound messages and bytes (the senders).
* API Gateway: one request per invocation of the function behind it (reply).
* CloudWatch Logs: the bytes the Powertools Logger writes during the invocation (its stream is
  wrapped once per process), plus on Lambda whatever goes to stdout (the EMF metrics blob), plus
  :data:`PLATFORM_LOG_BYTES` for the START/END/REPORT lines Lambda itself writes. An approximation:
  CloudWatch bills the ingested event size, which this matches for our one-line JSON events.

Attribution: usage goes to the conversations the domain code named (:func:`mailroom.usage.attribute`),
shared evenly between several named in one unit of work (one mail to two mailboxes); nothing named
means the overhead line. A batch (``processor=`` the handler's Powertools ``BatchProcessor``) is cut
into one unit per record at the processor's per-record success/failure hooks, so each record's
usage goes to its own conversation. Lambda time is shared by each record's measured time, the rest of
the invocation (setup, response) evenly; the request, the platform log lines and whatever was used
after the last record evenly.

Recording: :class:`~mailroom.costs.recorder.UsageRecorder`'s atomic counter updates, in a meter of
their own that is never added to the invocation's (no recursion). Their requests and write units are
the "metering overhead", written on the day's TOTAL item in the same update: the writes before it as
measured, the TOTAL update itself as one request and one write unit (its item stays under 1 KB). The
time the recording takes (and any difference the TOTAL update reports) is carried to this
container's next invocation, because it is only known afterwards: a container's last recording is
not counted.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, TypeVar, cast

from mailroom import clock
from mailroom.costs.quantities import QUANTUM, S3_GET_TIER, S3_PUT_TIER, Q, Usage
from mailroom.costs.recorder import UsagePlan, UsageRecorder
from mailroom.deployment import INGEST, METRICS, REPLY, ROUTE, FunctionSpec
from mailroom.observability import logger
from mailroom.settings import Settings, get_settings
from mailroom.table.client import table_from_settings
from mailroom.usage import MeterReading, Segment, UsageMeter, current_meter, metered, record_log_bytes

# The handlers import their spec from here with the decorator (one import line each).
__all__ = [
    "INGEST",
    "METRICS",
    "REPLY",
    "ROUTE",
    "metered_invocation",
    "plan_invocation",
    "record_invocation",
]

F = TypeVar("F", bound=Callable[..., Any])

# Lambda writes START, END and REPORT lines for every invocation (about 100, 50 and 170 bytes).
PLATFORM_LOG_BYTES = 320
BEHIND_API_GATEWAY = frozenset({REPLY.key})
NS_PER_MS = 1_000_000
MB_MS_PER_GB_S = Decimal(1024 * 1000)
# The TOTAL update's own cost, counted in itself: one request, one write unit.
TOTAL_WRITE = Usage({Q.DDB_REQUESTS: 1, Q.DDB_WRITE_UNITS: 1})


def metered_invocation(spec: FunctionSpec, *, processor: Any = None) -> Callable[[F], F]:
    """Meter and record every invocation of the decorated Lambda handler of ``spec``.
    ``processor``: the handler's Powertools ``BatchProcessor``, to meter each record on its own."""

    def decorate(handler: F) -> F:
        if processor is not None:
            _cut_per_record(processor)

        @functools.wraps(handler)
        def invoke(event: Any, context: Any) -> Any:
            settings = get_settings()
            if not settings.cost_metering:
                return handler(event, context)
            _count_log_output()
            day = clock.now().date().isoformat()
            started = time.perf_counter_ns()
            meter: UsageMeter | None = None
            try:
                with metered() as meter:
                    meter.start_segments(started)
                    if spec.key in BEHIND_API_GATEWAY:
                        meter.api_requests += 1
                    return handler(event, context)
            finally:
                if meter is not None:
                    record_invocation(spec, settings, day, meter, time.perf_counter_ns() - started)

        return cast(F, invoke)

    return decorate


# -- planning (pure) ----------------------------------------------------------------------------------


def usage_of(reading: MeterReading) -> Usage:
    s3 = dict(reading.s3_requests)
    return Usage(
        {
            Q.DDB_REQUESTS: reading.dynamodb_requests,
            Q.DDB_READ_UNITS: Decimal(repr(reading.read_units)).quantize(QUANTUM),
            Q.DDB_WRITE_UNITS: Decimal(repr(reading.write_units)).quantize(QUANTUM),
            Q.S3_PUT_REQUESTS: sum(n for op, n in s3.items() if op in S3_PUT_TIER),
            Q.S3_GET_REQUESTS: sum(n for op, n in s3.items() if op in S3_GET_TIER),
            Q.S3_BYTES: reading.s3_bytes_written,
            Q.SES_IN_MESSAGES: reading.ses_messages_in,
            Q.SES_IN_CHUNKS: reading.ses_chunks_in,
            Q.SES_OUT_MESSAGES: reading.ses_messages_out,
            Q.SES_OUT_BYTES: reading.ses_bytes_out,
            Q.API_REQUESTS: reading.api_requests,
            Q.LOG_BYTES: reading.log_bytes,
        }
    )


def billed_gb_seconds(elapsed_ns: int, memory_mb: int) -> Decimal:
    """Lambda's billed duration (rounded up to the next 1 ms, at least 1 ms) times memory."""
    billed_ms = max(1, math.ceil(elapsed_ns / NS_PER_MS))
    return Decimal(billed_ms) * memory_mb / MB_MS_PER_GB_S


def plan_invocation(spec: FunctionSpec, day: str, meter: UsageMeter, elapsed_ns: int) -> UsagePlan:
    """What to record for one invocation: each unit of work's usage, to its targets or overhead."""
    gb_seconds = billed_gb_seconds(elapsed_ns, spec.memory_mb)
    tail_reading, tail_targets = meter.tail()
    units = list(meter.segments)
    tail_ns = max(0, elapsed_ns - sum(s.elapsed_ns for s in units))
    spread = Usage()
    if not units or tail_targets:
        units.append(Segment(usage=tail_reading, elapsed_ns=tail_ns, targets=tail_targets))
        tail_ns = 0
    else:  # after the last record: the batch's own work, shared by its records
        spread = usage_of(tail_reading)
    n = len(units)
    time_weights = [Decimal(u.elapsed_ns) + Decimal(tail_ns) / n for u in units]
    durations = Usage({Q.LAMBDA_GB_SECONDS: gb_seconds}).split(time_weights)
    even = (spread + Usage({Q.LAMBDA_REQUESTS: 1, Q.LOG_BYTES: PLATFORM_LOG_BYTES})).split([1] * n)
    plan = UsagePlan(day=day, function=spec.key, invocation_gb_seconds=gb_seconds)
    for unit, duration, shared in zip(units, durations, even, strict=True):
        usage = usage_of(unit.usage) + duration + shared
        if not unit.targets:
            plan.add(None, usage)
            continue
        for target, part in zip(unit.targets, usage.split([1] * len(unit.targets)), strict=True):
            plan.add(target, part)
    return plan


# -- recording ----------------------------------------------------------------------------------------


class _Carry:
    """The metering's usage learned after its TOTAL update, recorded with the next invocation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, Usage] = {}

    def take(self, function: str) -> Usage:
        with self._lock:
            return self._pending.pop(function, Usage())

    def add(self, function: str, usage: Usage) -> None:
        with self._lock:
            self._pending[function] = self._pending.get(function, Usage()) + usage


CARRY = _Carry()


def metering_usage(reading: MeterReading) -> Usage:
    usage = usage_of(reading)
    return Usage({q: usage[q] for q in (Q.DDB_REQUESTS, Q.DDB_READ_UNITS, Q.DDB_WRITE_UNITS)})


def record_invocation(
    spec: FunctionSpec, settings: Settings, day: str, meter: UsageMeter, elapsed_ns: int
) -> int:
    """Write the invocation's usage; returns the number of writes (never raises: metering must not
    fail an invocation, a failure is logged)."""
    started = time.perf_counter_ns()
    try:
        plan = plan_invocation(spec, day, meter, elapsed_ns)
        with metered(propagate=False) as own:
            recorder = UsageRecorder(table_from_settings(settings), region=settings.region)
            recorder.write_dimensions(plan, run=_concurrently)
            before_total = own.reading()
            recorder.write_total(plan, CARRY.take(spec.key) + metering_usage(before_total) + TOTAL_WRITE)
            total_write = metering_usage(own.reading() - before_total)
        correction = total_write - TOTAL_WRITE
        flush = Usage(
            {Q.LAMBDA_GB_SECONDS: _exact_gb_seconds(time.perf_counter_ns() - started, spec.memory_mb)}
        )
        CARRY.add(spec.key, flush + correction)
        return own.dynamodb_requests.total()
    except Exception:
        logger.exception("cost metering failed: this invocation's usage is not recorded", function=spec.key)
        return 0


def _exact_gb_seconds(elapsed_ns: int, memory_mb: int) -> Decimal:
    return (Decimal(elapsed_ns) / NS_PER_MS * memory_mb / MB_MS_PER_GB_S).quantize(QUANTUM)


_POOL_LOCK = threading.Lock()
_POOL: ThreadPoolExecutor | None = None
POOL_SIZE = 8


def _forget_pool() -> None:
    global _POOL  # noqa: PLW0603 - a forked child has the object but not its threads
    _POOL = None


os.register_at_fork(after_in_child=_forget_pool)


def _concurrently(tasks: list[Callable[[], object]]) -> list[object]:
    """Run the recording's independent writes at once (one round trip of latency instead of one
    per item), each in a copy of this context, so they count into the metering's own meter."""
    global _POOL  # noqa: PLW0603 - one pool per container, made on first use
    if len(tasks) <= 1:
        return [task() for task in tasks]
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="cost-metering")
        pool = _POOL
    futures = [pool.submit(contextvars.copy_context().run, task) for task in tasks]
    return [future.result() for future in futures]  # the first failure is raised (and logged)


# -- batches: one unit of work per record ------------------------------------------------------------


def _cut_per_record(processor: Any) -> None:
    """Close a segment after each record: Powertools calls the processor's ``success_handler`` or
    ``failure_handler`` once per record, right after the record handler (its documented extension
    points), so the usage since the previous record is this record's."""
    for name in ("success_handler", "failure_handler"):
        original = getattr(processor, name)
        if getattr(original, "mailroom_cuts_segments", False):
            continue

        def cut(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            meter = current_meter()
            if meter is not None:
                meter.close_segment(time.perf_counter_ns())
            return _original(*args, **kwargs)

        cut.mailroom_cuts_segments = True  # type: ignore[attr-defined]
        setattr(processor, name, cut)


# -- CloudWatch Logs: count what is written -----------------------------------------------------------


class CountingStream:
    """A text stream that counts the UTF-8 bytes written through it into the current meter."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        record_log_bytes(len(text.encode("utf-8", "replace")))
        written: int = self.inner.write(text)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _count_log_output() -> None:
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler) and not isinstance(handler.stream, CountingStream):
        handler.setStream(CountingStream(handler.stream))
    # On Lambda, stdout is CloudWatch Logs too (Powertools Metrics prints its EMF blob there).
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") and not isinstance(sys.stdout, CountingStream):
        sys.stdout = CountingStream(sys.stdout)
