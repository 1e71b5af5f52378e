"""Least privilege: each function's role allows what its code paths call, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from infra.stack import TABLE_DATA_ACTIONS
from mailroom import deployment
from tests.infra.synth import Synthesized

LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
STREAM = {
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
}
DLQ = {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
SES = {"ses:SendEmail", "ses:SendRawEmail"}
TABLE = set(TABLE_DATA_ACTIONS)
COGNITO_ADMIN = {
    "cognito-idp:AdminCreateUser",
    "cognito-idp:AdminAddUserToGroup",
    "cognito-idp:AdminRemoveUserFromGroup",
    "cognito-idp:AdminDisableUser",
    "cognito-idp:AdminEnableUser",
}


def actions(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        value = statement["Action"]
        found |= {value} if isinstance(value, str) else set(value)
    return found


def resources(statement: dict[str, Any]) -> list[Any]:
    value = statement["Resource"]
    return value if isinstance(value, list) else [value]


def statements_with(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [
        s for s in statements if action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]


def object_suffixes(statement: dict[str, Any]) -> set[str]:
    """``/raw/inbound/*`` for ``Fn::Join [<bucket arn>, "/raw/inbound/*"]``."""
    return {r["Fn::Join"][1][-1] for r in resources(statement) if isinstance(r, dict) and "Fn::Join" in r}


EXPECTED = {
    "ingest": LOGS | XRAY | TABLE | {"s3:GetObject", "s3:PutObject", "s3:ListBucket"} | DLQ,
    "route": LOGS | XRAY | TABLE | SES | STREAM | DLQ | {"s3:DeleteObject"},  # the retention purge
    "metrics": LOGS | XRAY | TABLE | STREAM | DLQ,
    "reply": LOGS
    | XRAY
    | TABLE
    | {"s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObject"}
    | SES
    | {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
    | COGNITO_ADMIN,
}


@pytest.mark.parametrize("key", [spec.key for spec in deployment.FUNCTIONS])
def test_each_role_allows_exactly_what_its_function_needs(synthesized: Synthesized, key: str) -> None:
    assert actions(synthesized.role_statements(key)) == EXPECTED[key]


def test_function_roles_have_no_managed_policies(synthesized: Synthesized) -> None:
    for spec in deployment.FUNCTIONS:
        role_id = synthesized.function(spec.key)["Properties"]["Role"]["Fn::GetAtt"][0]
        role = synthesized.resources[role_id]["Properties"]
        assert "ManagedPolicyArns" not in role
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
            "Service": "lambda.amazonaws.com"
        }


def test_only_xray_is_allowed_on_every_resource(synthesized: Synthesized) -> None:
    for spec in deployment.FUNCTIONS:
        for statement in synthesized.role_statements(spec.key):
            if "*" in resources(statement):
                assert actions([statement]) == XRAY, spec.key


def test_s3_access_is_per_prefix(synthesized: Synthesized) -> None:
    ingest, reply = synthesized.role_statements("ingest"), synthesized.role_statements("reply")
    assert set().union(*(object_suffixes(s) for s in statements_with(ingest, "s3:GetObject"))) == {
        "/raw/inbound/*"
    }
    assert set().union(*(object_suffixes(s) for s in statements_with(ingest, "s3:PutObject"))) == {
        "/attachments/*",
        "/bodies/*",
    }
    assert set().union(*(object_suffixes(s) for s in statements_with(reply, "s3:GetObject"))) == {
        "/attachments/*",
        "/bodies/*",
        "/raw/inbound/*",  # a contact's export
    }
    assert set().union(*(object_suffixes(s) for s in statements_with(reply, "s3:PutObject"))) == {"/bodies/*"}
    erasable = {"/raw/inbound/*", "/attachments/*", "/bodies/*"}  # GDPR erasure, retention purge
    for key in ("reply", "route"):
        statements = synthesized.role_statements(key)
        assert (
            set().union(*(object_suffixes(s) for s in statements_with(statements, "s3:DeleteObject")))
            == erasable
        )
    assert not statements_with(ingest, "s3:DeleteObject")


def test_ingest_and_metrics_cannot_send_mail(synthesized: Synthesized) -> None:
    for key in ("ingest", "metrics"):
        assert not {a for a in actions(synthesized.role_statements(key)) if a.startswith("ses:")}


def test_sending_is_scoped_to_the_identity_and_configuration_set(synthesized: Synthesized) -> None:
    config_set = synthesized.logical_id("AWS::SES::ConfigurationSet", "ConfigurationSet")
    for key in ("route", "reply"):
        (statement,) = statements_with(synthesized.role_statements(key), "ses:SendRawEmail")
        arns = [r["Fn::Join"][1] for r in resources(statement)]
        assert len(arns) == 2
        assert any(parts[-1] == f":identity/{synthesized.config.domain}" for parts in arns)
        assert any(parts[-2:] == [":configuration-set/", {"Ref": config_set}] for parts in arns)


def test_table_access_is_this_table_and_its_indexes(synthesized: Synthesized) -> None:
    table = synthesized.logical_id("AWS::DynamoDB::GlobalTable", "Table")
    for key in ("ingest", "route", "reply"):
        (statement,) = statements_with(synthesized.role_statements(key), "dynamodb:PutItem")
        assert resources(statement) == [
            {"Fn::GetAtt": [table, "Arn"]},
            {"Fn::Join": ["", [{"Fn::GetAtt": [table, "Arn"]}, "/index/*"]]},
        ]
        assert "dynamodb:Scan" not in actions(synthesized.role_statements(key))


def test_only_reply_reads_the_session_secret(synthesized: Synthesized) -> None:
    secret = synthesized.logical_id("AWS::SecretsManager::Secret", "SessionSecret")
    for spec in deployment.FUNCTIONS:
        reads = statements_with(synthesized.role_statements(spec.key), "secretsmanager:GetSecretValue")
        if spec.key == "reply":
            assert [resources(s) for s in reads] == [[{"Ref": secret}]]
        else:
            assert reads == []


def test_the_rule_set_activation_is_the_only_other_wildcard(synthesized: Synthesized) -> None:
    """Outside the function roles, '*' appears for SetActiveReceiptRuleSet (no resource-level
    permissions) and in the alarm key's own key policy only."""
    function_roles = {
        synthesized.function(s.key)["Properties"]["Role"]["Fn::GetAtt"][0] for s in deployment.FUNCTIONS
    }
    for policy in synthesized.of_type("AWS::IAM::Policy").values():
        if {r["Ref"] for r in policy["Properties"]["Roles"]} & function_roles:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "*" in resources(statement):
                assert actions([statement]) == {"ses:SetActiveReceiptRuleSet"}
