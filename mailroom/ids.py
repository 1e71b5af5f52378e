"""Identifiers. Ingest derives its ids from natural keys, so a retried delivery computes the same ids
and its conditional writes find the work already done instead of writing it twice."""

from __future__ import annotations

import base64
import hashlib
import secrets

_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "abcdefghjkmnpqrstvwxyz0123456789")


def _digest_id(*parts: str, length: int) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").translate(_CROCKFORD)[:length]


def conversation_id_for(mailbox: str, message_id: str) -> str:
    """The id of the conversation that the message ``message_id`` starts in ``mailbox``.

    Lower-case letters and digits only, so it survives in an email local part (reply tokens)."""
    return "c" + _digest_id("conversation", mailbox.lower(), message_id.lower(), length=11)


def message_key_for(mailbox: str, message_id: str) -> str:
    return "m" + _digest_id("message", mailbox.lower(), message_id.lower(), length=15)


def event_id_for(*natural_key: str) -> str:
    return "e" + _digest_id("event", *natural_key, length=15)


def random_id(prefix: str) -> str:
    return prefix + base64.b32encode(secrets.token_bytes(10)).decode("ascii").translate(_CROCKFORD)
