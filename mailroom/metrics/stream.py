"""The metrics function's side of the stream: audit event records, a batch at a time, in order.

Each record is read and checked on its own (a malformed one fails alone); the batch's events are
then applied together, one write per conversation (:meth:`MetricsWriter.apply_batch`). A write that
fails fails the invocation: Lambda retries the batch (halving it), and whatever was written is
recognised and skipped.

Lambda retries a DynamoDB stream batch from its lowest failed record, so everything after a failure
is delivered again anyway. :class:`InOrderBatchProcessor` therefore fails every record after the
first failure without applying it: a conversation's later events are never applied before an
earlier one that failed (its clocks depend on the order).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from mailroom.domain.event import AuditEvent
from mailroom.metrics.model import Count, Duration
from mailroom.metrics.rollups import Applied, MetricsWriter
from mailroom.observability import metrics
from mailroom.settings import get_settings
from mailroom.table.client import table_from_settings


class EarlierRecordFailedError(Exception):
    """An earlier record of the batch failed: this one waits for Lambda's retry, in order."""


class InOrderBatchProcessor(BatchProcessor):
    """Powertools' batch processor for DynamoDB streams that stops at the first failed record and
    applies the batch's audit events when every record has been read."""

    def __init__(self) -> None:
        super().__init__(event_type=EventType.DynamoDBStreams)
        self.staged: list[AuditEvent] = []

    def stage(self, image: dict[str, Any]) -> None:
        """The record handler's part: read one record's new image (an audit event)."""
        if image.get("entity") == "event":
            self.staged.append(AuditEvent.model_validate(image))

    def process(self) -> list[tuple[Any, ...]]:
        self.staged = []
        results = super().process()
        staged, self.staged = self.staged, []
        for applied in writer().apply_batch(staged):
            emit(applied)
        return results

    def _process_record(self, record: dict[str, Any]) -> Any:
        if self.fail_messages:  # reported for a retry, not applied, and not logged again
            error = EarlierRecordFailedError("an earlier record of this batch failed")
            data = self._to_batch_type(record, event_type=self.event_type)
            return self.failure_handler(record=data, exception=(EarlierRecordFailedError, error, None))
        return super()._process_record(record)


@lru_cache(maxsize=4)
def _writer(table_name: str, endpoint: str | None) -> MetricsWriter:
    return MetricsWriter(table_from_settings())


def writer() -> MetricsWriter:
    """One writer per container and table (its state cache and team calendars live with it)."""
    settings = get_settings()
    return _writer(settings.table_name, settings.dynamodb_endpoint)


def emit(applied: Applied) -> None:
    """A few CloudWatch metrics (EMF), without dimensions: every custom metric costs money."""
    if applied.duplicate:
        return
    for contribution in applied.contributions:
        if contribution.target.kind.value != "all":
            continue  # the same figures again for a team, a tag or an agent
        seconds = contribution.durations.get(Duration.FIRST_RESPONSE)
        if seconds is not None:
            metrics.add_metric(name="FirstResponseSeconds", unit="Seconds", value=seconds)
        if contribution.counts.get(Count.OUT):
            metrics.add_metric(name="RepliesSent", unit="Count", value=contribution.counts[Count.OUT])
        if contribution.counts.get(Count.SLA_BREACHED):
            metrics.add_metric(
                name="SlaBreaches", unit="Count", value=contribution.counts[Count.SLA_BREACHED]
            )
