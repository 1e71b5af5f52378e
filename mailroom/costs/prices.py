"""The price table: AWS list prices per region, versioned, each with its source and date.

Amounts are ``Decimal`` US dollars for a fixed unit per price (``PRICE_UNITS``); an admin replaces
the amounts (``PUT /api/prices``) and each update is a new version with an effective date, so a day
is always priced with the version in effect on that day and history is never rewritten.

The built-in version (:func:`default_table`) holds the public list prices for us-east-1 and
eu-west-1 as we knew them, without free tiers, marked "as published <month year>": they were not
fetched when written (no network), so check them against the source pages and update the table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mailroom.costs.quantities import METERING_PREFIX, Q, Usage

GIB = Decimal(1024**3)  # AWS bills data in binary gigabytes


class PriceKey(StrEnum):
    LAMBDA_GB_SECOND = "lambda_arm64_gb_second"
    LAMBDA_REQUESTS = "lambda_requests"
    DDB_WRITE_UNITS = "dynamodb_on_demand_write_units"
    DDB_READ_UNITS = "dynamodb_on_demand_read_units"
    SES_RECEIVE_MESSAGES = "ses_receive_messages"
    SES_RECEIVE_CHUNKS = "ses_receive_chunks"
    SES_SEND_MESSAGES = "ses_send_messages"
    SES_SEND_DATA = "ses_send_attachments_gb"
    S3_PUT_REQUESTS = "s3_put_requests"
    S3_GET_REQUESTS = "s3_get_requests"
    S3_STORAGE = "s3_standard_storage_gb_month"
    API_REQUESTS = "apigw_http_api_requests"
    LOG_INGESTION = "cloudwatch_logs_ingestion_gb"


class Service(StrEnum):
    LAMBDA = "Lambda"
    DYNAMODB = "DynamoDB"
    SES_RECEIVING = "SES receiving"
    SES_SENDING = "SES sending"
    S3 = "S3"
    API_GATEWAY = "API Gateway"
    CLOUDWATCH_LOGS = "CloudWatch Logs"


@dataclass(frozen=True)
class PriceUnit:
    """A price is ``amount`` dollars per ``per`` of ``unit``; ``quantity`` is what it is applied to,
    divided by ``scale`` first (bytes to GiB)."""

    unit: str
    per: Decimal
    quantity: Q
    service: Service
    scale: Decimal = Decimal(1)


PRICE_UNITS: dict[PriceKey, PriceUnit] = {
    PriceKey.LAMBDA_GB_SECOND: PriceUnit(
        "GB-second (arm64)", Decimal(1), Q.LAMBDA_GB_SECONDS, Service.LAMBDA
    ),
    PriceKey.LAMBDA_REQUESTS: PriceUnit("requests", Decimal(1_000_000), Q.LAMBDA_REQUESTS, Service.LAMBDA),
    PriceKey.DDB_WRITE_UNITS: PriceUnit(
        "write request units", Decimal(1_000_000), Q.DDB_WRITE_UNITS, Service.DYNAMODB
    ),
    PriceKey.DDB_READ_UNITS: PriceUnit(
        "read request units", Decimal(1_000_000), Q.DDB_READ_UNITS, Service.DYNAMODB
    ),
    PriceKey.SES_RECEIVE_MESSAGES: PriceUnit(
        "messages received", Decimal(1000), Q.SES_IN_MESSAGES, Service.SES_RECEIVING
    ),
    PriceKey.SES_RECEIVE_CHUNKS: PriceUnit(
        "incoming 256 KB chunks", Decimal(1000), Q.SES_IN_CHUNKS, Service.SES_RECEIVING
    ),
    PriceKey.SES_SEND_MESSAGES: PriceUnit(
        "messages sent", Decimal(1000), Q.SES_OUT_MESSAGES, Service.SES_SENDING
    ),
    PriceKey.SES_SEND_DATA: PriceUnit("GB sent", Decimal(1), Q.SES_OUT_BYTES, Service.SES_SENDING, GIB),
    PriceKey.S3_PUT_REQUESTS: PriceUnit(
        "PUT/COPY/POST/LIST requests", Decimal(1000), Q.S3_PUT_REQUESTS, Service.S3
    ),
    PriceKey.S3_GET_REQUESTS: PriceUnit("GET/HEAD requests", Decimal(1000), Q.S3_GET_REQUESTS, Service.S3),
    PriceKey.S3_STORAGE: PriceUnit("GB-month (Standard)", Decimal(1), Q.S3_BYTES, Service.S3, GIB),
    PriceKey.API_REQUESTS: PriceUnit(
        "HTTP API requests", Decimal(1_000_000), Q.API_REQUESTS, Service.API_GATEWAY
    ),
    PriceKey.LOG_INGESTION: PriceUnit("GB ingested", Decimal(1), Q.LOG_BYTES, Service.CLOUDWATCH_LOGS, GIB),
}

_AMOUNT_PLACES = 12
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


class Price(BaseModel):
    """One price: dollars per the key's unit, where it comes from and when it was published."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: Annotated[Decimal, Field(ge=0, le=1000, allow_inf_nan=False)]
    source: str = Field(min_length=12, max_length=300)
    published: str = Field(min_length=3, max_length=60, description='e.g. "as published January 2025"')

    @field_validator("amount")
    @classmethod
    def _places(cls, value: Decimal) -> Decimal:
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > _AMOUNT_PLACES:
            raise ValueError(f"at most {_AMOUNT_PLACES} decimal places")
        return value

    @field_validator("source")
    @classmethod
    def _https(cls, value: str) -> str:
        if not re.fullmatch(r"https://[A-Za-z0-9.-]+(/[^\s]*)?", value):
            raise ValueError("the source must be an https:// URL")
        return value


