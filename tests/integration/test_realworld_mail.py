"""Real-world mail, as real mail programs write it, through the real ingest handler and back.

Each test hand-builds a raw message as some real mail program sends it, delivers it through
``functions.ingest.handler`` (DynamoDB Local + local raw store), then reads the conversation back
as JSON (/api/conversations/<id>), as the agent's HTML page (/conversations/<id>) and the mail
frame (/conversations/<id>/messages/<key>/body), and downloads the attachments.
"""
# Mail is multilingual: CJK and Cyrillic test data is intended.
# ruff: noqa: RUF001, E501

from __future__ import annotations

import base64
import html as html_lib
import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from mailroom.settings import get_settings
from mailroom.table.client import Table
from tests.integration.conftest import Api, Deliver

MAILBOX = "support@acme.test"


# --------------------------------------------------------------------------- helpers


def mail(*headers: str | bytes, body: bytes = b"", eol: bytes = b"\r\n") -> bytes:
    head = eol.join(h.encode() if isinstance(h, str) else h for h in headers)
    return head + eol + eol + body


def multipart(boundary: str, *parts: tuple[list[str], bytes], preamble: bytes = b"") -> bytes:
    out = preamble
    for headers, payload in parts:
        out += f"--{boundary}\r\n".encode() + "\r\n".join(headers).encode() + b"\r\n\r\n" + payload + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def ew(text: str, charset: str = "utf-8") -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


@dataclass
class Landed:
    outcome: dict[str, Any]
    detail: dict[str, Any]
    message: dict[str, Any]
    page: str  # the agent's conversation page (HTML)
    frame: str  # the mail frame document (HTML)

    @property
    def conv(self) -> str:
        return str(self.outcome["conversation_id"])

    @property
    def page_text(self) -> str:
        return html_lib.unescape(self.page)


def land(deliver: Deliver, api: Api, raw: bytes, *, received_at: datetime | None = None) -> Landed:
    delivery = deliver(raw, [MAILBOX], received_at=received_at)
    [outcome] = delivery.outcomes
    assert outcome["stored"] is True, outcome
    conv = outcome["conversation_id"]
    status, _, detail = api("GET", f"/api/conversations/{conv}")
    assert status == 200, detail
    [message] = [m for m in detail["messages"] if m["id"] == outcome["message_key"]]
    status, _, page = api("GET", f"/conversations/{conv}")
    assert status == 200, page[:2000]
    status, _, frame = api("GET", f"/conversations/{conv}/messages/{message['id']}/body")
    assert status == 200, frame[:2000]
    return Landed(outcome, detail, message, page, frame)


def download(api: Api, attachment: dict[str, Any]) -> bytes:
    status, _, body = api("GET", attachment["url"])
    assert status == 200, body
    assert isinstance(body, bytes), type(body)
    return body


def check_attachments(api: Api, landed: Landed, expected: list[tuple[str, bytes]]) -> None:
    """Every attachment listed with the right name and size, and downloads byte-exact."""
    got = landed.message["attachments"]
    assert [(a["filename"], a["size"]) for a in got] == [(n, len(d)) for n, d in expected]
    for attachment, (_, data) in zip(got, expected, strict=True):
        assert download(api, attachment) == data
        assert (
            html_lib.escape(attachment["filename"]) in landed.page
            or attachment["filename"] in landed.page_text
        )


# --------------------------------------------------------------------------- charsets

JP = "お世話になっております。請求書の件でご連絡しました。"


def test_iso_2022_jp_mail(deliver: Deliver, api: Api) -> None:
    raw = mail(
        f"From: {ew('山田 太郎', 'iso-2022-jp')} <yamada@example.jp>",
        "To: support@acme.test",
        f"Subject: {ew('請求書について', 'iso-2022-jp')}",
        "Date: Mon, 16 Nov 2026 10:00:00 +0900",
        "Message-ID: <jp1@example.jp>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=ISO-2022-JP",
        "Content-Transfer-Encoding: 7bit",
        body=JP.encode("iso2022_jp") + b"\r\n",
    )
    landed = land(deliver, api, raw)
    assert landed.message["subject"] == "請求書について"
    assert landed.message["from"]["name"] == "山田 太郎"
    assert JP in landed.message["text"]
    assert JP in landed.page_text
    assert "請求書について" in landed.page_text
    assert landed.detail["contact_name"] == "山田 太郎"


@pytest.mark.parametrize(
    ("charset", "text", "codec"),
    [
        ("Shift_JIS", "①髙﨑です。～よろしくお願いします", "cp932"),
        ("GB2312", "您好，我的订单还没有到。", "gb2312"),
        ("GBK", "您好，镕基的订单", "gbk"),
        ("GB18030", "您好，订单 €", "gb18030"),
        ("Big5", "您好，我的發票有問題。", "big5"),
        ("KOI8-R", "Здравствуйте, где мой счёт?", "koi8_r"),
        ("iso-8859-1", "“Smart” quotes – €5 • naïve", "cp1252"),  # windows-1252 bytes, latin-1 label
        ("windows-1251", "Привет", "cp1251"),
        ("euc-kr", "안녕하세요", "cp949"),
    ],
)
def test_legacy_charset_body_and_subject(
    deliver: Deliver, api: Api, charset: str, text: str, codec: str
) -> None:
    subject_bytes = text[:8].encode(codec)
    raw = mail(
        "From: Customer <c@example.net>",
        f"Subject: =?{charset}?B?{base64.b64encode(subject_bytes).decode()}?=",
        f"Message-ID: <cs-{codec}@example.net>",
        "Date: Mon, 16 Nov 2026 10:00:00 +0000",
        f"Content-Type: text/plain; charset={charset}",
        "Content-Transfer-Encoding: 8bit",
        body=text.encode(codec) + b"\r\n",
    )
    landed = land(deliver, api, raw)
    assert landed.message["subject"] == text[:8].strip()
    assert landed.message["text"].strip() == text
    assert text in landed.page_text


@pytest.mark.parametrize(
    "label", ["utf8", "x-unknown", "UTF-8 ", '"utf-8"', "unicode-1-1-utf-8", "utf-8lol", "unknown-8bit"]
)
def test_unknown_or_misspelled_charset_label(deliver: Deliver, api: Api, label: str) -> None:
    text = "Grüße aus Köln – ✓"
    raw = mail(
        "From: a@example.com",
        f"Message-ID: <label-{abs(hash(label))}@example.com>",
        f"Content-Type: text/plain; charset={label}",
        body=text.encode(),
    )
    landed = land(deliver, api, raw)
    assert landed.message["text"] == text


def test_utf7_label_unicode_1_1(deliver: Deliver, api: Api) -> None:
    raw = mail(
        "From: a@example.com",
        "Message-ID: <u7@example.com>",
        "Subject: =?unicode-1-1-utf-7?Q?Hi_Mom_-+Jjo--!?=",
        "Content-Type: text/plain; charset=unicode-1-1-utf-7",
        body=b"Hi Mom -+Jjo--! Caf+AOk-",
    )
    landed = land(deliver, api, raw)
    assert landed.message["text"] == "Hi Mom -☺-! Café"
    assert landed.message["subject"] == "Hi Mom -☺-!"


def test_utf7_body_html(deliver: Deliver, api: Api) -> None:
    raw = mail(
        "From: a@example.com",
        "Message-ID: <u7h@example.com>",
        "Content-Type: text/html; charset=utf-7",
        body=b"<p>Caf+AOk- +2D3eAA-</p>",  # an emoji as one surrogate pair
    )
    landed = land(deliver, api, raw)
    assert "Café 😀" in landed.message["text"]


