"""Per-invocation usage: what one handler invocation asked of AWS, for cost attribution and benchmarks.

Adapters record into the meter of the current invocation (a context variable, so concurrent sandbox
invocations in threads and Lambda invocations each count their own).

Domain code says whose work it is doing with :func:`attribute` (ingest per mailbox outcome, routing
per message, the reply pipeline, the API's conversation routes). The cost metering
(:mod:`mailroom.costs.metering`) reads the meter at the end of the invocation: usage goes to the
conversations, mailboxes, teams and agents named, or to the overhead line when nobody was named.
A batch is cut into one *segment* per record (:meth:`UsageMeter.close_segment`), so each record's
usage goes to its own conversation.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

SES_CHUNK_BYTES = 256 * 1024  # SES receiving bills incoming mail per started 256 KB chunk


@dataclass(frozen=True)
class Attribution:
    """Whose work it is: a conversation in a mailbox, its team, and the agent for replies."""

    conversation_id: str
    mailbox: str
    team: str | None = None
    agent: str | None = None


@dataclass(frozen=True)
class MeterReading:
    """The meter's counters at one moment (readings subtract to the usage in between)."""

    dynamodb_requests: int = 0
    read_units: float = 0.0
    write_units: float = 0.0
    s3_requests: tuple[tuple[str, int], ...] = ()
    s3_bytes_written: int = 0
    ses_messages_out: int = 0
    ses_bytes_out: int = 0
    ses_messages_in: int = 0
    ses_chunks_in: int = 0
    api_requests: int = 0
    log_bytes: int = 0

    def __sub__(self, other: MeterReading) -> MeterReading:
        s3 = Counter(dict(self.s3_requests))
        s3.subtract(dict(other.s3_requests))
        return MeterReading(
            dynamodb_requests=self.dynamodb_requests - other.dynamodb_requests,
            read_units=self.read_units - other.read_units,
            write_units=self.write_units - other.write_units,
            s3_requests=tuple(sorted((op, n) for op, n in s3.items() if n)),
            s3_bytes_written=self.s3_bytes_written - other.s3_bytes_written,
            ses_messages_out=self.ses_messages_out - other.ses_messages_out,
            ses_bytes_out=self.ses_bytes_out - other.ses_bytes_out,
            ses_messages_in=self.ses_messages_in - other.ses_messages_in,
            ses_chunks_in=self.ses_chunks_in - other.ses_chunks_in,
            api_requests=self.api_requests - other.api_requests,
            log_bytes=self.log_bytes - other.log_bytes,
        )


@dataclass(frozen=True)
class Segment:
    """One unit of work inside an invocation (a batch record): its usage, time and targets."""

    usage: MeterReading
    elapsed_ns: int
    targets: tuple[Attribution, ...]


