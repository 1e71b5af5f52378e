"""Runtime configuration, read from the environment (``MAILROOM_*``).

The same handlers run on AWS and in the sandbox: only these settings differ. On AWS the CDK stack
sets them on each function; the sandbox sets them for its own process before it imports a handler.
"""

from __future__ import annotations

import os
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAILROOM_", extra="ignore")

    table_name: str = "mailroom"
    # MAILROOM_REGION, else the region Lambda runs in (AWS_REGION), else us-east-1.
    region: str = Field(default_factory=lambda: os.environ.get("AWS_REGION") or "us-east-1")
    # None on AWS (the SDK's default endpoint); http://127.0.0.1:PORT for DynamoDB Local.
    dynamodb_endpoint: str | None = None
    # Where raw mail, attachments and large bodies live: ``s3://bucket/prefix`` or ``file:///abs/dir``.
    raw_store_url: str = "file:///tmp/mailroom-store"
    # Where outbound mail goes: ``ses:`` (SESv2 SendEmail) or ``file:///abs/outbox`` (the sandbox).
    outbound_url: str = "file:///tmp/mailroom-outbox"
    ses_configuration_set: str | None = None
    # Automatic replies (RFC 3834) go at most once per sender and mailbox within this period.
    auto_reply_period_hours: int = Field(default=24, ge=1, le=24 * 30)
    # The key prefix that the SES receipt rule's S3 action writes raw mail under.
    raw_inbound_prefix: str = "raw/inbound/"
    # Subject threading joins a conversation with the same normalized subject, the same contact and
    # the same mailbox whose last activity is at most this old.
    subject_thread_window_days: int = Field(default=14, ge=0, le=365)
    # Bodies larger than this (text + sanitized HTML, UTF-8 bytes) are kept in the raw store and
    # only a preview stays on the message item. A DynamoDB write costs a unit per KB (two in a
    # transaction) while an S3 PUT costs about as much as four units, so large bodies are cheaper
    # in S3; items also stay small on the stream that route and metrics read.
    inline_body_limit_bytes: int = Field(default=8_000, ge=1_000, le=200_000)
    # Hard ceilings for hostile input: nothing beyond them is parsed, the raw mail is still kept.
    max_message_bytes: int = Field(default=40 * 1024 * 1024, ge=1024)
    max_mime_parts: int = Field(default=500, ge=1)
    max_mime_depth: int = Field(default=20, ge=1)
    # SLA breach warnings (the scheduled sweep): a conversation whose first response is due within
    # this many minutes is tagged and its assignee and team notified, once per due time; with
    # ``sla_warning_email`` they are also mailed (from the conversation's mailbox).
    sla_warning_minutes: int = Field(default=30, ge=1, le=24 * 60)
    sla_warning_tag: str = Field(default="sla-at-risk", pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    sla_warning_email: bool = False
    # The route function re-reads the active routing rules at most this often (per container), so a
    # saved change is live within this many seconds without a redeploy. Each re-read is one
    # consistent GetItem of the rule set; 0 re-reads it for every message (tests, a local sandbox).
    rules_cache_seconds: float = Field(default=30.0, ge=0, le=3600)
    # Every API request (the caller's mailbox access) and every ingest (aliases, disabled mailboxes)
    # reads the mailbox directory, one partition: at scale its first read hot spot (docs/scale.md).
    # They may reuse a listing this old (per container); a grant revoked, or a mailbox disabled, by
    # another container then takes effect within this many seconds. 0 reads it every time.
    directory_cache_seconds: float = Field(default=0.0, ge=0, le=300)

    # Sign-in. "local": the sandbox's own sign-in page and signed tokens; "cognito": Amazon Cognito's
    # hosted UI (authorization code + PKCE) and ID tokens verified against the pool's keys.
    auth_mode: Literal["local", "cognito"] = "cognito"
    # Signs session tokens and CSRF tokens (at least 32 bytes; from Secrets Manager on AWS).
    session_secret: str | None = None
    # On AWS the secret lives in Secrets Manager: the function reads it once per container.
    session_secret_arn: str | None = None
    session_ttl_seconds: int = Field(default=12 * 3600, ge=300, le=30 * 86400)
    cookie_secure: bool = True  # False only for the sandbox on http://127.0.0.1
    cognito_user_pool_id: str | None = None
    cognito_client_id: str | None = None
    cognito_domain: str | None = (
        None  # the hosted UI, e.g. https://mailroom-prod.auth.eu-west-1.amazoncognito.com
    )
    cognito_redirect_uri: str | None = None

    # Per-use cost (mailroom/costs/). Metering records every invocation's usage (a few counter
    # updates); the finance view prices it. The budget is the default for the forecast (an admin
    # can set another one in the finance view). Cost Explorer is asked (once a day, AWS only) for
    # the actual cost of the resources tagged ``cost_tag_key=cost_tag_value``, to show beside the
    # estimate; it costs $0.01 per request and needs ce:GetCostAndUsage.
    cost_metering: bool = True
    monthly_budget_usd: Decimal | None = Field(default=None, ge=0)
    cost_explorer_enabled: bool = False
    cost_tag_key: str = "application"
    cost_tag_value: str = "mailroom"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """Forget the cached settings (tests and the sandbox change the environment)."""
    get_settings.cache_clear()
