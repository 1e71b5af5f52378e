"""parse_message: every bullet of the contract, on hand-built messages and the real-world corpus."""
# Mail is multilingual: Cyrillic and CJK test data is intended.
# ruff: noqa: RUF001

from __future__ import annotations

import binascii
import hashlib
import time
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailroom.mail import parse as parse_module
from mailroom.mail.model import Address, MessageFlag, ParsedMessage
from mailroom.mail.parse import decode_words, parse_message, safe_filename, synthesized_message_id

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "flanker"


def mail(*lines: str | bytes, body: bytes = b"") -> bytes:
    """A raw message from header lines (str or bytes) and a body, with CRLF line ends."""
    head = b"\r\n".join(line.encode() if isinstance(line, str) else line for line in lines)
    return head + b"\r\n\r\n" + body


def single(charset: str, payload: bytes, *, encoding: str = "8bit") -> bytes:
    return mail(
        "From: a@example.com",
        "Message-ID: <x@example.com>",
        f"Content-Type: text/plain; charset={charset}",
        f"Content-Transfer-Encoding: {encoding}",
        body=payload,
    )


# --------------------------------------------------------------------------- structure and bodies


def test_alternative_prefers_text_plain_and_keeps_the_html() -> None:
    msg = EmailMessage()
    msg["From"] = "Alice <alice@example.com>"
    msg["Subject"] = "Hi"
    msg.set_content("plain version\n")
    msg.add_alternative("<p>html <b>version</b></p>", subtype="html")

    parsed = parse_message(msg.as_bytes())

    assert parsed.text == "plain version\n"
    assert parsed.html is not None
    assert "<b>version</b>" in parsed.html
    assert MessageFlag.HTML_ONLY not in parsed.flags
    assert parsed.attachments == []


def test_html_only_mail_gets_text_derived_from_html() -> None:
    raw = mail(
        "From: a@example.com",
        "Content-Type: text/html; charset=utf-8",
        body=b"<html><head><style>p{}</style></head><body><p>Hello&nbsp;<b>there</b></p>"
        b"<ul><li>one</li><li>two</li></ul><a href='https://example.com/x'>link</a></body></html>",
    )

    parsed = parse_message(raw)

    assert MessageFlag.HTML_ONLY in parsed.flags
    assert parsed.text == "Hello there\n\n- one\n- two\n\nlink (https://example.com/x)"
    assert parsed.html is not None
    assert parsed.html.startswith("<html>")


def test_nested_mixed_alternative_related_with_inline_image_and_attachment() -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg.set_content("the text")
    msg.add_alternative('<p>see <img src="cid:logo@x"></p>', subtype="html")
    html_part = next(part for part in msg.iter_parts() if part.get_content_type() == "text/html")
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(b"\x89PNG-bytes", "image", "png", cid="<logo@x>", filename="logo.png")
    msg.add_attachment(b"%PDF-1.4 data", maintype="application", subtype="pdf", filename="report.pdf")

    parsed = parse_message(msg.as_bytes())

    assert parsed.text == "the text\n"
    assert parsed.html is not None
    assert 'src="cid:logo@x"' in parsed.html
    logo, report = parsed.attachments
    assert (logo.filename, logo.content_type, logo.content_id, logo.inline) == (
        "logo.png",
        "image/png",
        "logo@x",
        True,
    )
    assert logo.data == b"\x89PNG-bytes"
    assert logo.size == len(b"\x89PNG-bytes")
    assert logo.sha256 == hashlib.sha256(b"\x89PNG-bytes").hexdigest()
    assert (report.filename, report.content_type, report.inline) == ("report.pdf", "application/pdf", False)
    assert report.data == b"%PDF-1.4 data"


def test_inline_disposition_with_content_id_is_inline_without_it_is_not() -> None:
    raw = mail(
        "From: a@example.com",
        'Content-Type: multipart/mixed; boundary="b"',
        body=b"--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
        b"--b\r\nContent-Type: image/gif\r\nContent-Disposition: inline\r\nContent-ID: <g1@x>\r\n\r\nGIF\r\n"
        b"--b\r\nContent-Type: image/gif\r\nContent-Disposition: inline; filename=b.gif\r\n\r\nGIF\r\n"
        b"--b--\r\n",
    )

    parsed = parse_message(raw)

    assert parsed.text == "body"
    assert [(a.filename, a.inline, a.content_id) for a in parsed.attachments] == [
        ("attachment-1.gif", True, "g1@x"),
        ("b.gif", False, None),
    ]


def test_inline_text_parts_of_mixed_are_joined_like_apple_mail() -> None:
    raw = mail(
        "From: a@example.com",
        "Content-Type: multipart/mixed; boundary=b",
        body=b"--b\nContent-Type: text/plain\n\nfirst\n--b\nContent-Type: image/jpeg\n"
        b"Content-Disposition: inline; filename=p.jpg\n\nJPEG\n"
        b"--b\nContent-Type: text/plain\n\nsecond\n--b--\n",
    )

    parsed = parse_message(raw)

    assert parsed.text == "first\nsecond"
    assert [a.filename for a in parsed.attachments] == ["p.jpg"]


