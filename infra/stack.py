"""The Mailroom stack: composes one construct per concern and grants each function what it needs.

Who may do what (read with ``functions/*/handler.py`` and the modules they call):

| Function | Table | Raw store (S3) | SES | Other |
|---|---|---|---|---|
| ingest | items, queries | read ``raw/inbound/*``; write ``attachments/*``, ``bodies/*`` | - | async DLQ |
| route | items, queries; stream | - | send (auto-replies) | stream DLQ |
| metrics | items, queries; stream | - | - | stream DLQ |
| reply | items, queries | read ``attachments/*``, ``bodies/*``; write ``bodies/*`` | send | session secret |

"Items, queries" is :data:`TABLE_DATA_ACTIONS` on the table and its indexes; "send" is SendEmail and
SendRawEmail on the domain identity and the configuration set. Those that read objects may also list
the bucket's keys (so that a missing object is a 404, which the code handles, not a 403). Every
function writes its own log group and sends X-Ray segments.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, CfnResource, Stack, TagManager, Tags
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import MailroomConfig
from infra.constructs.api import WebApi
from infra.constructs.auth import SignIn
from infra.constructs.budget import CostBudget
from infra.constructs.common import acknowledge
from infra.constructs.functions import MailroomFunctions
from infra.constructs.observability import Monitoring
from infra.constructs.receiving import MailReceiving
from infra.constructs.schedule import Sweeps
from infra.constructs.sending import MailSending
from infra.constructs.storage import ATTACHMENTS_PREFIX, BODIES_PREFIX, RAW_INBOUND_PREFIX, MailStorage
from infra.constructs.streams import StreamConsumers
from infra.constructs.table import MailroomTable
from mailroom import deployment

# What ``mailroom/table/client.py`` calls on behalf of the functions. TransactWriteItems is authorized
# as the Put/Update/Delete/ConditionCheck it contains. Not granted: Scan (only the maintenance
# migration, run from a workstation, scans), BatchWriteItem, DescribeTable and table administration.
TABLE_DATA_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
)

# Failed asynchronous ingests (after Lambda's own two retries) wait here for a replay; the raw mail
# itself stays in S3 under raw/inbound/.
INGEST_ASYNC_RETRIES = 2


class MailroomStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: MailroomConfig, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"Mailroom ({config.environment}): serverless shared inbox for {config.domain}",
            termination_protection=config.production,
            **kwargs,
        )
        self.config = config
        zone = (
            route53.PublicHostedZone.from_hosted_zone_attributes(
                self,
                "Zone",
                hosted_zone_id=config.hosted_zone.zone_id,
                zone_name=config.hosted_zone.zone_name,
            )
            if config.hosted_zone
            else None
        )

        self.storage = MailStorage(self, "Storage", config=config)
        self.table = MailroomTable(self, "Data", production=config.production).table
        self.sending = MailSending(self, "Sending", config=config, zone=zone)
        self.api = WebApi(self, "Web", config=config, zone=zone)
        self.sign_in = SignIn(self, "SignIn", config=config, base_url=self.api.base_url)

        table_env = {"MAILROOM_TABLE_NAME": self.table.table_name}
        # The API, ingest and route read the directory (mailboxes, teams) on every call: reused for a
        # few seconds per container so that its partitions are not the first read hot spot
        # (docs/scale.md).
        directory_env = {"MAILROOM_DIRECTORY_CACHE_SECONDS": f"{config.directory_cache_seconds:g}"}
        store_env = {"MAILROOM_RAW_STORE_URL": self.storage.store_url}
        send_env = {
            "MAILROOM_OUTBOUND_URL": self.sending.outbound_url,
            "MAILROOM_SES_CONFIGURATION_SET": self.sending.configuration_set.configuration_set_name,
        }
        self.functions = MailroomFunctions(
            self,
            "Functions",
            config=config,
            environments={
                "ingest": {
                    **table_env,
                    **store_env,
                    **directory_env,
                    "MAILROOM_RAW_INBOUND_PREFIX": RAW_INBOUND_PREFIX,
                },
                "route": {**table_env, **send_env, **directory_env},
                "metrics": {**table_env},  # rollups and per-conversation clocks (mailroom/metrics/)
                "reply": {
                    **table_env,
                    **store_env,
                    **send_env,
                    **directory_env,
                    "MAILROOM_AUTH_MODE": "cognito",
                    "MAILROOM_COOKIE_SECURE": "true",
                    "MAILROOM_COGNITO_USER_POOL_ID": self.sign_in.user_pool.user_pool_id,
                    "MAILROOM_COGNITO_CLIENT_ID": self.sign_in.client.user_pool_client_id,
                    "MAILROOM_COGNITO_DOMAIN": self.sign_in.hosted_ui_url,
                    "MAILROOM_COGNITO_REDIRECT_URI": self.sign_in.callback_url,
                    # The secret's ARN, never its value: see the README (a runtime change reads it).
                    "MAILROOM_SESSION_SECRET_ARN": self.sign_in.session_secret.secret_arn,
                },
            },
            reserved_concurrency={"ingest": config.ingest_reserved_concurrency},
        )
        ingest, route, reply = (self.functions[key] for key in ("ingest", "route", "reply"))
        self._grant(ingest=ingest, route=route, reply=reply, metrics=self.functions["metrics"])

        self.ingest_dead_letters = sqs.Queue(
            self, "IngestDeadLetters", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True
        )
        acknowledge(
            self.ingest_dead_letters,
            "AwsSolutions-SQS3",
            "This queue is itself the on-failure destination of ingest's asynchronous invocations.",
        )
        ingest.configure_async_invoke(
            retry_attempts=INGEST_ASYNC_RETRIES,
            on_failure=destinations.SqsDestination(self.ingest_dead_letters),
        )

        self.api.route_everything_to(reply)
        self.streams = StreamConsumers(
            self,
            "Streams",
            table=self.table,
            consumers=[(spec, self.functions[spec.key]) for spec in deployment.STREAM_FUNCTIONS],
        )
        self.receiving = MailReceiving(
            self, "Receiving", config=config, bucket=self.storage.bucket, ingest=ingest, zone=zone
        )
        self.sweeps = Sweeps(self, "Sweeps", config=config, route=route)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            functions=self.functions.functions,
            dead_letter_queues={"stream": self.streams.dead_letters, "ingest": self.ingest_dead_letters},
            stream_consumers=[spec.key for spec in deployment.STREAM_FUNCTIONS],
            http_api=self.api.http_api,
            table=self.table,
        )
        self.budget = CostBudget(self, "Budget", config=config, topic=self.monitoring.topic)

        for key, value in config.tags().items():
            Tags.of(self).add(key, value)
        self._tag_providers(config.tags())
        self._outputs()

    def _tag_providers(self, tags: dict[str, str]) -> None:
        """CDK's own custom resource providers (S3 auto-delete) are raw CfnResources that the Tags aspect
        cannot reach; tag their function and role directly, so that Cost Explorer sees all of it."""
        for construct in self.node.find_all():
            if (
                isinstance(construct, CfnResource)
                and not TagManager.is_taggable(construct)
                and construct.cfn_resource_type in {"AWS::Lambda::Function", "AWS::IAM::Role"}
            ):
                construct.add_property_override(
                    "Tags", [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
                )

    def _grant(
        self,
        *,
        ingest: lambda_.Function,
        route: lambda_.Function,
        reply: lambda_.Function,
        metrics: lambda_.Function,
    ) -> None:
        storage = self.storage
        index_finding = f"AwsSolutions-IAM5[Resource::<{self.get_logical_id(self._cfn_table())}.Arn>/index/*]"
        for function in (ingest, route, reply, metrics):
            self.table.grant(function, *TABLE_DATA_ACTIONS)
            acknowledge(
                function.role or function,
                index_finding,
                "The table's global secondary indexes (inbox views, Message-ID lookups) are queried; "
                "index/* names this table's indexes only.",
            )
        findings = {
            ingest: [
                (storage.grant_read_objects(ingest, RAW_INBOUND_PREFIX), "reads the raw mail SES stored"),
                (
                    storage.grant_write_objects(ingest, ATTACHMENTS_PREFIX),
                    "stores each message's attachments",
                ),
                (storage.grant_write_objects(ingest, BODIES_PREFIX), "stores large bodies"),
            ],
            reply: [
                (storage.grant_read_objects(reply, ATTACHMENTS_PREFIX), "serves attachments to agents"),
                (storage.grant_read_objects(reply, BODIES_PREFIX), "shows large bodies"),
                (storage.grant_write_objects(reply, BODIES_PREFIX), "stores large reply bodies"),
                (storage.grant_read_objects(reply, RAW_INBOUND_PREFIX), "exports a contact's raw mail"),
                *(
                    (storage.grant_delete_objects(reply, prefix), "erases a contact's mail (GDPR)")
                    for prefix in (RAW_INBOUND_PREFIX, ATTACHMENTS_PREFIX, BODIES_PREFIX)
                ),
            ],
            route: [
                (storage.grant_delete_objects(route, prefix), "purges mail past its mailbox's retention")
                for prefix in (RAW_INBOUND_PREFIX, ATTACHMENTS_PREFIX, BODIES_PREFIX)
            ],
        }
        for function, grants in findings.items():
            for finding, why in grants:
                acknowledge(
                    function.role or function,
                    finding,
                    f"Objects under one key prefix (keys are per message, unknown in advance): it {why}.",
                )
        self.sending.grant_send(route)  # automatic replies (RFC 3834)
        self.sending.grant_send(reply)
        self.sign_in.session_secret.grant_read(reply)
        # Admins invite, re-role and deactivate people (mailroom/org/provisioning.py).
        self.sign_in.user_pool.grant(
            reply,
            "cognito-idp:AdminCreateUser",
            "cognito-idp:AdminAddUserToGroup",
            "cognito-idp:AdminRemoveUserFromGroup",
            "cognito-idp:AdminDisableUser",
            "cognito-idp:AdminEnableUser",
        )
        # metrics: the table (rollups) and, through its event source mapping, the stream.

    def _cfn_table(self) -> CfnResource:
        resource = self.table.node.default_child
        assert isinstance(resource, CfnResource)
        return resource

    def _outputs(self) -> None:
        outputs = {
            "TableName": self.table.table_name,
            "RawMailBucket": self.storage.bucket.bucket_name,
            "WebUrl": self.api.base_url,
            "UserPoolId": self.sign_in.user_pool.user_pool_id,
            "UserPoolClientId": self.sign_in.client.user_pool_client_id,
            "HostedUiUrl": self.sign_in.hosted_ui_url,
            "ReceiptRuleSet": self.receiving.rule_set.receipt_rule_set_name,
            "AlarmTopicArn": self.monitoring.topic.topic_arn,
            "Dashboard": self.monitoring.dashboard.dashboard_name,
            "StreamDeadLetterQueue": self.streams.dead_letters.queue_url,
            "IngestDeadLetterQueue": self.ingest_dead_letters.queue_url,
        }
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
