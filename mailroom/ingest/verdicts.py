"""SES receipt verdicts: recorded on every message, and turned into flags."""

from __future__ import annotations

from mailroom.ingest.ses_event import SesReceipt
from mailroom.mail.model import MessageFlag


def verdicts_of(receipt: SesReceipt) -> dict[str, str]:
    return {
        "spam": receipt.spam_verdict.status,
        "virus": receipt.virus_verdict.status,
        "spf": receipt.spf_verdict.status,
        "dkim": receipt.dkim_verdict.status,
        "dmarc": receipt.dmarc_verdict.status,
    }


def verdict_flags(verdicts: dict[str, str]) -> set[MessageFlag]:
    flags: set[MessageFlag] = set()
    if verdicts.get("spam") == "FAIL":
        flags.add(MessageFlag.SPAM)
    if verdicts.get("virus") == "FAIL":
        flags |= {MessageFlag.VIRUS, MessageFlag.QUARANTINED}
    if any(verdicts.get(name) == "FAIL" for name in ("spf", "dkim", "dmarc")):
        flags.add(MessageFlag.AUTH_FAILED)
    return flags
