"""A content fingerprint: tells a redelivery of a message from a different message that reuses its
Message-ID (broken mailers and resent edits do that). Trace headers (Received, Return-Path, DKIM
and SES's own) are left out, so the same mail relayed by another server has the same fingerprint."""

from __future__ import annotations

import hashlib

from mailroom.mail.model import ParsedMessage
from mailroom.mail.trace import is_trace_header


def content_fingerprint(parsed: ParsedMessage) -> str:
    digest = hashlib.sha256()
    headers = sorted(f"{name.lower()}:{value}" for name, value in parsed.headers if not is_trace_header(name))
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
