"""The deployed table is the sandbox's table: same keys, indexes, projections, stream, TTL."""

from __future__ import annotations

from aws_cdk.assertions import Match

from mailroom.table import schema
from tests.infra.synth import Synthesized


def test_table_definition_equals_the_sandbox_schema(synthesized: Synthesized) -> None:
    table = synthesized.one("AWS::DynamoDB::GlobalTable")["Properties"]
    expected = schema.create_table_kwargs("unused")
    assert table["KeySchema"] == expected["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(expected["AttributeDefinitions"], key=str)
    assert table["GlobalSecondaryIndexes"] == expected["GlobalSecondaryIndexes"]
    assert table["BillingMode"] == expected["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {
        "StreamViewType": expected["StreamSpecification"]["StreamViewType"]
    }


def test_stream_ttl_pitr(synthesized: Synthesized) -> None:
    synthesized.template.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
            "TimeToLiveSpecification": {"AttributeName": schema.TTL_ATTRIBUTE, "Enabled": True},
            "Replicas": [
                Match.object_like({"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}})
            ],
        },
    )


def test_prod_retains_and_protects_the_table(prod: Synthesized) -> None:
    table = prod.one("AWS::DynamoDB::GlobalTable")
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["Replicas"][0]["DeletionProtectionEnabled"] is True


def test_dev_destroys_the_table(dev: Synthesized) -> None:
    table = dev.one("AWS::DynamoDB::GlobalTable")
    assert table["DeletionPolicy"] == "Delete"
    assert table["Properties"]["Replicas"][0].get("DeletionProtectionEnabled", False) is False
