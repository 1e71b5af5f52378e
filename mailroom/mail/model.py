"""What the MIME parser produces: a faithful, size-bounded reading of one raw message."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class MessageFlag(StrEnum):
    """Facts about a message that later stages (routing, UI, metrics) act on."""

    PARSE_FAILED = "parse_failed"  # the parser could not read it; raw is kept, reason recorded
    AUTO_REPLY = "auto_reply"  # Auto-Submitted, X-Autoreply, out-of-office, Precedence: auto_reply
    BULK = "bulk"  # Precedence: bulk/junk/list, List-Id, List-Unsubscribe
    BOUNCE = "bounce"  # multipart/report delivery-status, or a mailer-daemon notification
    HTML_ONLY = "html_only"  # no text/plain part: the text was derived from the HTML
    TRUNCATED = "truncated"  # limits (parts, depth, size) cut the reading short
    MESSAGE_ID_SYNTHESIZED = "message_id_synthesized"  # no usable Message-ID header
    MESSAGE_ID_REUSED = "message_id_reused"  # another, different message already had this Message-ID
    DATE_MISSING = "date_missing"  # missing or unparseable Date: the receipt time is used
    SPAM = "spam"  # SES spam verdict FAIL
    VIRUS = "virus"  # SES virus verdict FAIL: quarantined, never routed
    QUARANTINED = "quarantined"
    AUTH_FAILED = "auth_failed"  # SPF, DKIM or DMARC said FAIL


class Address(BaseModel):
    model_config = ConfigDict(frozen=True)

    email: str  # lower-cased domain, local part kept as sent; "" when unparseable
    name: str = ""

    def display(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


class ParsedAttachment(BaseModel):
    """An attachment or inline part, decoded. ``data`` is stored in the raw store, never the table."""

    filename: str  # decoded (RFC 2047 / RFC 2231), path-free; a generated name when none was given
    content_type: str  # lower-case type/subtype
    size: int
    sha256: str
    content_id: str | None = None  # without angle brackets, for cid: references of inline images
    inline: bool = False
    data: bytes = Field(repr=False, exclude=True)


class ParsedMessage(BaseModel):
    message_id: str  # without angle brackets; synthesized from the raw bytes when missing
    in_reply_to: list[str] = Field(default_factory=list)  # Message-IDs, without angle brackets
    references: list[str] = Field(default_factory=list)
    # A bounce's returned message (its text/rfc822-headers or message/rfc822 part): the Message-ID
    # of the mail that bounced, so the bounce joins that mail's conversation (None otherwise).
    bounced_message_id: str | None = None
    subject: str = ""
    date: datetime | None = None  # timezone-aware; None when missing or garbage
    from_: Address | None = Field(default=None, alias="from")
    sender: Address | None = None
    reply_to: list[Address] = Field(default_factory=list)
    to: list[Address] = Field(default_factory=list)
    cc: list[Address] = Field(default_factory=list)
    # Every top-level header, decoded to text, in order (names as sent). Long values are clipped.
    headers: list[tuple[str, str]] = Field(default_factory=list)
    text: str = ""  # the readable text body (derived from the HTML for HTML-only mail)
    html: str | None = None  # the HTML body as sent: UNSAFE, sanitize before showing it
    attachments: list[ParsedAttachment] = Field(default_factory=list)
    flags: set[MessageFlag] = Field(default_factory=set)
    parse_error: str | None = None  # why PARSE_FAILED was set
    defects: list[str] = Field(default_factory=list)  # what the parser tolerated, for diagnostics

    model_config = ConfigDict(populate_by_name=True)

    def header(self, name: str) -> str | None:
        """The first header with that name (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)