def test_only_one_text_and_one_html_per_alternative() -> None:
    raw = mail(
        "From: a@example.com",
        "Content-Type: multipart/alternative; boundary=b",
        body=b"--b\nContent-Type: text/plain\n\nfirst\n--b\nContent-Type: text/plain\n\nduplicate\n"
        b"--b\nContent-Type: text/calendar\n\nBEGIN:VCALENDAR\n--b--\n",
    )

    parsed = parse_message(raw)

    assert parsed.text == "first"
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("attachment-1.ics", "text/calendar")
    ]


def test_base64_and_quoted_printable_bodies_are_decoded() -> None:
    qp = parse_message(single("utf-8", b"caf=C3=A9 =\r\nsoft break", encoding="quoted-printable"))
    b64 = parse_message(single("utf-8", b"Y2Fmw6k=\r\n", encoding="base64"))
    damaged = parse_message(single("utf-8", b"Y2Fm\r\nw6k*!\r\n", encoding="base64"))

    assert qp.text == "café soft break"
    assert b64.text == "café"
    assert damaged.text == "café"
    assert "part 1: damaged base64" in damaged.defects


def test_crlf_lf_and_bare_cr_line_ends_all_work() -> None:
    for sep in (b"\r\n", b"\n", b"\r"):
        raw = sep.join([b"Subject: hi", b"From: a@example.com", b"", b"line one", b"line two"])
        parsed = parse_message(raw)
        assert parsed.subject == "hi"
        assert parsed.text == "line one\nline two"


# --------------------------------------------------------------------------- charsets


@pytest.mark.parametrize(
    ("charset", "text", "codec"),
    [
        ("iso-2022-jp", "日本語のメール", "iso-2022-jp"),
        ("koi8-r", "Привет, мир", "koi8-r"),
        ("gb2312", "你好，世界", "gb2312"),
        ("shift_jis", "こんにちは", "shift_jis"),
        ("windows-1251", "Здравствуйте", "cp1251"),
        ("ks_c_5601-1987", "안녕하세요", "cp949"),
        ("iso-8859-8-i", "שלום", "iso-8859-8"),
        ("windows-874", "สวัสดี", "cp874"),
        ("big5", "繁體中文", "big5"),
        ("euc-jp", "日本語", "euc-jp"),
        ("iso-8859-15", "prix 10 €", "iso-8859-15"),
        ('"UTF-8"', "emoji 🎉", "utf-8"),
        ("utf-16", "wide", "utf-16"),
    ],
)
def test_declared_charsets_are_decoded(charset: str, text: str, codec: str) -> None:
    parsed = parse_message(single(charset, text.encode(codec)))

    assert parsed.text == text
    assert parsed.defects == []


def test_gb2312_declaration_decodes_gbk_only_characters() -> None:
    # Mailers label GBK/GB18030 text "gb2312"; the superset must read it.
    text = "镕基"  # 镕 is not in GB2312
    assert parse_message(single("gb2312", text.encode("gbk"))).text == text


def test_utf8_declaration_with_latin1_bytes_falls_back() -> None:
    parsed = parse_message(single("utf-8", "café crème".encode("latin-1")))

    assert parsed.text == "café crème"
    assert "part 1: bytes invalid in charset 'utf-8', read as cp1252" in parsed.defects


@pytest.mark.parametrize("charset", ["foo-bar", "unknown-8bit", "x-user-defined", "base64", "zlib"])
def test_unknown_or_bogus_charsets_fall_back_to_utf8(charset: str) -> None:
    parsed = parse_message(single(charset, "naïve".encode()))

    assert parsed.text == "naïve"


def test_unknown_charset_with_legacy_bytes_falls_back_to_cp1252() -> None:
    parsed = parse_message(single("foo-bar", "€uro".encode("cp1252")))

    assert parsed.text == "€uro"
    assert "part 1: unknown charset 'foo-bar', read as cp1252" in parsed.defects


def test_mostly_utf8_with_one_damaged_sequence_stays_utf8() -> None:
    payload = "Картинка с очень длинным именем".encode()[:-1]  # cut inside the last character
    parsed = parse_message(single("utf-8", payload))

    assert parsed.text == "Картинка с очень длинным имене\ufffd"


def test_undeclared_8bit_headers_are_read_as_utf8_then_cp1252() -> None:
    raw = mail(
        "Subject: caf\u00e9 na\u00efve".encode(),
        b"From: \xd0\x9e\xd0\xbb\xd1\x8f <olya@example.com>",
        b"X-Legacy: stra\xdfe",
        body=b"x",
    )

    parsed = parse_message(raw)

    assert parsed.subject == "café naïve"
    assert parsed.from_ == Address(email="olya@example.com", name="Оля")
    assert parsed.header("X-Legacy") == "straße"


@pytest.mark.parametrize("charset", [b"ut\x00f-8", b"us-asc\xa2ii", b"\xff\xfe", b"'x'" * 40])
def test_hostile_charset_names_never_fail_the_parse(charset: bytes) -> None:
    # Found by fuzzing: such names made codecs.lookup and Message.get_payload raise.
    with_leftover = b"Content-Type: text/plain; charset=" + charset + b"\nnot a header \xff\n\nbody"
    plain = b"Content-Type: text/plain; charset=" + charset + b"\n\nbody \xc3\xa9"

    assert parse_message(with_leftover).text == "not a header \xff\n\nbody".replace("\xff", "\u00ff")
    assert parse_message(plain).text == "body é"