RegionPrices = dict[PriceKey, Price]


class PriceTableInput(BaseModel):
    """What an admin submits: the prices of one or more regions, effective from a date."""

    model_config = ConfigDict(extra="forbid")

    effective_from: date
    currency: str = Field(default="USD", pattern=r"^USD$")
    note: str = Field(default="", max_length=500)
    regions: dict[str, RegionPrices] = Field(min_length=1, max_length=30)

    @field_validator("regions")
    @classmethod
    def _complete(cls, regions: dict[str, RegionPrices]) -> dict[str, RegionPrices]:
        for region, prices in regions.items():
            if not _REGION.fullmatch(region):
                raise ValueError(f"{region!r} is not an AWS region name like us-east-1")
            missing = sorted(set(PriceKey) - set(prices))
            if missing:
                raise ValueError(f"{region}: missing prices {', '.join(missing)}")
        return regions

    @model_validator(mode="after")
    def _plausible_date(self) -> PriceTableInput:
        if self.effective_from.year < 2006:
            raise ValueError("effective_from predates AWS")
        return self


class PriceTable(PriceTableInput):
    """A stored version."""

    version: int = Field(ge=1)
    created_at: str
    created_by: str

    def prices_for(self, region: str) -> RegionPrices:
        """The region's prices; a region the table lacks is priced as us-east-1 (and says so)."""
        return self.regions.get(region) or self.regions.get("us-east-1") or next(iter(self.regions.values()))

    def priced_region(self, region: str) -> str:
        if region in self.regions:
            return region
        return "us-east-1" if "us-east-1" in self.regions else next(iter(self.regions))


def cost_by_service(usage: Usage, prices: Mapping[PriceKey, Price]) -> dict[Service, Decimal]:
    """Money per service for ``usage`` (exact: a wide decimal context, no rounding)."""
    result: dict[Service, Decimal] = {}
    with localcontext() as ctx:
        ctx.prec = 60
        for key, unit in PRICE_UNITS.items():
            quantity = usage[unit.quantity]
            if not quantity:
                continue
            amount = quantity / unit.scale * prices[key].amount / unit.per
            result[unit.service] = result.get(unit.service, Decimal(0)) + amount
    return result


def cost_of(usage: Usage, prices: Mapping[PriceKey, Price]) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 60
        return sum(cost_by_service(usage, prices).values(), Decimal(0))


def metering_usage(item: Mapping[str, object]) -> Usage:
    """The metering's own usage recorded on a TOTAL item (``m_`` attributes)."""
    return Usage.from_item(item, METERING_PREFIX)


# -- the built-in version ---------------------------------------------------------------------------

LAMBDA_SOURCE = "https://aws.amazon.com/lambda/pricing/"
DYNAMODB_SOURCE = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
SES_SOURCE = "https://aws.amazon.com/ses/pricing/"
S3_SOURCE = "https://aws.amazon.com/s3/pricing/"
APIGW_SOURCE = "https://aws.amazon.com/api-gateway/pricing/"
CLOUDWATCH_SOURCE = "https://aws.amazon.com/cloudwatch/pricing/"

