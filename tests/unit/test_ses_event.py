"""The sandbox's SES receipt event: shape, verdicts, and robustness against broken mail."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from mailroom.ingest.ses_event import SesEvent
from sandbox.ses_event import DEFAULT_FUNCTION_ARN, build_ses_event, new_ses_message_id

RECEIVED = datetime(2026, 3, 9, 14, 5, 7, 123456, tzinfo=UTC)

MAIL = (
    b"Return-Path: <bounce@example.com>\r\n"
    b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.org>\r\n"
    b'To: "Acme Support" <support@acme.test>,\r\n'
    b"  sales@acme.test\r\n"
    b'Cc: "Doe, Jane" <jane@example.org>\r\n'
    b"Subject: =?utf-8?b?R3LDtsOfZXJlIERhdGVpZW4=?= fail\r\n"
    b"Date: Mon, 09 Mar 2026 15:04:59 +0100\r\n"
    b"Message-ID: <abc-123@example.org>\r\n"
    b"X-Custom: one\r\n"
    b"X-Custom: two\r\n"
    b"\r\n"
    b"Hello\r\n"
)


def build(raw: bytes = MAIL, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "raw": raw,
        "ses_message_id": "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0",
        "envelope_from": "bounce@example.com",
        "recipients": ["support@acme.test", "sales@acme.test"],
        "received_at": RECEIVED,
        "processing_time_millis": 42,
    }
    arguments.update(overrides)
    return build_ses_event(**arguments)


def ses(event: dict[str, Any]) -> dict[str, Any]:
    record = event["Records"][0]
    assert record["eventSource"] == "aws:ses"
    assert record["eventVersion"] == "1.0"
    result: dict[str, Any] = record["ses"]
    return result


def test_mail_object_is_shaped_like_ses() -> None:
    mail = ses(build())["mail"]

    assert mail["timestamp"] == "2026-03-09T14:05:07.123Z"
    assert mail["source"] == "bounce@example.com"
    assert mail["messageId"] == "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0"
    assert mail["destination"] == ["support@acme.test", "sales@acme.test"]
    assert mail["headersTruncated"] is False
    # Every top-level header in order, repeated ones kept, values unfolded and not decoded.
    assert [h["name"] for h in mail["headers"]] == [
        "Return-Path",
        "From",
        "To",
        "Cc",
        "Subject",
        "Date",
        "Message-ID",
        "X-Custom",
        "X-Custom",
    ]
    headers = {h["name"]: h["value"] for h in mail["headers"]}
    assert headers["To"] == '"Acme Support" <support@acme.test>,  sales@acme.test'
    assert headers["Subject"] == "=?utf-8?b?R3LDtsOfZXJlIERhdGVpZW4=?= fail"


def test_common_headers_are_decoded_address_lists() -> None:
    common = ses(build())["mail"]["commonHeaders"]

    assert common == {
        "returnPath": "bounce@example.com",
        "from": ["Jürgen Müller <juergen@example.org>"],
        "to": ["Acme Support <support@acme.test>", "sales@acme.test"],
        "cc": ['"Doe, Jane" <jane@example.org>'],
        "messageId": "<abc-123@example.org>",
        "subject": "Größere Dateien fail",
        "date": "Mon, 09 Mar 2026 15:04:59 +0100",
    }


def test_common_headers_omit_what_the_mail_lacks() -> None:
    raw = b"From: a@example.com\r\nTo: support@acme.test\r\n\r\nbody\r\n"
    common = ses(build(raw))["mail"]["commonHeaders"]

    assert common == {
        "returnPath": "bounce@example.com",
        "from": ["a@example.com"],
        "to": ["support@acme.test"],
    }


def test_receipt_carries_recipients_verdicts_and_action() -> None:
    receipt = ses(build(recipients=["support@acme.test"]))["receipt"]

    assert receipt["timestamp"] == "2026-03-09T14:05:07.123Z"
    assert receipt["processingTimeMillis"] == 42
    assert receipt["recipients"] == ["support@acme.test"]
    for name in ("spam", "virus", "spf", "dkim", "dmarc"):
        assert receipt[f"{name}Verdict"] == {"status": "PASS"}
    assert "dmarcPolicy" not in receipt
    assert receipt["action"] == {
        "type": "Lambda",
        "functionArn": DEFAULT_FUNCTION_ARN,
        "invocationType": "Event",
    }


def test_function_arn_and_timezone_are_honoured() -> None:
    received = datetime(2026, 3, 9, 16, 0, tzinfo=timezone(timedelta(hours=2)))
    event = build(function_arn="arn:aws:lambda:us-east-1:000000000000:function:x", received_at=received)

    assert ses(event)["receipt"]["action"]["functionArn"].endswith(":function:x")
    assert ses(event)["mail"]["timestamp"] == "2026-03-09T14:00:00.000Z"


def test_processing_time_defaults_to_elapsed_time() -> None:
    event = build(received_at=datetime.now(UTC) - timedelta(seconds=2), processing_time_millis=None)

    assert 2000 <= ses(event)["receipt"]["processingTimeMillis"] < 60_000


def test_event_validates_with_the_ingest_model() -> None:
    parsed = SesEvent.model_validate(build())

    record = parsed.records[0].ses
    assert record.mail.message_id == "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0"
    assert record.mail.common_headers.subject == "Größere Dateien fail"
    assert record.mail.common_headers.cc == ['"Doe, Jane" <jane@example.org>']
    assert record.receipt.recipients == ["support@acme.test", "sales@acme.test"]
    assert record.receipt.spam_verdict.status == "PASS"
    assert record.receipt.action.function_arn == DEFAULT_FUNCTION_ARN


def test_verdict_header_sets_each_verdict() -> None:
    raw = (
        b"From: a@example.com\r\n"
        b"X-Mailroom-Test-Verdict: spam=FAIL, virus=FAIL, spf=GRAY, dkim=FAIL, dmarc=FAIL\r\n\r\nx\r\n"
    )
    receipt = ses(build(raw))["receipt"]

    assert receipt["spamVerdict"] == {"status": "FAIL"}
    assert receipt["virusVerdict"] == {"status": "FAIL"}
    assert receipt["spfVerdict"] == {"status": "GRAY"}
    assert receipt["dkimVerdict"] == {"status": "FAIL"}
    assert receipt["dmarcVerdict"] == {"status": "FAIL"}
    assert receipt["dmarcPolicy"] == "none"  # SES adds the policy only when DMARC fails
    assert SesEvent.model_validate(build(raw)).records[0].ses.receipt.virus_verdict.status == "FAIL"


def test_verdict_header_is_parsed_leniently() -> None:
    raw = (
        b"x-mailroom-test-verdict:  Spam = fail ;virusVerdict:processing_failed bogus=FAIL\r\n"
        b"X-Mailroom-Test-Verdict: dkim=maybe, dmarc=FAIL dmarc_policy=reject\r\n\r\nx\r\n"
    )
    receipt = ses(build(raw))["receipt"]

    assert receipt["spamVerdict"] == {"status": "FAIL"}
    assert receipt["virusVerdict"] == {"status": "PROCESSING_FAILED"}
    assert receipt["dkimVerdict"] == {"status": "PASS"}  # unknown status: ignored
    assert receipt["spfVerdict"] == {"status": "PASS"}
    assert receipt["dmarcVerdict"] == {"status": "FAIL"}
    assert receipt["dmarcPolicy"] == "reject"


def test_explicit_verdicts_override_the_header() -> None:
    raw = b"X-Mailroom-Test-Verdict: spam=FAIL\r\n\r\nx\r\n"
    receipt = ses(build(raw, verdicts={"spam": "pass", "virusVerdict": "FAIL"}))["receipt"]

    assert receipt["spamVerdict"] == {"status": "PASS"}
    assert receipt["virusVerdict"] == {"status": "FAIL"}


@pytest.mark.parametrize("verdicts", [{"spam": "NOPE"}, {"antivirus": "FAIL"}])
def test_invalid_explicit_verdicts_are_refused(verdicts: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="invalid verdict"):
        build(verdicts=verdicts)


def test_an_event_without_recipients_is_refused() -> None:
    with pytest.raises(ValueError, match="recipient"):
        build(recipients=[])


BROKEN_MAIL = [
    b"",
    b"\x00\xff\xfe garbage without any header \x80\x81\r\n",
    b"this is not a header line\r\nFrom: a@example.com\r\n\r\nbody",
    b"From: \xc3\xa4\xff <x@example.com>\r\nSubject: caf\xe9 \xff\r\n\r\n\xff\xfe",
    b"Subject: =?x-unknown-charset?q?abc?= =?utf-8?b?!!!notbase64?=\r\nFrom: =?utf-8?q?broken\r\n\r\n",
    b'From: <<<>>>@@@, ,,, "unterminated\r\nTo: ;;;\r\nCc: undisclosed-recipients:;\r\n\r\n',
    b"Subject: " + b"x" * 100_000 + b"\r\n\r\n",
    b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
    b"From: a@example.com\nTo: b@example.com\nSubject: bare LF line endings\n\nbody\n",
]


@pytest.mark.parametrize("raw", BROKEN_MAIL, ids=range(len(BROKEN_MAIL)))
def test_broken_mail_never_breaks_the_event(raw: bytes) -> None:
    event = build(raw)

    parsed = SesEvent.model_validate(event)
    assert parsed.records[0].ses.receipt.recipients == ["support@acme.test", "sales@acme.test"]
    for header in ses(event)["mail"]["headers"]:
        header["value"].encode("utf-8")  # valid text, no lone surrogates


def test_eight_bit_headers_are_read_as_utf8() -> None:
    raw = "From: Zoë <zoe@example.com>\r\nSubject: Grüße\r\n\r\nx".encode()
    common = ses(build(raw))["mail"]["commonHeaders"]

    assert common["subject"] == "Grüße"
    assert common["from"] == ["Zoë <zoe@example.com>"]


def test_ses_message_ids_look_like_ses_and_are_unique() -> None:
    ids = {new_ses_message_id() for _ in range(2000)}

    assert len(ids) == 2000
    for message_id in ids:
        assert re.fullmatch(r"[a-z0-9]{40}", message_id)