@dataclass
class UsageMeter:
    dynamodb_requests: Counter[str] = field(default_factory=Counter)
    read_units: float = 0.0
    write_units: float = 0.0
    s3_requests: Counter[str] = field(default_factory=Counter)
    s3_bytes_written: int = 0
    ses_messages_out: int = 0
    ses_bytes_out: int = 0
    ses_messages_in: int = 0
    ses_chunks_in: int = 0
    api_requests: int = 0
    log_bytes: int = 0
    # Attribution: the targets named since the last segment boundary, and the closed segments.
    targets: dict[str, Attribution] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    _boundary: MeterReading = field(default_factory=MeterReading)
    _boundary_ns: int | None = None
    # Recording may come from several threads (the cost metering writes concurrently).
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record_dynamodb(self, operation: str, *, read_units: float = 0.0, write_units: float = 0.0) -> None:
        with self._lock:
            self.dynamodb_requests[operation] += 1
            self.read_units += read_units
            self.write_units += write_units

    def record_s3(self, operation: str, *, bytes_written: int = 0) -> None:
        with self._lock:
            self.s3_requests[operation] += 1
            self.s3_bytes_written += bytes_written

    def record_ses_out(self, size: int) -> None:
        with self._lock:
            self.ses_messages_out += 1
            self.ses_bytes_out += size

    def record_ses_in(self, size: int) -> None:
        with self._lock:
            self.ses_messages_in += 1
            self.ses_chunks_in += max(1, math.ceil(size / SES_CHUNK_BYTES))

    def record_log(self, size: int) -> None:
        with self._lock:
            self.log_bytes += size

    def attribute(self, target: Attribution) -> None:
        """Name whose work this is. Naming the same conversation again completes it (a team or
        agent learned later); different conversations share the segment's usage evenly."""
        known = self.targets.get(target.conversation_id)
        if known is not None:
            target = Attribution(
                conversation_id=target.conversation_id,
                mailbox=target.mailbox or known.mailbox,
                team=target.team or known.team,
                agent=target.agent or known.agent,
            )
        self.targets[target.conversation_id] = target

    def reading(self) -> MeterReading:
        return MeterReading(
            dynamodb_requests=sum(self.dynamodb_requests.values()),
            read_units=self.read_units,
            write_units=self.write_units,
            s3_requests=tuple(sorted(self.s3_requests.items())),
            s3_bytes_written=self.s3_bytes_written,
            ses_messages_out=self.ses_messages_out,
            ses_bytes_out=self.ses_bytes_out,
            ses_messages_in=self.ses_messages_in,
            ses_chunks_in=self.ses_chunks_in,
            api_requests=self.api_requests,
            log_bytes=self.log_bytes,
        )

    def start_segments(self, at_ns: int) -> None:
        """Segments are measured from ``at_ns`` (the invocation's start)."""
        self._boundary_ns = at_ns

    def close_segment(self, at_ns: int) -> None:
        """End a unit of work (a batch record): what was used and named since the last boundary."""
        now = self.reading()
        started = self._boundary_ns if self._boundary_ns is not None else at_ns
        self.segments.append(
            Segment(
                usage=now - self._boundary, elapsed_ns=at_ns - started, targets=tuple(self.targets.values())
            )
        )
        self._boundary, self._boundary_ns = now, at_ns
        self.targets = {}

    def tail(self) -> tuple[MeterReading, tuple[Attribution, ...]]:
        """What was used and named after the last boundary (all of it when nothing was cut)."""
        return self.reading() - self._boundary, tuple(self.targets.values())

    def add(self, other: UsageMeter) -> None:
        """Count another meter's usage in this one (a nested meter handing its figures up)."""
        self.dynamodb_requests.update(other.dynamodb_requests)
        self.read_units += other.read_units
        self.write_units += other.write_units
        self.s3_requests.update(other.s3_requests)
        self.s3_bytes_written += other.s3_bytes_written
        self.ses_messages_out += other.ses_messages_out
        self.ses_bytes_out += other.ses_bytes_out
        self.ses_messages_in += other.ses_messages_in
        self.ses_chunks_in += other.ses_chunks_in
        self.api_requests += other.api_requests
        self.log_bytes += other.log_bytes

    def summary(self) -> dict[str, object]:
        return {
            "dynamodb_requests": dict(self.dynamodb_requests),
            "dynamodb_request_count": sum(self.dynamodb_requests.values()),
            "read_units": round(self.read_units, 2),
            "write_units": round(self.write_units, 2),
            "s3_requests": dict(self.s3_requests),
            "s3_bytes_written": self.s3_bytes_written,
            "ses_messages_out": self.ses_messages_out,
            "ses_bytes_out": self.ses_bytes_out,
        }


_current: ContextVar[UsageMeter | None] = ContextVar("mailroom_usage_meter", default=None)


def current_meter() -> UsageMeter | None:
    return _current.get()


def record_s3(operation: str, *, bytes_written: int = 0) -> None:
    """Count one raw-store request (S3 on AWS; the sandbox's directory counts as S3 would)."""
    meter = _current.get()
    if meter is not None:
        meter.record_s3(operation, bytes_written=bytes_written)


def record_ses_inbound(size: int) -> None:
    """Count one received mail of ``size`` bytes: SES receiving (a message and its 256 KB chunks),
    and the PUT with which SES's S3 action stored the raw mail before invoking ingest."""
    meter = _current.get()
    if meter is not None:
        meter.record_ses_in(size)
        meter.record_s3("PutObject", bytes_written=size)


def record_log_bytes(size: int) -> None:
    meter = _current.get()
    if meter is not None:
        meter.record_log(size)


def attribute(
    *, conversation_id: str, mailbox: str, team: str | None = None, agent: str | None = None
) -> None:
    """Say whose work the current invocation (or batch record) is doing: a conversation of a
    mailbox, its team, and for replies the agent. Cheap (no I/O); a no-op outside a meter."""
    meter = _current.get()
    if meter is not None and conversation_id and mailbox:
        meter.attribute(
            Attribution(
                conversation_id=conversation_id, mailbox=mailbox.strip().lower(), team=team, agent=agent
            )
        )


@contextmanager
def metered(*, propagate: bool = True) -> Iterator[UsageMeter]:
    """Count everything recorded inside the block into a fresh meter. When the block ends, its
    figures are added to the enclosing meter (a benchmark's around a handler call) unless
    ``propagate`` is false (the cost metering's own writes, which are reported separately)."""
    meter = UsageMeter()
    parent = _current.get()
    token = _current.set(meter)
    try:
        yield meter
    finally:
        _current.reset(token)
        if propagate and parent is not None:
            parent.add(meter)
