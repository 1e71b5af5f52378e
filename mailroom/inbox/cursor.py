"""Opaque pagination cursors: url-safe base64 of a small JSON document, validated on the way in."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


class InvalidCursorError(ValueError):
    """The cursor was not produced by this API (or was altered)."""


def encode_cursor(state: dict[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise InvalidCursorError("the cursor is not valid; start again without it") from exc
    if not isinstance(state, dict):
        raise InvalidCursorError("the cursor is not valid; start again without it")
    return state
