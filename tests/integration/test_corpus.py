"""Every message of the real-world corpus goes through the real ingest handler: none lost."""

from __future__ import annotations

from collections import Counter

from mailroom.table.client import Table
from tests.corpus import FLANKER_DIR, flanker_files
from tests.integration.conftest import Api, Deliver
from tests.integration.test_ingest import all_items_deserialized


def test_every_corpus_message_is_ingested_and_listed(deliver: Deliver, table: Table, api: Api) -> None:
    files = flanker_files()
    outcomes = {}
    for path in files:
        delivery = deliver(path.read_bytes(), ["support@acme.test"])
        [outcome] = delivery.outcomes
        outcomes[path.relative_to(FLANKER_DIR).as_posix()] = outcome

    messages = [i for i in all_items_deserialized(table) if i.get("entity") == "message"]
    # Every file is present exactly once. Several files reuse another file's Message-ID with other
    # content: they are different messages, kept and flagged, not dropped as duplicates.
    assert [name for name, o in outcomes.items() if not o["stored"]] == []
    assert len(messages) == len(files)
    assert Counter(m["raw_key"] for m in messages).most_common(1)[0][1] == 1
    assert any("message_id_reused" in m["flags"] for m in messages)

    # Unreadable parts are flagged, never silently dropped; every stored message is listed.
    listed = set()
    cursor = None
    while True:
        _, _, body = api("GET", "/api/conversations", "limit=100" + (f"&cursor={cursor}" if cursor else ""))
        listed |= {item["id"] for item in body["items"]}
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert {o["conversation_id"] for o in outcomes.values()} <= listed
    for message in messages:
        assert message["message_id"]
        if "parse_failed" in message["flags"]:
            assert message["parse_error"]