def test_uuencoded_attachment_is_decoded() -> None:
    uu_body = b"begin 644 hello.txt\n" + binascii.b2a_uu(b"hello world") + b"`\nend\n"
    raw = mail(
        "Content-Type: multipart/mixed; boundary=b",
        body=b"--b\nContent-Type: text/plain\n\nsee file\n--b\nContent-Type: application/octet-stream\n"
        b"Content-Transfer-Encoding: x-uuencode\nContent-Disposition: attachment; filename=hello.txt\n\n"
        + uu_body
        + b"--b--\n",
    )

    (attachment,) = parse_message(raw).attachments

    assert attachment.data == b"hello world"


# --------------------------------------------------------------------------- headers


def test_rfc2047_subject_split_over_several_words_and_a_multibyte_character() -> None:
    # "heiße" is split inside the two bytes of "ß" across two encoded words.
    raw = mail(
        "Subject: =?utf-8?q?Die_hei=C3?=",
        " =?utf-8?q?=9Fe_Sonne_?= =?iso-8859-1?q?caf=E9?=",
        "\t=?koi8-r?b?8NLJ18XU?= and plain text",
        body=b"x",
    )

    assert parse_message(raw).subject == "Die heiße Sonne caféПривет and plain text"


def test_broken_encoded_words_do_not_crash() -> None:
    # Whitespace between adjacent encoded words is not text (RFC 2047), whatever their charsets.
    assert decode_words("=?utf-8?q?ok?= =?nope?q?hi?= =?utf-8?x?bad?= =?utf-8?b?###?=") == (
        "okhi =?utf-8?x?bad?= "
    )
    assert decode_words("=?utf-8?q?unterminated") == "=?utf-8?q?unterminated"
    assert decode_words("glued=?utf-8?q?w=C3=B6rd?=s") == "gluedwörds"


def test_headers_keep_every_top_level_header_in_order_decoded() -> None:
    raw = mail(
        "Received: from a",
        "\tby b",
        "Subject: =?utf-8?b?SMOpbGxv?=",
        "X-Custom: one",
        "X-Custom: two",
        "From: a@example.com",
        body=b"x",
    )

    parsed = parse_message(raw)

    assert parsed.headers == [
        ("Received", "from a by b"),
        ("Subject", "Héllo"),
        ("X-Custom", "one"),
        ("X-Custom", "two"),
        ("From", "a@example.com"),
    ]


def test_a_10000_character_header_is_kept_and_clipped() -> None:
    words = " ".join(f"word{i}" for i in range(1500))
    assert len(words) > 10_000
    folded = "\r\n ".join(words[i : i + 70] for i in range(0, len(words), 70))
    raw = mail(f"Subject: {folded}", f"X-Long: {'y' * 10_000}", "From: a@example.com", body=b"body")

    parsed = parse_message(raw)

    assert parsed.text == "body"
    assert parsed.subject.startswith("word0 word1 word2")
    assert len(parsed.subject) == 8192
    assert parsed.header("X-Long") == "y" * 8192
    assert "header X-Long clipped to 8192 characters" in parsed.defects


def test_encoded_words_cannot_smuggle_line_breaks_into_headers() -> None:
    raw = mail("Subject: =?utf-8?q?hi=0D=0ABcc:_evil@x?=", body=b"x")

    assert parse_message(raw).subject == "hi Bcc: evil@x"


# --------------------------------------------------------------------------- addresses


def test_addresses_are_parsed_decoded_and_normalized() -> None:
    raw = mail(
        "From: =?UTF-8?B?Rm9vLCBCYXI=?= <Foo.Bar@EXAMPLE.COM>",
        "Sender: <list@Lists.Example.ORG>",
        'To: "Doe, Jane" <jane@Example.org>, garbage, , bob@x.example (Bob),',
        " =?utf-8?q?J=C3=B6rg?= <j@x.example>, no-at-sign <>",
        "Cc: undisclosed-recipients:;",
        "Reply-To: a@one.example, b@TWO.example",
        body=b"x",
    )

    parsed = parse_message(raw)

    assert parsed.from_ == Address(email="Foo.Bar@example.com", name="Foo, Bar")
    assert parsed.sender == Address(email="list@lists.example.org")
    assert parsed.to == [
        Address(email="jane@example.org", name="Doe, Jane"),
        Address(email="bob@x.example", name="Bob"),
        Address(email="j@x.example", name="Jörg"),
    ]
    assert parsed.cc == []
    assert [a.email for a in parsed.reply_to] == ["a@one.example", "b@two.example"]


def test_model_alias_from_survives_a_dump() -> None:
    parsed = parse_message(mail("From: a@example.com", body=b"x"))

    assert parsed.model_dump(by_alias=True)["from"] == {"email": "a@example.com", "name": ""}


# --------------------------------------------------------------------------- ids and dates


def test_message_id_is_stored_without_brackets_or_whitespace() -> None:
    raw = mail("Message-ID:   < abc.123@mail\r\n .example.com >  (comment)", body=b"x")

    parsed = parse_message(raw)

    assert parsed.message_id == "abc.123@mail.example.com"
    assert MessageFlag.MESSAGE_ID_SYNTHESIZED not in parsed.flags