def test_utf7_lone_surrogate_does_not_lose_the_mail(deliver: Deliver, api: Api) -> None:
    """A UTF-7 run that decodes to half a surrogate pair (broken encoder, or on purpose)."""
    raw = mail(
        "From: a@example.com",
        "Message-ID: <u7s@example.com>",
        "Subject: hello",
        "Content-Type: text/html; charset=utf-7",
        body=b"<p>broken +2D0- emoji</p>",
    )
    landed = land(deliver, api, raw)
    assert landed.message["text"] == "broken \ufffd emoji"


def test_utf7_lone_surrogate_in_plain_text_and_subject(deliver: Deliver, api: Api) -> None:
    raw = mail(
        "From: a@example.com",
        "Message-ID: <u7s2@example.com>",
        "Subject: =?utf-7?Q?broken_+2D0-?=",
        "Content-Type: text/plain; charset=utf-7",
        body=b"broken +2D0- emoji",
    )
    landed = land(deliver, api, raw)
    assert landed.message["text"] == "broken \ufffd emoji"
    assert landed.detail["subject"] == "broken \ufffd"


def test_utf7_lone_surrogate_in_filename(deliver: Deliver, api: Api) -> None:
    raw = mail(
        "From: a@example.com",
        "Message-ID: <u7s3@example.com>",
        'Content-Type: multipart/mixed; boundary="B"',
        body=multipart(
            "B",
            (["Content-Type: text/plain"], b"see file"),
            (
                [
                    "Content-Type: application/pdf",
                    "Content-Disposition: attachment; filename*=utf-7''a%2B2D0-.pdf",
                ],
                b"PDF",
            ),
        ),
    )
    landed = land(deliver, api, raw)
    assert [a["filename"] for a in landed.message["attachments"]] == ["a\ufffd.pdf"]


def test_8bit_body_without_any_charset(deliver: Deliver, api: Api) -> None:
    for n, (payload, expected) in enumerate(
        [("Grüße ✓".encode(), "Grüße ✓"), ("Grüße, naïve café".encode("cp1252"), "Grüße, naïve café")]
    ):
        raw = mail("From: a@example.com", f"Message-ID: <nocs{n}@example.com>", body=payload)
        landed = land(deliver, api, raw)
        assert landed.message["text"] == expected


def test_encoded_words_split_mid_multibyte_character(deliver: Deliver, api: Api) -> None:
    data = "日本語のお問い合わせ".encode()
    first, second = base64.b64encode(data[:4]).decode(), base64.b64encode(data[4:]).decode()
    sj = "日本語のテスト".encode("shift_jis")
    q1 = "".join(f"={x:02X}" for x in sj[:3])
    q2 = "".join(f"={x:02X}" for x in sj[3:])
    raw = mail(
        f"From: =?UTF-8?B?{base64.b64encode('佐藤'.encode()[:4]).decode()}?=\r\n =?UTF-8?B?{base64.b64encode('佐藤'.encode()[4:]).decode()}?= <sato@example.jp>",
        f"Subject: =?UTF-8?B?{first}?=\r\n =?UTF-8?B?{second}?=",
        f"X-Probe: =?shift_jis?Q?{q1}?= =?SHIFT_JIS?Q?{q2}?=",
        "Message-ID: <split@example.jp>",
        "Content-Type: text/plain; charset=utf-8",
        body=b"body",
    )
    landed = land(deliver, api, raw)
    assert landed.message["subject"] == "日本語のお問い合わせ"
    assert landed.message["from"]["name"] == "佐藤"
    assert "日本語のお問い合わせ" in landed.page_text


# --------------------------------------------------------------------------- filenames

TEXT_PART = (["Content-Type: text/plain; charset=utf-8"], b"Please see the attached file.")


def with_attachments(mid: str, *parts: tuple[list[str], bytes]) -> bytes:
    return mail(
        "From: Customer <c@example.net>",
        "Subject: files",
        f"Message-ID: <{mid}@example.net>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="XX"',
        body=multipart("XX", TEXT_PART, *parts),
    )


def test_rfc2231_continuations_with_percent_encoding_and_language(deliver: Deliver, api: Api) -> None:
    data = b"%PDF-1.4\n" + bytes(range(256))
    raw = with_attachments(
        "f2231",
        (
            [
                "Content-Type: application/pdf;\r\n name*0*=UTF-8''Gr%C3%BC%C3%9Fe;\r\n name*1*=%20aus%20M%C3%BCnchen.pdf",
                "Content-Disposition: attachment;\r\n filename*0*=UTF-8'de'Gr%C3%BC%C3%9Fe%20aus;\r\n filename*1*=%20M%C3%BCnchen;\r\n filename*2=\".pdf\"",
                "Content-Transfer-Encoding: base64",
            ],
            b64(data),
        ),
    )
    landed = land(deliver, api, raw)
    check_attachments(api, landed, [("Grüße aus München.pdf", data)])


def test_rfc2047_encoded_filename_outlook_style(deliver: Deliver, api: Api) -> None:
    data = b"PK\x03\x04" + b"\x00" * 50
    name = "Отчёт за ноябрь 2026 (финал).docx"
    encoded = ew(name)
    raw = with_attachments(
        "f2047",
        (
            [
                f'Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document;\r\n\tname="{encoded}"',
                f'Content-Disposition: attachment;\r\n\tfilename="{encoded}"; size={len(data)};\r\n\tcreation-date="Mon, 16 Nov 2026 10:00:00 GMT"',
                "Content-Transfer-Encoding: base64",
            ],
            b64(data),
        ),
    )
    landed = land(deliver, api, raw)
    check_attachments(api, landed, [(name, data)])


def test_rfc2047_filename_split_over_two_words_thunderbird_old(deliver: Deliver, api: Api) -> None:
    raw = with_attachments(
        "f2047b",
        (
            [
                'Content-Type: application/pdf;\r\n name="=?ISO-8859-1?Q?R=E9sum=E9_de_la?=\r\n =?ISO-8859-1?Q?_r=E9union.pdf?="',
                'Content-Disposition: attachment;\r\n filename="=?ISO-8859-1?Q?R=E9sum=E9_de_la?=\r\n =?ISO-8859-1?Q?_r=E9union.pdf?="',
                "Content-Transfer-Encoding: base64",
            ],
            b64(b"%PDF"),
        ),
    )
    landed = land(deliver, api, raw)
    check_attachments(api, landed, [("Résumé de la réunion.pdf", b"%PDF")])


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('attachment; filename="C:\\\\Users\\\\x\\\\a.pdf"', "a.pdf"),
        ('attachment; filename="C:\\Users\\x\\a.pdf"', "a.pdf"),
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ("attachment; filename=..%2F..%2Fetc%2Fpasswd", None),
    ],
)
def test_filename_with_a_path(deliver: Deliver, api: Api, disposition: str, expected: str | None) -> None:
    raw = with_attachments(
        f"fpath{abs(hash(disposition))}",
        (["Content-Type: application/octet-stream", f"Content-Disposition: {disposition}"], b"DATA"),
    )
    landed = land(deliver, api, raw)
    [attachment] = landed.message["attachments"]
    assert "/" not in attachment["filename"]
    assert "\\" not in attachment["filename"]
    if expected:
        assert attachment["filename"] == expected
    assert download(api, attachment) == b"DATA"


