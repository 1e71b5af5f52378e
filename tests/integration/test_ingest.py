"""Ingest end to end through the real handler on DynamoDB Local: storage, threading, idempotency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mailroom.ingest.repository import IngestRepository
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table
from mailroom.table.items import message_id_item
from tests.integration.conftest import Api, Deliver
from tests.mailfactory import make_mail


def conversation_items(table: Table, conversation_id: str) -> list[dict[str, Any]]:
    return table.query_all(
        key_condition=Condition(
            "#pk = :pk", {"#pk": schema.PK}, {":pk": keys.conversation_pk(conversation_id)}
        )
    )


def entities(items: list[dict[str, Any]], entity: str) -> list[dict[str, Any]]:
    return [i for i in items if i.get("entity") == entity]


def all_items(table: Table) -> list[dict[str, Any]]:
    """A full scan: tests only, to prove nothing is duplicated anywhere."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table.name}
    while True:
        page = table.client.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_new_message_writes_conversation_message_index_contact_and_event(
    deliver: Deliver, table: Table
) -> None:
    delivery = deliver(make_mail(), ["support@acme.test"])
    [outcome] = delivery.outcomes
    assert outcome["stored"] is True
    assert outcome["new_conversation"] is True
    conv_id = outcome["conversation_id"]

    items = conversation_items(table, conv_id)
    [meta] = entities(items, "conversation")
    [message] = entities(items, "message")
    events = entities(items, "event")
    assert meta["mailbox"] == "support@acme.test"
    assert meta["status"] == "open"
    assert meta["contact_email"] == "alice@example.com"
    assert meta["contact_name"] == "Alice Customer"
    assert meta["message_count"] == 1
    assert meta["waiting_since"] == message["received_at"]
    assert message["message_id"] == "m1@example.com"
    assert message["text"].startswith("Hello, my printer is on fire")
    assert message["verdicts"] == {
        "spam": "PASS",
        "virus": "PASS",
        "spf": "PASS",
        "dkim": "PASS",
        "dmarc": "PASS",
    }
    assert sorted(e["type"] for e in events) == ["created", "received"]

    index = table.get(
        {schema.PK: keys.message_id_pk("m1@example.com"), schema.SK: keys.message_id_sk("support@acme.test")}
    )
    assert index is not None
    assert index["conversation_id"] == conv_id
    contact = table.get({schema.PK: keys.contact_pk("alice@example.com"), schema.SK: keys.META})
    assert contact is not None
    assert (contact["conversation_count"], contact["message_count"]) == (1, 1)


def test_same_ses_event_twice_gives_one_message(deliver: Deliver, table: Table) -> None:
    first = deliver(make_mail())
    second = deliver(b"", event=first.event)
    assert second.outcomes[0]["stored"] is False
    assert second.outcomes[0]["conversation_id"] == first.outcomes[0]["conversation_id"]
    items = conversation_items(table, first.outcomes[0]["conversation_id"])
    assert len(entities(items, "message")) == 1
    assert entities(items, "conversation")[0]["message_count"] == 1
    contact = table.get({schema.PK: keys.contact_pk("alice@example.com"), schema.SK: keys.META})
    assert contact is not None
    assert contact["message_count"] == 1


def test_same_raw_message_with_another_ses_id_is_a_duplicate(deliver: Deliver, table: Table) -> None:
    raw = make_mail()
    first = deliver(raw)
    second = deliver(raw)
    assert (
        first.event["Records"][0]["ses"]["mail"]["messageId"]
        != second.event["Records"][0]["ses"]["mail"]["messageId"]
    )
    assert second.outcomes[0]["stored"] is False
    assert len(entities(all_items_deserialized(table), "message")) == 1


def all_items_deserialized(table: Table) -> list[dict[str, Any]]:
    from mailroom.table.client import deserialize

    return [deserialize(i) for i in all_items(table)]


