"""Alarms, the dashboard, the budget, tags and stack names."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import load_config
from mailroom import deployment
from tests.infra.synth import Synthesized


def alarms(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()
    }


def test_function_alarms(synthesized: Synthesized) -> None:
    found = alarms(synthesized)
    prefix = synthesized.config.prefix
    for spec in deployment.FUNCTIONS:
        for metric in ("Errors", "Throttles"):
            alarm = found[f"{prefix}-{spec.key}-{metric.lower()}"]
            assert alarm["MetricName"] == metric
            assert alarm["Namespace"] == "AWS/Lambda"
            assert alarm["Dimensions"] == [
                {"Name": "FunctionName", "Value": {"Ref": synthesized.function_id(spec.key)}}
            ]
            assert alarm["Threshold"] == 1
            assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_dead_letter_and_iterator_age_alarms(synthesized: Synthesized) -> None:
    found = alarms(synthesized)
    prefix = synthesized.config.prefix
    for name in ("stream", "ingest"):
        alarm = found[f"{prefix}-{name}-dead-letters"]
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["Namespace"] == "AWS/SQS"
        assert alarm["Threshold"] == 1
    for spec in deployment.STREAM_FUNCTIONS:
        alarm = found[f"{prefix}-{spec.key}-iterator-age"]
        assert alarm["MetricName"] == "IteratorAge"
        assert alarm["Dimensions"] == [
            {"Name": "FunctionName", "Value": {"Ref": synthesized.function_id(spec.key)}}
        ]


def test_api_and_ses_alarms(synthesized: Synthesized) -> None:
    found = alarms(synthesized)
    prefix = synthesized.config.prefix
    api = found[f"{prefix}-api-5xx"]
    assert (api["Namespace"], api["MetricName"]) == ("AWS/ApiGateway", "5xx")
    assert api["Dimensions"][0]["Name"] == "ApiId"
    assert found[f"{prefix}-ses-bounce-rate"]["MetricName"] == "Reputation.BounceRate"
    assert found[f"{prefix}-ses-complaint-rate"]["MetricName"] == "Reputation.ComplaintRate"


def test_every_alarm_notifies_the_encrypted_topic(synthesized: Synthesized) -> None:
    topic_id = synthesized.logical_id("AWS::SNS::Topic", "Alarms")
    topic = synthesized.resources[topic_id]["Properties"]
    assert topic["KmsMasterKeyId"]["Fn::GetAtt"][1] == "Arn"
    key = synthesized.resources[topic["KmsMasterKeyId"]["Fn::GetAtt"][0]]["Properties"]
    assert key["EnableKeyRotation"] is True
    principals = {
        s["Principal"].get("Service")
        for s in key["KeyPolicy"]["Statement"]
        if isinstance(s["Principal"], dict)
    }
    assert {"cloudwatch.amazonaws.com", "budgets.amazonaws.com"} <= principals
    for alarm in alarms(synthesized).values():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["TreatMissingData"] == "notBreaching"


def test_alarm_email_subscription_only_when_configured(dev: Synthesized, prod: Synthesized) -> None:
    assert dev.of_type("AWS::SNS::Subscription") == {}
    subscription = prod.one("AWS::SNS::Subscription")["Properties"]
    assert subscription == {**subscription, "Protocol": "email", "Endpoint": prod.config.alarm_email}


def test_dashboard(synthesized: Synthesized) -> None:
    dashboard = synthesized.one("AWS::CloudWatch::Dashboard")["Properties"]
    assert dashboard["DashboardName"] == synthesized.config.prefix


def test_budget(synthesized: Synthesized) -> None:
    budget = synthesized.one("AWS::Budgets::Budget")["Properties"]
    data = budget["Budget"]
    assert data["BudgetType"] == "COST"
    assert data["TimeUnit"] == "MONTHLY"
    assert data["BudgetLimit"] == {"Amount": synthesized.config.monthly_budget_usd, "Unit": "USD"}
    tags = [e["Tags"] for e in data["FilterExpression"]["And"]]
    assert {(t["Key"], t["Values"][0]) for t in tags} == {
        ("application", "mailroom"),
        ("environment", synthesized.config.environment),
    }
    actual = [
        n for n in budget["NotificationsWithSubscribers"] if n["Notification"]["NotificationType"] == "ACTUAL"
    ]
    assert actual[0]["Notification"]["Threshold"] == synthesized.config.budget_alert_percent
    topic_id = synthesized.logical_id("AWS::SNS::Topic", "Alarms")
    assert {"SubscriptionType": "SNS", "Address": {"Ref": topic_id}} in actual[0]["Subscribers"]


TAGGED_AS_LIST = (
    "AWS::Lambda::Function",
    "AWS::S3::Bucket",
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::KMS::Key",
    "AWS::SecretsManager::Secret",
    "AWS::IAM::Role",
    "AWS::Logs::LogGroup",
    "AWS::SES::EmailIdentity",
    "AWS::Lambda::EventSourceMapping",
)


@pytest.mark.parametrize("cfn_type", TAGGED_AS_LIST)
def test_resources_carry_the_cost_tags(synthesized: Synthesized, cfn_type: str) -> None:
    expected = synthesized.config.tags()
    for logical_id, resource in synthesized.of_type(cfn_type).items():
        tags = {t["Key"]: t["Value"] for t in resource["Properties"].get("Tags", [])}
        assert tags.items() >= expected.items(), logical_id


def test_map_tagged_resources(synthesized: Synthesized) -> None:
    expected = synthesized.config.tags()
    assert synthesized.one("AWS::Cognito::UserPool")["Properties"]["UserPoolTags"] == expected
    assert synthesized.one("AWS::ApiGatewayV2::Api")["Properties"]["Tags"] == expected
    table = synthesized.one("AWS::DynamoDB::GlobalTable")["Properties"]
    assert {t["Key"]: t["Value"] for t in table["Replicas"][0]["Tags"]} == expected


def test_stack_names_carry_the_environment(dev: Synthesized, prod: Synthesized) -> None:
    assert dev.template_path.name == "Mailroom-dev.template.json"
    assert prod.template_path.name == "Mailroom-prod.template.json"
    assert load_config({"mailroom:env": "prod"}).stack_name == "Mailroom-prod"
