"""A content fingerprint: tells a redelivery of a message from a different message that reuses its
Message-ID (broken mailers and resent edits do that). Trace headers (Received, Return-Path, DKIM
and SES's own) are left out, so the same mail relayed by another server has the same fingerprint."""

from __future__ import annotations

import hashlib

from mailroom.mail.model import ParsedMessage

# Headers that relays add or rewrite on the way: they differ between deliveries of the same message.
TRACE_HEADERS = frozenset(
    {
        "received",
        "return-path",
        "delivered-to",
        "x-original-to",
        "received-spf",
        "authentication-results",
        "arc-seal",
        "arc-message-signature",
        "arc-authentication-results",
        "dkim-signature",
        "x-received",
        "x-forwarded-to",
        "x-forwarded-for",
    }
)


def _is_trace(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACE_HEADERS or lowered.startswith(("x-ses-", "x-mailroom-test-"))


def content_fingerprint(parsed: ParsedMessage) -> str:
    digest = hashlib.sha256()
    headers = sorted(f"{name.lower()}:{value}" for name, value in parsed.headers if not _is_trace(name))
    for part in (
        *headers,
        parsed.text,
        parsed.html or "",
        *(f"{a.filename}:{a.sha256}" for a in parsed.attachments),
    ):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return digest.hexdigest()


def variant_identity(message_id: str, fingerprint: str) -> str:
    """The dedupe identity of a different message that reuses ``message_id``."""
    return f"{message_id}#{fingerprint[:16]}"