def test_reply_threads_by_in_reply_to_and_by_references(deliver: Deliver, table: Table) -> None:
    root = deliver(make_mail(message_id="<root@example.com>")).outcomes[0]["conversation_id"]
    by_irt = deliver(
        make_mail(subject="Re: other words", message_id="<r1@example.com>", in_reply_to="<root@example.com>")
    )
    by_refs = deliver(
        make_mail(
            subject="totally different",
            message_id="<r2@example.com>",
            references="<unknown@x> <r1@example.com>",
        )
    )
    assert by_irt.outcomes[0]["conversation_id"] == root
    assert by_irt.outcomes[0]["threaded_by"] == "references"
    assert by_refs.outcomes[0]["conversation_id"] == root
    [meta] = entities(conversation_items(table, root), "conversation")
    assert meta["message_count"] == 3
    assert meta["version"] == 3


def test_reply_to_our_own_outbound_message_id_threads(deliver: Deliver, table: Table) -> None:
    conv = deliver(make_mail()).outcomes[0]["conversation_id"]
    table.put(message_id_item("our-reply-1@mail.acme.test", "support@acme.test", conv, "mreplyxxxxxx"))
    answer = deliver(
        make_mail(
            subject="Re: Printer on fire",
            message_id="<a2@example.com>",
            in_reply_to="<our-reply-1@mail.acme.test>",
        )
    )
    assert answer.outcomes[0]["conversation_id"] == conv


def test_reply_token_address_threads_without_headers(deliver: Deliver) -> None:
    conv = deliver(make_mail()).outcomes[0]["conversation_id"]
    answer = deliver(
        make_mail(subject="new words", sender="bob@other.example", message_id="<t1@other.example>"),
        [f"support+{conv}@acme.test"],
    )
    assert answer.outcomes[0]["conversation_id"] == conv
    assert answer.outcomes[0]["threaded_by"] == "token"
    assert answer.outcomes[0]["mailbox"] == "support@acme.test"


def test_token_of_another_mailbox_does_not_thread(deliver: Deliver) -> None:
    conv = deliver(make_mail(), ["sales@acme.test"]).outcomes[0]["conversation_id"]
    other = deliver(make_mail(message_id="<t2@example.com>", subject="x"), [f"support+{conv}@acme.test"])
    assert other.outcomes[0]["conversation_id"] != conv
    assert other.outcomes[0]["new_conversation"] is True


def test_subject_threading_needs_same_contact_mailbox_and_window(deliver: Deliver) -> None:
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    conv = deliver(
        make_mail(subject="Invoice 42", message_id="<s1@example.com>"), received_at=start
    ).outcomes[0]
    same = deliver(
        make_mail(subject="RE: Fwd: invoice   42", message_id="<s2@example.com>"),
        received_at=start + timedelta(hours=2),
    )
    other_contact = deliver(
        make_mail(subject="Re: Invoice 42", sender="eve@example.org", message_id="<s3@example.org>"),
        received_at=start + timedelta(hours=3),
    )
    other_mailbox = deliver(
        make_mail(subject="Re: Invoice 42", message_id="<s4@example.com>"),
        ["billing@acme.test"],
        received_at=start + timedelta(hours=3),
    )
    too_late = deliver(
        make_mail(subject="Re: Invoice 42", message_id="<s5@example.com>"),
        received_at=start + timedelta(days=40),
    )
    assert same.outcomes[0]["conversation_id"] == conv["conversation_id"]
    assert same.outcomes[0]["threaded_by"] == "subject"
    for outcome in (other_contact, other_mailbox, too_late):
        assert outcome.outcomes[0]["conversation_id"] != conv["conversation_id"]
        assert outcome.outcomes[0]["new_conversation"] is True


def test_one_message_to_two_mailboxes_gives_one_conversation_in_each(deliver: Deliver, table: Table) -> None:
    delivery = deliver(
        make_mail(to="support@acme.test, sales@acme.test"), ["support@acme.test", "sales@acme.test"]
    )
    outcomes = delivery.outcomes
    assert sorted(o["mailbox"] for o in outcomes) == ["sales@acme.test", "support@acme.test"]
    assert len({o["conversation_id"] for o in outcomes}) == 2
    again = deliver(b"", event=delivery.event)
    assert [o["stored"] for o in again.outcomes] == [False, False]
    messages = entities(all_items_deserialized(table), "message")
    assert sorted(m["mailbox"] for m in messages) == ["sales@acme.test", "support@acme.test"]


