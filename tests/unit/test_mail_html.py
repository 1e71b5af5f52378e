"""sanitize_html keeps mail formatting and nothing executable; html_to_text reads HTML-only mail."""

from __future__ import annotations

import pytest

from mailroom.mail.html import html_to_text, sanitize_html

FALLBACK = '<div style="white-space:pre-wrap">'  # how sanitize_html shows HTML it will not parse

# --------------------------------------------------------------------------- sanitize_html


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("<p>hi<script>alert(1)</script></p>", "<p>hi</p>"),
        ("<style>body{display:none}</style><b>x</b>", "<b>x</b>"),
        ('<img src="https://x.example/i.png" onerror="alert(1)">', '<img src="https://x.example/i.png">'),
        ('<a href="javascript:alert(1)">j</a>', '<a rel="noopener noreferrer nofollow">j</a>'),
        (
            '<a href="https://example.com/">k</a>',
            '<a href="https://example.com/" rel="noopener noreferrer nofollow">k</a>',
        ),
        (
            '<a href="mailto:a@example.com">m</a>',
            '<a href="mailto:a@example.com" rel="noopener noreferrer nofollow">m</a>',
        ),
        (
            '<a href="https://x.example" rel="opener" target="_top">t</a>',
            '<a href="https://x.example" rel="noopener noreferrer nofollow">t</a>',
        ),
        ('<img src="cid:logo@x" alt="Logo">', '<img src="cid:logo@x" alt="Logo">'),
        ('<img src="data:image/png;base64,AAAA">', "<img>"),
        ('<a href="/relative">r</a>', '<a rel="noopener noreferrer nofollow">r</a>'),
        ("<iframe src='https://evil.example'>inside</iframe>after", "after"),
        ("<object data='x.swf'>fallback</object><embed src='y'>", ""),
        ("<form action='https://evil.example'><input name='pw'>Login<button>Go</button></form>", "Login"),
        ("<!-- secret comment --><i>v</i>", "<i>v</i>"),
        ("<svg><script>alert(1)</script></svg>ok", "ok"),
        ("<div onclick='steal()' onmouseover=x>d</div>", "<div>d</div>"),
        ('<div class="x" id="y">d</div>', "<div>d</div>"),
        ("<title>Subject</title><meta http-equiv=refresh content='0;url=x'>body", "body"),
    ],
)
def test_sanitize_removes_everything_active(dirty: str, clean: str) -> None:
    assert sanitize_html(dirty) == clean


def test_sanitize_keeps_mail_formatting() -> None:
    html = (
        '<table border="0" cellpadding="4" width="100%"><tr><td colspan="2" bgcolor="#eee" align="center">'
        '<font color="red" face="Arial" size="2">Hi</font></td></tr></table>'
        "<h1>T</h1><blockquote type='cite'><p>quoted</p></blockquote><ul><li>a</li></ul><hr><pre>code</pre>"
    )

    clean = sanitize_html(html)

    for kept in (
        'border="0"',
        'cellpadding="4"',
        'colspan="2"',
        'bgcolor="#eee"',
        '<font color="red" face="Arial" size="2">',
        "<h1>T</h1>",
        '<blockquote type="cite"><p>quoted</p></blockquote>',
        "<ul><li>a</li></ul>",
        "<hr>",
        "<pre>code</pre>",
    ):
        assert kept in clean


def test_sanitize_filters_css_to_layout_and_typography() -> None:
    html = (
        '<p style="color: red; font-weight: bold; position: fixed; top: 0; '
        'background: url(https://tracker.example/p.gif); background-color: #fff; display: none">x</p>'
    )

    clean = sanitize_html(html)

    assert clean == '<p style="color:red;font-weight:bold;background-color:#fff">x</p>'


@pytest.mark.timeout(120)  # a hang guard; speed is a `make bench` figure, not a test
def test_sanitize_survives_deep_nesting_by_falling_back_to_text() -> None:
    hostile = "<div>" * 100_000 + "deep & <b>text</b>"

    clean = sanitize_html(hostile)

    assert clean == f"{FALLBACK}deep &amp; text</div>"


