"""Read one raw RFC 5322 message into a ParsedMessage, whatever the bytes are.

Mail is written by every program ever made and by attackers, so this never raises: a message
that cannot be read comes back flagged PARSE_FAILED with what could be salvaged, and the raw
bytes stay in the raw store either way.

Why not ``email.message_from_bytes`` and ``walk()``: the stdlib feed parser builds the whole tree
recursively before any limit can apply (a deep nesting bomb exhausts the recursion limit), and
``policy.default`` raises on garbage headers and is slow on huge ones. Here the MIME structure is
walked iteratively over byte offsets of the one raw buffer (limits apply as the walk goes, bodies
are not copied), and the stdlib does what it is good at: parsing one header block (compat32 never
raises), RFC 2231 parameters, and uuencode. Charsets, RFC 2047 words, base64 and
quoted-printable are decoded here, leniently, because that is where real mail is broken.
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import mimetypes
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import Compat32
from email.utils import getaddresses, parsedate_tz
from functools import lru_cache
from typing import cast

from mailroom.mail import iso2022jp_ms
from mailroom.mail.classify import classify
from mailroom.mail.html import html_to_text
from mailroom.mail.model import Address, MessageFlag, ParsedAttachment, ParsedMessage
from mailroom.mail.references import capped_references
from mailroom.mail.trace import is_trace_header

_MAX_HEADER_VALUE = 8192  # characters kept of a decoded header value
_MAX_RAW_HEADER = 65536  # characters of a raw header value that are decoded at all
_MAX_HEADER_BLOCK = 256 * 1024  # bytes of one part's header block that are parsed
_MAX_PARAM_HEADER = 8192  # longer Content-Type/-Disposition: the stdlib's parameter parser is
# quadratic in the number of parameters, so such headers are read by a simple regex instead
_MAX_ADDRESS_HEADER = 16384  # characters of an address header given to getaddresses (~500 mailboxes)
_MAX_HEADERS = 1000  # top-level headers kept
_MAX_ADDRESSES = 1000  # addresses kept per header (To, Cc...)
_MAX_REFERENCES = 100
_MAX_ID = 255  # a longer Message-ID is garbage (and would not fit a table key comfortably)
_MAX_FILENAME = 200
_MAX_DEFECTS = 100
_SYNTHETIC_DOMAIN = "mailroom.invalid"


# --------------------------------------------------------------------------- results and notes


@dataclass(slots=True)
class _Notes:
    """What the parser tolerated and which limits it hit, collected while reading."""

    defects: list[str] = field(default_factory=list)
    flags: set[MessageFlag] = field(default_factory=set)

    def defect(self, text: str) -> None:
        if len(self.defects) < _MAX_DEFECTS and text not in self.defects:
            self.defects.append(text)

    def truncate(self, text: str) -> None:
        self.flags.add(MessageFlag.TRUNCATED)
        self.defect(text)


def parse_message(raw: bytes, *, max_parts: int = 500, max_depth: int = 20) -> ParsedMessage:
    """Parse raw RFC 5322 bytes. Never raises.

    ``max_parts`` bounds the MIME parts read and ``max_depth`` how deeply multiparts nest, so
    hostile structure costs bounded time and memory; hitting either flags TRUNCATED.
    """
    try:
        return _parse(raw, max_parts=max(1, max_parts), max_depth=max(0, max_depth))
    except Exception as exc:  # the contract: any bytes give a ParsedMessage
        return _salvage(raw, exc)


def synthesized_message_id(raw: bytes) -> str:
    """The stable stand-in for a missing Message-ID: the same bytes always give the same id."""
    try:
        digest = hashlib.sha256(raw).hexdigest()
    except TypeError:  # not bytes after all: still answer, never raise
        digest = hashlib.sha256(repr(raw).encode("utf-8", "replace")).hexdigest()
    return f"{digest[:32]}@{_SYNTHETIC_DOMAIN}"


def _parse(raw: bytes, *, max_parts: int, max_depth: int, read_enclosed: bool = True) -> ParsedMessage:
    notes = _Notes()
    data = _normalize_line_ends(raw)
    parts = _walk(data, max_parts=max_parts, max_depth=max_depth, notes=notes)
    headers = _Headers(list(parts[0].msg.raw_items()), notes)
    body = _read_bodies(data, parts, notes, read_enclosed=read_enclosed)
    message_id = _first_id(headers.raw("message-id"))
    if message_id is None:
        message_id = _synthesized_for(parts[0], data)
        notes.flags.add(MessageFlag.MESSAGE_ID_SYNTHESIZED)
    date = _parse_date(headers.first("date"))
    if date is None:
        notes.flags.add(MessageFlag.DATE_MISSING)
    notes.flags |= body.flags | classify(
        headers.decoded,
        content_types=[part.ctype for part in parts],
        report_types=_report_types(parts),
    )
    bounced = _bounced_message_id(data, parts) if MessageFlag.BOUNCE in notes.flags else None
    return ParsedMessage(
        message_id=message_id,
        bounced_message_id=bounced,
        in_reply_to=_message_ids(headers.raw("in-reply-to")),
        references=_message_ids(headers.raw("references")),
        subject=headers.first("subject") or "",
        date=date,
        from_=_first_address(headers.addresses("from")),
        sender=_first_address(headers.addresses("sender")),
        reply_to=headers.addresses("reply-to"),
        to=headers.addresses("to"),
        cc=headers.addresses("cc"),
        headers=headers.decoded,
        text=body.text,
        html=body.html,
        attachments=body.attachments,
        flags=notes.flags,
        defects=notes.defects,
    )


def _synthesized_for(top: _Part, data: bytes) -> str:
    """The stand-in Message-ID of a readable message: its headers but the trace headers, and its
    body. A relay's retry adds a Received line, and must still be the same message (a duplicate)."""
    headers = b"".join(
        f"{name}:{value}\n".encode("utf-8", "surrogateescape")
        for name, value in top.msg.raw_items()
        if not is_trace_header(name)
    )
    return synthesized_message_id(headers + b"\n" + data[top.body_start :])


