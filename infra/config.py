"""The deployment's configuration: a typed, validated model read from a JSON file and CDK context.

Where it comes from, later sources winning:

1. ``infra/config.<env>.json`` (or the file named by the context key ``mailroom:configFile``);
2. context keys ``mailroom:<field>`` given on the command line, for example
   ``npx cdk deploy -c mailroom:env=prod -c mailroom:alarm_email=ops@example.com``; lists and objects
   are JSON (``-c 'mailroom:mailboxes=["support","sales"]'``).

``mailroom:env`` (``dev`` or ``prod``) picks the file and names the stack (``Mailroom-dev``), so dev and
prod can live in one account. Anything invalid stops synthesis with every problem listed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONTEXT_PREFIX = "mailroom:"
ENV_CONTEXT_KEY = "mailroom:env"
FILE_CONTEXT_KEY = "mailroom:configFile"

Environment = Literal["dev", "prod"]

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"^(?:{_LABEL}\.)+[a-z]{{2,63}}$")
_LOCAL_PART = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")
_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,32}$")
_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class ConfigError(ValueError):
    """The configuration is missing or invalid; the message lists every problem."""


def _domain(value: str) -> str:
    value = value.strip().lower().rstrip(".")
    if not _DOMAIN.match(value):
        raise ValueError(f"{value!r} is not a domain name")
    return value


class HostedZone(BaseModel):
    """A Route 53 public hosted zone for the mail domain (MX, DKIM and MAIL FROM records go there)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zone_id: str
    zone_name: str

    @field_validator("zone_id")
    @classmethod
    def _zone_id(cls, value: str) -> str:
        if not _ZONE_ID.match(value):
            raise ValueError(f"{value!r} is not a Route 53 hosted zone id (Z...)")
        return value

    @field_validator("zone_name")
    @classmethod
    def _zone_name(cls, value: str) -> str:
        return _domain(value)


