"""Mail whose message item would not fit DynamoDB's 400 KB (found by the ``ingest_build`` fuzz
target's item-size property): hundreds of attachments with long names and content ids, and a header
block full of addresses. Before the fix the transaction was refused on every retry and the mail was
never stored; now it is stored once, listing what fits, flagged truncated, the raw mail kept whole."""

from __future__ import annotations

from pathlib import Path

from mailroom.storage.local import LocalStore
from mailroom.table.client import Table
from tests.integration.conftest import Deliver
from tests.integration.test_ingest import conversation_items, entities

PARTS = 499  # the parser reads 500 parts: the multipart and 499 attachments
# The longest content type there is (RFC 6838: type and subtype of 127 characters each).
CONTENT_TYPE = b"a" * 127 + b"/" + b"b" * 127


def many_attachments(message_id: str, *, extra_headers: bytes = b"") -> bytes:
    name = b"n" * 190
    parts = b"".join(
        b"--b\r\nContent-Type: "
        + CONTENT_TYPE
        + b"\r\nContent-ID: <"
        + b"c%03d" % i
        + b"x" * 246
        + b"@x>\r\nContent-Disposition: attachment; filename="
        + name
        + b"%d.pdf\r\n\r\n%d\r\n" % (i, i)
        for i in range(PARTS)
    )
    return (
        b"From: a@example.com\r\nTo: support@acme.test\r\n"
        + extra_headers
        + b"Subject: many\r\nMessage-ID: <"
        + message_id.encode()
        + b">\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\nbody\r\n"
        + parts
        + b"--b--\r\n"
    )


def test_hundreds_of_long_named_attachments_are_stored_listing_what_fits(
    deliver: Deliver, table: Table, env: Path
) -> None:
    raw = many_attachments("attach-bomb@example.com")

    [outcome] = deliver(raw).outcomes

    assert outcome["stored"] is True
    [message] = entities(conversation_items(table, outcome["conversation_id"]), "message")
    listed = message["attachments"]
    assert 0 < len(listed) < PARTS
    assert "truncated" in message["flags"]
    assert [a["index"] for a in listed] == list(range(len(listed)))
    store = LocalStore(env)
    assert store.get(message["raw_key"]) == raw
    for attachment in listed:
        assert store.get(attachment["key"]) == b"%d" % attachment["index"]
    # Only what is listed is stored, so erasing a contact (which follows the listing) leaves nothing.
    stored = sorted((env / "attachments" / message["key"]).iterdir())
    assert len(stored) == len(listed)


def test_a_header_block_full_of_addresses_with_many_attachments_is_stored(
    deliver: Deliver, table: Table
) -> None:
    to = b"".join(b'Cc: "' + b"N" * 2000 + b'" <cc%d@example.com>\r\n' % i for i in range(110))
    raw = many_attachments("address-bomb@example.com", extra_headers=to)

    [outcome] = deliver(raw).outcomes

    assert outcome["stored"] is True
    [message] = entities(conversation_items(table, outcome["conversation_id"]), "message")
    assert "truncated" in message["flags"]
    assert [a["email"] for a in message["cc"]] == [f"cc{i}@example.com" for i in range(len(message["cc"]))]
    assert len(message["attachments"]) < PARTS
