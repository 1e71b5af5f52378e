"""Lambda entry point: consumes audit events from the table's stream and keeps the team metrics'
rollups (``mailroom/metrics/``, definitions in docs/metrics.md).

Each record is read on its own; the batch's events are applied together, one write per
conversation, once (a redelivered event finds itself already applied), in order: after a failed
record the rest of the batch is reported failed too, so Lambda retries them in order.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from mailroom.costs.metering import METRICS, metered_invocation
from mailroom.metrics.stream import InOrderBatchProcessor
from mailroom.observability import logger, metrics, tracer

processor = InOrderBatchProcessor()


def record_handler(record: DynamoDBRecord) -> None:
    image = record.dynamodb.new_image if record.dynamodb else {}
    try:
        processor.stage(image)  # applied with the rest of the batch (InOrderBatchProcessor.process)
    except Exception:
        # Batch processing reports the failure for a retry; the log says why.
        logger.exception(
            "unreadable audit event",
            conversation_id=image.get("conversation_id"),
            event_type=image.get("type"),
            sequence_number=record.dynamodb.sequence_number if record.dynamodb else None,
        )
        raise


@metered_invocation(METRICS)
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
