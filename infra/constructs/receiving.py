"""Inbound mail: an SES receipt rule set with one rule for the mailboxes, activated by a custom resource.

The rule: spam and virus scanning on, TLS required, then in order (1) the S3 action stores the raw
MIME at ``raw/inbound/<ses message id>`` and (2) the Lambda action invokes ingest asynchronously
(``Event``) with the headers and verdicts. SES matches each mailbox address and its ``+label`` forms.

CloudFormation can create a rule set but not make it the active one (one per account and region):
``SetActiveReceiptRuleSet`` does, through an ``AwsCustomResource`` on create and update; on delete it
clears the active rule set, so that CloudFormation may delete the set. That custom resource replaces
the manual step "SES console > Email receiving > Set as active rule set".
"""

from __future__ import annotations

import jsii
from aws_cdk import Aws, CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ses as ses
from aws_cdk import custom_resources as cr
from aws_cdk.interfaces import aws_ses as ses_refs
from constructs import Construct

from infra.config import MailroomConfig
from infra.constructs.common import acknowledge, retention
from infra.constructs.storage import RAW_INBOUND_PREFIX

# AwsCustomResource's shared provider function: one per stack, under this id.
CUSTOM_RESOURCE_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"


def receipt_rule_arn(scope: Construct, rule_set_name: str, rule_name: str) -> str:
    return Stack.of(scope).format_arn(
        service="ses", resource="receipt-rule-set", resource_name=f"{rule_set_name}:receipt-rule/{rule_name}"
    )


def ses_source_conditions(rule_arn: str) -> dict[str, dict[str, str]]:
    """Only this account's SES, acting for this one receipt rule (the confused-deputy guard)."""
    return {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}, "ArnLike": {"aws:SourceArn": rule_arn}}


@jsii.implements(ses.IReceiptRuleAction)
class StoreInBucket:
    """The S3 action. Unlike ``aws_ses_actions.S3``, the bucket policy statement it adds also pins
    ``aws:SourceArn`` to the receipt rule, not only ``aws:SourceAccount``."""

    def __init__(self, *, bucket: s3.IBucket, prefix: str, rule_arn: str) -> None:
        self.bucket, self.prefix, self.rule_arn = bucket, prefix, rule_arn

    def bind(self, receipt_rule: ses_refs.IReceiptRuleRef) -> ses.ReceiptRuleActionConfig:
        added = self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="SesStoresInboundMail",
                principals=[iam.ServicePrincipal("ses.amazonaws.com")],
                actions=["s3:PutObject"],
                resources=[self.bucket.arn_for_objects(f"{self.prefix}*")],
                conditions=ses_source_conditions(self.rule_arn),
            )
        )
        if added.policy_dependable is not None:
            receipt_rule.node.add_dependency(added.policy_dependable)  # SES checks the grant on creation
        return ses.ReceiptRuleActionConfig(
            s3_action=ses.S3ActionConfig(bucket_name=self.bucket.bucket_name, object_key_prefix=self.prefix)
        )


@jsii.implements(ses.IReceiptRuleAction)
class InvokeAsync:
    """The Lambda action, invocation type Event; the permission names the rule as its source."""

    def __init__(self, *, function: lambda_.Function, rule_arn: str) -> None:
        self.function, self.rule_arn = function, rule_arn

    def bind(self, receipt_rule: ses_refs.IReceiptRuleRef) -> ses.ReceiptRuleActionConfig:
        permission = lambda_.CfnPermission(
            self.function,
            "AllowSesInvoke",
            action="lambda:InvokeFunction",
            function_name=self.function.function_arn,
            principal="ses.amazonaws.com",
            source_account=Aws.ACCOUNT_ID,
            source_arn=self.rule_arn,
        )
        receipt_rule.node.add_dependency(permission)
        return ses.ReceiptRuleActionConfig(
            lambda_action=ses.LambdaActionConfig(
                function_arn=self.function.function_arn, invocation_type="Event"
            )
        )


class MailReceiving(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: MailroomConfig,
        bucket: s3.IBucket,
        ingest: lambda_.Function,
        zone: route53.IHostedZone | None,
    ) -> None:
        super().__init__(scope, construct_id)
        rule_set_name, rule_name = f"{config.prefix}-inbound", "mailboxes"
        self.rule_set = ses.ReceiptRuleSet(self, "RuleSet", receipt_rule_set_name=rule_set_name)
        self.rule_arn = receipt_rule_arn(self, rule_set_name, rule_name)
        self.rule = self.rule_set.add_rule(
            "Mailboxes",
            receipt_rule_name=rule_name,
            recipients=config.mailbox_addresses,
            scan_enabled=True,
            tls_policy=ses.TlsPolicy.REQUIRE,
            enabled=True,
            actions=[
                StoreInBucket(bucket=bucket, prefix=RAW_INBOUND_PREFIX, rule_arn=self.rule_arn),
                InvokeAsync(function=ingest, rule_arn=self.rule_arn),
            ],
        )

        if config.activate_receipt_rule_set:
            self.activation = self._activate(config)

        if zone is not None:
            route53.MxRecord(
                self,
                "Mx",
                zone=zone,
                record_name=f"{config.domain}.",
                values=[
                    route53.MxRecordValue(
                        host_name=f"inbound-smtp.{Aws.REGION}.{Aws.URL_SUFFIX}", priority=10
                    )
                ],
            )
        else:
            CfnOutput(
                self,
                "MxRecord",
                value=f"{config.domain} MX 10 inbound-smtp.{Aws.REGION}.{Aws.URL_SUFFIX}",
                description="Create this MX record for the mail domain",
            )

    def _activate(self, config: MailroomConfig) -> cr.AwsCustomResource:
        name = self.rule_set.receipt_rule_set_name
        activate = cr.AwsSdkCall(
            service="SES",
            action="setActiveReceiptRuleSet",
            parameters={"RuleSetName": name},
            physical_resource_id=cr.PhysicalResourceId.of(f"{name}-active"),
        )
        activation = cr.AwsCustomResource(
            self,
            "Activate",
            on_create=activate,
            on_update=activate,
            # No RuleSetName: no rule set is active afterwards, so CloudFormation can delete ours.
            on_delete=cr.AwsSdkCall(service="SES", action="setActiveReceiptRuleSet", parameters={}),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["ses:SetActiveReceiptRuleSet"], resources=["*"])]
            ),
            install_latest_aws_sdk=False,
            log_group=logs.LogGroup(self, "ActivateLogs", retention=retention(config.log_retention_days)),
        )
        # Activate only once the rule exists; on delete, deactivate before the set is deleted.
        activation.node.add_dependency(self.rule)
        acknowledge(
            activation,
            "AwsSolutions-IAM5[Resource::*]",
            "ses:SetActiveReceiptRuleSet supports no resource-level permissions; it is the only action.",
        )
        provider = Stack.of(self).node.try_find_child(CUSTOM_RESOURCE_PROVIDER_ID)
        if provider is not None:
            acknowledge(
                provider,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]",
                "CDK's AwsCustomResource provider writes its logs with the basic execution role; it runs "
                "only on deploy.",
            )
            acknowledge(
                provider,
                "AwsSolutions-L1",
                "The AwsCustomResource provider's Node.js runtime is chosen by aws-cdk-lib.",
            )
        return activation