@pytest.mark.parametrize("header", [None, "Message-ID: <>", "Message-ID: garbage", "Message-ID:   "])
def test_missing_or_garbage_message_id_is_synthesized_from_the_content(header: str | None) -> None:
    lines = ["From: a@example.com", "Subject: x"] + ([header] if header else [])
    raw = mail(*lines, body=b"body")

    parsed = parse_message(raw)

    local, _, domain = parsed.message_id.partition("@")
    assert domain == "mailroom.invalid"
    assert len(local) == 32
    assert int(local, 16) >= 0  # hexadecimal
    assert MessageFlag.MESSAGE_ID_SYNTHESIZED in parsed.flags
    # A relay's retry adds trace headers: the same message, the same id. Other content: another id.
    relayed = mail(
        "Received: from relay.example.net by mx.acme.test", "DKIM-Signature: v=1; b=x", *lines, body=b"body"
    )
    assert parse_message(relayed).message_id == parsed.message_id
    assert parse_message(mail(*lines, body=b"other body")).message_id != parsed.message_id
    assert parse_message(mail(*lines[:1], "Subject: y", body=b"body")).message_id != parsed.message_id


def test_synthesized_message_id_is_stable_per_bytes() -> None:
    first = mail("Subject: same", body=b"one")
    other = mail("Subject: same", body=b"two")

    assert parse_message(first).message_id == parse_message(bytes(first)).message_id
    assert parse_message(first).message_id != parse_message(other).message_id


def test_in_reply_to_and_references_tolerate_garbage() -> None:
    raw = mail(
        "In-Reply-To: <parent@x.example> (sent by Bob)",
        "References: <root@x.example> , bare@x.example,<root@x.example> garbage <>",
        "  <parent@x.example>\t< spaced @x.example >",
        body=b"x",
    )

    parsed = parse_message(raw)

    assert parsed.in_reply_to == ["parent@x.example"]
    assert parsed.references == ["root@x.example", "bare@x.example", "parent@x.example", "spaced@x.example"]


def test_references_are_capped_at_100_keeping_root_and_latest() -> None:
    ids = " ".join(f"<m{i}@x.example>" for i in range(150))
    parsed = parse_message(mail(f"References: {ids}", body=b"x"))

    assert len(parsed.references) == 100
    assert parsed.references[0] == "m0@x.example"
    assert parsed.references[1] == "m51@x.example"
    assert parsed.references[-1] == "m149@x.example"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Date: Tue, 07 May 2013 23:11:57 +0200", datetime(2013, 5, 7, 21, 11, 57, tzinfo=UTC)),
        ("Date: Tue, 07 May 2013 23:11:57", datetime(2013, 5, 7, 23, 11, 57, tzinfo=UTC)),
        ("Date: 6 Feb 1993 02:53:47 -0000", datetime(1993, 2, 6, 2, 53, 47, tzinfo=UTC)),
        ("Date: Thu, 29 Dec 2011 14:06:53 PST", datetime(2011, 12, 29, 22, 6, 53, tzinfo=UTC)),
    ],
)
def test_dates_become_timezone_aware(header: str, expected: datetime) -> None:
    parsed = parse_message(mail(header, body=b"x"))

    assert parsed.date == expected
    assert parsed.date is not None
    assert parsed.date.tzinfo is not None
    assert MessageFlag.DATE_MISSING not in parsed.flags


def test_date_keeps_its_offset() -> None:
    parsed = parse_message(mail("Date: Tue, 07 May 2013 23:11:57 +0530", body=b"x"))

    assert parsed.date is not None
    assert parsed.date.utcoffset() == timedelta(hours=5, minutes=30)
    assert parsed.date.tzinfo == timezone(timedelta(hours=5, minutes=30))


@pytest.mark.parametrize(
    "header",
    [None, "Date: garbage", "Date: ", "Date: Mon, 32 Foo 2012 99:99:99 +9999", "Date: 1 1 1 1 1 1 1"],
)
def test_missing_or_garbage_date_is_none_and_flagged(header: str | None) -> None:
    parsed = parse_message(mail(*([header] if header else ["X: y"]), body=b"x"))

    assert parsed.date is None
    assert MessageFlag.DATE_MISSING in parsed.flags


# --------------------------------------------------------------------------- attachments and filenames


def attachment_mail(disposition: str, *, ctype: str = "application/octet-stream") -> bytes:
    return mail(
        "From: a@example.com",
        "Content-Type: multipart/mixed; boundary=b",
        body=(
            b"--b\nContent-Type: text/plain\n\nbody\n--b\n"
            + f"Content-Type: {ctype}\n{disposition}\n\npayload\n--b--\n".encode()
        ),
    )


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        # RFC 2231 with continuations, charset and percent-encoding
        (
            "Content-Disposition: attachment;\n filename*0*=utf-8''%E6%97%A5%E6%9C%AC;\n"
            " filename*1*=%E8%AA%9E.txt",
            "日本語.txt",
        ),
        # RFC 2231 preferred over the plain fallback a client adds for old readers
        (
            "Content-Disposition: attachment; filename=\"fallback.txt\"; filename*=UTF-8''%E2%82%AC.txt",
            "€.txt",
        ),
        # RFC 2231 in a legacy charset
        ("Content-Disposition: attachment; filename*=iso-8859-1'fr'r%E9sum%E9.doc", "résumé.doc"),
        # RFC 2047 in a parameter, not standard but what Outlook and Gmail send
        ('Content-Disposition: attachment; filename="=?UTF-8?B?0J/RgNC40LLQtdGCLnBkZg==?="', "Привет.pdf"),
        ("Content-Disposition: attachment; filename=../../etc/passwd", "passwd"),
        ('Content-Disposition: attachment; filename="C:\\\\Users\\\\me\\\\evil.exe"', "evil.exe"),
        ('Content-Disposition: attachment; filename="in\x01voice\u202egpj.exe"', "invoicegpj.exe"),
        ('Content-Disposition: attachment; filename="..."', "attachment-1.bin"),
        # mixed continuation styles trip the stdlib: the plain reading still finds a name
        ("Content-Disposition: attachment; filename*=x.txt; filename*0=y.txt", "x.txt"),
    ],
)
def test_attachment_filenames_are_decoded_and_made_safe(disposition: str, expected: str) -> None:
    parsed = parse_message(attachment_mail(disposition))

    assert [a.filename for a in parsed.attachments] == [expected]
    assert parsed.attachments[0].data == b"payload"