def test_virus_is_quarantined_and_not_routable(deliver: Deliver, table: Table) -> None:
    outcome = deliver(make_mail(), verdicts={"virus": "FAIL"}).outcomes[0]
    items = conversation_items(table, outcome["conversation_id"])
    [meta] = entities(items, "conversation")
    [message] = entities(items, "message")
    assert meta["status"] == "quarantined"
    assert message["routable"] is False
    assert {"virus", "quarantined"} <= set(message["flags"])
    assert "quarantined" in [e["type"] for e in entities(items, "event")]


def test_verdicts_are_recorded(deliver: Deliver, table: Table) -> None:
    outcome = deliver(make_mail(), verdicts={"spam": "FAIL", "dkim": "FAIL", "spf": "GRAY"}).outcomes[0]
    [message] = entities(conversation_items(table, outcome["conversation_id"]), "message")
    assert message["verdicts"]["spam"] == "FAIL"
    assert message["verdicts"]["spf"] == "GRAY"
    assert {"spam", "auth_failed"} <= set(message["flags"])


def test_customer_reply_reopens_a_closed_conversation_but_an_auto_reply_does_not(
    deliver: Deliver, table: Table
) -> None:
    conv = deliver(make_mail(message_id="<c1@example.com>")).outcomes[0]["conversation_id"]
    meta = table.get({schema.PK: keys.conversation_pk(conv), schema.SK: keys.META})
    assert meta is not None
    _close(table, conv)
    deliver(
        make_mail(
            subject="Automatic reply: Printer on fire",
            message_id="<ooo@example.com>",
            in_reply_to="<c1@example.com>",
            headers={"Auto-Submitted": "auto-replied"},
        )
    )
    assert _status(table, conv) == "closed"
    deliver(
        make_mail(
            subject="Re: Printer on fire", message_id="<c2@example.com>", in_reply_to="<c1@example.com>"
        )
    )
    assert _status(table, conv) == "open"
    types = [e["type"] for e in entities(conversation_items(table, conv), "event")]
    assert types.count("reopened") == 1


def _close(table: Table, conv: str) -> None:
    repo = IngestRepository(table)
    current = repo.conversation(conv)
    assert current is not None
    from mailroom.domain.conversation import Status
    from mailroom.table.items import conversation_item

    closed = current.model_copy(
        update={"status": Status.CLOSED, "version": current.version + 1, "waiting_since": None}
    )
    table.put(conversation_item(closed))


def _status(table: Table, conv: str) -> str:
    meta = table.get({schema.PK: keys.conversation_pk(conv), schema.SK: keys.META})
    assert meta is not None
    return str(meta["status"])


def test_attachments_are_stored_and_downloadable(deliver: Deliver, api: Api, store: Any) -> None:
    pdf = b"%PDF-1.4 tiny"
    outcome = deliver(make_mail(attachments=[("Rechnung März.pdf", "application/pdf", pdf)])).outcomes[0]
    status, _, detail = api("GET", f"/api/conversations/{outcome['conversation_id']}")
    assert status == 200
    [message] = detail["messages"]
    [attachment] = message["attachments"]
    assert attachment["filename"] == "Rechnung März.pdf"
    assert attachment["size"] == len(pdf)
    status, headers, body = api("GET", attachment["url"])
    assert status == 200
    assert body == pdf
    assert "attachment;" in headers["Content-Disposition"]


def test_large_body_lives_in_the_store_and_the_api_returns_it_whole(
    deliver: Deliver, api: Api, table: Table
) -> None:
    text = "line of a very long report\n" * 5000
    outcome = deliver(make_mail(body=text)).outcomes[0]
    [message] = entities(conversation_items(table, outcome["conversation_id"]), "message")
    assert message["body_ref"]
    assert len(message["text"]) < len(text)
    _, _, detail = api("GET", f"/api/conversations/{outcome['conversation_id']}")
    assert detail["messages"][0]["text"].rstrip() == text.rstrip()


