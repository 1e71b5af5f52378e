"""Small helpers the constructs share."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_logs as logs
from constructs import IConstruct

from infra.config import LOG_RETENTION_DAYS

_RETENTION_NAMES = (
    "ONE_DAY",
    "THREE_DAYS",
    "FIVE_DAYS",
    "ONE_WEEK",
    "TWO_WEEKS",
    "ONE_MONTH",
    "TWO_MONTHS",
    "THREE_MONTHS",
    "FOUR_MONTHS",
    "FIVE_MONTHS",
    "SIX_MONTHS",
    "ONE_YEAR",
    "THIRTEEN_MONTHS",
    "EIGHTEEN_MONTHS",
    "TWO_YEARS",
    "THREE_YEARS",
    "FIVE_YEARS",
    "SIX_YEARS",
    "SEVEN_YEARS",
    "EIGHT_YEARS",
    "NINE_YEARS",
    "TEN_YEARS",
)


def retention(days: int) -> logs.RetentionDays:
    """CloudWatch Logs retention for a number of days that ``MailroomConfig`` has validated."""
    return logs.RetentionDays[_RETENTION_NAMES[LOG_RETENTION_DAYS.index(days)]]


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``construct`` (and its children) with the reason why."""
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))
