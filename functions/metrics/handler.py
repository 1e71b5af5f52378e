"""Lambda entry point: consumes audit events from the table's stream to keep metrics and costs.

Metric rollups and cost accounting arrive with their own issue; the stream wiring, the filter and
partial-batch reporting are real now.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from mailroom.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> None:
    image = record.dynamodb.new_image if record.dynamodb else {}
    event_type = str(image.get("type", "unknown"))
    metrics.add_metric(name=f"Event_{event_type}", unit="Count", value=1)
    logger.debug("audit event", event_type=event_type, conversation_id=image.get("conversation_id"))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