def test_no_filename_at_all(deliver: Deliver, api: Api) -> None:
    raw = with_attachments(
        "fnone",
        (["Content-Type: application/pdf", "Content-Transfer-Encoding: base64"], b64(b"%PDF-1.7")),
        (["Content-Type: image/jpeg", "Content-Transfer-Encoding: base64"], b64(b"\xff\xd8\xff")),
        (["Content-Type: application/octet-stream", "Content-Disposition: attachment"], b"\x00\x01\x02"),
    )
    landed = land(deliver, api, raw)
    names = [a["filename"] for a in landed.message["attachments"]]
    assert len(set(names)) == 3, names
    assert names[0].endswith(".pdf"), names
    assert names[1].endswith(".jpg"), names
    assert [a["size"] for a in landed.message["attachments"]] == [8, 3, 3]


def test_extremely_long_filename(deliver: Deliver, api: Api) -> None:
    name = "Quarterly report " + "very " * 300 + "long.xlsx"
    raw = with_attachments(
        "flong",
        (
            ["Content-Type: application/vnd.ms-excel", f'Content-Disposition: attachment; filename="{name}"'],
            b"XLSX",
        ),
    )
    landed = land(deliver, api, raw)
    [attachment] = landed.message["attachments"]
    assert attachment["filename"].endswith(".xlsx")
    assert len(attachment["filename"]) <= 255
    assert download(api, attachment) == b"XLSX"


def test_duplicate_filenames(deliver: Deliver, api: Api) -> None:
    raw = with_attachments(
        "fdup",
        (["Content-Type: image/png", 'Content-Disposition: attachment; filename="image.png"'], b"first"),
        (["Content-Type: image/png", 'Content-Disposition: attachment; filename="image.png"'], b"second!"),
    )
    landed = land(deliver, api, raw)
    got = landed.message["attachments"]
    assert [a["size"] for a in got] == [5, 7]
    assert [download(api, a) for a in got] == [b"first", b"second!"]


def test_attachment_download_header_for_non_ascii_name(deliver: Deliver, api: Api) -> None:
    raw = with_attachments(
        "fhdr",
        (
            [
                "Content-Type: application/pdf",
                "Content-Disposition: attachment; filename*=UTF-8''%E8%AB%8B%E6%B1%82%E6%9B%B8%20%22q%22.pdf",
            ],
            b"PDF",
        ),
    )
    landed = land(deliver, api, raw)
    [attachment] = landed.message["attachments"]
    assert attachment["filename"] == '請求書 "q".pdf'
    status, headers, _ = api("GET", attachment["url"])
    assert status == 200
    assert headers["Content-Disposition"].startswith("attachment; filename*=UTF-8''")


# --------------------------------------------------------------------------- structure

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 20


def test_apple_mail_alternative_in_mixed_with_inline_cid_image(deliver: Deliver, api: Api) -> None:
    cid = "9F1E4C3A-1234-4E5F-8A9B-0C1D2E3F4A5B"
    related = multipart(
        "Apple-Mail=_REL",
        (
            ["Content-Transfer-Encoding: 7bit", "Content-Type: text/html;\r\n\tcharset=utf-8"],
            f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body style="word-wrap: break-word;">Here is the photo<div><img apple-inline="yes" id="X" src="cid:{cid}"></div></body></html>'.encode(),
        ),
        (
            [
                "Content-Transfer-Encoding: base64",
                "Content-Disposition: inline;\r\n\tfilename=IMG_0001.png",
                'Content-Type: image/png;\r\n\tx-unix-mode=0644;\r\n\tname="IMG_0001.png"',
                f"Content-Id: <{cid}>",
            ],
            b64(PNG),
        ),
    )
    alternative = multipart(
        "Apple-Mail=_ALT",
        (
            ["Content-Transfer-Encoding: 7bit", "Content-Type: text/plain;\r\n\tcharset=us-ascii"],
            b"Here is the photo\r\n",
        ),
        (
            ['Content-Type: multipart/related;\r\n\ttype="text/html";\r\n\tboundary="Apple-Mail=_REL"'],
            related,
        ),
    )
    raw = mail(
        "From: Alice Apple <alice@example.com>",
        "Subject: photo",
        "Message-Id: <apple1@example.com>",
        "Date: Mon, 16 Nov 2026 10:00:00 +0100",
        "Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3774.600.62\\))",
        'Content-Type: multipart/mixed;\r\n\tboundary="Apple-Mail=_OUT"',
        body=multipart(
            "Apple-Mail=_OUT",
            (['Content-Type: multipart/alternative;\r\n\tboundary="Apple-Mail=_ALT"'], alternative),
            (
                [
                    "Content-Disposition: attachment;\r\n\tfilename=report.pdf",
                    'Content-Type: application/pdf;\r\n\tx-unix-mode=0644;\r\n\tname="report.pdf"',
                    "Content-Transfer-Encoding: base64",
                ],
                b64(b"%PDF-1.4 data"),
            ),
        ),
    )
    landed = land(deliver, api, raw)
    assert landed.message["text"].strip() == "Here is the photo"
    check_attachments(api, landed, [("IMG_0001.png", PNG), ("report.pdf", b"%PDF-1.4 data")])
    assert landed.message["attachments"][0]["inline"] is True
    expected = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert expected in landed.frame


def test_multipart_related_root_first_without_start(deliver: Deliver, api: Api) -> None:
    raw = mail(
        "From: a@example.com",
        "Message-ID: <rel1@example.com>",
        'Content-Type: multipart/related; boundary="R"; type="text/html"',
        body=multipart(
            "R",
            (["Content-Type: text/html; charset=utf-8"], b'<p>Logo: <img src="cid:logo@x"></p>'),
            (
                ["Content-Type: image/png", "Content-ID: <logo@x>", "Content-Transfer-Encoding: base64"],
                b64(PNG),
            ),
        ),
    )
    landed = land(deliver, api, raw)
    assert landed.message["text"] == "Logo:"
    assert landed.message["attachments"][0]["inline"] is True
    assert "data:image/png;base64," in landed.frame


def test_multipart_related_with_start_parameter_naming_second_part(deliver: Deliver, api: Api) -> None:
    """RFC 2387: the root is the part named by start=, not necessarily the first part."""
    raw = mail(
        "From: a@example.com",
        "Message-ID: <rel2@example.com>",
        'Content-Type: multipart/related; boundary="R"; type="text/html"; start="<root@x>"',
        body=multipart(
            "R",
            (
                ["Content-Type: image/png", "Content-ID: <logo@x>", "Content-Transfer-Encoding: base64"],
                b64(PNG),
            ),
            (
                ["Content-Type: text/html; charset=utf-8", "Content-ID: <root@x>"],
                b'<p>Logo: <img src="cid:logo@x"></p>',
            ),
        ),
    )
    landed = land(deliver, api, raw)
    assert landed.message["html"] is not None, landed.message
    assert landed.message["text"] == "Logo:", landed.message["text"]
    assert "<p>" not in landed.page_text.split("Logo:")[0][-50:]


def test_cid_reference_percent_encoded_or_case(deliver: Deliver, api: Api) -> None:
    """RFC 2392: a cid: URL is the Content-ID, URL-encoded (so "@" may come as %40)."""
    raw = mail(
        "From: a@example.com",
        "Message-ID: <cidenc@example.com>",
        'Content-Type: multipart/related; boundary="R"',
        body=multipart(
            "R",
            (["Content-Type: text/html; charset=utf-8"], b'<p>A <img src="cid:part1%40example.com"></p>'),
            (
                [
                    "Content-Type: image/png",
                    "Content-ID: <part1@example.com>",
                    "Content-Transfer-Encoding: base64",
                ],
                b64(PNG),
            ),
        ),
    )
    landed = land(deliver, api, raw)
    assert "data:image/png;base64," in landed.frame


