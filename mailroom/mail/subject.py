"""Subject normalization for threading: "Re: AW: [support] Invoice" and "invoice" are one thread.

Mail clients prefix replies and forwards in their user's language and mailing lists add "[tag]"s,
so threading by subject compares what is left after all of those are peeled off.
"""

from __future__ import annotations

import re

# Reply and forward prefixes as mail clients write them, in many languages. Each only counts when
# a colon (ASCII or full-width) follows, so a subject that merely starts with "Re" is left alone.
_PREFIX_WORDS = (
    "re",  # Latin "in re": nearly universal
    "fw",
    "fwd",
    "aw",  # German Antwort
    "wg",  # German Weitergeleitet
    "sv",  # Danish, Norwegian, Swedish svar
    "vs",  # Finnish vastaus
    "vl",  # Finnish välitetty
    "fs",  # Norwegian/Swedish forward
    "antw",  # Dutch antwoord
    "antwort",
    "doorst",  # Dutch doorsturen
    "rif",  # Italian riferimento
    "r",  # Italian
    "i",  # Italian inoltro
    "rv",  # Spanish reenviar
    "enc",  # Portuguese encaminhar
    "res",  # Portuguese resposta
    "odp",  # Polish odpowiedź
    "pd",  # Polish przekazanie dalej
    "ynt",  # Turkish yanit
    "ilt",  # Turkish ilet
    "tr",  # French transfert
    "ref",
    "réf",
    "vá",  # Hungarian válasz
    "továbbítás",  # Hungarian forward
    "απ",  # Greek απάντηση
    "σχετ",  # Greek σχετικά
    "πρθ",  # Greek προώθηση
    "השב",  # Hebrew reply
    "הועבר",  # Hebrew forwarded
    "回复",  # Chinese (simplified) reply
    "回覆",  # Chinese (traditional) reply
    "转发",  # Chinese (simplified) forward
    "轉寄",  # Chinese (traditional) forward
    "答复",
    "返信",  # Japanese reply
    "転送",  # Japanese forward
)

_WORDS = "|".join(sorted((re.escape(word) for word in _PREFIX_WORDS), key=len, reverse=True))
# Any run of "Re:", "RE :", "Re[2]:", "Re(3):", "Re^2:", "回复" + full-width colon, and list
# "[tag]"s. No two whitespace quantifiers touch, so hostile subjects cannot make it backtrack badly.
_PREFIXES = re.compile(
    rf"^(?:\s*(?:(?:{_WORDS})(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:\uff1a]|\[[^\[\]]*\]))+",
    re.IGNORECASE,
)
# Old clients (Pine) append "(fwd)" instead of prefixing.
_SUFFIX = re.compile(r"\((?:fwd|fw)\)\s*$", re.IGNORECASE)


def normalize_subject(subject: str) -> str:
    """The subject without reply/forward prefixes and list tags, whitespace collapsed, case-folded.

    The result may be empty ("Re:" alone, or only a "[tag]"): callers should not thread on "".
    """
    text = _PREFIXES.sub("", _SUFFIX.sub("", subject), count=1)
    return " ".join(text.split()).casefold()
