"""The demo mail: well-formed, threaded where it should be, and deliverable over SMTP."""

from __future__ import annotations

import re
import struct
import zlib
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from mailroom.ingest.ses_event import SesEvent
from mailroom.storage.local import LocalStore
from sandbox.demo import DEMO_DOMAINS, DEMO_MAILBOXES, DEMO_USERS, DemoMail, demo_messages, send_demo_mail
from sandbox.smtp import SmtpReceiver

NOW = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def mails() -> list[DemoMail]:
    return demo_messages(NOW)


def parse(mail: DemoMail) -> EmailMessage:
    message = message_from_bytes(mail.raw, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def by_subject(mails: list[DemoMail], pattern: str) -> list[tuple[DemoMail, EmailMessage]]:
    found = [(mail, parse(mail)) for mail in mails if re.search(pattern, str(parse(mail)["Subject"]))]
    assert found, pattern
    return found


def test_mailboxes_and_users() -> None:
    assert [(box.address, box.display_name) for box in DEMO_MAILBOXES] == [
        ("support@acme.test", "Acme Support"),
        ("sales@acme.test", "Acme Sales"),
        ("billing@acme.test", "Acme Billing"),
    ]
    assert {(user.email, user.display_name, user.role) for user in DEMO_USERS} == {
        ("admin@acme.test", "Ada Admin", "admin"),
        ("agent1@acme.test", "Sam Rivera", "agent"),
        ("agent2@acme.test", "Priya Shah", "agent"),
        ("agent3@acme.test", "Jonas Weber", "agent"),
        ("finance@acme.test", "Fiona Finch", "finance"),
    }
    assert {"acme.test"} == DEMO_DOMAINS


def test_every_mail_parses_cleanly(mails: list[DemoMail]) -> None:
    assert len(mails) >= 12
    for mail in mails:
        assert b"\r\n" in mail.raw  # SMTP line endings, and no bare LF
        assert b"\n" not in mail.raw.replace(b"\r\n", b"")
        message = parse(mail)
        for part in message.walk():
            assert part.defects == [], (message["Message-ID"], part.defects)
            if not part.is_multipart():
                assert part.get_content() is not None
        for header in ("From", "To", "Subject", "Date", "Message-ID"):
            assert message[header], header
        assert mail.rcpt_to
        assert all(address.rpartition("@")[2] in DEMO_DOMAINS for address in mail.rcpt_to)


def test_message_ids_are_unique_and_deterministic(mails: list[DemoMail]) -> None:
    ids = [parse(mail)["Message-ID"] for mail in mails]

    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"<demo-\d+@[a-z0-9.-]+>", message_id) for message_id in ids)
    assert [parse(mail)["Message-ID"] for mail in demo_messages()] == ids


def test_dates_are_spread_over_the_last_days_in_sending_order(mails: list[DemoMail]) -> None:
    dates = [parsedate_to_datetime(parse(mail)["Date"]) for mail in mails]

    assert dates == sorted(dates)
    assert all(NOW - timedelta(days=7) < date < NOW for date in dates)
    assert dates[-1] - dates[0] > timedelta(days=3)


def test_threaded_reply_references_an_earlier_message(mails: list[DemoMail]) -> None:
    ids = [parse(mail)["Message-ID"] for mail in mails]
    replies = [(index, parse(mail)) for index, mail in enumerate(mails) if parse(mail)["In-Reply-To"]]

    assert len(replies) >= 2  # the support follow-up and the sales follow-up
    for index, reply in replies:
        parent_index = ids.index(reply["In-Reply-To"])
        assert parent_index < index
        assert reply["In-Reply-To"] in reply["References"]
        parent = parse(mails[parent_index])
        assert reply["Subject"] == f"Re: {parent['Subject']}"
        assert reply["From"].addresses[0].addr_spec == parent["From"].addresses[0].addr_spec
        assert mails[index].rcpt_to == mails[parent_index].rcpt_to


def test_a_second_reply_continues_the_thread_by_subject_only(mails: list[DemoMail]) -> None:
    thread = by_subject(mails, "log in after resetting")

    assert len(thread) == 3
    (_, first), (_, by_header), (_, by_subject_only) = thread
    assert by_header["In-Reply-To"] == first["Message-ID"]
    assert by_subject_only["In-Reply-To"] is None
    assert by_subject_only["References"] is None
    assert by_subject_only["Subject"] == f"Re: {first['Subject']}"
    assert by_subject_only["From"].addresses[0].addr_spec == first["From"].addresses[0].addr_spec


def test_sales_lead_follows_up(mails: list[DemoMail]) -> None:
    thread = by_subject(mails, "Pricing")

    assert [mail.rcpt_to for mail, _ in thread] == [["sales@acme.test"], ["sales@acme.test"]]
    assert thread[1][1]["Subject"] == f"Re: {thread[0][1]['Subject']}"