def test_name_parameter_on_content_type_is_used() -> None:
    parsed = parse_message(attachment_mail("X-Nothing: 1", ctype='application/pdf; name="old style.pdf"'))

    assert parsed.attachments[0].filename == "old style.pdf"


def test_long_filenames_are_capped_keeping_the_extension() -> None:
    name = "x" * 300 + ".pdf"
    parsed = parse_message(attachment_mail(f'Content-Disposition: attachment; filename="{name}"'))

    filename = parsed.attachments[0].filename
    assert len(filename) == 200
    assert filename.endswith("x.pdf")


def test_missing_filename_gets_a_generated_name_with_extension() -> None:
    parsed = parse_message(attachment_mail("Content-Disposition: attachment", ctype="application/pdf"))

    assert parsed.attachments[0].filename == "attachment-1.pdf"
    assert parsed.attachments[0].content_type == "application/pdf"


def test_garbage_content_type_is_guessed_from_the_filename() -> None:
    parsed = parse_message(
        attachment_mail('Content-Disposition: attachment; filename="face.jpg"', ctype='; name="face.jpg"')
    )

    assert parsed.attachments[0].content_type == "image/jpeg"
    assert "part 3: invalid Content-Type ''" in parsed.defects


def test_content_type_is_lower_case() -> None:
    parsed = parse_message(attachment_mail("Content-Disposition: attachment", ctype="Application/PDF"))

    assert parsed.attachments[0].content_type == "application/pdf"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a/b\\c.txt", "c.txt"),
        ("  spaced   name .txt ", "spaced name .txt"),
        ("\u202eexe.pdf", "exe.pdf"),
        ("tab\there", "tabhere"),
        ("", ""),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


# --------------------------------------------------------------------------- forwarded messages


def test_forwarded_message_is_an_attachment_and_does_not_override_the_outer_headers() -> None:
    inner = EmailMessage()
    inner["From"] = "Inner <inner@example.org>"
    inner["Subject"] = "Quarterly numbers: Q3/Q4"
    inner["Message-ID"] = "<inner@example.org>"
    inner["Date"] = "Mon, 01 Jan 2001 00:00:00 +0000"
    inner.set_content("inner body")
    outer = EmailMessage()
    outer["From"] = "Outer <outer@example.com>"
    outer["Subject"] = "Fwd: numbers"
    outer["Message-ID"] = "<outer@example.com>"
    outer.set_content("see below")
    outer.add_attachment(inner)

    parsed = parse_message(outer.as_bytes())

    assert parsed.subject == "Fwd: numbers"
    assert parsed.message_id == "outer@example.com"
    assert parsed.from_ == Address(email="outer@example.com", name="Outer")
    assert parsed.date is None
    assert parsed.text == "see below\n"
    (forwarded,) = parsed.attachments
    assert forwarded.content_type == "message/rfc822"
    assert forwarded.filename == "Quarterly numbers: Q3-Q4.eml"
    assert b"inner body" in forwarded.data


def test_forwarded_message_filename_comes_from_its_subject_or_defaults() -> None:
    def forwarded(inner: bytes) -> str:
        raw = mail(
            "Content-Type: multipart/mixed; boundary=b",
            body=b"--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: message/rfc822\n\n"
            + inner
            + b"\n--b--\n",
        )
        return parse_message(raw).attachments[0].filename

    assert forwarded(b"Subject: =?utf-8?q?R=C3=A9union?=\nFrom: x@y\n\nbody") == "Réunion.eml"
    assert forwarded(b"From: x@y\n\nno subject") == "forwarded.eml"
    assert forwarded(b"Subject: ...\n\nbody") == "forwarded.eml"


# --------------------------------------------------------------------------- broken structure


def test_missing_final_boundary_still_yields_the_parts() -> None:
    raw = mail(
        "Content-Type: multipart/alternative; boundary = nextPart",
        body=b"--nextPart\nContent-Type: text/plain; charset=iso-8859-1\n\nSome body\n--nextPart\n"
        b"Content-Type: text/html\n\n<p>html</p>",
    )

    parsed = parse_message(raw)

    assert parsed.text == "Some body"
    assert parsed.html == "<p>html</p>"


def test_multipart_without_boundary_or_parts_is_salvaged_as_text() -> None:
    no_boundary = parse_message(mail("Content-Type: multipart/mixed", body=b"just text"))
    no_parts = parse_message(mail("Content-Type: multipart/mixed; boundary=zz", body=b"no delimiters here"))

    assert no_boundary.text == "just text"
    assert "part 1: multipart without boundary" in no_boundary.defects
    assert no_parts.text == "no delimiters here"
    assert "part 1: multipart without parts" in no_parts.defects