def _salvage(raw: bytes, exc: Exception) -> ParsedMessage:
    """The PARSE_FAILED result: the reason, a synthesized id, and whatever text is readable."""
    reason = f"{type(exc).__name__}: {exc}"[:500]
    flags = {MessageFlag.PARSE_FAILED, MessageFlag.MESSAGE_ID_SYNTHESIZED}
    message_id = synthesized_message_id(raw)
    headers: list[tuple[str, str]] = []
    try:
        msg, body_start = _read_headers(raw, 0, len(raw), _Notes())
        headers = _Headers(list(msg.raw_items()), _Notes()).decoded
        text = raw[body_start:].decode("utf-8", "replace")
    except Exception:  # even the salvage failed: keep the whole raw as text
        text = _lossy_text(raw)
    try:
        subject = next((value for name, value in headers if name.lower() == "subject"), "")
        return ParsedMessage(
            message_id=message_id,
            subject=subject,
            headers=headers,
            text=text,
            flags=flags,
            parse_error=reason,
        )
    except Exception:  # a salvaged value the model rejects: the bare minimum
        return ParsedMessage(message_id=message_id, flags=flags, parse_error=reason)


def _lossy_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8", "replace")
    except Exception:  # not bytes after all
        return ""


def _normalize_line_ends(raw: bytes) -> bytes:
    """Old Mac mail ends lines with CR alone; the walker splits on LF."""
    if b"\n" not in raw and b"\r" in raw:
        return raw.replace(b"\r", b"\n")
    return raw


# --------------------------------------------------------------------------- charsets

# Declared names that say nothing about the bytes.
_NO_CHARSET = frozenset(
    {"", "unknown", "unknown-8bit", "x-unknown", "x-user-defined", "default", "8bit", "binary", "none"}
)
# Names Python lacks, and legacy charsets whose real-world use is their Windows superset.
_CHARSET_ALIASES: dict[str, tuple[str, ...]] = {
    "ks_c_5601-1987": ("cp949",),
    "ks_c_5601": ("cp949",),
    "ksc5601": ("cp949",),
    "euc-kr": ("cp949",),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "x-gbk": ("gb18030",),
    "euc-cn": ("gb18030",),
    "x-euc-cn": ("gb18030",),
    "big5": ("cp950", "big5hkscs"),
    "x-big5": ("cp950", "big5hkscs"),
    "shift_jis": ("cp932",),
    "shift-jis": ("cp932",),
    "sjis": ("cp932",),
    "x-sjis": ("cp932",),
    "windows-31j": ("cp932",),
    # Outlook's ISO-2022-JP carries Windows' extra characters (①, ㈱): see iso2022jp_ms.
    "iso-2022-jp": ("iso2022_jp_ext", "iso2022_jp_2", iso2022jp_ms.NAME),
    "csiso2022jp": ("iso2022_jp_ext", "iso2022_jp_2", iso2022jp_ms.NAME),
    "cp50220": (iso2022jp_ms.NAME,),
    "cp50221": (iso2022jp_ms.NAME,),
    "cp50222": (iso2022jp_ms.NAME,),
    # NEC's row 13 (①, ㈱) sits at the same places in JIS X 0213, which euc_jis_2004 reads.
    "euc-jp": ("euc_jp", "euc_jis_2004"),
    "x-euc-jp": ("euc_jp", "euc_jis_2004"),
    "iso-8859-1": ("cp1252",),
    "latin1": ("cp1252",),
    "latin-1": ("cp1252",),
    "iso-8859-9": ("cp1254",),
    "iso-8859-11": ("cp874",),
    "tis-620": ("cp874",),
    "iso-8859-8-i": ("iso8859_8",),
    "iso-8859-8-e": ("iso8859_8",),
    "iso-8859-6-i": ("iso8859_6",),
    "iso-8859-6-e": ("iso8859_6",),
    "x-mac-roman": ("mac_roman",),
    "x-mac-cyrillic": ("mac_cyrillic",),
    "koi8-ru": ("koi8_u",),
    "unicode-1-1-utf-8": ("utf-8",),
    "x-unicode20utf8": ("utf-8",),
}
_WINDOWS_CODEPAGE = re.compile(r"(?:x-)?(?:windows|win|cp|ms)[-_]?(\d{3,5})")
# Codecs that are not charsets: they would interpret the text, not decode it.
_UNSAFE_CODECS = frozenset(
    {"undefined", "unicode-escape", "raw-unicode-escape", "idna", "punycode", "mbcs", "oem"}
)


