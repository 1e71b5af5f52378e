"""The raw store: one S3 bucket for raw mail, attachments and large bodies, plus its access-log bucket.

Key layout (``mailroom/storage``, ``mailroom/ingest``): SES writes ``raw/inbound/<ses message id>``;
ingest writes ``attachments/<message key>/<n>`` and ``bodies/<message key>.json``; the reply
function reads both and writes ``bodies/`` for large replies. The functions see the bucket as
``s3://<bucket>`` (empty prefix), so these keys are the object keys.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import MailroomConfig
from infra.constructs.common import acknowledge

RAW_INBOUND_PREFIX = "raw/inbound/"
ATTACHMENTS_PREFIX = "attachments/"
BODIES_PREFIX = "bodies/"


class MailStorage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: MailroomConfig) -> None:
        super().__init__(scope, construct_id)
        production = config.production
        removal = RemovalPolicy.RETAIN if production else RemovalPolicy.DESTROY

        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(365))],
            removal_policy=removal,
            auto_delete_objects=not production,
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This is the server access log bucket itself: logging it would log its own log deliveries.",
        )

        transition = Duration.days(config.raw_mail_transition_days)
        ia = s3.StorageClass.INFREQUENT_ACCESS
        raw_rule = s3.LifecycleRule(
            id="raw-mail",
            prefix=RAW_INBOUND_PREFIX,
            transitions=[s3.Transition(storage_class=ia, transition_after=transition)],
            expiration=(
                Duration.days(config.raw_mail_expiration_days) if config.raw_mail_expiration_days else None
            ),
        )
        linked_rules = [
            # Conversations link to these: cheaper storage after a while, never expired by age.
            s3.LifecycleRule(
                id=f"{prefix.rstrip('/')}-to-ia",
                prefix=prefix,
                transitions=[s3.Transition(storage_class=ia, transition_after=transition)],
            )
            for prefix in (ATTACHMENTS_PREFIX, BODIES_PREFIX)
        ]
        housekeeping = s3.LifecycleRule(
            id="housekeeping",
            abort_incomplete_multipart_upload_after=Duration.days(7),
            noncurrent_version_expiration=Duration.days(config.noncurrent_version_expiration_days),
            expired_object_delete_marker=True,
        )
        self.bucket = s3.Bucket(
            self,
            "RawMail",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="raw-mail/",
            lifecycle_rules=[raw_rule, *linked_rules, housekeeping],
            removal_policy=removal,
            # Dev tears down cleanly; production keeps the mail when the stack goes.
            auto_delete_objects=not production,
        )

    def grant_read_objects(self, grantee: iam.IGrantable, prefix: str) -> str:
        """``s3:GetObject`` under ``prefix`` (and listing, see :meth:`grant_list`). Returns the cdk-nag
        finding id of the prefix wildcard, for the caller to acknowledge with its reason."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:GetObject"],
            resource_arns=[self.bucket.arn_for_objects(f"{prefix}*")],
        )
        self.grant_list(grantee)
        return self.prefix_finding(prefix)

    def grant_write_objects(self, grantee: iam.IGrantable, prefix: str) -> str:
        """``s3:PutObject`` under ``prefix`` (the code writes whole objects with PutObject, nothing else)."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:PutObject"],
            resource_arns=[self.bucket.arn_for_objects(f"{prefix}*")],
        )
        return self.prefix_finding(prefix)

    def grant_delete_objects(self, grantee: iam.IGrantable, prefix: str) -> str:
        """``s3:DeleteObject`` under ``prefix``: erasing a contact (GDPR) and the retention purge."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:DeleteObject"],
            resource_arns=[self.bucket.arn_for_objects(f"{prefix}*")],
        )
        return self.prefix_finding(prefix)

    def grant_list(self, grantee: iam.IGrantable) -> None:
        """``s3:ListBucket``: without it S3 answers 403 instead of 404 for a missing key, and the code's
        "not found" handling (``BlobNotFoundError``) never sees it. It reveals keys, never contents."""
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["s3:ListBucket"], resource_arns=[self.bucket.bucket_arn]
        )

    def prefix_finding(self, prefix: str) -> str:
        bucket = self.bucket.node.default_child
        assert isinstance(bucket, s3.CfnBucket)
        logical_id = Stack.of(self).get_logical_id(bucket)
        return f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/{prefix}*]"

    @property
    def store_url(self) -> str:
        """``MAILROOM_RAW_STORE_URL``: the whole bucket, keys as above (``mailroom.storage.open_store``)."""
        return f"s3://{self.bucket.bucket_name}"
