"""Quoted history: the part of a reply that repeats earlier mail, folded away in the thread view.

Text: the quote starts at an attribution line ("On Mon, Dana wrote:", "Am ... schrieb ...:",
"-----Original Message-----", an Outlook "From: ... Sent: ..." block) or at a run of ``>`` lines
that reaches the end of the message (interleaved answers between quotes are left alone: folding
them would hide what the customer wrote).

HTML (already sanitized): every outermost ``<blockquote>`` is wrapped in ``<details>``, which
needs no script, so it works inside the sandboxed mail frame. Outlook quotes without a blockquote:
its reply header (bold "From:" then "Sent:", after a rule) starts the history, which runs to the
end of the document, so everything from that header on is folded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailroom.mail.html_scan import OffsetParser

_ATTRIBUTION = re.compile(
    r"^(?:"
    r"On\b.{0,300}\bwrote:?"  # English (Gmail, Apple Mail, Thunderbird)
    r"|Am\b.{0,300}\bschrieb\b.{0,200}:?"  # German
    r"|Le\b.{0,300}\ba écrit\s*:?"  # French
    r"|El\b.{0,300}\bescribió:?"  # Spanish
    r"|Il giorno\b.{0,300}\bha scritto:?"  # Italian
    r"|Op\b.{0,300}\bschreef\b.{0,200}:?"  # Dutch
    r"|-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Forwarded message)\s*-{2,}"
    r"|_{10,}"  # Outlook's rule above the quoted header block
    r")\s*$",
    re.IGNORECASE,
)
_OUTLOOK_FROM = re.compile(r"^(?:From|Von|De|Van):\s.+$", re.IGNORECASE)
_OUTLOOK_SENT = re.compile(r"^(?:Sent|Date|Gesendet|Envoyé|Verzonden):\s.+$", re.IGNORECASE)
MIN_BODY_CHARS = 1  # never fold a message down to nothing


@dataclass(frozen=True)
class SplitText:
    body: str
    quoted: str | None


def split_quoted_text(text: str) -> SplitText:
    """``body`` is what the sender wrote; ``quoted`` the history below it (None when there is none).
    A message that is *only* quote keeps it all as body."""
    lines = text.split("\n")
    start = _quote_start(lines)
    if start is None:
        return SplitText(text, None)
    body = "\n".join(lines[:start]).rstrip()
    quoted = "\n".join(lines[start:]).strip("\n")
    if len(body.strip()) < MIN_BODY_CHARS or not quoted.strip():
        return SplitText(text, None)
    return SplitText(body, quoted)


def _quote_start(lines: list[str]) -> int | None:
    for index, raw in enumerate(lines):
        line = raw.strip()
        if _ATTRIBUTION.match(line):
            return index
        if _OUTLOOK_FROM.match(line) and any(
            _OUTLOOK_SENT.match(x.strip()) for x in lines[index + 1 : index + 4]
        ):
            return index
    # A trailing block of "> " lines (blank lines allowed inside it).
    end = len(lines)
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    start = end
    while start > 0 and (lines[start - 1].lstrip().startswith(">") or not lines[start - 1].strip()):
        start -= 1
    while start < end and not lines[start].strip():
        start += 1
    if start < end and any(line.lstrip().startswith(">") for line in lines[start:end]):
        return start
    return None


class _BlockquoteSpans(OffsetParser):
    """Offsets of the outermost ``<blockquote>`` elements in a document."""

    def __init__(self, html: str) -> None:
        super().__init__(html)
        self.depth = 0
        self.start = 0
        self.spans: list[tuple[int, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "blockquote":
            if self.depth == 0:
                self.start = self.char_offset()
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "blockquote" and self.depth > 0:
            self.depth -= 1
            if self.depth == 0:
                self.spans.append((self.start, self.char_offset()))


# Outlook's reply header as the sanitizer leaves it: <b>From:</b> (or in a <span>) ... <b>Sent:</b>.
_BOLD_LABEL = r"<b>\s*(?:<span[^>]*>\s*)?"
_OUTLOOK_HEADER = re.compile(_BOLD_LABEL + r"(?:From|Von|De|Van|Da)\s*:", re.IGNORECASE)
_OUTLOOK_SENT_LABEL = re.compile(
    _BOLD_LABEL + r"(?:Sent|Gesendet|Envoyé|Date|Verzonden|Enviado|Inviato)\s*:", re.IGNORECASE
)
_OUTLOOK_SUBJECT_LABEL = re.compile(
    _BOLD_LABEL + r"(?:Subject|Betreff|Objet|Onderwerp|Asunto|Oggetto|Assunto)\s*:", re.IGNORECASE
)
_HEADER_SPAN = 1500  # characters from "From:" within which "Sent:" and "Subject:" must follow
_MAX_HEADER_CANDIDATES = 20
_BLOCK_START = re.compile(r"<(?:div|p|hr|table)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


def _outlook_history_start(html: str) -> int | None:
    """Where Outlook's quoted history begins: the block (or the rule just above it) holding its
    reply header. None when there is none, or when nothing the sender wrote precedes it."""
    for count, header in enumerate(_OUTLOOK_HEADER.finditer(html)):
        if count >= _MAX_HEADER_CANDIDATES:
            return None
        window = (header.end(), header.end() + _HEADER_SPAN)
        if not (_OUTLOOK_SENT_LABEL.search(html, *window) and _OUTLOOK_SUBJECT_LABEL.search(html, *window)):
            continue
        start = header.start()
        blocks = [block.start() for block in _BLOCK_START.finditer(html, max(0, start - 2000), start)]
        # Step back over the block starts (the rule, Outlook's bordered div) that only open it.
        while blocks and not _TAG.sub("", html[blocks[-1] : start]).strip():
            start = blocks.pop()
        written = _TAG.sub("", html[:start]).replace("&nbsp;", " ")
        return start if written.strip() else None
    return None


def fold_quoted_html(html: str, summary: str = "Show quoted text") -> str:
    """Wrap each outermost ``<blockquote>…</blockquote>`` in ``<details>`` (closed), and Outlook's
    quoted history from its reply header to the end."""
    history = _outlook_history_start(html)
    if history is not None:
        head = _fold_blockquotes(html[:history], summary)
        return f'{head}<details class="quoted"><summary>{summary}</summary>{html[history:]}</details>'
    return _fold_blockquotes(html, summary)


def _fold_blockquotes(html: str, summary: str) -> str:
    parser = _BlockquoteSpans(html)
    parser.feed(html)
    parser.close()
    if not parser.spans:
        return html
    out: list[str] = []
    position = 0
    for start, end_tag_at in parser.spans:
        close = html.find(">", end_tag_at)
        if close < 0:
            continue
        end = close + 1
        out.append(html[position:start])
        out.append(f'<details class="quoted"><summary>{summary}</summary>{html[start:end]}</details>')
        position = end
    out.append(html[position:])
    return "".join(out)


_REMOTE_IMAGE = re.compile(r"<img\b[^>]*\bsrc\s*=\s*[\"']?\s*https?:", re.IGNORECASE)


def has_remote_images(html: str | None) -> bool:
    return bool(html) and _REMOTE_IMAGE.search(html or "") is not None
