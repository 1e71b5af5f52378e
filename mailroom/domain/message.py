"""A stored message: what ingest (inbound) or reply (outbound) keeps of one email."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from mailroom.mail.model import Address


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class AttachmentRef(BaseModel):
    """An attachment's metadata; its bytes live in the raw store under ``key``."""

    index: int
    filename: str
    content_type: str
    size: int
    sha256: str
    key: str
    content_id: str | None = None
    inline: bool = False


class StoredMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    key: str  # our id for the message item
    conversation_id: str
    mailbox: str
    message_id: str  # RFC 5322 Message-ID without angle brackets
    direction: Direction
    from_: Address | None = Field(default=None, alias="from")
    to: list[Address] = Field(default_factory=list)
    cc: list[Address] = Field(default_factory=list)
    reply_to: list[Address] = Field(default_factory=list)
    subject: str = ""
    date: str | None = None  # the Date header, when it was readable
    received_at: str
    text: str = ""  # the whole text, or a preview when ``body_ref`` is set
    html: str | None = None  # SANITIZED html, or None (also None when stored under body_ref)
    body_ref: str | None = None  # raw-store key of the full body (JSON: text, html) when large
    attachments: list[AttachmentRef] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    verdicts: dict[str, str] = Field(default_factory=dict)
    headers: list[tuple[str, str]] = Field(default_factory=list)
    in_reply_to: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    raw_key: str | None = None
    ses_message_id: str | None = None
    size: int = 0
    parse_error: str | None = None
    # False for quarantined mail: the route function's stream filter passes only routable messages.
    routable: bool = True
    threaded_by: str = "new"  # how ingest found the conversation: references, token, subject, new
    reopened: bool = False  # this message reopened a closed, pending or snoozed conversation
