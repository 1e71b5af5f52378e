"""classify: machine-sent mail is recognized from headers, subjects and MIME structure."""

from __future__ import annotations

import pytest

from mailroom.mail.classify import classify
from mailroom.mail.model import MessageFlag

AUTO, BULK, BOUNCE = MessageFlag.AUTO_REPLY, MessageFlag.BULK, MessageFlag.BOUNCE


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([("Auto-Submitted", "auto-replied")], {AUTO}),
        ([("Auto-Submitted", "auto-generated; owner-email=x@example.com")], {AUTO}),
        ([("Auto-Submitted", "no")], set()),
        ([("AUTO-SUBMITTED", "No (manually sent)")], set()),
        ([("X-Autoreply", "yes")], {AUTO}),
        ([("X-Autorespond", "")], {AUTO}),
        # The sender's wish that nobody auto-answers (honoured when routing), not a sign of a machine.
        ([("X-Auto-Response-Suppress", "All")], set()),
        ([("Precedence", "auto_reply")], {AUTO}),
        ([("Precedence", "bulk")], {BULK}),
        ([("Precedence", "junk")], {BULK}),
        ([("Precedence", "List")], {BULK}),
        ([("Precedence", "first-class")], set()),
        ([("List-Id", "<news.example.com>")], {BULK}),
        ([("List-Unsubscribe", "<mailto:u@example.com>")], {BULK}),
        ([("X-Failed-Recipients", "gone@example.com")], {BOUNCE}),
        ([("From", "Alice <alice@example.com>"), ("Subject", "Lunch?")], set()),
    ],
)
def test_header_rules(headers: list[tuple[str, str]], expected: set[MessageFlag]) -> None:
    assert classify(headers) == expected


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Re: invoice",
        "Automatic reply: Your request",
        "AutoReply: thanks",
        "Auto-Reply: away",
        "Abwesenheitsnotiz: Urlaub",
        "Automatische Antwort: Ihre Anfrage",
        "Réponse automatique : absent",
        "Respuesta automática: vacaciones",
        "自动回复: 你好",
        "Dana Scully is out of the office.",  # Lotus Notes / HCL Domino
        "Dana Scully/Acme is out of the office (returning 12/01/2026).",
        "Dana Scully ist außer Haus.",
    ],
)
def test_out_of_office_subjects(subject: str) -> None:
    assert classify([("Subject", subject)]) == {AUTO}


@pytest.mark.parametrize(
    "subject",
    [
        "Re: out of office policy",
        "About the automatic reply feature",
        "Who is out of the office?",
        "Re: Is Dana out of the office today",
        "",
    ],
)
def test_people_talking_about_auto_replies_are_not_auto_replies(subject: str) -> None:
    assert classify([("Subject", subject)]) == set()


def test_delivery_status_report_is_a_bounce() -> None:
    flags = classify(
        [("From", "someone@example.com")],
        content_types=["multipart/report", "text/plain", "message/delivery-status"],
        report_types=["delivery-status"],
    )

    assert flags == {BOUNCE}


def test_delivery_status_part_alone_is_a_bounce() -> None:
    assert classify([], content_types=["message/delivery-status"]) == {BOUNCE}


def test_mailer_daemon_needs_a_status_part_or_a_bounce_subject() -> None:
    daemon = ("From", "Mail Delivery Subsystem <MAILER-DAEMON@example.com>")

    assert classify([daemon, ("Subject", "Undelivered Mail Returned to Sender")]) == {BOUNCE}
    assert classify([("From", "postmaster@example.com"), ("Subject", "Returned mail: see transcript")]) == {
        BOUNCE
    }
    assert classify([daemon, ("Subject", "Your weekly digest")]) == set()
    assert classify([("From", "alice@example.com"), ("Subject", "Undeliverable: meeting")]) == set()


def test_read_receipts_are_automatic() -> None:
    assert classify([], report_types=["disposition-notification"]) == {AUTO}


def test_flags_combine() -> None:
    headers = [("Auto-Submitted", "auto-replied"), ("List-Id", "<l.example.com>")]

    assert classify(headers, content_types=["message/delivery-status"]) == {AUTO, BULK, BOUNCE}
