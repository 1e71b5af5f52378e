"""Property tests of ingest end to end: any raw bytes in the raw store, SES's event for them, the real
handler on DynamoDB Local.

Whatever the bytes: the handler never raises; the mail is stored exactly once (one conversation, one
message, one Message-ID index entry, the raw kept and pointed at), flagged when it could not be read
and quarantined when SES says it carries a virus; and a second delivery of the same event changes
nothing in the table. Each example delivers to a mailbox of its own, so examples share the table
without seeing each other's mail.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from mailroom.ingest.fingerprint import content_fingerprint
from mailroom.mail.parse import parse_message
from mailroom.storage.local import LocalStore
from mailroom.table import keys, schema
from mailroom.table.client import Table
from tests.integration.conftest import Deliver
from tests.integration.test_ingest import all_items, conversation_items, entities
from tests.mail_strategies import raw_mail

# An eighth of the profile's examples (12 by default, 125 with HYPOTHESIS_PROFILE=thorough): each one
# is two or three handler runs on DynamoDB Local and a scan of the table.
EXAMPLES = max(10, settings().max_examples // 8)
VERDICTS = st.sampled_from(
    [None, {"virus": "FAIL"}, {"spam": "FAIL"}, {"spf": "FAIL", "dkim": "FAIL", "dmarc": "FAIL"}]
)
# Each example is slow enough that shrinking a failure takes many minutes: the failing example is
# reported as found (its bytes are printed) instead.
NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate]
_mailboxes = itertools.count()


def mail_items(table: Table) -> list[dict[str, Any]]:
    """Every item but the cost metering's (``USAGE#...``): a redelivery is work SES and Lambda bill,
    and the metering counts it on purpose."""
    return [item for item in all_items(table) if not item[schema.PK]["S"].startswith("USAGE#")]


def fresh_mailbox() -> str:
    return f"prop{next(_mailboxes)}@acme.test"


def stored_once(table: Table, delivery_outcome: dict[str, Any], mailbox: str, raw: bytes) -> dict[str, Any]:
    """The one message the delivery stored, after checking there is exactly one of everything."""
    parsed = parse_message(raw)
    conversation_id = delivery_outcome["conversation_id"]
    items = conversation_items(table, conversation_id)
    [conversation] = entities(items, "conversation")
    [message] = entities(items, "message")
    assert conversation["mailbox"] == mailbox
    assert conversation["message_count"] == 1
    assert message["message_id"] == parsed.message_id
    assert message["key"] == delivery_outcome["message_key"]
    index = table.get(
        {schema.PK: keys.message_id_pk(parsed.message_id), schema.SK: keys.message_id_sk(mailbox)}
    )
    assert index is not None
    assert index["conversation_id"] == conversation_id
    return {"conversation": conversation, "message": message, "parsed": parsed}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=NO_SHRINK,
)
@given(raw=raw_mail(), verdicts=VERDICTS)
def test_any_mail_is_stored_exactly_once_and_redelivery_adds_nothing(
    deliver: Deliver, table: Table, env: Path, raw: bytes, verdicts: dict[str, str] | None
) -> None:
    mailbox = fresh_mailbox()

    first = deliver(raw, [mailbox], verdicts=verdicts)

    [outcome] = first.outcomes
    assert outcome["stored"] is True
    assert outcome["new_conversation"] is True
    stored = stored_once(table, outcome, mailbox, raw)
    message, conversation, parsed = stored["message"], stored["conversation"], stored["parsed"]
    raw_key = message["raw_key"]
    assert LocalStore(env).get(raw_key) == raw  # the raw mail is kept, whatever became of it
    if parsed.parse_error:  # unreadable: kept raw, flagged, the reason recorded
        assert "parse_failed" in message["flags"]
        assert message["parse_error"] == parsed.parse_error
    quarantined = (verdicts or {}).get("virus") == "FAIL"
    assert (conversation["status"] == "quarantined") == quarantined
    assert message["routable"] is (not quarantined)

    before = mail_items(table)
    second = deliver(raw, event=first.event)

    [again] = second.outcomes
    assert again["stored"] is False
    assert again["conversation_id"] == outcome["conversation_id"]
    assert again["message_key"] == outcome["message_key"]
    assert sorted(map(repr, mail_items(table))) == sorted(map(repr, before))


@settings(
    max_examples=max(8, EXAMPLES * 2 // 3),  # three deliveries an example
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=NO_SHRINK,
)
@given(raw=raw_mail(), other=st.binary(min_size=1, max_size=64))
def test_a_different_mail_reusing_the_message_id_is_kept_beside_it(
    deliver: Deliver, table: Table, raw: bytes, other: bytes
) -> None:
    """Same headers, another body (an edited resend): a duplicate only when the content is the same;
    else both are kept, the second flagged and threaded with the first; a redelivery adds nothing."""
    mailbox = fresh_mailbox()
    resent = raw + b"\r\n" + other
    original, edited = parse_message(raw), parse_message(resent)

    [first] = deliver(raw, [mailbox]).outcomes
    [second] = deliver(resent, [mailbox]).outcomes
    [third] = deliver(resent, [mailbox]).outcomes

    assert first["stored"] is True
    assert third["stored"] is False
    same_id = edited.message_id == original.message_id
    same_content = content_fingerprint(edited) == content_fingerprint(original)
    assert second["stored"] is not (same_id and same_content)
    if second["stored"] and same_id:
        assert second["conversation_id"] == first["conversation_id"]
        assert "message_id_reused" in second["flags"]
        assert second["message_key"] != first["message_key"]
    messages = [
        item
        for conversation_id in {first["conversation_id"], second["conversation_id"]}
        for item in entities(conversation_items(table, conversation_id), "message")
    ]
    assert len(messages) == 1 + int(second["stored"])
