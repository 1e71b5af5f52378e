"""Per-invocation usage: what one handler invocation asked of AWS, for cost attribution and benchmarks.

Adapters record into the meter of the current invocation (a context variable, so concurrent sandbox
invocations in threads and Lambda invocations each count their own).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class UsageMeter:
    dynamodb_requests: Counter[str] = field(default_factory=Counter)
    read_units: float = 0.0
    write_units: float = 0.0
    s3_requests: Counter[str] = field(default_factory=Counter)
    s3_bytes_written: int = 0
    ses_messages_out: int = 0
    ses_bytes_out: int = 0

    def record_dynamodb(self, operation: str, *, read_units: float = 0.0, write_units: float = 0.0) -> None:
        self.dynamodb_requests[operation] += 1
        self.read_units += read_units
        self.write_units += write_units

    def record_s3(self, operation: str, *, bytes_written: int = 0) -> None:
        self.s3_requests[operation] += 1
        self.s3_bytes_written += bytes_written

    def record_ses_out(self, size: int) -> None:
        self.ses_messages_out += 1
        self.ses_bytes_out += size

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


@contextmanager
def metered() -> Iterator[UsageMeter]:
    """Count everything recorded inside the block into a fresh meter."""
    meter = UsageMeter()
    token = _current.set(meter)
    try:
        yield meter
    finally:
        _current.reset(token)