def test_crash_before_commit_is_retried_to_one_message(
    deliver: Deliver, table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailroom.ingest import repository

    original = repository.IngestRepository.commit
    calls = {"n": 0}

    def crash_once(self: IngestRepository, plan: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("Lambda died between the attachment writes and the table write")
        original(self, plan)

    monkeypatch.setattr(repository.IngestRepository, "commit", crash_once)
    raw = make_mail(attachments=[("a.txt", "text/plain", b"abc")])
    with pytest.raises(ConnectionError):
        deliver(raw, ses_message_id="sesretry1")
    retried = deliver(raw, ses_message_id="sesretry1")
    assert retried.outcomes[0]["stored"] is True
    assert len(entities(all_items_deserialized(table), "message")) == 1
    assert len(entities(all_items_deserialized(table), "conversation")) == 1


def test_crash_after_commit_is_retried_without_duplicates(
    deliver: Deliver, table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailroom.ingest import repository

    original = repository.IngestRepository.commit

    def commit_then_crash(self: IngestRepository, plan: Any) -> None:
        original(self, plan)
        raise TimeoutError("the response was lost after the write succeeded")

    monkeypatch.setattr(repository.IngestRepository, "commit", commit_then_crash)
    raw = make_mail()
    with pytest.raises(TimeoutError):
        deliver(raw, ses_message_id="sesretry2")
    monkeypatch.setattr(repository.IngestRepository, "commit", original)
    retried = deliver(raw, ses_message_id="sesretry2")
    assert retried.outcomes[0]["stored"] is False
    items = all_items_deserialized(table)
    assert len(entities(items, "message")) == 1
    assert len(entities(items, "event")) == 2  # created + received, once
    contact = table.get({schema.PK: keys.contact_pk("alice@example.com"), schema.SK: keys.META})
    assert contact is not None
    assert contact["message_count"] == 1


def test_concurrent_deliveries_of_one_message_store_it_once(deliver: Deliver, table: Table) -> None:
    raw = make_mail(message_id="<race@example.com>")
    results: list[bool] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        try:
            barrier.wait()
            results.append(deliver(raw).outcomes[0]["stored"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results.count(True) == 1
    assert len(entities(all_items_deserialized(table), "message")) == 1


def test_concurrent_replies_to_one_conversation_are_all_counted(deliver: Deliver, table: Table) -> None:
    conv = deliver(make_mail(message_id="<base@example.com>")).outcomes[0]["conversation_id"]
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def reply(n: int) -> None:
        try:
            barrier.wait()
            deliver(
                make_mail(
                    subject="Re: Printer",
                    message_id=f"<reply{n}@example.com>",
                    in_reply_to="<base@example.com>",
                )
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reply, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    items = conversation_items(table, conv)
    assert len(entities(items, "message")) == 7
    assert entities(items, "conversation")[0]["message_count"] == 7
    assert entities(items, "conversation")[0]["version"] == 7


def test_a_message_id_reused_by_another_customer_never_joins_their_conversation(
    deliver: Deliver, table: Table
) -> None:
    """A broken mailer numbers every mail <1234@localhost>: a second customer's mail with the same
    id is kept (flagged), but in a conversation of its own, never in the first customer's."""
    ann = deliver(make_mail(body="ann's order", message_id="<1234@localhost>", sender="ann@example.com"))
    ben = deliver(make_mail(body="ben's invoice", message_id="<1234@localhost>", sender="ben@example.org"))
    [first], [second] = ann.outcomes, ben.outcomes
    assert second["stored"] is True
    assert "message_id_reused" in second["flags"]
    assert second["conversation_id"] != first["conversation_id"]
    texts = [
        m["text"].strip() for m in entities(conversation_items(table, first["conversation_id"]), "message")
    ]
    assert texts == ["ann's order"]


def test_invalid_event_is_refused_with_a_clear_error(deliver: Deliver) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        deliver(b"", event={"Records": [{"eventSource": "aws:ses", "ses": {"mail": {}}}]})


def test_a_different_message_reusing_a_message_id_is_kept_and_threaded(
    deliver: Deliver, table: Table
) -> None:
    first = deliver(make_mail(body="first text", message_id="<same@example.com>")).outcomes[0]
    second = deliver(make_mail(body="other text", message_id="<same@example.com>")).outcomes[0]
    again = deliver(make_mail(body="other text", message_id="<same@example.com>")).outcomes[0]
    assert second["stored"] is True
    assert second["conversation_id"] == first["conversation_id"]
    assert "message_id_reused" in second["flags"]
    assert again["stored"] is False
    assert again["message_key"] == second["message_key"]
    messages = entities(conversation_items(table, first["conversation_id"]), "message")
    assert sorted(m["text"].strip() for m in messages) == ["first text", "other text"]