def test_forwarded_message_as_attachment_and_inline(deliver: Deliver, api: Api) -> None:
    inner = mail(
        "From: Carol <carol@example.org>",
        "Subject: Invoice 42 overdue",
        "Message-ID: <inner@example.org>",
        "Content-Type: text/plain; charset=utf-8",
        body=b"Please pay invoice 42.",
    )
    raw = mail(
        "From: Bob <bob@example.com>",
        "Subject: Fwd: Invoice 42 overdue",
        "Message-ID: <fwd1@example.com>",
        'Content-Type: multipart/mixed; boundary="F"',
        body=multipart(
            "F",
            (["Content-Type: text/plain; charset=utf-8"], b"See below, what do we do?"),
            (["Content-Type: message/rfc822", "Content-Disposition: inline"], inner),
        ),
    )
    landed = land(deliver, api, raw)
    assert landed.message["subject"] == "Fwd: Invoice 42 overdue"
    assert landed.message["from"]["email"] == "bob@example.com"
    assert "See below" in landed.message["text"]
    check_attachments(api, landed, [("Invoice 42 overdue.eml", inner)])

    inline_forward = mail(
        "From: Bob <bob@example.com>",
        "Subject: Fwd: Invoice 42 overdue",
        "Message-ID: <fwd2@example.com>",
        "Content-Type: text/plain; charset=utf-8",
        body=b"FYI\r\n\r\n---------- Forwarded message ---------\r\nFrom: Carol <carol@example.org>\r\n"
        b"Date: Mon, Nov 16, 2026 at 10:00 AM\r\nSubject: Invoice 42 overdue\r\nTo: <bob@example.com>\r\n\r\nPlease pay invoice 42.\r\n",
    )
    landed = land(deliver, api, inline_forward)
    assert "Please pay invoice 42." in landed.message["text"]
    assert "Please pay invoice 42." in landed.page_text


def test_message_that_is_only_a_forwarded_message(deliver: Deliver, api: Api) -> None:
    inner = mail("From: Carol <carol@example.org>", "Subject: hi", body=b"the forwarded words")
    raw = mail(
        "From: Bob <bob@example.com>",
        "Subject: Fwd: hi",
        "Message-ID: <fwdonly@example.com>",
        "Content-Type: message/rfc822",
        "Content-Disposition: inline",
        body=inner,
    )
    landed = land(deliver, api, raw)
    check_attachments(api, landed, [("hi.eml", inner)])
    # Readable without downloading the .eml?
    assert "the forwarded words" in landed.page_text


def test_tnef_winmail_dat(deliver: Deliver, api: Api) -> None:
    tnef = b"\x78\x9f\x3e\x22" + b"\x01\x00" * 20
    raw = with_attachments(
        "tnef",
        (
            [
                'Content-Type: application/ms-tnef; name="winmail.dat"',
                'Content-Disposition: attachment; filename="winmail.dat"',
                "Content-Transfer-Encoding: base64",
            ],
            b64(tnef),
        ),
    )
    landed = land(deliver, api, raw)
    check_attachments(api, landed, [("winmail.dat", tnef)])


