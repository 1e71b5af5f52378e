"""Compose outbound MIME: threading headers, a text and an HTML part, and header-injection checks."""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

from mailroom.mail.model import Address
from mailroom.mail.references import capped_references

MAX_SENT_REFERENCES = 20


class HeaderInjectionError(ValueError):
    """A header value contained CR or LF (or another control character)."""


def check_header_value(name: str, value: str) -> str:
    if any(ch in value for ch in "\r\n\x00") or any(ord(ch) < 32 and ch != "\t" for ch in value):
        raise HeaderInjectionError(f"{name} must not contain line breaks or control characters")
    return value


class UnsendableAddressError(ValueError):
    """An address that cannot be written into a header SES accepts (the message says why)."""


def ascii_address(email: str) -> str:
    """The address as it goes on the wire: an international domain in its ASCII form (punycode,
    ``jose@xn--exmple-cua.com``). Non-ASCII before the ``@`` needs SMTPUTF8, which Amazon SES does
    not offer: that raises :class:`UnsendableAddressError`, as does a domain IDNA cannot encode."""
    local, at, domain = email.rpartition("@")
    if not (at and local and domain):
        raise UnsendableAddressError(f"{email!r} is not an email address")
    if not local.isascii():
        raise UnsendableAddressError(
            f"{email!r} has characters before the @ that are not ASCII: Amazon SES cannot send to it"
        )
    if domain.isascii():
        return email
    try:
        encoded = domain.encode("idna").decode("ascii")
    except UnicodeError:
        problem = f"{email!r}: its domain is not a valid international domain name"
        raise UnsendableAddressError(problem) from None
    return f"{local}@{encoded}"


def new_message_id(domain: str) -> str:
    """A Message-ID for mail we send (without angle brackets)."""
    return f"{uuid.uuid4().hex}@{domain}"


@dataclass
class OutboundMail:
    from_: Address
    to: list[Address]
    subject: str
    text: str
    html: str | None = None
    cc: list[Address] = field(default_factory=list)
    reply_to: Address | None = None
    sender: Address | None = None  # send-on-behalf: From is the mailbox, Sender the agent
    message_id: str = ""
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    auto_submitted: str | None = None  # "auto-replied" for RFC 3834 automatic replies
    date: datetime | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)


def _addr(address: Address) -> str:
    check_header_value("address", address.email)
    check_header_value("name", address.name)
    email = ascii_address(address.email)
    return formataddr((address.name, email)) if address.name else email


def text_to_html(text: str) -> str:
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n"))


def compose(mail: OutboundMail) -> bytes:
    """The raw MIME to send: multipart/alternative with text and HTML, threading headers set."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = _addr(mail.from_)
    msg["To"] = ", ".join(_addr(a) for a in mail.to)
    if mail.cc:
        msg["Cc"] = ", ".join(_addr(a) for a in mail.cc)
    if mail.sender:
        msg["Sender"] = _addr(mail.sender)
    if mail.reply_to:
        msg["Reply-To"] = _addr(mail.reply_to)
    msg["Subject"] = check_header_value("Subject", mail.subject)
    if mail.date:
        msg["Date"] = format_datetime(mail.date)
    msg["Message-ID"] = f"<{check_header_value('Message-ID', mail.message_id)}>"
    if mail.in_reply_to:
        msg["In-Reply-To"] = f"<{check_header_value('In-Reply-To', mail.in_reply_to)}>"
    if mail.references:
        references = capped_references(mail.references, MAX_SENT_REFERENCES)
        msg["References"] = " ".join(f"<{check_header_value('References', r)}>" for r in references)
    if mail.auto_submitted:
        msg["Auto-Submitted"] = mail.auto_submitted
        # Ask Exchange and others not to answer our automatic reply with theirs (loop breaking).
        msg["X-Auto-Response-Suppress"] = "All"
    for name, value in mail.extra_headers.items():
        msg[check_header_value("header name", name)] = check_header_value(name, value)
    msg.set_content(mail.text)
    msg.add_alternative(mail.html or text_to_html(mail.text), subtype="html")
    return msg.as_bytes()