@lru_cache(maxsize=512)
def _codecs_for(declared: str) -> tuple[str, ...]:
    """Python codecs to try, best first, for a declared charset; () when it is unusable."""
    name = declared.strip().strip("\"'").lower()
    if len(name) > 64 or name in _NO_CHARSET or not (name.isascii() and name.isprintable()):
        return ()
    if name in _CHARSET_ALIASES:
        candidates: tuple[str, ...] = _CHARSET_ALIASES[name]
    elif match := _WINDOWS_CODEPAGE.fullmatch(name):
        candidates = (f"cp{match[1]}",)
    else:
        candidates = (name, name.removeprefix("x-"))
    found = (_known_codec(candidate) for candidate in candidates)
    return tuple(dict.fromkeys(codec for codec in found if codec))


def _known_codec(name: str) -> str | None:
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: NUL or unencodable characters in the name
        return None
    try:
        b"a".decode(info.name)  # LookupError for bytes-to-bytes codecs such as base64 or zlib
    except LookupError:
        return None
    except UnicodeError:
        pass  # a text codec that cannot decode "a" alone (utf-16): fine
    return None if info.name in _UNSAFE_CODECS else info.name


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, str | None]:
    """Text for ``data``; never fails. Returns the text and, when the declaration failed, why.

    Tries the declared charset (or its superset), then UTF-8, then UTF-8 with replacement
    characters when the bytes are mostly UTF-8 (a name cut mid-character, one stray byte), then
    cp1252, and finally latin-1, which decodes any byte.
    """
    chain = _codecs_for(declared or "")
    for codec in (*chain, "utf-8"):
        try:
            return _scrub(data.decode(codec)), _charset_note(declared, chain, codec)
        except (UnicodeError, LookupError):
            continue
    mostly = _mostly_utf8(data)
    if mostly is not None:
        return _scrub(mostly), _charset_note(declared, chain, "utf-8 with replacements")
    try:
        return _scrub(data.decode("cp1252")), _charset_note(declared, chain, "cp1252")
    except UnicodeError:
        return _scrub(data.decode("latin-1")), _charset_note(declared, chain, "latin-1")


# NUL, and the halves of a surrogate pair that some codecs (UTF-7) let through unpaired: text that
# cannot be stored as UTF-8 or shown in a page. Each becomes U+FFFD (the raw mail keeps the bytes).
_UNREPRESENTABLE = re.compile("[\x00\ud800-\udfff]")


def _scrub(text: str) -> str:
    return _UNREPRESENTABLE.sub("\ufffd", text)


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 text with U+FFFD for bad bytes, if valid multi-byte characters outnumber them 4:1.

    A cp1252 or latin-1 text is almost never valid UTF-8 by accident, so this only catches
    damaged UTF-8.
    """
    text = data.decode("utf-8", "replace")
    replaced = text.count("\ufffd")
    errors = replaced - data.decode("utf-8", "ignore").count("\ufffd")
    valid = len(text) - len(text.encode("ascii", "ignore")) - replaced
    return text if valid >= 4 * errors else None


def _charset_note(declared: str | None, chain: tuple[str, ...], used: str) -> str | None:
    """Why the declared charset was not used, for the defects list (None when it was)."""
    if used in chain or not declared or declared.strip().strip("\"'").lower() in _NO_CHARSET:
        return None
    if not chain:
        return f"unknown charset {declared[:40]!r}, read as {used}"
    return f"bytes invalid in charset {declared[:40]!r}, read as {used}"


def _to_bytes(value: str) -> bytes:
    """The bytes behind a parsed value: ASCII, surrogate-escaped 8-bit bytes or latin-1 chars."""
    try:
        return value.encode("latin-1", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace")


def _text(value: str) -> str:
    """A raw header or parameter value as text: 8-bit bytes read as UTF-8, else cp1252."""
    if value.isascii():
        return value
    return decode_bytes(_to_bytes(value))[0]


# --------------------------------------------------------------------------- headers

_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,75})\?([bBqQ])\?([^?]*)\?=")
_FOLD = re.compile(r"\r?\n[ \t]*")  # no leading [ \t]*: on a long run of blanks that backtracks
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_NOT_BASE64 = bytes(
    set(range(256)) - set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
)


def decode_header_value(raw: str) -> str:
    """A raw header value as display text: unfolded, 8-bit bytes and RFC 2047 words decoded.

    Control characters (including CR/LF smuggled in through encoded words) become spaces.
    """
    text = decode_words(_text(_FOLD.sub(" ", raw)))
    return _CONTROL.sub(" ", text).strip()


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded-words, leniently: also inside quotes and glued to other text.

    Whitespace between adjacent words is dropped, and adjacent words in the same charset are
    joined before decoding, so a multi-byte character split across two words survives.
    """
    if "=?" not in text:
        return text
    out: list[str] = []
    pending = bytearray()  # bytes of adjacent words in one charset, decoded together
    pending_charset = ""
    after_word = False
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[pos : match.start()]
        charset = match[1].split("*", 1)[0].lower()  # RFC 2231 may add "*language"
        data = _decode_word(match[2], match[3])
        adjacent = after_word and (not gap or gap.isspace())
        if data is not None and adjacent and charset == pending_charset:
            pending += data
        else:
            out.append(_flush(pending, pending_charset))
            if not (adjacent and data is not None):
                out.append(gap)
            if data is None:
                out.append(match[0])
            else:
                pending += data
            pending_charset = charset
        after_word = data is not None
        pos = match.end()
    out.append(_flush(pending, pending_charset))
    out.append(text[pos:])
    return "".join(out)


def _flush(pending: bytearray, charset: str) -> str:
    text = decode_bytes(bytes(pending), charset)[0] if pending else ""
    pending.clear()
    return text


