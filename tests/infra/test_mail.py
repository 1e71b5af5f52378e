"""Inbound (receipt rule, its activation, MX), the raw store bucket, and outbound (identity, config set)."""

from __future__ import annotations

import json
from typing import Any

from infra.constructs.storage import RAW_INBOUND_PREFIX
from tests.infra.synth import Synthesized


def test_receipt_rule_stores_then_invokes_ingest_as_event(synthesized: Synthesized) -> None:
    rule = synthesized.one("AWS::SES::ReceiptRule")["Properties"]["Rule"]
    assert rule["Enabled"] is True
    assert rule["ScanEnabled"] is True
    assert rule["TlsPolicy"] == "Require"
    assert rule["Recipients"] == synthesized.config.mailbox_addresses
    s3_action, lambda_action = rule["Actions"]  # exactly two, in this order
    bucket = synthesized.logical_id("AWS::S3::Bucket", "RawMail")
    assert s3_action == {"S3Action": {"BucketName": {"Ref": bucket}, "ObjectKeyPrefix": RAW_INBOUND_PREFIX}}
    assert lambda_action == {
        "LambdaAction": {
            "FunctionArn": {"Fn::GetAtt": [synthesized.function_id("ingest"), "Arn"]},
            "InvocationType": "Event",
        }
    }


def _rule_arn(synthesized: Synthesized) -> dict[str, Any]:
    rule_set = synthesized.one("AWS::SES::ReceiptRuleSet")["Properties"]["RuleSetName"]
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":ses:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":receipt-rule-set/{rule_set}:receipt-rule/mailboxes",
            ],
        ]
    }


def test_ses_may_write_raw_mail_only_for_this_rule(synthesized: Synthesized) -> None:
    bucket = synthesized.logical_id("AWS::S3::Bucket", "RawMail")
    policy = next(
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in synthesized.of_type("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket}
    )
    (ses,) = [s for s in policy if s.get("Principal") == {"Service": "ses.amazonaws.com"}]
    assert ses["Action"] == "s3:PutObject"
    assert ses["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, "/raw/inbound/*"]]}
    assert ses["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {"aws:SourceArn": _rule_arn(synthesized)},
    }
    # The rule is created after the grant (SES checks it when the rule is created).
    rule = synthesized.one("AWS::SES::ReceiptRule")
    policy_id = next(
        k
        for k, p in synthesized.of_type("AWS::S3::BucketPolicy").items()
        if p["Properties"]["Bucket"] == {"Ref": bucket}
    )
    assert policy_id in rule["DependsOn"]


def test_ses_may_invoke_ingest_only_for_this_rule(synthesized: Synthesized) -> None:
    (permission,) = [
        p["Properties"]
        for p in synthesized.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "ses.amazonaws.com"
    ]
    assert permission["FunctionName"] == {"Fn::GetAtt": [synthesized.function_id("ingest"), "Arn"]}
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert permission["SourceArn"] == _rule_arn(synthesized)


def test_rule_set_is_activated_and_deactivated_by_a_custom_resource(synthesized: Synthesized) -> None:
    resource = synthesized.one("Custom::AWS")
    rule_set = synthesized.logical_id("AWS::SES::ReceiptRuleSet", "RuleSet")
    for phase in ("Create", "Update"):
        parts = resource["Properties"][phase]["Fn::Join"][1]
        call = json.loads("".join(p if isinstance(p, str) else "RULESET" for p in parts))
        assert call["action"] == "setActiveReceiptRuleSet"
        assert call["parameters"] == {"RuleSetName": "RULESET"}
        assert {"Ref": rule_set} in parts
    assert json.loads(resource["Properties"]["Delete"])["parameters"] == {}
    rule = synthesized.logical_id("AWS::SES::ReceiptRule", "Mailboxes")
    assert rule in resource["DependsOn"]


def test_mx_record_with_a_zone_output_without(dev: Synthesized, prod: Synthesized) -> None:
    prod.template.has_resource_properties(
        "AWS::Route53::RecordSet",
        {
            "Type": "MX",
            "Name": f"{prod.config.domain}.",
            "HostedZoneId": "Z0123456789EXAMPLE",
        },
    )
    assert dev.of_type("AWS::Route53::RecordSet") == {}
    assert any(k.startswith("ReceivingMxRecord") for k in dev.data["Outputs"])


def test_raw_mail_bucket_is_private_encrypted_versioned_and_logged(synthesized: Synthesized) -> None:
    bucket = synthesized.resources[synthesized.logical_id("AWS::S3::Bucket", "RawMail")]["Properties"]
    assert bucket["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    logs = synthesized.logical_id("AWS::S3::Bucket", "AccessLogs")
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": logs}
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    raw = rules["raw-mail"]
    assert raw["Prefix"] == RAW_INBOUND_PREFIX
    assert raw["Transitions"] == [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": synthesized.config.raw_mail_transition_days}
    ]
    assert raw["ExpirationInDays"] == synthesized.config.raw_mail_expiration_days
    for linked in ("attachments-to-ia", "bodies-to-ia"):
        assert "ExpirationInDays" not in rules[linked]  # conversations link to them
    assert rules["housekeeping"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


def test_every_bucket_refuses_plain_http(synthesized: Synthesized) -> None:
    for policy in synthesized.of_type("AWS::S3::BucketPolicy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        )


def test_bucket_retention_by_environment(dev: Synthesized, prod: Synthesized) -> None:
    assert prod.resources[prod.logical_id("AWS::S3::Bucket", "RawMail")]["DeletionPolicy"] == "Retain"
    assert dev.resources[dev.logical_id("AWS::S3::Bucket", "RawMail")]["DeletionPolicy"] == "Delete"


def test_sending_identity_and_feedback(synthesized: Synthesized) -> None:
    identity = synthesized.one("AWS::SES::EmailIdentity")["Properties"]
    assert identity["EmailIdentity"] == synthesized.config.domain
    assert identity["DkimAttributes"] == {"SigningEnabled": True}
    assert identity["DkimSigningAttributes"] == {"NextSigningKeyLength": "RSA_2048_BIT"}
    config_set = synthesized.logical_id("AWS::SES::ConfigurationSet", "ConfigurationSet")
    assert identity["ConfigurationSetAttributes"] == {"ConfigurationSetName": {"Ref": config_set}}
    destination = synthesized.one("AWS::SES::ConfigurationSetEventDestination")["Properties"]
    assert destination["ConfigurationSetName"] == {"Ref": config_set}
    assert {"bounce", "complaint"} <= set(destination["EventDestination"]["MatchingEventTypes"])
    assert destination["EventDestination"]["Enabled"] is True
    assert "EventBridgeDestination" in destination["EventDestination"]


def test_dkim_records_written_with_a_zone(dev: Synthesized, prod: Synthesized) -> None:
    cnames = [
        r for r in prod.of_type("AWS::Route53::RecordSet").values() if r["Properties"]["Type"] == "CNAME"
    ]
    assert len(cnames) == 3
    assert sum(1 for k in dev.data["Outputs"] if "DkimRecord" in k) == 3
