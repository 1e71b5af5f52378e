"""The SES receipt event, exactly as SES invokes a Lambda action (``Records[].ses.mail/.receipt``).

Powertools ships an ``SesModel``, but it requires ``subject`` and ``date`` in ``commonHeaders`` (SES
omits them when the mail has none) and it has no ``dkimVerdict``; real mail must never fail here, so
these models accept everything SES sends and require only what ingest needs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

VerdictStatus = Literal["PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED"]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Verdict(_Lenient):
    status: VerdictStatus = "DISABLED"


class SesHeader(_Lenient):
    name: str
    value: str


class SesCommonHeaders(_Lenient):
    from_: list[str] = Field(default_factory=list, alias="from")
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    message_id: str | None = Field(default=None, alias="messageId")
    subject: str | None = None
    date: str | None = None


class SesMail(_Lenient):
    timestamp: datetime
    source: str
    message_id: str = Field(alias="messageId", min_length=1, max_length=256, pattern=r"^[A-Za-z0-9._-]+$")
    destination: list[str] = Field(default_factory=list)
    headers_truncated: bool = Field(default=False, alias="headersTruncated")
    headers: list[SesHeader] = Field(default_factory=list)
    common_headers: SesCommonHeaders = Field(default_factory=SesCommonHeaders, alias="commonHeaders")


class SesAction(_Lenient):
    type: str
    invocation_type: str | None = Field(default=None, alias="invocationType")
    function_arn: str | None = Field(default=None, alias="functionArn")


class SesReceipt(_Lenient):
    timestamp: datetime
    processing_time_millis: int = Field(default=0, alias="processingTimeMillis")
    recipients: list[str] = Field(min_length=1)
    spam_verdict: Verdict = Field(default_factory=Verdict, alias="spamVerdict")
    virus_verdict: Verdict = Field(default_factory=Verdict, alias="virusVerdict")
    spf_verdict: Verdict = Field(default_factory=Verdict, alias="spfVerdict")
    dkim_verdict: Verdict = Field(default_factory=Verdict, alias="dkimVerdict")
    dmarc_verdict: Verdict = Field(default_factory=Verdict, alias="dmarcVerdict")
    action: SesAction


class SesMessage(_Lenient):
    mail: SesMail
    receipt: SesReceipt


class SesRecord(_Lenient):
    event_source: Literal["aws:ses"] = Field(alias="eventSource")
    event_version: str = Field(default="1.0", alias="eventVersion")
    ses: SesMessage


class SesEvent(_Lenient):
    records: list[SesRecord] = Field(alias="Records", min_length=1)