def test_a_non_header_line_ends_the_headers_and_is_recorded_as_a_defect() -> None:
    parsed = parse_message(b"Subject: ok\nthis is not a header\nX: y\n\nbody")

    assert parsed.subject == "ok"
    assert parsed.text.startswith("this is not a header")
    assert "part 1: MissingHeaderBodySeparatorDefect" in parsed.defects


def test_multipart_digest_parts_default_to_message_rfc822() -> None:
    raw = mail(
        "Content-Type: multipart/digest; boundary=d",
        body=b"--d\n\nSubject: first\n\none\n--d\n\nSubject: second\n\ntwo\n--d--\n",
    )

    parsed = parse_message(raw)

    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("first.eml", "message/rfc822"),
        ("second.eml", "message/rfc822"),
    ]


# --------------------------------------------------------------------------- limits


def nesting_bomb(levels: int) -> bytes:
    head = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(levels))
    tail = b"".join(b"\n--b%d--\n" % i for i in reversed(range(levels)))
    return b"From: a@example.com\n" + head + b"Content-Type: text/plain\n\ndeep" + tail


@pytest.mark.timeout(120)  # a hang guard (the stdlib's recursion would blow up, not slow down)
def test_a_1000_level_nesting_bomb_is_truncated() -> None:
    parsed = parse_message(nesting_bomb(1000))

    assert MessageFlag.TRUNCATED in parsed.flags
    assert MessageFlag.PARSE_FAILED not in parsed.flags
    assert "part 21: nested deeper than 20 levels, not read" in parsed.defects


def test_nesting_within_the_depth_limit_is_read() -> None:
    parsed = parse_message(nesting_bomb(5), max_depth=10)

    assert parsed.text == "deep"
    assert MessageFlag.TRUNCATED not in parsed.flags


def test_too_many_parts_are_truncated() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=x\n\n" + b"--x\nContent-Type: text/plain\n\nhi\n" * 10_000

    parsed = parse_message(raw, max_parts=50)

    assert MessageFlag.TRUNCATED in parsed.flags
    assert "stopped after 50 MIME parts" in parsed.defects
    assert parsed.text.count("hi") == 49  # the 50th part is the multipart itself


def test_an_enormous_header_block_is_cut() -> None:
    raw = b"".join(b"X-H%d: v\n" % i for i in range(100_000)) + b"\nbody"

    parsed = parse_message(raw)

    assert MessageFlag.TRUNCATED in parsed.flags
    assert len(parsed.headers) == 1000


# --------------------------------------------------------------------------- failure path


def test_an_internal_failure_returns_parse_failed_with_what_could_be_salvaged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("walker exploded")

    monkeypatch.setattr(parse_module, "_walk", explode)
    raw = mail("Subject: =?utf-8?q?still_readable_=E2=9C=93?=", "From: a@example.com", body=b"the body")

    parsed = parse_message(raw)

    assert MessageFlag.PARSE_FAILED in parsed.flags
    assert parsed.parse_error == "RuntimeError: walker exploded"
    assert parsed.message_id == synthesized_message_id(raw)
    assert parsed.subject == "still readable ✓"
    assert ("From", "a@example.com") in parsed.headers
    assert parsed.text == "the body"


def test_a_failure_inside_the_salvage_still_returns_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_args: object, **_kwargs: object) -> object:
        raise ValueError("nope")

    monkeypatch.setattr(parse_module, "_walk", explode)
    monkeypatch.setattr(parse_module, "_read_headers", explode)

    parsed = parse_message(b"Subject: x\n\n\xff body")

    assert parsed.flags >= {MessageFlag.PARSE_FAILED, MessageFlag.MESSAGE_ID_SYNTHESIZED}
    assert parsed.text == "Subject: x\n\n\ufffd body"


def test_non_bytes_input_does_not_raise() -> None:
    parsed = parse_message("not bytes")  # type: ignore[arg-type]

    assert MessageFlag.PARSE_FAILED in parsed.flags
    assert parsed.message_id.endswith("@mailroom.invalid")


# --------------------------------------------------------------------------- classification wiring


def test_flags_from_classify_are_set() -> None:
    auto = parse_message(mail("Auto-Submitted: auto-replied", "Subject: Out of office", body=b"x"))
    bulk = parse_message(mail("List-Id: <news.example.com>", body=b"x"))
    bounce = parse_message(
        mail(
            "From: MAILER-DAEMON@example.com",
            'Content-Type: multipart/report; report-type="delivery-status"; boundary=r',
            body=b"--r\nContent-Type: text/plain\n\nfailed\n--r\nContent-Type: message/delivery-status\n\n"
            b"Action: failed\n--r--\n",
        )
    )

    assert MessageFlag.AUTO_REPLY in auto.flags
    assert MessageFlag.BULK in bulk.flags
    assert MessageFlag.BOUNCE in bounce.flags
    assert bounce.text == "failed"
    assert bounce.attachments[0].filename == "attachment-1.txt"


# --------------------------------------------------------------------------- speed


