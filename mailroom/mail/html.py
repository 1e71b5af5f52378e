"""HTML from strangers: make it safe to show (nh3) and readable as plain text.

Inbound HTML is attacker-controlled. ``sanitize_html`` keeps the formatting that mail relies on
(tables, fonts, inline colours) and drops everything that can run code, load frames or submit
forms. ``html_to_text`` gives HTML-only mail a text body for previews, search and quoting.

Both run in linear time on hostile input, which neither tool does alone (measured on this
Python 3.11 and nh3 0.3.8): ``html.parser`` rescans the rest of the buffer for every unterminated
construct (400 KB of "<a" took minutes), and nh3 slows down quadratically with nesting depth
(100,000 nested <ul>: 36 s) and with the number of character references in one text run (1 MB of
"&": 11 s). So a small linear tokenizer below reads the text, measures nesting before nh3 runs,
and cuts long text runs with empty comments (which nh3 strips) before each 64th "&".
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import nh3

_ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "address", "b", "bdi", "bdo", "big", "blockquote", "br", "caption", "center",
        "cite", "code", "col", "colgroup", "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2",
        "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q",
        "s", "samp", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td",
        "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var", "wbr",
    }
)  # fmt: skip
# Dropped together with their content: code, frames, embedded objects, and text nobody should see.
_DROPPED_WITH_CONTENT = frozenset(
    {
        "script", "style", "title", "iframe", "frame", "frameset", "noframes", "object", "embed",
        "applet", "noscript", "template", "svg", "math", "select", "textarea", "button",
    }
)  # fmt: skip
_CELL_ATTRIBUTES = frozenset({"colspan", "rowspan", "width", "height", "bgcolor", "nowrap", "scope"})
_ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    # "rel" is set by nh3 itself (link_rel); "class" and "id" could collide with the app's own CSS
    # and DOM, so they are not kept.
    "*": frozenset({"style", "align", "valign", "dir", "lang", "title"}),
    "a": frozenset({"href", "name"}),
    "img": frozenset({"src", "alt", "width", "height", "border"}),
    "font": frozenset({"color", "face", "size"}),
    "table": frozenset({"border", "cellpadding", "cellspacing", "width", "bgcolor", "summary"}),
    "td": _CELL_ATTRIBUTES,
    "th": _CELL_ATTRIBUTES,
    "tr": frozenset({"bgcolor", "height"}),
    "col": frozenset({"span", "width"}),
    "colgroup": frozenset({"span", "width"}),
    "ol": frozenset({"start", "type", "reversed"}),
    "ul": frozenset({"type"}),
    "li": frozenset({"value"}),
    "blockquote": frozenset({"type"}),
    "hr": frozenset({"width", "size", "noshade"}),
}
# CSS kept inside style="": layout and typography only. Nothing that takes a url() (background,
# list-style-image, border-image...), positions content over the UI, or hides text.
_ALLOWED_CSS = frozenset(
    {
        "color", "background-color", "font", "font-family", "font-size", "font-style",
        "font-weight", "font-variant", "text-align", "text-decoration", "text-indent",
        "text-transform", "line-height", "letter-spacing", "word-spacing", "white-space",
        "vertical-align", "direction", "width", "height", "max-width", "min-width", "max-height",
        "min-height", "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
        "padding", "padding-top", "padding-right", "padding-bottom", "padding-left", "border",
        "border-top", "border-right", "border-bottom", "border-left", "border-color",
        "border-style", "border-width", "border-collapse", "border-spacing", "border-radius",
        "list-style-type", "table-layout",
    }
)  # fmt: skip
_URL_SCHEMES = frozenset({"http", "https", "mailto", "cid"})

_CLEANER = nh3.Cleaner(
    tags=_ALLOWED_TAGS,
    clean_content_tags=_DROPPED_WITH_CONTENT,
    attributes=_ALLOWED_ATTRIBUTES,
    url_schemes=_URL_SCHEMES,
    link_rel="noopener noreferrer nofollow",
    filter_style_properties=_ALLOWED_CSS,
    # A relative URL in a mail has no base to resolve against: it can only be a trick.
    url_relative="deny",
    strip_comments=True,
)


# Beyond these, nh3 would take seconds: the mail is shown as escaped text instead (see module doc).
_MAX_SANITIZE_CHARS = 2_000_000
_MAX_NESTING = 512
_MAX_ATTRIBUTES_CHARS = 16_384  # a tag with more attribute text keeps none (nh3 dedupes them slowly)
_AMPERSANDS_PER_RUN = 64
_RUN_BREAK = "<!---->"
# Never on the parser's stack of open elements: void elements, and the document's own.
_NEVER_OPEN = frozenset(
    {
        "area", "base", "basefont", "bgsound", "br", "col", "embed", "hr", "img", "input",
        "keygen", "link", "meta", "param", "source", "track", "wbr", "html", "head", "body",
    }
)  # fmt: skip
_CELLS = frozenset({"td", "th"})
_SECTIONS = frozenset({"tbody", "thead", "tfoot"})
_P = frozenset({"p"})
# Start tags that close a <p> left open (HTML "close a p element").
_CLOSES_P = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div",
        "dl", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hgroup", "listing", "main", "menu", "nav", "ol", "p", "pre", "section",
        "summary", "ul",
    }
)  # fmt: skip
# Start tag -> the elements it closes, innermost first, each only when it is the innermost one.
_CLOSED_BY_START: dict[str, tuple[frozenset[str], ...]] = {
    **dict.fromkeys(_CLOSES_P, (_P,)),
    "li": (_P, frozenset({"li"})),
    "dd": (_P, frozenset({"dd", "dt"})),
    "dt": (_P, frozenset({"dd", "dt"})),
    "option": (frozenset({"option"}),),
    "optgroup": (frozenset({"option"}),),
    "td": (_P, _CELLS),
    "th": (_P, _CELLS),
    "tr": (_P, _CELLS, frozenset({"tr"})),
    **{name: (_P, _CELLS, frozenset({"tr"}), _SECTIONS) for name in _SECTIONS},
}
# End tag -> the elements it may close on its way, innermost first, each at most once. Only the
# ends that HTML processes with "generate implied end tags" skip a <p>; any other end tag (and a
# formatting element's) must be the innermost open element.
_SKIPPED_BY_END: dict[str, tuple[frozenset[str], ...]] = {
    **dict.fromkeys(_CLOSES_P - {"p", "ul", "ol", "dl"}, (_P,)),
    **dict.fromkeys(("li", "dd", "dt", "td", "th", "button", "applet", "marquee", "object"), (_P,)),
    "ul": (_P, frozenset({"li"})),
    "ol": (_P, frozenset({"li"})),
    "dl": (_P, frozenset({"dd", "dt"})),
    "tr": (_P, _CELLS),
    **{name: (_P, _CELLS, frozenset({"tr"})) for name in _SECTIONS},
    "table": (_P, _CELLS, frozenset({"tr"}), _SECTIONS | {"caption", "colgroup"}),
}
_OPAQUE = "?"  # a tag seen inside raw text or CDATA: counted, never closed


def sanitize_html(html: str) -> str:
    """HTML that is safe to render: no scripts, handlers, frames, forms or foreign URL schemes.

    Absurd input (over 2 M characters or nested over 512 levels deep) comes back as its text,
    escaped, because sanitizing it faithfully would take too long.
    """
    prepared = _prepare_for_nh3(html) if len(html) <= _MAX_SANITIZE_CHARS else None
    if prepared is None:
        text = html_lib.escape(html_to_text(html[:_MAX_SANITIZE_CHARS]))
        return f'<div style="white-space:pre-wrap">{text}</div>'
    return _CLEANER.clean(prepared)


def _prepare_for_nh3(html: str) -> str | None:
    """``html`` made cheap for nh3, or None when it may nest too deeply to be sanitized.

    Long text runs are cut before every 64th "&" and tags with huge attribute lists lose them.
    """
    if len(html) <= _MAX_ATTRIBUTES_CHARS and html.count("&") < _AMPERSANDS_PER_RUN:
        return html  # too small for any of the slow cases
    pieces: list[str] = []
    depth = _NestingBound()
    for token in _tokens(html):
        chunk = html[token.start : token.end]
        if token.kind == "text":
            chunk = _break_run(chunk) if chunk.count("&") >= _AMPERSANDS_PER_RUN else chunk
        elif token.kind == "start":
            depth.start(token.name)
            chunk = f"<{token.name}>" if len(token.attrs) > _MAX_ATTRIBUTES_CHARS else chunk
        elif token.kind == "end":
            depth.end(token.name)
        elif token.kind != "comment":  # raw text, CDATA: in SVG the parser may see tags there
            for tag in _TAG_OPEN.finditer(chunk):
                if not tag[1]:
                    depth.opaque_start()
        if depth.exceeded:
            return None
        pieces.append(chunk)
    return "".join(pieces)


class _NestingBound:
    """An upper bound of how deeply nh3's HTML5 parser will nest the elements.

    It must never underestimate, whatever the markup, so it errs the safe way. Every start tag
    that might be one counts: also inside raw text and CDATA (SVG reads those as markup), and
    "<div/>", which HTML does not close. An element is only closed where the HTML5 tree builder
    certainly closes it too: when it is the innermost open element (past a <p>, a list item or
    table cells where the standard's implied end tags apply). Anything subtler, such as
    misnested formatting elements, leaks a level; real mail stays far below the limit anyway.
    """

    def __init__(self) -> None:
        self._open: list[str] = []
        self.exceeded = False

    def start(self, name: str) -> None:
        for closed in _CLOSED_BY_START.get(name, ()):
            if self._open and self._open[-1] in closed:
                self._open.pop()
        if name not in _NEVER_OPEN:
            self._push(name)

    def opaque_start(self) -> None:
        self._push(_OPAQUE)

    def end(self, name: str) -> None:
        index = len(self._open) - 1
        for skipped in _SKIPPED_BY_END.get(name, ()):
            if index >= 0 and self._open[index] in skipped:
                index -= 1
        if index >= 0 and self._open[index] == name:
            del self._open[index:]

    def _push(self, name: str) -> None:
        self._open.append(name)
        self.exceeded = self.exceeded or len(self._open) > _MAX_NESTING


def _break_run(text: str) -> str:
    parts = text.split("&")
    groups = ("&".join(parts[i : i + _AMPERSANDS_PER_RUN]) for i in range(0, len(parts), _AMPERSANDS_PER_RUN))
    return f"{_RUN_BREAK}&".join(groups)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: Literal["text", "start", "end", "raw", "comment", "other"]
    start: int
    end: int
    name: str = ""  # lower-case tag name
    attrs: str = ""  # the raw text between the tag name and ">"


_TAG_OPEN = re.compile(r"<(/?)([a-zA-Z][^\s/>]*)")
# Where markup may start: "<" before a letter, "/letter", "!" or "?". Any other "<" is text.
_MARKUP_START = re.compile(r"<(?:/?[a-zA-Z]|[!?])")
# Elements whose content is not markup: skipped up to their end tag (<plaintext> has none).
_RAW_TEXT_END = {
    name: re.compile(rf"</{name}[\s/>]" if name != "plaintext" else r"(?!)", re.IGNORECASE)
    for name in (
        "script", "style", "textarea", "title", "xmp", "noembed", "noframes", "iframe", "noscript",
        "plaintext",
    )
}  # fmt: skip
_COMMENT_END = re.compile(r"--!?>")


def _tokens(html: str) -> Iterator[_Token]:
    """Split HTML into text, tags and the rest, in one left-to-right pass.

    Every search moves forward, and a construct that never ends (a tag without ">", a comment
    without "-->") swallows the rest of the input as browsers do, so the pass is linear.
    """
    pos, size = 0, len(html)
    while pos < size:
        markup = _MARKUP_START.search(html, pos)
        if markup is None:
            yield _Token("text", pos, size)
            return
        lt = markup.start()
        if lt > pos:
            yield _Token("text", pos, lt)
        tag = _TAG_OPEN.match(html, lt)
        if tag is None:
            pos = _skip_markup(html, lt)
            yield _Token("comment" if html.startswith("<!--", lt) else "other", lt, pos)
            continue
        gt = html.find(">", tag.end())
        if gt < 0:
            yield _Token("other", lt, size)
            return
        name = tag[2].lower()
        yield _Token("end" if tag[1] else "start", lt, gt + 1, name, html[tag.end() : gt])
        pos = gt + 1
        if not tag[1] and name in _RAW_TEXT_END:
            end = _raw_text_end(html, name, pos)
            yield _Token("raw", pos, end, name)
            pos = end


def _raw_text_end(html: str, name: str, pos: int) -> int:
    """Where the raw text of ``name`` starting at ``pos`` ends.

    In a script, "<!--" starts an escape in which "</script>" may not end it until "-->" has
    come; the end is taken after that (the longer reading hides more, which is the safe side).
    """
    end_tag = _RAW_TEXT_END[name]
    close = end_tag.search(html, pos)
    while name == "script" and close is not None:
        escape = html.find("<!--", pos, close.start())
        if escape < 0:
            break
        escape_end = html.find("-->", escape + 4)
        if escape_end < 0:
            return len(html)
        pos = escape_end + 3
        close = end_tag.search(html, pos) if pos > close.start() else close
    return len(html) if close is None else close.start()


def _skip_markup(html: str, lt: int) -> int:
    """Where the comment, doctype, CDATA or processing instruction at ``lt`` ends.

    Comments end as the HTML standard says ("<!-->" and "<!--->" are complete, "--!>" closes
    too). CDATA is taken to run to "]]>", as it does inside SVG, the longer of its two readings.
    """
    if html.startswith("<!--", lt):
        if html.startswith((">", "->"), lt + 4):
            return html.index(">", lt + 4) + 1
        close = _COMMENT_END.search(html, lt + 4)
        return len(html) if close is None else close.end()
    if html.startswith("<![CDATA[", lt):
        end = html.find("]]>", lt + 9)
        return len(html) if end < 0 else end + 3
    end = html.find(">", lt)
    return len(html) if end < 0 else end + 1


# Elements that start and end a line of text.
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
        "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2",
        "h3", "h4", "h5", "h6", "header", "hr", "html", "legend", "li", "main", "menu", "nav", "ol",
        "p", "pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
# Blocks that a reader expects to be set off by an empty line.
_PARAGRAPH = frozenset(
    {"blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "p", "pre", "table", "ul", "ol", "dl"}
)
_CELL = frozenset({"td", "th"})
# Content never shown to a reader (besides the raw-text elements, which the tokenizer skips).
_HIDDEN = frozenset({"template", "noscript", "svg", "math", "object", "select", "head"})
_LINK_SCHEMES = ("http://", "https://", "mailto:")
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_SPACES = re.compile(r"[^\S\n]+")  # whitespace except newlines (includes NBSP)
_BLANK_LINES = re.compile(r"\n{3,}")
_MAX_TEXT_SOURCE = 2_000_000  # characters of HTML read for text; the rest of an absurd mail is not
_MAX_OPEN_LINKS = 16  # unclosed <a>s remembered: hostile nesting must not grow the work
_MAX_LABEL_CHUNKS = 64  # a link "text" longer than this is a layout block, not a label


class _TextWriter:
    """Collects readable text; block structure becomes newlines, links keep their target.

    The writer tracks the line state as it appends instead of looking back at what it wrote, so
    each token costs the same however much text came before it.
    """

    def __init__(self) -> None:
        self._out: list[str] = []
        self._hidden = 0
        self._pre = 0
        self._links: list[tuple[str, int]] = []  # (href, index in _out where the link text starts)
        self._newlines = 0  # line breaks at the end of the text so far
        self._started = False  # anything but whitespace written yet
        self._space = False  # the text so far ends with a space

    def start(self, tag: str, attrs: str) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "body":
            self._hidden = 0  # an unclosed <head> or <object> must not hide the whole body
        if tag == "br":
            self._emit("\n")
        elif tag in _BLOCK:
            self._break(2 if tag in _PARAGRAPH else 1)
        elif tag in _CELL:
            self._emit(" ")
        if tag == "li":
            self._emit("- ")
        elif tag == "pre":
            self._pre += 1
        elif tag == "a":
            href = _HREF.search(attrs)
            target = html_lib.unescape(next((g for g in href.groups() if g), "")) if href else ""
            self._links = [*self._links[-(_MAX_OPEN_LINKS - 1) :], (target.strip(), len(self._out))]

    def end(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCK:
            self._break(2 if tag in _PARAGRAPH else 1)
        if tag == "pre":
            self._pre = max(0, self._pre - 1)
        elif tag == "a" and self._links:
            self._close_link(*self._links.pop())

    def data(self, raw: str) -> None:
        if self._hidden:
            return
        data = html_lib.unescape(raw)
        if self._pre:
            self._emit(data.replace("\r\n", "\n"))
            return
        text = " ".join(data.split())
        if data[:1].isspace() and not self._at_line_start():
            text = " " + text
        if text and data[-1:].isspace():
            text += " "
        self._emit(text)

    def _close_link(self, href: str, start: int) -> None:
        """Append " (url)" unless the link text already says where it goes."""
        if len(self._out) - start > _MAX_LABEL_CHUNKS:
            return
        label = "".join(self._out[start:]).strip()
        target = href.removeprefix("mailto:")
        if href.startswith(_LINK_SCHEMES) and label and target not in label and label not in href:
            self._emit(f" ({href})")

    def _emit(self, text: str) -> None:
        if not text or (text == " " and (self._space or self._at_line_start())):
            return
        self._out.append(text)
        self._space = text.endswith(" ")
        content = text.rstrip(" ")
        if not content:
            return
        before_breaks = content.rstrip("\n")
        breaks = len(content) - len(before_breaks)
        self._newlines = breaks if before_breaks else self._newlines + breaks
        self._started = self._started or bool(before_breaks)

    def _at_line_start(self) -> bool:
        return not self._started or self._newlines > 0

    def _break(self, lines: int) -> None:
        """End the current line so that ``lines`` line breaks follow it (never at the very top)."""
        if self._started and self._newlines < lines:
            self._emit("\n" * (lines - self._newlines))

    def text(self) -> str:
        joined = "".join(self._out)
        lines = (_SPACES.sub(" ", line).strip() for line in joined.split("\n"))
        return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    """Plain text for an HTML body: good enough to read, search and quote an HTML-only mail.

    Scripts, styles, the title and comments are dropped; blocks and <br> become line breaks,
    list items "- ", links "text (url)" when the text does not show the url; entities are decoded
    and whitespace collapsed. Only the first 2 M characters of a larger document are read.
    """
    source = html[:_MAX_TEXT_SOURCE]
    writer = _TextWriter()
    for token in _tokens(source):
        if token.kind == "text":
            writer.data(source[token.start : token.end])
        elif token.kind == "start":
            writer.start(token.name, token.attrs)
        elif token.kind == "end":
            writer.end(token.name)
    return writer.text()
