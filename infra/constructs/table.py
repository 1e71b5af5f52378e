"""The Mailroom table, built from the same definition module the sandbox uses."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from mailroom.table import schema


class MailroomTable(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, production: bool) -> None:
        super().__init__(scope, construct_id)
        string = dynamodb.AttributeType.STRING
        self.table = dynamodb.TableV2(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=schema.PK, type=string),
            sort_key=dynamodb.Attribute(name=schema.SK, type=string),
            billing=dynamodb.Billing.on_demand(),
            dynamo_stream=dynamodb.StreamViewType[schema.STREAM_VIEW_TYPE],
            time_to_live_attribute=schema.TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=production,
            removal_policy=RemovalPolicy.RETAIN if production else RemovalPolicy.DESTROY,
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=index.name,
                    partition_key=dynamodb.Attribute(name=index.pk, type=string),
                    sort_key=dynamodb.Attribute(name=index.sk, type=string),
                    projection_type=dynamodb.ProjectionType.ALL,
                )
                for index in schema.INDEXES
            ],
        )