def _check_pdf(data: bytes) -> None:
    assert data.startswith(b"%PDF-1.")
    assert data.rstrip().endswith(b"%%EOF")
    xref = int(data.rsplit(b"startxref", 1)[1].split()[0])
    assert data[xref:].startswith(b"xref")
    entries = re.findall(rb"(\d{10}) 00000 n \n", data[xref:])
    for number, offset in enumerate(entries, start=1):
        assert data[int(offset) :].startswith(b"%d 0 obj" % number)


def test_billing_question_has_a_valid_pdf(mails: list[DemoMail]) -> None:
    [(mail, message)] = by_subject(mails, "INV-2024-0042")

    assert mail.rcpt_to == ["billing@acme.test"]
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "INV-2024-0042.pdf"
    _check_pdf(attachment.get_content())


def test_newsletter_is_bulk_html_with_unsubscribe(mails: list[DemoMail]) -> None:
    [message] = [parse(mail) for mail in mails if parse(mail)["List-Unsubscribe"]]

    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Precedence"] == "bulk"
    assert "<https://" in message["List-Unsubscribe"]
    assert message["To"] == "support@acme.test"


def test_out_of_office_reply_is_marked_automatic(mails: list[DemoMail]) -> None:
    [(mail, message)] = by_subject(mails, "^Automatic reply: ")

    assert message["Auto-Submitted"] == "auto-replied"
    assert mail.mail_from == ""  # RFC 3834: automatic replies go out with a null sender
    assert mail.rcpt_to == ["support@acme.test"]


def test_german_mail_is_utf8_with_an_encoded_subject(mails: list[DemoMail]) -> None:
    [(mail, message)] = by_subject(mails, "schlägt fehl")

    raw_subject = next(line for line in mail.raw.split(b"\r\n") if line.startswith(b"Subject:"))
    assert b"=?utf-8?" in raw_subject
    assert message.get_content_charset() == "utf-8"
    assert "Grüßen" in message.get_content()


def test_japanese_mail_is_iso_2022_jp(mails: list[DemoMail]) -> None:
    [(mail, message)] = by_subject(mails, "請求書")

    assert mail.raw.isascii()
    assert b"=?iso-2022-jp?" in mail.raw
    assert message.get_content_charset() == "iso-2022-jp"
    assert "山田" in message.get_content()
    assert message["From"].addresses[0].display_name == "山田 太郎"


def test_one_mail_goes_to_two_mailboxes(mails: list[DemoMail]) -> None:
    both = [mail for mail in mails if set(mail.rcpt_to) == {"support@acme.test", "sales@acme.test"}]

    assert len(both) == 1
    assert parse(both[0])["Cc"]  # the Cc'd colleague is not an Acme recipient
    assert parse(both[0])["From"].addresses[0].domain == "bigcorp.example"


def _check_png(data: bytes) -> None:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    position, kinds = 8, []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body)
        kinds.append(kind)
        position += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]


def test_inline_image_is_in_a_multipart_related_html(mails: list[DemoMail]) -> None:
    [(_, message)] = by_subject(mails, "Error 502")

    related = next(part for part in message.walk() if part.get_content_type() == "multipart/related")
    html, image = list(related.iter_parts())
    assert html.get_content_type() == "text/html"
    assert image.get_content_type() == "image/png"
    content_id = str(image["Content-ID"]).strip("<>")
    assert f'src="cid:{content_id}"' in html.get_content()
    _check_png(image.get_content())


def test_demo_mail_is_deliverable_over_smtp(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    store = LocalStore(tmp_path)
    receiver = SmtpReceiver(
        host="127.0.0.1",
        port=0,
        accept_domains=lambda: set(DEMO_DOMAINS),
        store=store,
        raw_prefix="raw/inbound/",
        deliver=events.append,
        max_message_bytes=10 * 1024 * 1024,
    )
    receiver.start()
    try:
        count = send_demo_mail("127.0.0.1", receiver.port)
    finally:
        receiver.stop()

    assert count == len(demo_messages()) == len(events)
    subjects = []
    for event in events:
        mail = SesEvent.model_validate(event).records[0].ses.mail
        raw = store.get("raw/inbound/" + mail.message_id)
        assert mail.common_headers.message_id == parse(DemoMail("", [], raw))["Message-ID"]
        subjects.append(mail.common_headers.subject)
    assert "請求書の宛名変更について" in subjects
    spam = [
        event for event in events if "gift card" in str(event["Records"][0]["ses"]["mail"]["commonHeaders"])
    ]
    assert spam[0]["Records"][0]["ses"]["receipt"]["spamVerdict"] == {"status": "FAIL"}