def test_calendar_invitation(deliver: Deliver, api: Api) -> None:
    ics = (
        "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nPRODID:Microsoft Exchange Server 2010\r\nVERSION:2.0\r\n"
        "BEGIN:VEVENT\r\nSUMMARY;LANGUAGE=de-DE:Besprechung Grüße\r\nDTSTART:20261120T090000Z\r\n"
        "DTEND:20261120T100000Z\r\nUID:abc\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()
    alt = multipart(
        "ALT",
        (["Content-Type: text/plain; charset=utf-8"], "Einladung: Besprechung Grüße".encode()),
        (["Content-Type: text/html; charset=utf-8"], "<p>Einladung: <b>Besprechung Grüße</b></p>".encode()),
        (
            [
                'Content-Type: text/calendar; charset="utf-8"; method=REQUEST',
                "Content-Transfer-Encoding: base64",
            ],
            b64(ics),
        ),
    )
    raw = mail(
        "From: Organizer <org@example.de>",
        "Subject: Einladung: Besprechung",
        "Message-ID: <cal1@example.de>",
        'Content-Type: multipart/mixed; boundary="MIX"',
        body=multipart(
            "MIX",
            (['Content-Type: multipart/alternative; boundary="ALT"'], alt),
            (
                [
                    'Content-Type: application/ics; name="invite.ics"',
                    'Content-Disposition: attachment; filename="invite.ics"',
                    "Content-Transfer-Encoding: base64",
                ],
                b64(ics),
            ),
        ),
    )
    landed = land(deliver, api, raw)
    assert landed.message["text"] == "Einladung: Besprechung Grüße"
    names = [a["filename"] for a in landed.message["attachments"]]
    assert "invite.ics" in names
    assert any(n.endswith(".ics") for n in names if n != "invite.ics")
    assert all(a["size"] == len(ics) for a in landed.message["attachments"])


def test_smime_signed(deliver: Deliver, api: Api) -> None:
    sig = b"\x30\x82\x01\x00" + b"\x00" * 30
    raw = mail(
        "From: Signer <s@example.com>",
        "Subject: signed",
        "Message-ID: <smime@example.com>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="S"',
        body=multipart(
            "S",
            (
                ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable"],
                b"Signed body caf=C3=A9",
            ),
            (
                [
                    'Content-Type: application/pkcs7-signature; name="smime.p7s"',
                    "Content-Transfer-Encoding: base64",
                    'Content-Disposition: attachment; filename="smime.p7s"',
                ],
                b64(sig),
            ),
            preamble=b"This is an S/MIME signed message\r\n\r\n",
        ),
    )
    landed = land(deliver, api, raw)
    assert landed.message["text"] == "Signed body café"
    assert "S/MIME signed message" not in landed.message["text"]
    check_attachments(api, landed, [("smime.p7s", sig)])


def test_pgp_mime_signed(deliver: Deliver, api: Api) -> None:
    sig = b"-----BEGIN PGP SIGNATURE-----\r\n\r\niQEzBAEBCAAdFiEE\r\n-----END PGP SIGNATURE-----\r\n"
    inner = multipart(
        "IN",
        (
            ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable"],
            b"PGP body with =C3=BCmlaut",
        ),
        (
            [
                'Content-Type: application/pdf; name="x.pdf"',
                'Content-Disposition: attachment; filename="x.pdf"',
            ],
            b"%PDF",
        ),
    )
    raw = mail(
        "From: Pat <pat@example.org>",
        "Subject: pgp",
        "Message-ID: <pgp@example.org>",
        'Content-Type: multipart/signed; micalg=pgp-sha256;\r\n protocol="application/pgp-signature"; boundary="P"',
        body=multipart(
            "P",
            (['Content-Type: multipart/mixed; boundary="IN"'], inner),
            (
                [
                    'Content-Type: application/pgp-signature; name="signature.asc"',
                    "Content-Description: OpenPGP digital signature",
                    'Content-Disposition: attachment; filename="signature.asc"',
                ],
                sig,
            ),
            preamble=b"This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n",
        ),
    )
    landed = land(deliver, api, raw)
    assert landed.message["text"] == "PGP body with ümlaut"
    check_attachments(api, landed, [("x.pdf", b"%PDF"), ("signature.asc", sig)])


def test_delivery_status_notification(deliver: Deliver, api: Api) -> None:
    raw = mail(
        "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>",
        "To: support@acme.test",
        "Subject: Undelivered Mail Returned to Sender",
        "Message-ID: <dsn1@mx.example.net>",
        "Auto-Submitted: auto-replied",
        'Content-Type: multipart/report; report-type=delivery-status;\r\n boundary="D"',
        body=multipart(
            "D",
            (
                ["Content-Description: Notification", "Content-Type: text/plain; charset=us-ascii"],
                b"This is the mail system at host mx.example.net.\r\n\r\nI'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients.",
            ),
            (
                ["Content-Description: Delivery report", "Content-Type: message/delivery-status"],
                b"Reporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; nobody@example.org\r\nAction: failed\r\nStatus: 5.1.1",
            ),
            (
                ["Content-Description: Undelivered Message Headers", "Content-Type: text/rfc822-headers"],
                b"From: support@acme.test\r\nSubject: Re: help\r\nMessage-ID: <our-1@acme.test>",
            ),
        ),
    )
    landed = land(deliver, api, raw)
    assert "bounce" in landed.message["flags"]
    assert "could not" in landed.message["text"]
    assert len(landed.message["attachments"]) == 2


def test_outlook_read_receipt(deliver: Deliver, api: Api) -> None:
    raw = mail(
        "From: Carol <carol@example.org>",
        "Subject: Read: help",
        "Message-ID: <mdn1@example.org>",
        'Content-Type: multipart/report; report-type=disposition-notification;\r\n\tboundary="M"',
        body=multipart(
            "M",
            (
                ['Content-Type: text/plain; charset="utf-8"', "Content-Transfer-Encoding: 7bit"],
                b"Your message\r\n\r\n  To: Carol\r\n  Subject: help\r\n\r\nwas read on Monday.",
            ),
            (
                ["Content-Type: message/disposition-notification"],
                b"Reporting-UA: carol-pc; Microsoft Outlook 16.0\r\nFinal-Recipient: rfc822;carol@example.org\r\nOriginal-Message-ID: <our-1@acme.test>\r\nDisposition: manual-action/MDN-sent-manually; displayed",
            ),
        ),
    )
    landed = land(deliver, api, raw)
    assert "was read" in landed.message["text"]
    assert "auto_reply" in landed.message["flags"]


def test_only_an_attachment_no_text(deliver: Deliver, api: Api) -> None:
    pdf = b"%PDF-1.4 scanned"
    raw = mail(
        "From: Scanner <scanner@example.com>",
        "Subject: Scanned document",
        "Message-ID: <scan@example.com>",
        'Content-Type: application/pdf; name="scan.pdf"',
        'Content-Disposition: attachment; filename="scan.pdf"',
        "Content-Transfer-Encoding: base64",
        body=b64(pdf),
    )
    landed = land(deliver, api, raw)
    check_attachments(api, landed, [("scan.pdf", pdf)])


def test_empty_body_and_no_body(deliver: Deliver, api: Api) -> None:
    land(deliver, api, mail("From: a@example.com", "Subject: empty", "Message-ID: <e1@example.com>"))
    land(deliver, api, b"From: a@example.com\r\nSubject: no blank line\r\nMessage-ID: <e2@example.com>\r\n")
    land(deliver, api, b"From: a@example.com\r\nSubject: no final newline\r\nMessage-ID: <e3@example.com>")


def test_html_only(deliver: Deliver, api: Api) -> None:
    raw = mail(
        "From: a@example.com",
        "Message-ID: <ho@example.com>",
        "Content-Type: text/html; charset=windows-1252",
        "Content-Transfer-Encoding: quoted-printable",
        body=b"<html><body><p>Hello&nbsp;<b>there</b> =93quoted=94</p><div>second</div></body></html>",
    )
    landed = land(deliver, api, raw)
    assert landed.message["text"] == "Hello there \u201cquoted\u201d\n\nsecond"
    assert "<b>there</b>" in landed.frame


def test_quoted_printable_soft_breaks(deliver: Deliver, api: Api) -> None:
    raw = mail(
        "From: a@example.com",
        "Message-ID: <qp@example.com>",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        body=b"This is a long line that was soft =\r\nbroken, caf=C3=A9, =3D sign, lower =c3=a9.=\r\n",
    )
    landed = land(deliver, api, raw)
    assert landed.message["text"] == "This is a long line that was soft broken, café, = sign, lower é."


def test_quoted_printable_soft_break_with_trailing_whitespace(deliver: Deliver, api: Api) -> None:
    """RFC 2045 6.7 (3): trailing whitespace on an encoded line was added in transport and must be
    deleted, so "= " at line end is still a soft line break."""
    raw = mail(
        "From: a@example.com",
        "Message-ID: <qpws@example.com>",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        body=b"soft = \r\nbreak",
    )
    landed = land(deliver, api, raw)
    assert landed.message["text"] == "soft break"


def test_base64_missing_padding_and_whitespace(deliver: Deliver, api: Api) -> None:
    for n, payload in enumerate([b"SGVsbG8gd29ybGQh\r\nSGk", b"SGVs bG8g\td29y\r\n  bGQh\r\nSGk=\r\n\r\n"]):
        raw = mail(
            "From: a@example.com",
            f"Message-ID: <b64-{n}@example.com>",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
            body=payload,
        )
        landed = land(deliver, api, raw)
        assert landed.message["text"] == "Hello world!Hi"


def test_base64_attachment_missing_padding(deliver: Deliver, api: Api) -> None:
    data = bytes(range(200))
    encoded = base64.b64encode(data).rstrip(b"=")
    raw = with_attachments(
        "b64att",
        (
            [
                "Content-Type: application/octet-stream",
                "Content-Disposition: attachment; filename=blob.bin",
                "Content-Transfer-Encoding: base64",
            ],
            encoded,
        ),
    )
    landed = land(deliver, api, raw)
    check_attachments(api, landed, [("blob.bin", data)])


def test_line_longer_than_1000_characters(deliver: Deliver, api: Api) -> None:
    line = ("0123456789" * 500) + "END"
    raw = mail(
        "From: a@example.com",
        "Message-ID: <long@example.com>",
        "Content-Type: text/plain",
        body=line.encode(),
    )
    landed = land(deliver, api, raw)
    assert landed.message["text"] == line


@pytest.mark.parametrize("eol", [b"\n", b"\r"])
def test_bare_line_endings(deliver: Deliver, api: Api, eol: bytes) -> None:
    raw = mail(
        "From: Lf Sender <lf@example.com>",
        "Subject: bare line ends",
        f"Message-ID: <eol{len(eol)}{eol[0]}@example.com>",
        "Content-Type: multipart/mixed; boundary=B",
        eol=eol,
        body=eol.join(
            [
                b"--B",
                b"Content-Type: text/plain",
                b"",
                b"line one",
                b"line two",
                b"--B",
                b"Content-Type: text/plain",
                b"Content-Disposition: attachment; filename=a.txt",
                b"",
                b"attached",
                b"--B--",
                b"",
            ]
        ),
    )
    landed = land(deliver, api, raw)
    assert landed.message["subject"] == "bare line ends"
    assert landed.message["text"] == "line one\nline two"
    assert [a["filename"] for a in landed.message["attachments"]] == ["a.txt"]


def test_mixed_bare_cr_inside_crlf_message(deliver: Deliver, api: Api) -> None:
    raw = mail(
        "From: a@example.com",
        "Message-ID: <mixcr@example.com>",
        "Content-Type: text/plain",
        body=b"one\rtwo\r\nthree",
    )
    landed = land(deliver, api, raw)
    assert "one" in landed.message["text"]
    assert "three" in landed.message["text"]


def test_nul_bytes_in_body(deliver: Deliver, api: Api) -> None:
    raw = mail(
        "From: a@example.com",
        "Message-ID: <nul@example.com>",
        "Subject: nul\x00here",
        "Content-Type: text/plain",
        body=b"before\x00after",
    )
    landed = land(deliver, api, raw)
    assert landed.message["text"] == "before\ufffdafter"
    assert "\x00" not in landed.page


# --------------------------------------------------------------------------- headers


def simple(*headers: str | bytes, body: bytes = b"Hello") -> bytes:
    return mail(*headers, "Content-Type: text/plain; charset=utf-8", body=body)


@pytest.mark.parametrize(
    "from_header",
    ["From: John Doe", "From:", "From: <>", "From: undisclosed-recipients:;", 'From: "Only A Name" <>'],
)
def test_from_without_an_address(deliver: Deliver, api: Api, from_header: str) -> None:
    raw = simple(from_header, "Subject: no from", f"Message-ID: <nofrom{abs(hash(from_header))}@example.com>")
    landed = land(deliver, api, raw)
    assert landed.detail["contact_email"] == "sender@example.com"  # the envelope sender


def test_multiple_from_addresses(deliver: Deliver, api: Api) -> None:
    raw = simple(
        "From: Ann <ann@example.com>, Bob <bob@example.com>",
        "Sender: ann@example.com",
        "Message-ID: <mf@example.com>",
    )
    landed = land(deliver, api, raw)
    assert landed.message["from"]["email"] == "ann@example.com"


def test_from_with_comment(deliver: Deliver, api: Api) -> None:
    raw = simple("From: john@example.com (John Doe)", "Message-ID: <fc@example.com>")
    landed = land(deliver, api, raw)
    assert landed.message["from"] == {"email": "john@example.com", "name": "John Doe"}
    assert landed.detail["contact_name"] == "John Doe"


def test_display_name_with_encoded_comma(deliver: Deliver, api: Api) -> None:
    raw = simple(
        "From: =?utf-8?Q?M=C3=BCller=2C_J=C3=BCrgen?= <jm@example.de>",
        "To: =?utf-8?B?RG9lLCBKYW5l?= <jane@example.com>, support@acme.test",
        "Message-ID: <ecomma@example.de>",
    )
    landed = land(deliver, api, raw)
    assert landed.message["from"] == {"email": "jm@example.de", "name": "Müller, Jürgen"}
    assert [a["email"] for a in landed.message["to"]] == ["jane@example.com", "support@acme.test"]


def test_reply_to_differs_from_from(deliver: Deliver, api: Api) -> None:
    raw = simple(
        "From: Shop <noreply@shop.example>",
        "Reply-To: Real Person <real@example.org>",
        "Message-ID: <rt@shop.example>",
    )
    landed = land(deliver, api, raw)
    assert landed.message["from"]["email"] == "noreply@shop.example"
    assert landed.detail["contact_email"] == "real@example.org"


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        (None, None),
        ("Mon, 32 Foo 2026 10:00:00 +0000", None),
        ("Mon, 16 Nov 2026 10:00:00 EST", "2026-11-16T10:00:00-05:00"),
        ("Mon, 16 Nov 2026 10:00:00 GMT+2", "2026-11-16T10:00:00+02:00"),
        ("Mon, 16 Nov 2026 10:00:00 GMT+0200", "2026-11-16T10:00:00+02:00"),
        ("Mon Nov 16 2026 10:00:00 GMT+0200 (Central European Standard Time)", "2026-11-16T10:00:00+02:00"),
        ("Mon, 16 Nov 2026 10:00:00 +0100 (CET)", "2026-11-16T10:00:00+01:00"),
    ],
)
def test_dates(deliver: Deliver, api: Api, date: str | None, expected: str | None) -> None:
    headers = ["From: a@example.com", f"Message-ID: <d{abs(hash(date))}@example.com>"]
    if date is not None:
        headers.append(f"Date: {date}")
    landed = land(deliver, api, simple(*headers))
    assert landed.message["date"] == expected
    if expected is None:
        assert "date_missing" in landed.message["flags"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("Message-ID: abc123@example.com", "abc123@example.com"),
        ("Message-ID: <>", None),
        ("Message-ID: <abc-no-at>", None),
        ("Message-Id: <Mixed.Case@Example.COM>", "Mixed.Case@Example.COM"),
    ],
)
def test_message_id_shapes(deliver: Deliver, api: Api, header: str | None, expected: str | None) -> None:
    headers = ["From: a@example.com", "Subject: ids"]
    if header:
        headers.append(header)
    landed = land(deliver, api, simple(*headers, body=(header or "none").encode()))
    if expected:
        assert landed.message["message_id"] == expected
    else:
        assert landed.message["message_id"].endswith("@mailroom.invalid")