def test_a_typical_20kb_message_parses_in_a_few_milliseconds() -> None:
    msg = EmailMessage()
    msg["From"] = "Alice Example <alice@example.com>"
    msg["To"] = ", ".join(f"user{i}@example.com" for i in range(10))
    msg["Subject"] = "Quarterly report – please review"
    msg["Message-ID"] = "<report@example.com>"
    msg["Date"] = "Tue, 07 May 2013 23:11:57 +0200"
    for i in range(15):
        msg["Received"] = f"from relay{i}.example.com by mx.example.com; Tue, 07 May 2013 23:11:{i:02d} +0200"
    paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20
    msg.set_content(f"{paragraph}\n\n" * 6)
    msg.add_alternative(f"<html><body>{f'<p>{paragraph}</p>' * 6}</body></html>", subtype="html")
    msg.add_attachment(b"\x00" * 2000, maintype="application", subtype="octet-stream", filename="a.bin")
    raw = msg.as_bytes()
    assert 15_000 < len(raw) < 30_000

    parse_message(raw)  # warm caches
    runs = 20
    started = time.perf_counter()
    for _ in range(runs):
        parsed = parse_message(raw)
    per_message = (time.perf_counter() - started) / runs

    assert parsed.text.startswith("Lorem ipsum")
    assert per_message < 0.010  # typically ~2 ms; the bound leaves room for a slow CI machine


# --------------------------------------------------------------------------- the real-world corpus


def corpus_files() -> list[Path]:
    return sorted(CORPUS.rglob("*.eml"))


def test_the_corpus_is_there() -> None:
    assert len(corpus_files()) >= 40, f"expected the flanker corpus under {CORPUS}"


@pytest.mark.parametrize("path", corpus_files(), ids=lambda path: str(path.relative_to(CORPUS)))
def test_every_corpus_message_parses(path: Path) -> None:
    parsed = parse_message(path.read_bytes())

    assert isinstance(parsed, ParsedMessage)
    assert parsed.message_id
    assert MessageFlag.PARSE_FAILED not in parsed.flags
    assert parsed.text.strip() or parsed.attachments or path.name == "false-multipart.eml"  # empty body
    assert parsed.model_dump_json(by_alias=True)  # the result serializes (attachment data excluded)


def corpus(name: str) -> ParsedMessage:
    return parse_message((CORPUS / name).read_bytes())


def test_corpus_encoded_display_name_with_comma() -> None:
    assert corpus("encoded-header.eml").from_ == Address(email="foo.bar@example.com", name="Foo, Bar")


def test_corpus_bilingual_subject_over_two_encoded_words() -> None:
    assert corpus("bilingual-simple.eml").subject == "Simple text. How are you? Как ты поживаешь?"


def test_corpus_russian_attachment_name_cut_mid_character() -> None:
    (attachment,) = corpus("russian-attachment-yahoo.eml").attachments
    assert attachment.filename.startswith("Картинка с очень, очень длинным")
    assert attachment.content_type == "image/png"


def test_corpus_enclosed_messages_stay_attachments() -> None:
    for name in ("enclosed.eml", "enclosed-broken.eml", "enclosed-bad-encoding.eml", "enclosed-endless.eml"):
        parsed = corpus(name)
        assert parsed.subject == "Wow"
        assert parsed.text == "Hello\n"
        assert [(a.filename, a.content_type) for a in parsed.attachments] == [
            ("thanks.eml", "message/rfc822")
        ]


def test_corpus_broken_multiparts_keep_their_text() -> None:
    assert corpus("missing-final-boundary.eml").text == "Some body\n"
    assert "Hello" in corpus("mailformed-headers.eml").text
    assert corpus("missing-boundaries.eml").text.startswith("Hi This is a broken message")
    assert corpus("dashed-boundaries.eml").text == "Hi\n"
    assert corpus("dashed-boundaries.eml").html == "<html><body>Hi</body></html>\n"


def test_corpus_bounces_are_flagged() -> None:
    for name in (
        "bounce/broken-mime.eml",
        "bounce/delayed.eml",
        "bounce/delayed-broken.eml",
        "bounce/gmail-invalid-address.eml",
        "bounce/gmail-no-dns.eml",
        "bounce/mailbox-full.eml",
        "bounce/no-mx.eml",
        "bounce/office365.eml",
        "bounce/zed.eml",
    ):
        assert MessageFlag.BOUNCE in corpus(name).flags, name


def test_corpus_messages_without_a_text_body_fall_back_to_a_readable_part() -> None:
    signed = corpus("signed.eml")  # S/MIME content declared "application/plain; charset=utf-8"
    assert signed.text == "a pöstal sign of our times"
    assert [a.filename for a in signed.attachments] == ["attachment-1.bin", "smime.p7s"]

    report = corpus("bounce/delayed-broken.eml")  # a bare message/delivery-status
    assert report.text.startswith("MIME-Version: 1.0\nReporting-Mta: dns; a92.example.com")


def test_corpus_html_only_and_torture() -> None:
    long_links = corpus("long-links.eml")
    assert MessageFlag.HTML_ONLY in long_links.flags
    assert "http://www.longurlmaker.com/" in long_links.text

    torture = corpus("torture.eml")
    assert torture.subject == "Multi-media mail demonstration"
    assert torture.text.startswith("This is a demonstration of multi-part mail")
    assert len(torture.attachments) >= 4


# --------------------------------------------------------------------------- real-world details


