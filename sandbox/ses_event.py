"""Build the event SES sends to a receipt rule's Lambda action, from a raw mail and its envelope.

The sandbox's SMTP receiver stores the raw mail (as the receipt rule's S3 action would) and then
invokes the ingest handler with this event, so the handler sees what it sees on AWS:

* ``mail.headers`` lists the top-level headers as name/value pairs, in order, values unfolded and
  not decoded; ``mail.commonHeaders`` has decoded ``from``/``to``/``cc`` lists, ``messageId``,
  ``subject`` and ``date`` (each omitted when the mail has none, as SES does) and ``returnPath``.
* ``receipt.recipients`` are the envelope recipients the rule accepted; verdicts are ``PASS``
  unless the mail carries a test header such as
  ``X-Mailroom-Test-Verdict: spam=FAIL, virus=FAIL, spf=GRAY, dkim=FAIL, dmarc=FAIL``
  (any subset; ``dmarcPolicy=reject`` sets the policy SES reports when DMARC fails).

Broken mail never makes this fail: headers are read with the lenient ``compat32`` parser and
anything that cannot be decoded is passed on as it is.
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from email.policy import compat32
from email.utils import getaddresses
from typing import Any

VERDICT_HEADER = "X-Mailroom-Test-Verdict"
VERDICT_NAMES = ("spam", "virus", "spf", "dkim", "dmarc")
VERDICT_STATUSES = frozenset({"PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED"})
DMARC_POLICIES = frozenset({"none", "quarantine", "reject"})
DEFAULT_FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:mailroom-ingest"

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_VERDICT_ITEM = re.compile(r"([A-Za-z_]+)\s*[=:]\s*([A-Za-z_]+)")
_ADDRESS_SPECIALS = set('()<>[]:;@\\,."')


def new_ses_message_id() -> str:
    """A fresh id shaped like the ones SES gives inbound mail: 40 lower-case letters and digits."""
    return base64.b32encode(secrets.token_bytes(25)).decode("ascii").lower()


def build_ses_event(
    *,
    raw: bytes,
    ses_message_id: str,
    envelope_from: str,
    recipients: list[str],
    received_at: datetime,
    verdicts: dict[str, str] | None = None,
    function_arn: str = DEFAULT_FUNCTION_ARN,
    processing_time_millis: int | None = None,
) -> dict[str, Any]:
    """The ``{"Records": [{"eventSource": "aws:ses", ...}]}`` event for one received mail.

    ``recipients`` are the accepted envelope recipients. ``verdicts`` (``{"spam": "FAIL", ...}``)
    override both the default ``PASS`` and the test header. ``processing_time_millis`` defaults to
    the time elapsed since ``received_at``.
    """
    if not recipients:
        raise ValueError("an SES receipt always has at least one recipient")
    received = received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC)
    if processing_time_millis is None:
        elapsed = datetime.now(UTC) - received
        processing_time_millis = max(0, int(elapsed.total_seconds() * 1000))
    headers = _top_level_headers(raw)
    statuses, dmarc_policy = _verdicts_from_headers(headers)
    for name, status in (verdicts or {}).items():
        key, value = name.lower().removesuffix("verdict"), status.upper()
        if key not in VERDICT_NAMES or value not in VERDICT_STATUSES:
            raise ValueError(f"invalid verdict {name}={status}")
        statuses[key] = value
    timestamp = _iso(received)
    receipt: dict[str, Any] = {
        "timestamp": timestamp,
        "processingTimeMillis": processing_time_millis,
        "recipients": list(recipients),
        **{f"{name}Verdict": {"status": statuses[name]} for name in VERDICT_NAMES},
        "action": {"type": "Lambda", "functionArn": function_arn, "invocationType": "Event"},
    }
    if statuses["dmarc"] == "FAIL":
        receipt["dmarcPolicy"] = dmarc_policy
    mail = {
        "timestamp": timestamp,
        "source": envelope_from,
        "messageId": ses_message_id,
        "destination": list(recipients),
        "headersTruncated": False,
        "headers": [{"name": name, "value": value} for name, value in headers],
        "commonHeaders": _common_headers(headers, envelope_from),
    }
    return {
        "Records": [
            {"eventSource": "aws:ses", "eventVersion": "1.0", "ses": {"mail": mail, "receipt": receipt}}
        ]
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _text(value: str) -> str:
    """Undo the parser's surrogate escapes: 8-bit header bytes are read as UTF-8 (as SMTPUTF8 sends)."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _top_level_headers(raw: bytes) -> list[tuple[str, str]]:
    try:
        message = message_from_bytes(raw, policy=compat32)
        items = message.raw_items()
        return [(_text(str(name)), _text(_FOLD.sub("", str(value))).strip()) for name, value in items]
    except Exception:  # hostile mail must not stop delivery; ingest parses the raw mail itself
        return []


def _decoded(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except Exception:  # unknown charset or malformed encoded word: keep it as it is
        return value


def _addresses(values: list[str]) -> list[str]:
    try:
        pairs = getaddresses([_decoded(value) for value in values])
    except Exception:
        return [_decoded(value) for value in values]
    result = []
    for name, address in pairs:
        if not address:
            continue
        if not name:
            result.append(address)
        elif _ADDRESS_SPECIALS.intersection(name):
            escaped = name.replace("\\", "\\\\").replace('"', '\\"')
            result.append(f'"{escaped}" <{address}>')
        else:
            result.append(f"{name} <{address}>")
    return result


def _common_headers(headers: list[tuple[str, str]], envelope_from: str) -> dict[str, Any]:
    def all_of(name: str) -> list[str]:
        return [value for key, value in headers if key.lower() == name]

    common: dict[str, Any] = {"returnPath": envelope_from}
    for field in ("from", "to", "cc"):
        values = all_of(field)
        if values:
            common[field] = _addresses(values)
    for field, header in (("messageId", "message-id"), ("date", "date")):
        values = all_of(header)
        if values:
            common[field] = values[0]
    subjects = all_of("subject")
    if subjects:
        common["subject"] = _decoded(subjects[0])
    return common


def _verdicts_from_headers(headers: list[tuple[str, str]]) -> tuple[dict[str, str], str]:
    statuses = dict.fromkeys(VERDICT_NAMES, "PASS")
    dmarc_policy = "none"
    for name, value in headers:
        if name.lower() != VERDICT_HEADER.lower():
            continue
        for item, setting in _VERDICT_ITEM.findall(value):
            key = item.lower().replace("_", "")
            if key in {"dmarcpolicy", "policy"} and setting.lower() in DMARC_POLICIES:
                dmarc_policy = setting.lower()
            elif key.removesuffix("verdict") in statuses and setting.upper() in VERDICT_STATUSES:
                statuses[key.removesuffix("verdict")] = setting.upper()
    return statuses, dmarc_policy
