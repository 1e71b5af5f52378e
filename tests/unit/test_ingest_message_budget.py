"""The message item stays within DynamoDB's 400 KB whatever the mail (``mailroom.ingest.build``):
the attachment listing has its own budget and the address and Message-ID lists are trimmed, the
message flagged truncated. Found by the ``ingest_build`` fuzz target's item-size property."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fuzz.properties import check_items_fit
from fuzz.targets import ENVELOPE, MAILBOX
from mailroom.domain.message import AttachmentRef, StoredMessage
from mailroom.ingest.build import (
    ATTACHMENT_LIST_BUDGET,
    MESSAGE_BUDGET,
    Body,
    attachment_refs,
    fit_message,
    plan_ingest,
)
from mailroom.ingest.threading import ThreadedBy, ThreadMatch
from mailroom.mail.model import Address, MessageFlag, ParsedAttachment, ParsedMessage
from mailroom.table.items import message_item


def parsed_with(*, addresses: int = 0, attachments: int = 0, references: int = 0) -> ParsedMessage:
    name = "N" * 2_000
    return ParsedMessage(
        message_id="budget@example.com",
        subject="budget",
        date=datetime(2026, 3, 2, tzinfo=UTC),
        to=[Address(email=f"to{i}@example.com", name=name) for i in range(addresses)],
        cc=[Address(email=f"cc{i}@example.com", name=name) for i in range(addresses)],
        references=[f"{i}{'r' * 240}@example.com" for i in range(references)],
        attachments=[
            ParsedAttachment(
                filename="f" * 200,
                content_type="a" * 127 + "/" + "b" * 127,
                size=1,
                sha256="0" * 64,
                content_id=f"{i}{'c' * 250}",
                data=b"x",
            )
            for i in range(attachments)
        ],
    )


def planned_message(parsed: ParsedMessage, attachments: list[AttachmentRef]) -> StoredMessage:
    return plan_ingest(
        parsed=parsed,
        envelope=ENVELOPE,
        mailbox=MAILBOX,
        match=ThreadMatch(None, ThreadedBy.NEW),
        body=Body(text="hi", html=None, ref=None),
        attachments=attachments,
        identity=parsed.message_id,
        fingerprint="f" * 64,
    ).message


def plan(parsed: ParsedMessage) -> tuple[list[str], dict[str, Any]]:
    message = planned_message(parsed, attachment_refs(parsed, "m0000000000000000"))
    item = message_item(message)
    check_items_fit([item])
    return message.flags, item


def test_an_ordinary_message_is_kept_whole_and_not_flagged() -> None:
    parsed = parsed_with(addresses=3, attachments=3, references=3)

    flags, item = plan(parsed)

    assert MessageFlag.TRUNCATED not in flags
    assert len(item["attachments"]) == 3
    assert len(item["to"]) == 3
    assert len(item["references"]) == 3


def test_the_attachment_listing_stops_at_its_budget_in_order() -> None:
    parsed = parsed_with(attachments=499)

    refs = attachment_refs(parsed, "m0000000000000000")
    flags, item = plan(parsed)

    assert 0 < len(refs) < 499
    assert [ref.index for ref in refs] == list(range(len(refs)))
    assert sum(len(ref.model_dump_json()) for ref in refs) <= ATTACHMENT_LIST_BUDGET
    assert MessageFlag.TRUNCATED in flags
    assert len(item["attachments"]) == len(refs)


def test_address_lists_are_halved_until_the_message_fits() -> None:
    parsed = parsed_with(addresses=150, attachments=499, references=100)

    flags, item = plan(parsed)

    assert MessageFlag.TRUNCATED in flags
    assert len(item["to"]) < 150
    assert item["to"][0]["email"] == "to0@example.com"


def test_fit_message_halves_the_longest_list_and_leaves_a_fitting_message_alone() -> None:
    parsed = parsed_with(addresses=400)
    message = planned_message(parsed, [])

    fitted, trimmed = fit_message(message.model_copy(update={"to": parsed.to, "cc": parsed.cc}))
    again, trimmed_again = fit_message(fitted)

    assert trimmed is True
    assert len(fitted.model_dump_json()) <= MESSAGE_BUDGET
    assert fitted.to == parsed.to[: len(fitted.to)]
    assert (again, trimmed_again) == (fitted, False)
