"""Trace headers: what relays add or rewrite on the way (Received, Return-Path, DKIM, SES's own).

They differ between two deliveries of the same message, so whatever identifies a message by its
content (the dedupe fingerprint, a synthesized Message-ID) leaves them out.
"""

from __future__ import annotations

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


def is_trace_header(name: str) -> bool:
    lowered = name.strip().lower()
    return lowered in TRACE_HEADERS or lowered.startswith(("x-ses-", "x-mailroom-test-"))
