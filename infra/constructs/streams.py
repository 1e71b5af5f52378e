"""The table's stream consumers: route and metrics, each through an event source mapping whose filter
criteria, batch size and batching window come from ``mailroom/deployment.py`` and
``mailroom/table/schema.py`` (the sandbox's poller applies the same ones).

Every mapping bisects a failing batch, retries a bounded number of times, gives up on records older
than its maximum age, reports partial batch failures (the handlers use Powertools' BatchProcessor),
and sends what it gives up on to one encrypted SQS queue. For a DynamoDB stream that message
describes the failed batch (shard, sequence numbers), not the records: the stream keeps them for
24 hours, which is how long an operator has to look (the DLQ alarm fires at the first message).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.common import acknowledge
from mailroom.deployment import FunctionSpec
from mailroom.table import schema

# How old a record may get before the mapping stops retrying it. Routing later than an hour is no
# longer useful (the conversation already waits in the Unassigned view and the sweep assigns it);
# metrics tolerate more lag.
MAX_RECORD_AGE = {"route": Duration.hours(1), "metrics": Duration.hours(6)}


def stream_filters(consumer: str) -> list[dict[str, str]]:
    """The mapping's filters, with each pattern exactly as ``schema.filter_criteria`` serializes it."""
    return [{"pattern": f["Pattern"]} for f in schema.filter_criteria(consumer)["Filters"]]


class StreamConsumers(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        consumers: list[tuple[FunctionSpec, lambda_.Function]],
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.dead_letters,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter (on-failure) destination of the stream mappings.",
        )
        self.mapping_ids: dict[str, str] = {}
        for spec, function in consumers:
            settings = spec.stream
            if settings is None:
                raise ValueError(f"{spec.key} does not consume the stream")
            source = sources.DynamoEventSource(
                table,
                # Never lose a record written between table creation and mapping creation; both
                # consumers are idempotent on redelivery (route keeps a ROUTED# marker per message).
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=settings.batch_size,
                max_batching_window=Duration.seconds(settings.batching_window_s),
                bisect_batch_on_error=True,
                retry_attempts=settings.max_retries,
                max_record_age=MAX_RECORD_AGE[spec.key],
                report_batch_item_failures=True,
                on_failure=sources.SqsDlq(self.dead_letters),
                filters=stream_filters(spec.key),
            )
            function.add_event_source(source)
            self.mapping_ids[spec.key] = source.event_source_mapping_id