def test_references_with_hundreds_of_ids_and_threading(deliver: Deliver, api: Api, table: Table) -> None:
    root = land(
        deliver,
        api,
        simple(
            "From: Dana <dana@example.com>", "Subject: long thread", "Message-ID: <root-long@example.com>"
        ),
    )
    refs = " ".join(["<root-long@example.com>", *[f"<r{n}@elsewhere.example>" for n in range(400)]])
    folded = "\r\n\t".join(refs[i : i + 900] for i in range(0, len(refs), 900))  # folded with tabs
    reply = simple(
        "From: Dana <dana@example.com>",
        "Subject: Re: long thread",
        "Message-ID: <reply-long@example.com>",
        f"References: {folded}",
    )
    landed = land(deliver, api, reply)
    assert landed.conv == root.conv
    assert landed.outcome["threaded_by"] == "references"


def test_subject_of_5000_characters(deliver: Deliver, api: Api) -> None:
    subject = "Ünïcödé " * 625
    raw = simple("From: a@example.com", "Message-ID: <longsubj@example.com>", f"Subject: {ew(subject)}")
    landed = land(deliver, api, raw)
    assert landed.message["subject"].strip() == subject.strip()


@pytest.mark.parametrize(
    "prefix",
    [
        "Re: RE: AW: Fwd: SV:",
        "AW: WG:",
        "Antw:",
        "Odp:",
        "回复：",
        "RE[2]:",
        "Sv: Vs:",
        "R: I:",
        "TR: RE:",
        "Ynt:",
        "ΑΠ:",
        "Re : Fwd :",
        "Rif:",
        "[EXTERNAL] RE:",
    ],
)
def test_reply_prefixes_thread_by_subject(deliver: Deliver, api: Api, prefix: str) -> None:
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    first = land(
        deliver,
        api,
        simple(
            "From: Eve <eve@example.com>",
            "Subject: Lieferung 42",
            f"Message-ID: <p0-{abs(hash(prefix))}@example.com>",
        ),
        received_at=start,
    )
    second = land(
        deliver,
        api,
        simple(
            "From: Eve <eve@example.com>",
            f"Subject: {ew(prefix + ' Lieferung 42')}",
            f"Message-ID: <p1-{abs(hash(prefix))}@example.com>",
        ),
        received_at=start + timedelta(hours=1),
    )
    assert second.conv == first.conv, prefix


def test_reply_with_only_references(deliver: Deliver, api: Api) -> None:
    root = land(
        deliver, api, simple("From: a@example.com", "Subject: q", "Message-ID: <onlyrefs-root@example.com>")
    )
    reply = land(
        deliver,
        api,
        simple(
            "From: other@example.org",
            "Subject: different",
            "Message-ID: <onlyrefs-1@example.org>",
            "References: <onlyrefs-root@example.com>",
        ),
    )
    assert reply.conv == root.conv


