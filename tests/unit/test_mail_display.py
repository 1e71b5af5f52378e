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
