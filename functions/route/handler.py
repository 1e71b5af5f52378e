"""Lambda entry point: consumes the table's stream (new inbound messages) to route conversations.

Batches are processed with Powertools batch processing and partial failures are reported, so one
bad record is retried (and finally sent to the dead-letter queue) without blocking the others.
Routing rules and assignment arrive with their own issue; this records what it would route.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from mailroom.observability import logger, tracer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> None:
    image = record.dynamodb.new_image if record.dynamodb else {}
    logger.info(
        "inbound message to route",
        conversation_id=image.get("conversation_id"),
        mailbox=image.get("mailbox"),
        message_key=image.get("key"),
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