def _decode_word(encoding: str, payload: str) -> bytes | None:
    data = payload.encode("ascii", "ignore")
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    return _decode_base64(data)[0]


def _decode_base64(data: bytes) -> tuple[bytes, bool]:
    """Lenient base64: junk characters dropped, padding repaired. Returns (bytes, was it clean)."""
    cleaned = data.translate(None, _NOT_BASE64)
    clean = len(cleaned) == len(data.translate(None, b" \t\r\n"))
    body = cleaned.rstrip(b"=")
    if b"=" in body:  # padding in the middle: separately encoded chunks were concatenated
        chunks = [chunk for chunk in body.split(b"=") if chunk]
        return b"".join(_decode_base64_chunk(chunk) for chunk in chunks), False
    return _decode_base64_chunk(body), clean and len(body) % 4 != 1


def _decode_base64_chunk(chunk: bytes) -> bytes:
    if len(chunk) % 4 == 1:
        chunk = chunk[:-1]  # a lone trailing character carries no whole byte
    try:
        return binascii.a2b_base64(chunk + b"=" * (-len(chunk) % 4))
    except binascii.Error:
        return b""


class _Headers:
    """The top-level headers: raw values for structured parsing, decoded ones for display."""

    def __init__(self, items: list[tuple[str, str]], notes: _Notes) -> None:
        if len(items) > _MAX_HEADERS:
            notes.truncate(f"only the first {_MAX_HEADERS} of {len(items)} headers kept")
            items = items[:_MAX_HEADERS]
        self._raw = [(name, _clip_raw(name, value, notes)) for name, value in items]
        self.decoded = [(name, _clip(name, decode_header_value(value), notes)) for name, value in self._raw]

    def raw(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self._raw if key.lower() == wanted]

    def first(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.decoded if key.lower() == wanted), None)

    def addresses(self, name: str) -> list[Address]:
        found: list[Address] = []
        for value in self.raw(name):
            found.extend(_addresses(value))
        return found[:_MAX_ADDRESSES]


def _clip_raw(name: str, value: str, notes: _Notes) -> str:
    if len(value) <= _MAX_RAW_HEADER:
        return value
    notes.defect(f"header {name} longer than {_MAX_RAW_HEADER} characters: only its start read")
    return value[:_MAX_RAW_HEADER]


def _clip(name: str, value: str, notes: _Notes) -> str:
    if len(value) <= _MAX_HEADER_VALUE:
        return value
    notes.defect(f"header {name} clipped to {_MAX_HEADER_VALUE} characters")
    return value[:_MAX_HEADER_VALUE]


# --------------------------------------------------------------------------- addresses, ids, date


def _addresses(raw: str) -> list[Address]:
    """Mailboxes in an address header. Names are decoded after splitting, so a decoded name
    with a comma ("Doe, Jane") cannot split one address into two."""
    text = _text(_FOLD.sub(" ", raw))
    if len(text) > _MAX_ADDRESS_HEADER:  # cut at a comma: never keep half an address
        text = text[: max(0, text.rfind(",", 0, _MAX_ADDRESS_HEADER))]
    try:
        pairs = getaddresses([text])
    except Exception:  # the stdlib recurses into nested comments: "((((" can exhaust the stack
        return []
    found: list[Address] = []
    for name, address in pairs:
        email = _normalize_address(address)
        if email:
            display = _CONTROL.sub(" ", decode_words(name)).strip()
            found.append(Address(email=email, name=display))
    return found


def _normalize_address(address: str) -> str:
    local, at, domain = _CONTROL.sub("", address).strip().strip("<>").rpartition("@")
    if not (at and local and domain) or any(ch.isspace() for ch in local + domain):
        return ""
    return f"{local}@{domain.lower()}"


def _first_address(addresses: list[Address]) -> Address | None:
    return addresses[0] if addresses else None


# "<id>", or any other token (kept when it has an "@"): matched in linear time on any input.
_MESSAGE_ID = re.compile(r"<([^<>]*)>|[^\s<>,;]+")


def _message_ids(values: Iterable[str]) -> list[str]:
    """Every Message-ID in In-Reply-To / References values, deduplicated, order kept.

    More than 100 keeps the first (the thread's root) and the last 99 (the nearest ancestors).
    """
    found: dict[str, None] = {}
    for value in values:
        for match in _MESSAGE_ID.finditer(_text(value)):
            message_id = _clean_id(match[1] if match[1] is not None else match[0].strip("()\"'"))
            if message_id:
                found[message_id] = None
    return capped_references(list(found), _MAX_REFERENCES)


def _first_id(values: list[str]) -> str | None:
    ids = _message_ids(values[:1])
    return ids[0] if ids else None


def _clean_id(value: str) -> str | None:
    """A Message-ID without brackets and whitespace; None when it is not one."""
    cleaned = "".join(value.split()).strip("<>")
    local, at, domain = cleaned.rpartition("@")
    if not (at and local and domain) or len(cleaned) > _MAX_ID or not cleaned.isprintable():
        return None
    return cleaned