class ApiDomain(BaseModel):
    """A custom domain for the web UI and API, with an ACM certificate in the stack's region."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    certificate_arn: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _domain(value)

    @field_validator("certificate_arn")
    @classmethod
    def _certificate(cls, value: str) -> str:
        if not _ACM_ARN.match(value):
            raise ValueError(f"{value!r} is not an ACM certificate ARN")
        return value


class MailroomConfig(BaseModel):
    """Everything that differs between deployments. Defaults suit a small team's production."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: Environment
    # The mail domain: mailboxes live on it, SES receives and sends for it.
    domain: str
    # Mailboxes, as local parts ("support") or full addresses on the domain. SES matches each address
    # and its +label forms (support+<conversation>@), which carry reply tokens.
    mailboxes: Annotated[list[str], Field(min_length=1, max_length=100)]
    cost_centre: str = "mailroom"
    alarm_email: str | None = None
    monthly_budget_usd: Annotated[float, Field(gt=0, le=1_000_000)] = 50.0
    budget_alert_percent: Annotated[int, Field(ge=1, le=1000)] = 80
    # Raw mail (raw/inbound/) moves to STANDARD_IA after this many days (S3's minimum for IA is 30)
    # and is deleted after raw_mail_expiration_days (None: kept). Attachments and large bodies, which
    # conversations link to, move to STANDARD_IA too but never expire with this setting.
    raw_mail_transition_days: Annotated[int, Field(ge=30, le=3650)] = 30
    raw_mail_expiration_days: Annotated[int | None, Field(ge=31, le=36500)] = 365
    noncurrent_version_expiration_days: Annotated[int, Field(ge=1, le=3650)] = 30
    log_retention_days: int = 30
    hosted_zone: HostedZone | None = None
    api_domain: ApiDomain | None = None
    # The Cognito hosted UI's prefix (<prefix>.auth.<region>.amazoncognito.com); default
    # mailroom-<env>-<account id>, unique per account.
    cognito_domain_prefix: str | None = None
    # Cognito threat protection needs the Plus feature plan (charged per monthly active user).
    cognito_threat_protection: bool = False
    mfa: Literal["optional", "required"] = "optional"
    # Only one SES receipt rule set can be active per account and region: activate it in exactly one
    # of the stacks that share an account and region.
    activate_receipt_rule_set: bool = True
    # Caps concurrent ingests so that a flood of inbound mail cannot take the account's whole Lambda
    # concurrency (the UI and routing keep theirs) or pile writes onto the directory items. SES's
    # asynchronous invocations wait in Lambda's queue meanwhile (up to 6 hours). Accounts whose
    # concurrency quota is still the new-account default cannot reserve any: set null there.
    ingest_reserved_concurrency: Annotated[int | None, Field(ge=1, le=1000)] = 10
    # Seconds the API and ingest may reuse a container's listing of the mailbox directory: a grant
    # revoked or a mailbox disabled takes effect everywhere within this time (0: read every time).
    directory_cache_seconds: Annotated[float, Field(ge=0, le=300)] = 5.0
    api_throttle_rate: Annotated[float, Field(gt=0, le=10_000)] = 50.0
    api_throttle_burst: Annotated[int, Field(ge=1, le=5_000)] = 100
    api_5xx_alarm_threshold: Annotated[int, Field(ge=1)] = 1
    # The subdomain used as MAIL FROM (SPF alignment for DMARC): bounce.<domain>.
    mail_from_subdomain: str | None = "bounce"
    # The Powertools layer matches the Powertools release requirements.lock pins, looked up at deploy
    # time from its public SSM parameter. Set a layer version number (from the Powertools docs) to
    # build the layer's ARN from the region instead, if that parameter is missing in a region.
    powertools_layer_version: Annotated[int | None, Field(ge=1)] = None
    # Optional fixed account and region; without them the stack is environment-agnostic.
    account: str | None = None
    region: str | None = None

    @field_validator("domain")
    @classmethod
    def _domain_name(cls, value: str) -> str:
        return _domain(value)

    @field_validator("alarm_email")
    @classmethod
    def _alarm_email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value.strip()):
            raise ValueError(f"{value!r} is not an email address")
        return value.strip() if value else None

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"CloudWatch Logs accepts only {LOG_RETENTION_DAYS} days, not {value}")
        return value

    @field_validator("cost_centre")
    @classmethod
    def _cost_centre(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9 _.:/=+@-]{1,256}$", value):
            raise ValueError(f"{value!r} cannot be a tag value")
        return value

    @field_validator("cognito_domain_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _PREFIX.match(value) or any(word in value for word in ("aws", "amazon", "cognito")):
            raise ValueError(
                f"{value!r}: lower-case letters, digits and hyphens, without aws, amazon or cognito"
            )
        return value

    @field_validator("mail_from_subdomain")
    @classmethod
    def _mail_from(cls, value: str | None) -> str | None:
        if value is not None and not _PREFIX.match(value):
            raise ValueError(f"{value!r} is not a subdomain label")
        return value

    @field_validator("account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^\d{12}$", value):
            raise ValueError(f"{value!r} is not a 12-digit AWS account id")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[a-z]{2}(-[a-z]+)+-\d$", value):
            raise ValueError(f"{value!r} is not an AWS region")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MailroomConfig:
        addresses = self.mailbox_addresses  # validates each mailbox
        if len(set(addresses)) != len(addresses):
            raise ValueError("mailboxes: each mailbox once")
        if self.raw_mail_expiration_days is not None and (
            self.raw_mail_expiration_days <= self.raw_mail_transition_days
        ):
            raise ValueError("raw_mail_expiration_days must be later than raw_mail_transition_days")
        zone = self.hosted_zone
        if zone is not None and not (
            self.domain == zone.zone_name or self.domain.endswith("." + zone.zone_name)
        ):
            raise ValueError(f"hosted_zone {zone.zone_name} does not contain the domain {self.domain}")
        if (self.account is None) != (self.region is None):
            raise ValueError("give both account and region, or neither (environment-agnostic)")
        return self

    @property
    def mailbox_addresses(self) -> list[str]:
        """Every mailbox as a lower-case address on the domain."""
        addresses = []
        for raw in self.mailboxes:
            value = raw.strip().lower()
            local, at, domain = value.rpartition("@") if "@" in value else (value, "", self.domain)
            if at and domain != self.domain:
                raise ValueError(f"mailbox {raw!r} is not on the domain {self.domain}")
            if not _LOCAL_PART.match(local) or "+" in local:
                raise ValueError(f"mailbox {raw!r}: the local part must be letters, digits, '.', '_', '-'")
            addresses.append(f"{local}@{self.domain}")
        return addresses

    @property
    def production(self) -> bool:
        return self.environment == "prod"

    @property
    def stack_name(self) -> str:
        return f"Mailroom-{self.environment}"

    @property
    def prefix(self) -> str:
        """Names of named resources: ``mailroom-dev-...``, so two environments never collide."""
        return f"mailroom-{self.environment}"

    def tags(self) -> dict[str, str]:
        return {"application": "mailroom", "environment": self.environment, "cost-centre": self.cost_centre}


def _context_value(raw: Any) -> Any:
    """``-c key=value`` arrives as a string: JSON for lists, objects, numbers, booleans and null."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def load_config(context: Mapping[str, Any], *, root: Path = PROJECT_ROOT) -> MailroomConfig:
    """The configuration for the environment named in ``context`` (see the module docstring)."""
    environment = str(context.get(ENV_CONTEXT_KEY) or "dev")
    if environment not in ("dev", "prod"):
        raise ConfigError(f"context {ENV_CONTEXT_KEY} must be dev or prod, not {environment!r}")
    named = context.get(FILE_CONTEXT_KEY)
    path = Path(str(named)) if named else root / "infra" / f"config.{environment}.json"
    if not path.is_absolute():
        path = root / path
    data: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a JSON object")
        data.update({k: v for k, v in loaded.items() if not k.startswith("//")})  # "//" keys: comments
    elif named:
        raise ConfigError(f"configuration file {path} not found")
    for field in MailroomConfig.model_fields:
        key = CONTEXT_PREFIX + field
        if key in context and field != "environment":
            data[field] = _context_value(context[key])
    if data.get("environment", environment) != environment:
        raise ConfigError(f"{path} is for {data['environment']!r}, but {ENV_CONTEXT_KEY} is {environment!r}")
    data["environment"] = environment
    try:
        return MailroomConfig.model_validate(data)
    except ValidationError as exc:
        problems = "\n".join(
            f"  {'.'.join(str(p) for p in error['loc']) or '(config)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(f"invalid Mailroom configuration ({path.name}):\n{problems}") from None
