"""Lambda entry point: the SES receipt rule invokes this (Event) after storing the raw mail in S3."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mailroom.costs.metering import INGEST, metered_invocation
from mailroom.ingest.ses_event import SesEvent
from mailroom.ingest.wiring import ingestor
from mailroom.observability import logger, metrics, tracer


@metered_invocation(INGEST)
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=SesEvent)
def handler(event: SesEvent, context: LambdaContext) -> dict[str, Any]:
    outcomes = [outcome for record in event.records for outcome in ingestor().ingest(record.ses)]
    stored = sum(1 for o in outcomes if o.stored)
    metrics.add_metric(name="MessagesStored", unit="Count", value=stored)
    metrics.add_metric(name="DuplicatesIgnored", unit="Count", value=len(outcomes) - stored)
    return {"outcomes": [o.__dict__ | {"flags": list(o.flags)} for o in outcomes]}