# "GMT+0200", "UTC+05:30", "GMT+2" (JavaScript's Date.toString(), some webmail): the stdlib reads
# the zone as GMT and drops the offset.
_NAMED_OFFSET = re.compile(r"\b(?:GMT|UTC|UT)\s*([+-])(\d{1,2})(?::?(\d{2}))?\b", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")
# Zone names that mail software writes and the stdlib does not know (it reads them as UTC).
# Ambiguous names (IST, CST outside North America) are left to the stdlib.
_ZONE_NAMES = {
    "CET": "+0100",
    "CEST": "+0200",
    "MET": "+0100",
    "MEST": "+0200",
    "WET": "+0000",
    "WEST": "+0100",
    "BST": "+0100",
    "EET": "+0200",
    "EEST": "+0300",
    "MSK": "+0300",
    "JST": "+0900",
    "KST": "+0900",
    "HKT": "+0800",
    "SGT": "+0800",
    "AWST": "+0800",
    "ACST": "+0930",
    "AEST": "+1000",
    "AEDT": "+1100",
    "NZST": "+1200",
    "NZDT": "+1300",
    "AKST": "-0900",
    "AKDT": "-0800",
    "HST": "-1000",
    "BRT": "-0300",
}
_ZONE_NAME = re.compile(r"\b(" + "|".join(_ZONE_NAMES) + r")\s*$", re.IGNORECASE)


def _normalize_zone(value: str) -> str:
    """A Date value with its zone written as a numeric offset where the stdlib would misread it."""
    value = _COMMENT.sub(" ", value).strip()
    named = _NAMED_OFFSET.search(value)
    if named is not None:
        sign, hours, minutes = named.groups()
        return f"{value[: named.start()]}{sign}{int(hours):02d}{minutes or '00'}{value[named.end() :]}"
    return _ZONE_NAME.sub(lambda match: _ZONE_NAMES[match[1].upper()], value)


def _parse_date(value: str | None) -> datetime | None:
    """A timezone-aware datetime, UTC when the zone is missing; None for garbage."""
    if not value:
        return None
    try:
        fields = parsedate_tz(_normalize_zone(value[:256]))
        if fields is None:
            return None
        offset = fields[9]
        zone = UTC if offset is None else timezone(timedelta(seconds=offset))
        year, month, day, hour, minute, second = fields[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except (ValueError, TypeError, OverflowError, IndexError):
        return None


# --------------------------------------------------------------------------- MIME structure


class _RawPolicy(Compat32):
    """compat32, but header values come back exactly as parsed (8-bit bytes as surrogates), so
    RFC 2231 parameters keep their bytes and our own decoding sees the original."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


_POLICY = _RawPolicy()
_HEADER_PARSER = BytesHeaderParser(policy=_POLICY)
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
# RFC 6838 4.2: type and subtype names are at most 127 characters each.
_MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


_ParamValue = str | tuple[str | None, str | None, str]


@dataclass(slots=True)
class _Span:
    """A part not yet read: where it is and what its parents say about it."""

    start: int
    end: int
    depth: int
    default_type: str = "text/plain"
    related_child: bool = False  # inside multipart/related but not its root: an inline resource
    alt_group: int = 0  # number of the outermost multipart/alternative around it, 0 if none


@dataclass(slots=True)
class _Part:
    msg: Message
    ctype: str
    body_start: int
    end: int
    number: int  # 1-based, in document order; 1 is the message itself
    span: _Span


def _walk(data: bytes, *, max_parts: int, max_depth: int, notes: _Notes) -> list[_Part]:
    """Every part in document order, read iteratively: no recursion, bounded by the limits."""
    parts: list[_Part] = []
    stack = [_Span(0, len(data), 0)]
    while stack:
        if len(parts) >= max_parts:
            notes.truncate(f"stopped after {max_parts} MIME parts")
            break
        span = stack.pop()
        part = _open_part(data, span, len(parts) + 1, notes)
        parts.append(part)
        if part.ctype.startswith("multipart/"):
            children = _children(data, part, max_depth, max_parts - len(parts), notes)
            stack.extend(reversed(children))
    return parts


def _open_part(data: bytes, span: _Span, number: int, notes: _Notes) -> _Part:
    msg, body_start = _read_headers(data, span.start, span.end, notes)
    for defect in msg.defects:
        notes.defect(f"part {number}: {type(defect).__name__}")
    ctype = _content_type(msg, span.default_type, number, notes)
    return _Part(msg, ctype, body_start, span.end, number, span)


def _read_headers(data: bytes, start: int, end: int, notes: _Notes) -> tuple[Message, int]:
    """Parse the header block at ``start``; return it and where the body begins."""
    if data.startswith(b"\n", start, end) or data.startswith(b"\r\n", start, end):
        header_end = start
        body_start = start + (1 if data[start] == 0x0A else 2)
    else:
        limit = min(end, start + _MAX_HEADER_BLOCK)
        blank = _BLANK_LINE.search(data, start, limit)
        if blank is not None:
            header_end, body_start = blank.start(), blank.end()
        elif limit < end:
            cut = data.rfind(b"\n", start, limit)
            header_end = body_start = cut + 1 if cut > start else limit
            notes.truncate(f"header block longer than {_MAX_HEADER_BLOCK} bytes: only its start read")
        else:
            header_end = body_start = end
    msg = _HEADER_PARSER.parsebytes(data[start:header_end])
    leftover = _leftover(msg)
    if leftover:
        # A line that is not a header ended the header block early: the rest is body.
        body_start = header_end - len(_to_bytes(leftover))
        msg.set_payload("")
    return msg, body_start


def _leftover(msg: Message) -> str:
    """What the header parser read past the headers (the stdlib keeps it as the payload).

    Read from the instance: get_payload() would decode it with the part's declared charset, and
    a hostile declaration (NUL bytes, undecodable name) makes that raise.
    """
    payload = vars(msg).get("_payload")
    return payload if isinstance(payload, str) else ""


def _content_type(msg: Message, default: str, number: int, notes: _Notes) -> str:
    """The lower-case type/subtype; a garbage declaration is guessed from the filename."""
    value = msg.get("content-type")
    if value is None:
        return _guess_type(msg) or default
    major, slash, minor = _text(str(value)[:1000]).split(";", 1)[0].lower().partition("/")
    major_words, minor_words = major.split(), minor.split()
    token = f"{major_words[-1]}/{minor_words[0]}" if slash and major_words and minor_words else major
    if _MIME_TYPE.fullmatch(token):
        return token
    notes.defect(f"part {number}: invalid Content-Type {token.strip()[:40]!r}")
    return _guess_type(msg) or default


def _guess_type(msg: Message) -> str | None:
    name = _param(msg, "filename", "content-disposition") or _param(msg, "name", "content-type")
    return _MIME.guess_type(name, strict=False)[0] if name else None


def _children(data: bytes, part: _Part, max_depth: int, budget: int, notes: _Notes) -> list[_Span]:
    """The spans of a multipart's children; a multipart that cannot be split becomes text."""
    span = part.span
    if span.depth >= max_depth:
        notes.truncate(f"part {part.number}: nested deeper than {max_depth} levels, not read")
        return []
    boundary = _param(part.msg, "boundary", "content-type")
    spans = _split(data, part.body_start, part.end, boundary, budget) if boundary else None
    if not spans:
        notes.defect(f"part {part.number}: multipart without {'parts' if boundary else 'boundary'}")
        part.ctype = "text/plain"  # salvage the body as text rather than lose it
        return []
    related = part.ctype == "multipart/related"
    root = _related_root(data, part, spans) if related else 0
    alt_group = span.alt_group or (part.number if part.ctype == "multipart/alternative" else 0)
    default = "message/rfc822" if part.ctype == "multipart/digest" else "text/plain"
    return [
        _Span(
            start, end, span.depth + 1, default, span.related_child or (related and index != root), alt_group
        )
        for index, (start, end) in enumerate(spans)
    ]


def _related_root(data: bytes, part: _Part, spans: list[tuple[int, int]]) -> int:
    """Which child of a multipart/related is the document: the one whose Content-ID its ``start``
    parameter names, else the first (RFC 2387 3.2)."""
    start = _param(part.msg, "start", "content-type")
    wanted = "".join(start.split()).strip("<>") if start else ""
    if not wanted:
        return 0
    for index, (begin, end) in enumerate(spans):
        msg, _ = _read_headers(data, begin, end, _Notes())
        if _content_id(msg) == wanted:
            return index
    return 0


def _split(data: bytes, start: int, end: int, boundary: str, budget: int) -> list[tuple[int, int]]:
    """Byte ranges between the boundary lines of a multipart body (at most ``budget`` + 1).

    A missing close delimiter ends the last part at the end of the body, as mail clients do.
    """
    delimiter = re.compile(re.escape(b"--" + _to_bytes(boundary)) + rb"(--)?[ \t]*(?:\r?\n|\Z)")
    ranges: list[tuple[int, int]] = []
    part_start: int | None = None
    pos = start
    while len(ranges) <= budget:
        match = delimiter.search(data, pos, end)
        if match is None:
            break
        pos = match.end()
        if match.start() > start and data[match.start() - 1] != 0x0A:
            continue  # not at the start of a line: part of the content
        if part_start is not None and match.start() > part_start:
            ranges.append((part_start, _line_end_before(data, match.start(), part_start)))
        if match[1]:
            return ranges
        part_start = match.end()
    if part_start is not None and part_start < end and len(ranges) <= budget:
        ranges.append((part_start, end))
    return ranges


def _line_end_before(data: bytes, pos: int, floor: int) -> int:
    """``pos`` minus the line break before it: that break belongs to the boundary (RFC 2046)."""
    if pos > floor and data[pos - 1] == 0x0A:
        pos -= 1
        if pos > floor and data[pos - 1] == 0x0D:
            pos -= 1
    return pos


def _param(msg: Message, name: str, header: str) -> str | None:
    """A header parameter, decoded: RFC 2231 (charset'lang'%XX, continuations) preferred over a
    plain value, RFC 2047 words and raw 8-bit bytes decoded too. None when absent."""
    raw = msg.get(header)
    if raw is None:
        return None
    if len(str(raw)) > _MAX_PARAM_HEADER:
        return _param_fallback(str(raw)[:_MAX_PARAM_HEADER], name)
    try:
        # typeshed says str values; RFC 2231 parameters come back as (charset, language, text).
        params = cast(list[tuple[str, _ParamValue]], msg.get_params(header=header) or [])
    except Exception:  # decode_params trips over mixed continuation styles: read it plainly
        return _param_fallback(str(raw), name)
    plain: str | None = None
    for key, value in params:
        if key.lower() != name:
            continue
        if isinstance(value, tuple):
            charset, _language, text = value
            return decode_bytes(_to_bytes(text), charset or None)[0]
        plain = plain if plain is not None else value
    return decode_words(_text(plain)) if plain is not None else None


def _param_fallback(value: str, name: str) -> str | None:
    """The first ``name=value`` parameter, plainly (no RFC 2231 decoding): for broken headers."""
    pattern = rf"""(?:^|;)\s*{re.escape(name)}\*?\s*=\s*(?:"([^"]*)"|([^;\s]*))"""
    match = re.search(pattern, value, re.IGNORECASE)
    return decode_words(_text(match[1] if match[1] is not None else match[2])) if match else None


# Where a bounce returns the mail that bounced: its headers, or all of it.
_RETURNED_PARTS = frozenset(
    {
        "text/rfc822-headers",
        "message/rfc822-headers",
        "message/global-headers",
        "message/rfc822",
        "message/global",
    }
)


def _bounced_message_id(data: bytes, parts: list[_Part]) -> str | None:
    """The Message-ID in a bounce's returned headers (RFC 3462/6522), if it has any."""
    for part in parts[1:]:
        if part.ctype in _RETURNED_PARTS:
            returned, _ = _read_headers(data, part.body_start, part.end, _Notes())
            found = _first_id([str(value) for value in returned.get_all("message-id", [])])
            if found is not None:
                return found
    return None


def _report_types(parts: list[_Part]) -> list[str]:
    found = []
    for part in parts:
        if part.ctype == "multipart/report":
            found.append((_param(part.msg, "report-type", "content-type") or "").strip().lower())
    return found


# --------------------------------------------------------------------------- bodies and attachments

_MIME = mimetypes.MimeTypes()  # only Python's built-in table: the same answer on every host
_EXTENSIONS = {
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/news": ".eml",
    "message/delivery-status": ".txt",
    "message/global-delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "message/feedback-report": ".txt",
    "text/rfc822-headers": ".txt",
    "text/plain": ".txt",
    "text/calendar": ".ics",
    "text/vcard": ".vcf",
    "text/x-vcard": ".vcf",
    "image/jpeg": ".jpg",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/ms-tnef": ".dat",
}
_ENCLOSED = frozenset({"message/rfc822", "message/global", "message/news"})
_BODY_TYPES = frozenset({"text/plain", "text/html"})
# Machine reports worth reading as text when a message has no text/plain or text/html body.
_FALLBACK_TEXT = frozenset(
    {
        "message/delivery-status",
        "message/global-delivery-status",
        "message/disposition-notification",
        "message/feedback-report",
    }
)
_TRAILING_BLANKS = re.compile(rb"[ \t]+(\r?\n|\Z)")
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_UUENCODE = frozenset({"x-uuencode", "uuencode", "uue", "x-uue"})


@dataclass(slots=True)
class _Bodies:
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    fallback: str = ""
    forwarded: bytes | None = None  # an enclosed message standing in for the fallback text
    attachments: list[ParsedAttachment] = field(default_factory=list)
    flags: set[MessageFlag] = field(default_factory=set)
    text: str = ""
    html: str | None = None


def _read_bodies(data: bytes, parts: list[_Part], notes: _Notes, *, read_enclosed: bool) -> _Bodies:
    """Choose the text and HTML bodies; everything else becomes an attachment.

    In a multipart/alternative only the first text/plain and the first text/html count: the
    others are renderings of the same content. Inline text parts of a multipart/mixed (Apple
    Mail's text, image, text) are joined. A mail with neither shows the first readable
    attachment-like part instead (a report, a named inline text, a forwarded message's text),
    which stays an attachment too.
    """
    bodies = _Bodies()
    taken: set[tuple[int, str]] = set()
    for part in parts:
        if part.ctype.startswith("multipart/"):
            continue
        payload = _transfer_decode(data, part, notes)
        if _is_body(part, single=len(parts) == 1):
            key = (part.span.alt_group, part.ctype)
            if part.span.alt_group and key in taken:
                continue
            taken.add(key)
            target = bodies.texts if part.ctype == "text/plain" else bodies.htmls
            target.append(_part_text(part, payload, notes))
            continue
        undecided = not bodies.fallback and bodies.forwarded is None
        if undecided and _is_fallback_text(part):
            bodies.fallback = _part_text(part, payload, notes)
        elif undecided and read_enclosed and part.ctype in _ENCLOSED:
            bodies.forwarded = payload  # read only if the mail turns out to have no body
        bodies.attachments.append(_attachment(part, payload, len(bodies.attachments) + 1))
    _finish_bodies(bodies)
    return bodies


def _finish_bodies(bodies: _Bodies) -> None:
    text = "\n".join(bodies.texts)
    bodies.html = "\n".join(bodies.htmls) if bodies.htmls else None
    if not text.strip() and bodies.html is not None:
        text = html_to_text(bodies.html)
        bodies.flags.add(MessageFlag.HTML_ONLY)
    if text.strip() or bodies.html is not None:
        bodies.text = text
    elif bodies.forwarded is not None:
        bodies.text = _forwarded_text(bodies.forwarded)
    else:
        bodies.text = bodies.fallback


def _is_body(part: _Part, *, single: bool) -> bool:
    if part.ctype not in _BODY_TYPES or part.span.related_child:
        return False
    attached = _disposition(part.msg) == "attachment"
    named = _filename(part.msg) is not None
    # A message that is one text part is its body unless it is plainly a named attachment.
    return not (attached and named) if single else not (attached or named)


def _is_fallback_text(part: _Part) -> bool:
    """Readable as the text of a mail that has no text/plain or text/html body: reports, other
    text/* parts, anything that declares a charset (S/MIME's "application/plain"), and a named
    plain text that is not an attachment ("body.txt" inline)."""
    if _disposition(part.msg) == "attachment":
        return False
    if _filename(part.msg) is not None:
        return part.ctype == "text/plain"
    return (
        part.ctype in _FALLBACK_TEXT
        or part.ctype.startswith("text/")
        or _param(part.msg, "charset", "content-type") is not None
    )


def _part_text(part: _Part, payload: bytes, notes: _Notes) -> str:
    charset = _param(part.msg, "charset", "content-type")
    text, problem = decode_bytes(payload, charset)
    if problem:
        notes.defect(f"part {part.number}: {problem}")
    return text.replace("\r\n", "\n")


def _transfer_decode(data: bytes, part: _Part, notes: _Notes) -> bytes:
    """The part's body with its Content-Transfer-Encoding undone; raw bytes when unknown."""
    body = data[part.body_start : part.end]
    encoding = _text(str(part.msg.get("content-transfer-encoding", ""))).split(";")[0].strip().lower()
    if encoding == "base64":
        decoded, clean = _decode_base64(body)
        if not clean:
            notes.defect(f"part {part.number}: damaged base64")
        return decoded
    if encoding == "quoted-printable":
        # RFC 2045 6.7: whitespace at the end of a line was added in transit and is removed
        # before decoding, so "= " + line break is still a soft line break.
        return binascii.a2b_qp(_TRAILING_BLANKS.sub(rb"\1", body))
    if encoding in _UUENCODE:
        return _uudecode(part.msg, body)
    return body


def _uudecode(msg: Message, body: bytes) -> bytes:
    """uuencode, through the stdlib; the undecoded body when it is not valid uuencode."""
    msg.set_payload(body.decode("ascii", "surrogateescape"))
    try:
        decoded = msg.get_payload(decode=True)
    except Exception:  # the stdlib's uu reader trusts the "begin" line
        decoded = None
    msg.set_payload("")
    return decoded if isinstance(decoded, bytes) else body


def _disposition(msg: Message) -> str:
    value = msg.get("content-disposition")
    return _text(str(value)).split(";", 1)[0].strip().lower() if value is not None else ""


def _filename(msg: Message) -> str | None:
    name = _param(msg, "filename", "content-disposition") or _param(msg, "name", "content-type")
    return (safe_filename(name) or None) if name else None


def safe_filename(name: str) -> str:
    """A filename that is safe to offer for download: no directories (/ or \\), no control or
    bidi-override characters, no leading dots, at most 200 characters (keeping the extension)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch not in _BIDI_CONTROLS and unicodedata.category(ch) != "Cc")
    base = " ".join(base.split()).strip(" .")
    if len(base) <= _MAX_FILENAME:
        return base
    stem, dot, extension = base.rpartition(".")
    if dot and 0 < len(extension) <= 16:
        return f"{stem[: _MAX_FILENAME - len(extension) - 1].rstrip(' .')}.{extension}"
    return base[:_MAX_FILENAME]


def _attachment(part: _Part, payload: bytes, ordinal: int) -> ParsedAttachment:
    filename = _filename(part.msg)
    if filename is None and part.ctype in _ENCLOSED:
        filename = _enclosed_filename(payload)
    content_id = _content_id(part.msg)
    inline = part.span.related_child or (_disposition(part.msg) == "inline" and content_id is not None)
    return ParsedAttachment(
        filename=filename or f"attachment-{ordinal}{_extension(part.ctype)}",
        content_type=part.ctype,
        size=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
        content_id=content_id,
        inline=inline,
        data=payload,
    )


def _forwarded_text(payload: bytes) -> str:
    """A forwarded message (message/rfc822) as text, the way mail clients quote a forward: its
    sender, date and subject, then its text. Its own enclosed messages are not opened."""
    try:
        inner = _parse(payload, max_parts=100, max_depth=10, read_enclosed=False)
    except Exception:  # never raise: the part stays an attachment either way
        return ""
    sender = inner.from_
    lines = ["---------- Forwarded message ----------"]
    if sender is not None:
        lines.append(f"From: {sender.name} <{sender.email}>" if sender.name else f"From: {sender.email}")
    date = next((value for name, value in inner.headers if name.lower() == "date"), "")
    lines += [f"Date: {date}" if date else "", f"Subject: {inner.subject}" if inner.subject else ""]
    heading = "\n".join(line for line in lines if line)
    return f"{heading}\n\n{inner.text}" if inner.text.strip() else heading


def _enclosed_filename(payload: bytes) -> str:
    """The name of a forwarded message's file: its subject + ".eml", else "forwarded.eml"."""
    msg, _ = _read_headers(payload, 0, len(payload), _Notes())
    subject = next((value for name, value in msg.raw_items() if name.lower() == "subject"), "")
    # A subject is not a path: "Q3/Q4" becomes "Q3-Q4", not "Q4".
    title = re.sub(r"[/\\]", "-", decode_header_value(subject[:_MAX_RAW_HEADER]))
    stem = safe_filename(title)[: _MAX_FILENAME - 4]
    return f"{stem.rstrip(' .') or 'forwarded'}.eml"


def _content_id(msg: Message) -> str | None:
    value = msg.get("content-id")
    if value is None:
        return None
    cleaned = "".join(_text(str(value)).split()).strip("<>")
    return cleaned[:_MAX_ID] if cleaned else None


def _extension(content_type: str) -> str:
    return _EXTENSIONS.get(content_type) or _MIME.guess_extension(content_type, strict=False) or ".bin"