_SOURCES: dict[PriceKey, str] = {
    PriceKey.LAMBDA_GB_SECOND: LAMBDA_SOURCE,
    PriceKey.LAMBDA_REQUESTS: LAMBDA_SOURCE,
    PriceKey.DDB_WRITE_UNITS: DYNAMODB_SOURCE,
    PriceKey.DDB_READ_UNITS: DYNAMODB_SOURCE,
    PriceKey.SES_RECEIVE_MESSAGES: SES_SOURCE,
    PriceKey.SES_RECEIVE_CHUNKS: SES_SOURCE,
    PriceKey.SES_SEND_MESSAGES: SES_SOURCE,
    PriceKey.SES_SEND_DATA: SES_SOURCE,
    PriceKey.S3_PUT_REQUESTS: S3_SOURCE,
    PriceKey.S3_GET_REQUESTS: S3_SOURCE,
    PriceKey.S3_STORAGE: S3_SOURCE,
    PriceKey.API_REQUESTS: APIGW_SOURCE,
    PriceKey.LOG_INGESTION: CLOUDWATCH_SOURCE,
}

# (amount, "as published ...") per region. First paid tier, no free tier. DynamoDB on-demand as cut
# by half on 1 November 2024. Lambda: arm64, first 6 billion GB-seconds a month.
_LIST_PRICES: dict[str, dict[PriceKey, tuple[str, str]]] = {
    "us-east-1": {
        PriceKey.LAMBDA_GB_SECOND: ("0.0000133334", "as published January 2025"),
        PriceKey.LAMBDA_REQUESTS: ("0.20", "as published January 2025"),
        PriceKey.DDB_WRITE_UNITS: ("0.625", "as published November 2024"),
        PriceKey.DDB_READ_UNITS: ("0.125", "as published November 2024"),
        PriceKey.SES_RECEIVE_MESSAGES: ("0.10", "as published January 2025"),
        PriceKey.SES_RECEIVE_CHUNKS: ("0.09", "as published January 2025"),
        PriceKey.SES_SEND_MESSAGES: ("0.10", "as published January 2025"),
        PriceKey.SES_SEND_DATA: ("0.12", "as published January 2025"),
        PriceKey.S3_PUT_REQUESTS: ("0.005", "as published January 2025"),
        PriceKey.S3_GET_REQUESTS: ("0.0004", "as published January 2025"),
        PriceKey.S3_STORAGE: ("0.023", "as published January 2025"),
        PriceKey.API_REQUESTS: ("1.00", "as published January 2025"),
        PriceKey.LOG_INGESTION: ("0.50", "as published January 2025"),
    },
    "eu-west-1": {
        PriceKey.LAMBDA_GB_SECOND: ("0.0000133334", "as published January 2025"),
        PriceKey.LAMBDA_REQUESTS: ("0.20", "as published January 2025"),
        PriceKey.DDB_WRITE_UNITS: ("0.7068", "as published November 2024"),
        PriceKey.DDB_READ_UNITS: ("0.1415", "as published November 2024"),
        PriceKey.SES_RECEIVE_MESSAGES: ("0.10", "as published January 2025"),
        PriceKey.SES_RECEIVE_CHUNKS: ("0.09", "as published January 2025"),
        PriceKey.SES_SEND_MESSAGES: ("0.10", "as published January 2025"),
        PriceKey.SES_SEND_DATA: ("0.12", "as published January 2025"),
        PriceKey.S3_PUT_REQUESTS: ("0.005", "as published January 2025"),
        PriceKey.S3_GET_REQUESTS: ("0.0004", "as published January 2025"),
        PriceKey.S3_STORAGE: ("0.023", "as published January 2025"),
        PriceKey.API_REQUESTS: ("1.11", "as published January 2025"),
        PriceKey.LOG_INGESTION: ("0.57", "as published January 2025"),
    },
}

DEFAULT_EFFECTIVE_FROM = date(2024, 11, 1)


def default_regions() -> dict[str, RegionPrices]:
    return {
        region: {
            key: Price(amount=Decimal(amount), source=_SOURCES[key], published=published)
            for key, (amount, published) in prices.items()
        }
        for region, prices in _LIST_PRICES.items()
    }


def default_table() -> PriceTable:
    """Version 1, seeded when the table holds none."""
    return PriceTable(
        version=1,
        effective_from=DEFAULT_EFFECTIVE_FROM,
        note="Built-in AWS list prices (not fetched: check them against the sources and update).",
        regions=default_regions(),
        created_at="2024-11-01T00:00:00.000000Z",
        created_by="mailroom (built in)",
    )


def default_prices(region: str) -> RegionPrices:
    """Built-in prices for ``region`` (the ranking weight of top conversations uses them)."""
    return default_table().prices_for(region)