def test_outlook_reply_with_thread_index_only(deliver: Deliver, api: Api) -> None:
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    root = land(
        deliver,
        api,
        simple(
            "From: Olga <olga@example.com>",
            "Subject: Zugang gesperrt",
            "Message-ID: <ol1@example.com>",
            "Thread-Topic: Zugang gesperrt",
            "Thread-Index: AdmBcDEF1234567890abcdef==",
        ),
        received_at=start,
    )
    reply = land(
        deliver,
        api,
        simple(
            "From: Olga <olga@example.com>",
            "Subject: AW: Zugang gesperrt",
            "Message-ID: <ol2@example.com>",
            "Thread-Topic: Zugang gesperrt",
            "Thread-Index: AdmBcDEF1234567890abcdefAAAAAAAA",
        ),
        received_at=start + timedelta(hours=2),
    )
    assert reply.conv == root.conv


def test_in_reply_to_with_mixed_case_message_id(deliver: Deliver, api: Api) -> None:
    root = land(
        deliver,
        api,
        simple("From: a@example.com", "Subject: case", "Message-ID: <CAFoo+Bar=X@mail.gmail.com>"),
    )
    reply = land(
        deliver,
        api,
        simple(
            "From: b@example.org",
            "Subject: x",
            "Message-ID: <case2@example.org>",
            "In-Reply-To: <CAFoo+Bar=X@mail.gmail.com>",
        ),
    )
    assert reply.conv == root.conv


# --------------------------------------------------------------------------- outbound


def outbox() -> list[Path]:
    directory = Path(get_settings().outbound_url.removeprefix("file://"))
    return sorted(directory.glob("*.eml")) if directory.exists() else []


@pytest.fixture
def agent(table: Table, api: Api) -> None:
    from mailroom.assignment.store import AssignmentStore
    from mailroom.domain.agent import Agent
    from mailroom.inbox.directory import upsert_mailbox

    upsert_mailbox(table, MAILBOX, name="Acme Support", team="support")
    AssignmentStore(table).put_agent(Agent(id="admin@acme.test", name="Ada Admin", capacity=5))


def send_reply(api: Api, conv: str, text: str = "We are on it.") -> tuple[int, Any]:
    status, _, detail = api("GET", f"/api/conversations/{conv}")
    body = {"idempotency_key": f"k-{conv}", "seen_version": int(detail["version"]), "text": text}
    status, _, result = api("POST", f"/api/conversations/{conv}/replies", body=json.dumps(body))
    return status, result


@pytest.mark.parametrize(
    ("from_header", "address", "name"),
    [
        ('From: "Doe, \\"JJ\\" Jr." <jj@example.com>', "jj@example.com", 'Doe, "JJ" Jr.'),
        ("From: =?utf-8?Q?M=C3=BCller=2C_J=C3=BCrgen?= <jm@example.de>", "jm@example.de", "Müller, Jürgen"),
        ("From: José <jose@exämple.com>".encode(), "jose@xn--exmple-cua.com", "José"),
        ("From: josé@exämple.com".encode(), None, ""),
        ("From: jose@exämple.com".encode(), "jose@xn--exmple-cua.com", ""),
        ("From: José Núñez <josé@example.com>".encode(), None, "José Núñez"),
    ],
)
@pytest.mark.usefixtures("agent")
def test_reply_to_customer_with_non_ascii_or_tricky_name(
    deliver: Deliver, api: Api, from_header: str | bytes, address: str | None, name: str
) -> None:
    raw = mail(
        from_header,
        "To: support@acme.test",
        "Subject: =?utf-8?Q?Bestellung_Gr=C3=B6=C3=9Fe?=",
        f"Message-ID: <out{zlib.crc32(from_header if isinstance(from_header, bytes) else from_header.encode())}@x.test>",
        "References: <older@example.com>",
        "Content-Type: text/plain; charset=utf-8",
        body=b"hello",
    )
    landed = land(deliver, api, raw)
    status, result = send_reply(api, landed.conv)
    if address is None:
        # A non-ASCII local part needs SMTPUTF8, which SES does not offer: refused with the reason,
        # never mangled into an encoded-word that no server delivers.
        assert status == 422, result
        assert "not ASCII" in result["message"]
        assert outbox() == []
        return
    assert status in {200, 201}, result
    [eml] = outbox()
    sent = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert str(sent["Subject"]) == "Re: Bestellung Größe"
    [to] = sent["To"].addresses
    assert to.display_name == name
    assert to.addr_spec == address
    assert sent["In-Reply-To"] == f"<{landed.message['message_id']}>"
    assert "<older@example.com>" in sent["References"]


@pytest.mark.usefixtures("agent")
def test_reply_subject_not_doubled_and_references_keep_the_root(deliver: Deliver, api: Api) -> None:
    refs = " ".join(["<thread-root@example.com>", *[f"<t{n}@example.com>" for n in range(80)]])
    raw = simple(
        "From: Dana <dana@example.com>",
        "Subject: RE: AW: Angebot",
        "Message-ID: <t-last@example.com>",
        f"References: {refs}",
        "In-Reply-To: <t79@example.com>",
    )
    landed = land(deliver, api, raw)
    status, result = send_reply(api, landed.conv)
    assert status in {200, 201}, result
    [eml] = outbox()
    sent = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert sent["Subject"] == "RE: AW: Angebot"
    assert sent["In-Reply-To"] == "<t-last@example.com>"
    references = sent["References"].split()
    assert references[-1] == "<t-last@example.com>"
    assert references[0] == "<thread-root@example.com>", references[:3]


# --------------------------------------------------------------------------- more real-world cases


def cp932_to_iso2022jp(text: str) -> bytes:
    """Encode as Outlook / Windows do (CP50220/CP50221): JIS X 0208 escapes, but the code points
    are Windows-31J's, so NEC special characters (①, ㈱, Ⅱ) and IBM extensions (髙) are included."""
    out = bytearray()
    in_jis = False
    for ch in text:
        data = ch.encode("cp932")
        if len(data) == 1:
            if in_jis:
                out += b"\x1b(B"
                in_jis = False
            out += data
            continue
        if not in_jis:
            out += b"\x1b$B"
            in_jis = True
        s1, s2 = data
        s1 -= 0xC1 if s1 >= 0xE0 else 0x81
        row = s1 * 2 + 0x21
        if s2 >= 0x9F:
            row += 1
            col = s2 - 0x9F + 0x21
        else:
            col = s2 - 0x40 + 0x21 - (1 if s2 >= 0x80 else 0)
        out += bytes([row, col])
    if in_jis:
        out += b"\x1b(B"
    return bytes(out)


def test_cp932_helper_matches_standard_iso2022jp() -> None:
    text = "お世話になっております。請求書の件"
    assert cp932_to_iso2022jp(text) == text.encode("iso2022_jp")


def test_iso_2022_jp_from_outlook_with_nec_special_characters(deliver: Deliver, api: Api) -> None:
    """Japanese Outlook labels its mail ISO-2022-JP but writes Microsoft's variant (CP50221):
    circled numbers and ㈱ (in almost every company signature) are NEC row 13."""
    text = "お世話になっております。①の件、よろしくお願いします。\r\n山田商事㈱ 営業部"
    raw = mail(
        "From: yamada@example.jp",
        "Subject: =?ISO-2022-JP?B?" + base64.b64encode(cp932_to_iso2022jp("①の件")).decode() + "?=",
        "Message-ID: <outlookjp@example.jp>",
        'Content-Type: text/plain; charset="iso-2022-jp"',
        "Content-Transfer-Encoding: 7bit",
        body=cp932_to_iso2022jp(text),
    )
    landed = land(deliver, api, raw)
    assert landed.message["subject"] == "①の件"
    assert "お世話になっております" in landed.message["text"], landed.message["text"]
    assert "㈱" in landed.message["text"]