@pytest.mark.parametrize(
    ("value", "offset_hours"),
    [
        ("Mon, 16 Nov 2026 10:00:00 GMT+0200", 2),
        ("Mon, 16 Nov 2026 10:00:00 GMT+2", 2),
        ("Mon Nov 16 2026 10:00:00 GMT+0200 (Central European Summer Time)", 2),  # JavaScript
        ("Mon, 16 Nov 2026 10:00:00 UTC+05:30", 5.5),
        ("16 Nov 2026 10:00 UT-3", -3),
        ("Mon, 16 Nov 2026 10:00:00 CEST", 2),
        ("Mon, 16 Nov 2026 10:00:00 JST", 9),
        ("Mon, 16 Nov 2026 10:00:00 -0500 (EST)", -5),
        ("Mon, 16 Nov 2026 10:00:00 GMT", 0),
    ],
)
def test_a_zone_written_as_a_name_or_gmt_offset_is_read(value: str, offset_hours: float) -> None:
    parsed = parse_message(mail("From: a@example.com", f"Date: {value}", body=b"x"))
    assert parsed.date is not None
    assert parsed.date.replace(tzinfo=None) == datetime(2026, 11, 16, 10, 0)
    assert parsed.date.utcoffset() == timedelta(hours=offset_hours)


def test_undecodable_characters_become_replacement_characters() -> None:
    """UTF-7 lets half a surrogate pair through, and NUL cannot be shown: neither reaches the text
    (which must be storable as UTF-8 and safe in a page)."""
    parsed = parse_message(single("utf-7", b"broken +2D0- emoji, nul\x00here"))
    assert parsed.text == "broken \ufffd emoji, nul\ufffdhere"
    parsed.text.encode("utf-8")  # would raise on a lone surrogate


def test_windows_iso_2022_jp_decodes_and_other_sets_fall_back() -> None:
    from mailroom.mail import iso2022jp_ms

    # ① (NEC row 13), ㈱ and half-width katakana, as Outlook writes them.
    windows = b"\x1b$B-!-j\x1b(B ok \x1b(I6@6E\x1b(B"
    assert parse_message(single("iso-2022-jp", windows)).text == "①㈱ ok ｶﾀｶﾅ"
    with pytest.raises(UnicodeDecodeError):
        iso2022jp_ms.decode(b"\x1b$(D\x30\x21")  # JIS X 0212: not Windows' set
    with pytest.raises(UnicodeDecodeError):
        iso2022jp_ms.decode(b"\x1b$B\x30")  # half a character
    # Not decodable at all: read as UTF-8 and said so, nothing lost.
    parsed = parse_message(single("iso-2022-jp", "naïve".encode()))
    assert parsed.text == "naïve"
    assert any("iso-2022-jp" in defect for defect in parsed.defects)


def test_quoted_printable_trailing_blanks_added_in_transit_are_dropped() -> None:
    parsed = parse_message(
        single("utf-8", b"soft = \r\nbreak, kept=20\r\nend  \r\n", encoding="quoted-printable")
    )
    assert parsed.text == "soft break, kept \nend\n"


def test_related_root_is_the_part_that_start_names() -> None:
    body = (
        b"--R\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\n\r\nPNG\r\n"
        b"--R\r\nContent-Type: text/html; charset=utf-8\r\nContent-ID: <root@x>\r\n\r\n"
        b'<p>Logo: <img src="cid:logo@x"></p>\r\n--R--\r\n'
    )
    parsed = parse_message(
        mail(
            "From: a@example.com",
            'Content-Type: multipart/related; boundary="R"; type="text/html"; start="<root@x>"',
            body=body,
        )
    )
    assert parsed.html == '<p>Logo: <img src="cid:logo@x"></p>'
    [logo] = parsed.attachments
    assert (logo.content_id, logo.inline) == ("logo@x", True)


def test_a_mail_that_is_only_a_forwarded_message_shows_its_text() -> None:
    inner = mail(
        "From: Carol <carol@example.org>",
        "Subject: hi",
        "Date: Mon, 16 Nov 2026 10:00:00 +0000",
        body=b"words",
    )
    parsed = parse_message(mail("From: b@example.com", "Content-Type: message/rfc822", body=inner))
    assert parsed.text == (
        "---------- Forwarded message ----------\n"
        "From: Carol <carol@example.org>\nDate: Mon, 16 Nov 2026 10:00:00 +0000\nSubject: hi\n\nwords"
    )
    [enclosed] = parsed.attachments
    assert enclosed.data == inner


def test_a_bounce_names_the_mail_that_bounced_and_a_forward_does_not() -> None:
    returned = b"From: support@acme.test\r\nMessage-ID: <ours-1@acme.test>\r\nSubject: Re: x\r\n"
    report = (
        b"--R\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n"
        b"--R\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n"
        b"--R\r\nContent-Type: text/rfc822-headers\r\n\r\n" + returned + b"--R--\r\n"
    )
    bounce = parse_message(
        mail(
            "From: MAILER-DAEMON@mx.example.com",
            'Content-Type: multipart/report; report-type=delivery-status; boundary="R"',
            body=report,
        )
    )
    assert MessageFlag.BOUNCE in bounce.flags
    assert bounce.bounced_message_id == "ours-1@acme.test"
    forward = parse_message(
        mail("From: a@example.com", "Content-Type: message/rfc822", body=returned + b"\r\nhi")
    )
    assert forward.bounced_message_id is None
