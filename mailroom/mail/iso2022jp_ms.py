"""ISO-2022-JP as Windows writes it (Microsoft's CP50220/CP50221), registered as a Python codec.

Outlook labels Japanese mail "iso-2022-jp" but uses the characters of Windows' Shift_JIS (cp932):
NEC's row 13 (①, ㈱, Ⅱ) and the IBM extensions. Python's ISO-2022-JP codecs refuse those bytes,
and ㈱ is in nearly every Japanese company's signature. This decoder follows the escape sequences
and reads each two-byte JIS X 0208 character through cp932, which is a superset of it; half-width
katakana (``ESC ( I`` and SO/SI) are read as cp932's single-byte kana. Anything else (JIS X 0212,
a stray 8-bit byte) is an error, so the caller falls back as for any undecodable part.
Decoding only: Mailroom never writes ISO-2022-JP.
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Buffer

NAME = "mailroom_iso2022jp_ms"

_ESC = 0x1B
_SO, _SI = 0x0E, 0x0F
# Escape sequence -> the character set that follows it.
_SETS = {
    b"(B": "ascii",
    b"(J": "ascii",  # JIS X 0201 Roman: ASCII but for yen and overline, as every client reads it
    b"(I": "kana",
    b"$@": "kanji",
    b"$B": "kanji",
    b"&@$B": "kanji",  # JIS X 0208-1990's announcer, then ESC $ B
}


def _to_shift_jis(first: int, second: int) -> bytes:
    """The Shift_JIS bytes of one JIS X 0208 row/cell pair (each 0x21..0x7E)."""
    lead = ((first - 0x21) >> 1) + 0x81
    if lead > 0x9F:
        lead += 0x40
    if first % 2:  # odd rows: the first half of the lead byte's range
        trail = second + 0x1F
        if trail >= 0x7F:
            trail += 1
    else:
        trail = second + 0x7E
    return bytes((lead, trail))


def _escape_at(data: bytes, pos: int) -> tuple[str, int] | None:
    for sequence, charset in _SETS.items():
        if data.startswith(sequence, pos + 1):
            return charset, pos + 1 + len(sequence)
    return None


def decode(data: Buffer, errors: str = "strict", /) -> tuple[str, int]:
    """Decode Windows-flavoured ISO-2022-JP; raises UnicodeDecodeError on what it is not."""
    raw = bytes(data)
    out: list[str] = []
    charset, shifted = "ascii", False
    pos = 0

    def fail(start: int, reason: str) -> UnicodeDecodeError:
        return UnicodeDecodeError(NAME, raw, start, start + 1, reason)

    while pos < len(raw):
        byte = raw[pos]
        if byte == _ESC:
            found = _escape_at(raw, pos)
            if found is None:
                raise fail(pos, "unsupported escape sequence")
            charset, pos = found
            continue
        if byte in (_SO, _SI):
            shifted = byte == _SO
            pos += 1
            continue
        if byte >= 0x80:
            raise fail(pos, "8-bit byte in a 7-bit encoding")
        if byte < 0x21:  # controls, line breaks and space read the same in every set
            out.append(chr(byte))
            pos += 1
            continue
        if shifted or charset == "kana":
            if not 0x21 <= byte <= 0x5F:
                raise fail(pos, "not a half-width katakana")
            out.append(bytes((byte + 0x80,)).decode("cp932"))
            pos += 1
        elif charset == "kanji":
            if pos + 1 >= len(raw) or not (0x21 <= byte <= 0x7E and 0x21 <= raw[pos + 1] <= 0x7E):
                raise fail(pos, "incomplete two-byte character")
            try:
                out.append(_to_shift_jis(byte, raw[pos + 1]).decode("cp932"))
            except UnicodeDecodeError:
                raise fail(pos, "no such character in Windows' Japanese set") from None
            pos += 2
        else:
            out.append(chr(byte))
            pos += 1
    return "".join(out), len(raw)


def _encode(text: str, errors: str = "strict", /) -> tuple[bytes, int]:
    raise UnicodeEncodeError(NAME, text, 0, len(text), "decoding only")


def _search(name: str) -> codecs.CodecInfo | None:
    if name != NAME:
        return None
    return codecs.CodecInfo(name=NAME, encode=_encode, decode=decode)


codecs.register(_search)
