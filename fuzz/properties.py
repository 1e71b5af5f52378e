"""What must hold for any input, whatever its bytes: shared by the fuzz targets and the property tests."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from mailroom.mail import html as mail_html
from mailroom.mail import parse
from mailroom.mail.model import MessageFlag, ParsedMessage
from mailroom.table.capacity import item_size
from mailroom.table.client import serialize

MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024  # DynamoDB's limit for one TransactWriteItems
MAX_HEADER_VALUE = 8192
MAX_FILENAME = 200
MAX_CONTENT_TYPE = 255  # RFC 6838: type and subtype names of at most 127 characters
_STYLE_URL = re.compile(r"url\s*\(|expression\s*\(", re.IGNORECASE)


def check_parsed(parsed: ParsedMessage) -> None:
    """The parser's contract: a readable result with a clean Message-ID and bounded values."""
    assert isinstance(parsed, ParsedMessage)
    assert parsed.message_id
    assert parsed.message_id == parsed.message_id.strip()
    assert "<" not in parsed.message_id
    assert ">" not in parsed.message_id
    assert isinstance(parsed.text, str)
    assert parsed.model_dump_json(by_alias=True)
    for attachment in parsed.attachments:
        assert attachment.size == len(attachment.data)
        assert attachment.filename
        assert "/" not in attachment.filename
        assert "\\" not in attachment.filename
        assert len(attachment.filename) <= MAX_FILENAME
    for _name, value in parsed.headers:
        assert len(value) <= MAX_HEADER_VALUE
    check_bounded(parsed)
    assert (parsed.date is None) == (MessageFlag.DATE_MISSING in parsed.flags)
    if parsed.date is not None:
        assert parsed.date.tzinfo is not None


def check_bounded(parsed: ParsedMessage, *, max_parts: int = 500) -> None:
    """However hostile the mail, what the parser returns is bounded (limits of :mod:`mailroom.mail.parse`)."""
    assert len(parsed.message_id) <= parse._MAX_ID
    assert len(parsed.in_reply_to) <= parse._MAX_REFERENCES
    assert len(parsed.references) <= parse._MAX_REFERENCES
    assert all(len(reference) <= parse._MAX_ID for reference in [*parsed.in_reply_to, *parsed.references])
    for addresses in (parsed.to, parsed.cc, parsed.reply_to):
        assert len(addresses) <= parse._MAX_ADDRESSES
    assert len(parsed.headers) <= parse._MAX_HEADERS
    assert len(parsed.defects) <= parse._MAX_DEFECTS
    assert len(parsed.attachments) <= max_parts
    assert all(len(attachment.content_type) <= MAX_CONTENT_TYPE for attachment in parsed.attachments)
    assert len(parsed.parse_error or "") <= 500


def check_not_salvaged(parsed: ParsedMessage) -> None:
    """PARSE_FAILED is only set when the parser raised internally and salvaged what it could: for
    the parser's own walk, any input that gets there is a bug to fix, not mail to flag."""
    assert MessageFlag.PARSE_FAILED not in parsed.flags, parsed.parse_error


def check_items_fit(items: list[dict[str, Any]]) -> None:
    """Items that DynamoDB accepts: serializable, each within the item limit, together within one
    transaction's limit (ingest writes a message's items in one transaction)."""
    sizes = [item_size(serialize(item)) for item in items]
    for item, size in zip(items, sizes, strict=True):
        assert size <= MAX_ITEM_BYTES, f"{item.get('entity')} item of {size} bytes"
    assert sum(sizes) <= MAX_TRANSACTION_BYTES, f"transaction of {sum(sizes)} bytes"


class _SafeHtmlChecker(HTMLParser):
    """Collects what sanitized HTML must never contain: tags, attributes and URL schemes outside
    the allow-lists of :mod:`mailroom.mail.html`, and comments."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in mail_html._ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
        allowed = mail_html._ALLOWED_ATTRIBUTES["*"] | mail_html._ALLOWED_ATTRIBUTES.get(tag, frozenset())
        if tag == "a":
            allowed |= {"rel"}
        for name, value in attrs:
            if name not in allowed:
                self.problems.append(f"attribute {name} on <{tag}>")
            elif name == "style" and value and _STYLE_URL.search(value):
                self.problems.append(f"CSS {value[:80]!r}")
            elif name in {"href", "src"} and value is not None:
                scheme = urlsplit(value.strip()).scheme.lower()
                if scheme not in mail_html._URL_SCHEMES:
                    self.problems.append(f"URL {value[:80]!r} in {name}")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_comment(self, data: str) -> None:
        self.problems.append("a comment")


def check_safe_html(sanitized: str) -> None:
    """Sanitized HTML has only allowed tags, attributes and URL schemes, and no CSS that loads."""
    checker = _SafeHtmlChecker()
    checker.feed(sanitized)
    checker.close()
    assert checker.problems == [], checker.problems[:5]