def test_subject_threading_when_sender_changes_case_of_address(deliver: Deliver, api: Api) -> None:
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    first = land(
        deliver,
        api,
        simple(
            "From: John <John.Doe@Example.com>", "Subject: Rechnung 7", "Message-ID: <case-a@example.com>"
        ),
        received_at=start,
    )
    second = land(
        deliver,
        api,
        simple(
            "From: John <john.doe@example.com>", "Subject: AW: Rechnung 7", "Message-ID: <case-b@example.com>"
        ),
        received_at=start + timedelta(hours=1),
    )
    assert second.conv == first.conv


def test_large_text_and_html_bodies_are_shown_whole(deliver: Deliver, api: Api) -> None:
    text = "".join(f"Line {n}: Grüße ✓\n" for n in range(20000))
    raw = mail(
        "From: a@example.com",
        "Message-ID: <bigtext@example.com>",
        "Content-Type: text/plain; charset=utf-8",
        body=text.encode(),
    )
    landed = land(deliver, api, raw)
    assert landed.message["text"] == text
    assert "Line 19999: Grüße ✓" in landed.frame or "Line 19999: Grüße ✓" in landed.page_text
    html_body = "<div>" + "".join(f"<p>Para {n} Grüße</p>" for n in range(20000)) + "</div>"
    raw = mail(
        "From: a@example.com",
        "Message-ID: <bightml@example.com>",
        "Content-Type: text/html; charset=utf-8",
        body=html_body.encode(),
    )
    landed = land(deliver, api, raw)
    assert "Para 19999 Grüße" in landed.message["text"]
    assert "Para 19999 Grüße" in landed.frame


def test_us_ascii_label_with_utf8_bytes(deliver: Deliver, api: Api) -> None:
    raw = mail(
        "From: a@example.com",
        "Message-ID: <usascii@example.com>",
        "Content-Type: text/plain; charset=us-ascii",
        body="Grüße ✓".encode(),
    )
    landed = land(deliver, api, raw)
    assert landed.message["text"] == "Grüße ✓"


def test_named_inline_text_body_in_mixed(deliver: Deliver, api: Api) -> None:
    """Some mailers name the body part (name=/filename= with inline disposition): mail clients still
    show it as the message; here the agent should not see an empty message."""
    raw = mail(
        "From: a@example.com",
        "Message-ID: <namedbody@example.com>",
        'Content-Type: multipart/mixed; boundary="B"',
        body=multipart(
            "B",
            (
                [
                    'Content-Type: text/plain; charset=utf-8; name="body.txt"',
                    'Content-Disposition: inline; filename="body.txt"',
                ],
                b"The real message text",
            ),
            (
                [
                    "Content-Type: application/pdf; name=a.pdf",
                    "Content-Disposition: attachment; filename=a.pdf",
                ],
                b"%PDF",
            ),
        ),
    )
    landed = land(deliver, api, raw)
    assert "The real message text" in landed.message["text"]


@pytest.mark.usefixtures("agent")
def test_reply_from_the_agent_page_to_an_idn_customer(deliver: Deliver, api: Api) -> None:
    """The HTML composer: a customer address the mail library can't format must be a refusal shown
    in the page (or just work), never an unhandled exception (a 500 from API Gateway)."""
    from urllib.parse import urlencode

    raw = mail(
        "From: José <jose@exämple.com>".encode(),
        "Subject: hola",
        "Message-ID: <idnpage@example.com>",
        "Content-Type: text/plain; charset=utf-8",
        body=b"hola",
    )
    landed = land(deliver, api, raw)
    form = urlencode(
        {"idempotency_key": "page-key-0001", "seen_version": landed.detail["version"], "text": "Hola"}
    )
    try:
        status, _, page = api(
            "POST",
            f"/conversations/{landed.conv}/reply",
            body=form,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    except Exception as exc:  # the handler itself raised: API Gateway would answer 500
        pytest.fail(f"reply handler raised {type(exc).__name__}: {exc}")
    assert status == 200, page
    [eml] = outbox()
    sent = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert [a.addr_spec for a in sent["To"].addresses] == ["jose@xn--exmple-cua.com"]


@pytest.mark.usefixtures("agent")
def test_a_colleague_answering_all_is_answered_with_the_customer_copied(deliver: Deliver, api: Api) -> None:
    """Alice writes; her colleague Fox answers all (to Alice, support@ copied). The composer offers
    reply-all: To Fox, Cc Alice, and the reply goes out so."""
    from urllib.parse import urlencode

    first = land(
        deliver, api, simple("From: Alice <alice@example.com>", "Subject: Order 7", "Message-ID: <o7@x.test>")
    )
    fox = simple(
        "From: Fox <fox@example.com>",
        "To: Alice <alice@example.com>",
        "Cc: Acme Support <support@acme.test>",
        "Subject: Re: Order 7",
        "Message-ID: <o7-fox@x.test>",
        "In-Reply-To: <o7@x.test>",
    )
    landed = land(deliver, api, fox)
    assert landed.conv == first.conv
    assert 'name="cc" value="alice@example.com"' in landed.page
    form = {"idempotency_key": "reply-all-0001", "seen_version": landed.detail["version"], "text": "Done."}
    form["cc"] = "alice@example.com"
    status, _, page = api(
        "POST",
        f"/conversations/{landed.conv}/reply",
        body=urlencode(form),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert status == 200, page
    [eml] = outbox()
    sent = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert [a.addr_spec for a in sent["To"].addresses] == ["fox@example.com"]
    assert [a.addr_spec for a in sent["Cc"].addresses] == ["alice@example.com"]


def postfix_bounce(returned_message_id: str, *, message_id: str) -> bytes:
    """A Postfix non-delivery report: no In-Reply-To or References; the mail that bounced is named
    only in the returned headers (text/rfc822-headers)."""
    return mail(
        "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)",
        "To: support@acme.test",
        "Subject: Undelivered Mail Returned to Sender",
        f"Message-ID: <{message_id}>",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="NDR"',
        body=multipart(
            "NDR",
            (
                ["Content-Type: text/plain"],
                b"I'm sorry to have to inform you that your message could not be delivered.",
            ),
            (
                ["Content-Type: message/delivery-status"],
                b"Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1",
            ),
            (
                ["Content-Type: text/rfc822-headers"],
                f"From: Acme Support <support@acme.test>\r\nSubject: Re: Order\r\nMessage-ID: <{returned_message_id}>\r\n".encode(),
            ),
        ),
    )


@pytest.mark.usefixtures("agent")
def test_a_bounce_of_our_reply_joins_its_conversation(deliver: Deliver, api: Api) -> None:
    first = land(
        deliver, api, simple("From: Gone <gone@example.com>", "Subject: Order", "Message-ID: <ord@x.test>")
    )
    status, result = send_reply(api, first.conv)
    assert status in {200, 201}, result
    [eml] = outbox()
    ours = str(message_from_bytes(eml.read_bytes(), policy=policy.default)["Message-ID"]).strip("<>")

    bounce = land(deliver, api, postfix_bounce(ours, message_id="ndr1@mx.example.com"))
    assert bounce.conv == first.conv
    assert "bounce" in bounce.message["flags"]
    # A bounce of mail that is not ours stays on its own.
    stray = land(deliver, api, postfix_bounce("someone-else@example.org", message_id="ndr2@mx.example.com"))
    assert stray.conv != first.conv
