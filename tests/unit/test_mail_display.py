"""How a stored message is displayed: quoted history folded, inline images embedded, and neither
ever changes the sanitized markup around them."""

from __future__ import annotations

import pytest

from mailroom.mail.inline_images import EMPTY_IMAGE, embed_inline_images
from mailroom.mail.quoting import fold_quoted_html, has_remote_images, split_quoted_text


@pytest.mark.parametrize(
    ("text", "body"),
    [
        ("Thanks!\n\nOn Mon, 2 Mar 2026, Dana <d@x.example> wrote:\n> hi\n> there", "Thanks!"),
        ("Danke\n\nAm 2. März 2026 um 10:00 schrieb Dana <d@x.example>:\n> hallo", "Danke"),
        ("Merci\n\nLe lun. 2 mars 2026, Dana a écrit :\n> salut", "Merci"),
        ("Ok\n\n-----Original Message-----\nFrom: Dana\nSent: Monday\n\nold", "Ok"),
        ("Ok\n\nFrom: Dana <d@x.example>\nSent: Monday, 2 March 2026\nTo: us\n\nold", "Ok"),
        ("Answer\n\n> old\n>\n> older\n", "Answer"),
    ],
    ids=["gmail", "german", "french", "outlook-rule", "outlook-headers", "trailing-quote"],
)
def test_quoted_history_is_split_off(text: str, body: str) -> None:
    split = split_quoted_text(text)
    assert split.body == body
    assert split.quoted


@pytest.mark.parametrize(
    "text",
    [
        "> q1\nmy answer to q1\n> q2\nmy answer to q2",  # interleaved: the answers are the message
        "> only a quote",  # nothing but quote: keep it all
        "No history here.\nFrom: is just a word at the start of this line",
    ],
)
def test_nothing_the_customer_wrote_is_hidden(text: str) -> None:
    split = split_quoted_text(text)
    assert split.body == text
    assert split.quoted is None


def test_outermost_blockquotes_fold_nested_ones_stay_inside() -> None:
    html = (
        "<p>hi</p><blockquote>a<blockquote>b</blockquote>c</blockquote>\n<p>x</p><blockquote>z</blockquote>"
    )
    folded = fold_quoted_html(html)
    assert folded.count("<details") == 2
    assert '<details class="quoted"><summary>Show quoted text</summary><blockquote>a<blockquote>b' in folded
    assert (
        folded.replace('<details class="quoted"><summary>Show quoted text</summary>', "").replace(
            "</details>", ""
        )
        == html
    )


def test_remote_images_are_noticed() -> None:
    assert has_remote_images('<p><img src="https://t.example/p.gif"></p>')
    assert not has_remote_images('<img src="data:image/png;base64,AA=="><p>src=https://x</p>')
    assert not has_remote_images(None)


def _load(content_id: str) -> tuple[str, bytes] | None:
    return {
        "logo@x": ("image/png", b"PNG"),
        "vector@x": ("image/svg+xml", b"<svg onload=pwn()>"),
    }.get(content_id)


def test_inline_images_become_data_uris_and_nothing_else_changes() -> None:
    html = '<p>Hi</p>\n<img alt="the &quot;logo&quot;" src="cid:logo@x" width="10"><p>bye</p>'
    embedded = embed_inline_images(html, _load)
    assert embedded == (
        '<p>Hi</p>\n<img alt="the &quot;logo&quot;" src="data:image/png;base64,UE5H" width="10"><p>bye</p>'
    )


def test_svg_and_unknown_references_load_nothing() -> None:
    embedded = embed_inline_images('<img src="cid:vector@x"><img src="cid:missing@x">', _load)
    assert embedded == f'<img src="{EMPTY_IMAGE}"><img src="{EMPTY_IMAGE}">'


@pytest.mark.parametrize(
    "html",
    [
        '<p title="src=cid:logo@x onmouseover=pwn(1)">x</p>',
        "<p>src=cid:logo@x onerror=pwn(1)</p>",
        '<a href="https://x.example/?src=cid:logo@x" title="q">l</a>',
    ],
)
def test_text_that_looks_like_a_cid_source_is_left_alone(html: str) -> None:
    """The XSS corpus found that a regex rewrite let a title attribute break out into handlers."""
    assert embed_inline_images(html, _load) == html


OUTLOOK_WEB = (
    '<div dir="ltr">Thanks, that fixed it!</div><hr style="width:98%"><div dir="ltr"><font>'
    "<b>From:</b> Acme Support &lt;support@acme.test&gt;<br><b>Sent:</b> Monday, November 16, 2026"
    "<br><b>To:</b> Dana<br><b>Subject:</b> Re: Printer</font></div><div>Please unplug it.</div>"
)
OUTLOOK_DESKTOP = (
    '<div><p>Danke!</p><div><div style="border-top:solid #E1E1E1 1.0pt"><p><b><span lang="de">Von:'
    "</span></b><span> Acme Support<br><b>Gesendet:</b> Montag<br><b>An:</b> Dana<br><b>Betreff:</b>"
    " AW: Drucker</span></p></div></div><p>Bitte ausstecken.</p></div>"
)


@pytest.mark.parametrize(
    ("html", "written", "history_from"),
    [(OUTLOOK_WEB, "Thanks, that fixed it!", "<hr"), (OUTLOOK_DESKTOP, "Danke!", '<div><div style="border')],
)
def test_outlook_history_without_a_blockquote_folds_from_its_reply_header(
    html: str, written: str, history_from: str
) -> None:
    folded = fold_quoted_html(html)
    head, _, history = folded.partition('<details class="quoted"><summary>Show quoted text</summary>')
    assert written in head
    assert "unplug" not in head
    assert "ausstecken" not in head
    assert history.startswith(history_from)
    assert history.endswith("</details>")


@pytest.mark.parametrize(
    "html",
    [
        "<div><b>From:</b> x<br><b>Sent:</b> y<br><b>Subject:</b> z</div><div>old</div>",  # only history
        "<p>Order</p><p><b>From:</b> Berlin <b>Date:</b> Monday</p><p>Items: 3</p>",  # no Subject label
    ],
)
def test_no_outlook_fold_without_both_a_written_part_and_a_whole_header(html: str) -> None:
    assert fold_quoted_html(html) == html
