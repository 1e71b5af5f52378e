"""Lambda entry point: routes every new inbound message from the table's stream, and sweeps the
team queues on a schedule.

Batches are processed with Powertools batch processing and partial failures are reported, so one
bad record is retried (and finally sent to the dead-letter queue) without blocking the others.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from mailroom.costs.metering import ROUTE, metered_invocation
from mailroom.domain.message import StoredMessage
from mailroom.observability import logger, metrics, tracer
from mailroom.routing.service import sweep_queues
from mailroom.routing.wiring import router

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> None:
    image = record.dynamodb.new_image if record.dynamodb else {}
    try:
        outcome = router().route(StoredMessage.model_validate(image))
    except Exception:
        # Batch processing reports the failure for a retry; the log says why.
        logger.exception(
            "routing failed", sequence_number=record.dynamodb.sequence_number if record.dynamodb else None
        )
        raise
    if outcome.assignee:
        metrics.add_metric(name="ConversationsAssigned", unit="Count", value=1)


@metered_invocation(ROUTE, processor=processor)
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse | dict[str, int]:
    if event.get("detail-type") == "Scheduled Event":
        return {"assigned": sweep_queues(router())}
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