@pytest.mark.parametrize(
    "hostile",
    [
        "&" * 1_000_000,
        "a&b " * 250_000,
        "<a " + " ".join(f"a{i}=1" for i in range(100_000)) + ">x",
        "<" * 1_000_000,
        "<!--" * 250_000,
        "<ul></x>" * 100_000,
        # Each of these once made the nesting guard underestimate (nh3 then took seconds):
        "<!-->" + "<div>" * 40_000,  # an empty comment is complete
        "<svg><style>" + "<div>" * 40_000,  # <style> is markup inside SVG
        "<div><script><!--<script></script></div>--></script>" * 4_000,  # script escapes
        "<div><svg><![CDATA[></svg></div>]]>" * 6_000,  # CDATA inside SVG
        "<a><div></a>" * 16_000,  # the adoption agency keeps nesting
        "<dd><li><p>" * 20_000,  # list items nest across <dd>
        "<div/>" * 40_000,  # "/>" does not close a <div>
    ],
    ids=[
        "ampersands",
        "entity-like",
        "attributes",
        "lt",
        "comments",
        "unmatched-ends",
        "empty-comment",
        "svg-style",
        "script-escape",
        "svg-cdata",
        "adoption-agency",
        "dd-li",
        "self-closing-div",
    ],
)
@pytest.mark.timeout(120)  # a hang guard; speed is a `make bench` figure, not a test
def test_sanitize_survives_hostile_input(hostile: str) -> None:
    clean = sanitize_html(hostile)

    assert "<script" not in clean


def test_real_world_table_markup_with_implied_end_tags_is_not_degraded() -> None:
    block = (
        "<!--[if mso]><table><tr><td><![endif]-->"
        '<div><table><tbody><tr><td style="padding:8px"><p>para<div>block</div>'
        "<ul><li>one<li>two</ul><dl><dt>term<dd>definition</dl>"
        "<table><tr><td>a<td>b<tr><td>c</table></td></tr></tbody></table></div>"
        "<!--[if mso]></td></tr></table><![endif]-->"
    )

    clean = sanitize_html(block * 600)  # 600 blocks: an unclosed level per block would show

    assert not clean.startswith(FALLBACK)
    assert clean.count("<li>one</li>") == 600


def test_sanitize_keeps_entities_in_long_text_runs_intact() -> None:
    text = "Tom &amp; Jerry &lt;3 " * 200

    assert sanitize_html(f"<p>{text}</p>") == f"<p>{text}</p>"


# --------------------------------------------------------------------------- html_to_text


def test_html_to_text_reads_like_a_mail() -> None:
    html = """<html><head><title>Newsletter</title><style>p { color: red }</style>
    <script>var x = "<p>not text</p>";</script></head>
    <body><h1>Hello&nbsp;there</h1><p>First   paragraph
    continues &amp; ends.</p><div>Line one<br>Line two<br/>Line three</div>
    <ul><li>apples</li><li>pears <a href="https://shop.example/pears?a=1&amp;b=2">buy</a></li></ul>
    <p><a href="https://example.com/">https://example.com/</a> and
    <a href="mailto:help@example.com">help@example.com</a> and <a href="#top">top</a></p>
    <table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></table>
    <!-- a comment --><p>1 &lt; 2 &#8364; &euro;</p></body></html>"""

    assert html_to_text(html) == (
        "Hello there\n\n"
        "First paragraph continues & ends.\n\n"
        "Line one\nLine two\nLine three\n\n"
        "- apples\n- pears buy (https://shop.example/pears?a=1&b=2)\n\n"
        "https://example.com/ and help@example.com and top\n\n"
        "a b\nc d\n\n"
        "1 < 2 € €"
    )


def test_html_to_text_keeps_preformatted_line_breaks() -> None:
    assert html_to_text("<pre>line 1\nline 2</pre>after") == "line 1\nline 2\n\nafter"


def test_html_to_text_ends_comments_as_browsers_do() -> None:
    assert html_to_text("a<!-->b<!--->c<!-- x --!>d<!-- y -->e") == "abcde"


def test_html_to_text_of_broken_html() -> None:
    assert html_to_text("<p>unclosed <b>bold <i>both") == "unclosed bold both"
    assert html_to_text("a < b and c > d") == "a < b and c > d"
    assert html_to_text("<head><title>only a title") == ""
    assert html_to_text("<p>tag without end <a href='x'") == "tag without end"
    assert html_to_text("") == ""


@pytest.mark.parametrize(
    "hostile",
    [
        "<" * 1_000_000,
        "<a" * 500_000,
        "</" * 500_000,
        "<!--" * 250_000,
        "<![CDATA[" * 100_000,
        "<div x=" * 100_000,
        "<a href=x>" * 50_000 + "</a>" * 50_000,
        "x" + "<b> </b>" * 100_000,
        "&" * 1_000_000,
    ],
    ids=["lt", "open-tags", "end-tags", "comments", "cdata", "attrs", "links", "spaces", "ampersands"],
)
@pytest.mark.timeout(120)  # a hang guard only (html.parser takes many minutes on some of these)
def test_html_to_text_survives_hostile_input(hostile: str) -> None:
    """Pathological markup comes out as bounded plain text with no markup left. How fast (linear
    in the input) is a figure in ``make bench`` (``html_to_text_scaling``), not a timed test."""
    text = html_to_text(hostile)
    assert len(text) <= len(hostile)
    assert "<b>" not in text
    assert "<a " not in text
