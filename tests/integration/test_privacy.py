"""Data protection: export a contact, erase a contact (no trace left, checked by a full scan of the
table and of the raw store, in this test only), and the retention purge."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailroom.assignment.store import AssignmentStore
from mailroom.audit.log import CONTACT_ERASED, AuditQuery, contact_ref, list_entries
from mailroom.auth.model import Access
from mailroom.auth.permissions_store import grant
from mailroom.domain.agent import Agent
from mailroom.inbox.directory import upsert_mailbox, upsert_user
from mailroom.privacy.retention import purge_expired
from mailroom.storage.local import LocalStore
from mailroom.table import schema
from mailroom.table.client import Table
from tests.integration.conftest import Api, Deliver
from tests.mailfactory import make_mail

SUPPORT = "support@acme.test"
AGENT = "full@acme.test"
ALICE, BOB = "alice.gdpr@example.com", "bob.keeps@example.com"
SUBJECT = "Zebra quantum invoice"
ATTACHMENT = b"ALICE-ATTACHMENT-BYTES-4f1d"
BIG_BODY_WORD = "Walrusbody"
AGGREGATES = ('"entity": "audit"', '"entity": "usage_top"', '"entity": "conversation_usage"')
ALICE_IDS = ("<alice-1@example.com>", "<alice-2@example.com>")


@pytest.fixture
def world(deliver: Deliver, table: Table, api: Api) -> dict[str, Any]:
    upsert_user(table, AGENT, name="Full Agent", role="agent")
    AssignmentStore(table).put_agent(Agent(id=AGENT, name="Full Agent", role="agent", capacity=10))
    first = deliver(
        make_mail(
            subject=SUBJECT,
            sender=f"Alice Gdpr <{ALICE}>",
            message_id=ALICE_IDS[0],
            body=f"{BIG_BODY_WORD} " * 9000,  # over the inline limit: the body goes to bodies/
            attachments=[("invoice.pdf", "application/pdf", ATTACHMENT)],
        ),
        [SUPPORT],
    ).outcomes[0]["conversation_id"]
    second = deliver(
        make_mail(subject=f"{SUBJECT} again", sender=ALICE, message_id=ALICE_IDS[1], body="Second one."),
        [SUPPORT],
    ).outcomes[0]["conversation_id"]
    other = deliver(
        make_mail(
            subject="Bob's other matter",
            sender=BOB,
            message_id="<bob-1@example.com>",
            attachments=[("bob.txt", "text/plain", b"BOB-BYTES")],
        ),
        [SUPPORT],
    ).outcomes[0]["conversation_id"]
    grant(table, SUPPORT, AGENT, Access.FULL, actor="admin@acme.test")
    # A note mentioning an agent (a mention item in their partition), presence, an assignment
    # (the agent's open_count) and a reply (an outbound message and its Message-ID entry).
    status, _, _ = api(
        "POST", f"/api/conversations/{first}/notes", body=json.dumps({"text": f"{SUBJECT}: see @{AGENT}"})
    )
    assert status == 201
    api("POST", f"/api/conversations/{first}/presence", body=json.dumps({"state": "viewing"}))
    status, _, detail = api("GET", f"/api/conversations/{second}")
    status, _, sent = api(
        "POST",
        f"/api/conversations/{second}/replies",
        body=json.dumps(
            {"idempotency_key": "gdpr-reply-0001", "seen_version": detail["version"], "text": "Answer 42"}
        ),
        user=AGENT,
    )
    assert status == 201, sent
    status, _, assigned = api("POST", f"/api/conversations/{first}/assign", body=json.dumps({"agent": AGENT}))
    assert status == 200, assigned
    return {"first": first, "second": second, "other": other}


def _scan_text(table: Table) -> list[str]:
    return [json.dumps(item, default=str).lower() for item in table.scan_all()]


def _store_files(store: LocalStore) -> dict[str, bytes]:
    return {
        p.relative_to(store.root).as_posix(): p.read_bytes()
        for p in Path(store.root).rglob("*")
        if p.is_file()
    }


def _open_count(table: Table, agent: str) -> int:
    item = table.get({schema.PK: f"AGENT#{agent}", schema.SK: "META"}, consistent=True) or {}
    return int(item.get("open_count") or 0)


def test_export_contains_everything(api: Api, world: dict[str, Any], store: LocalStore) -> None:
    status, headers, payload = api("GET", f"/api/admin/contacts/{ALICE}/export")
    assert status == 200, payload
    assert headers["Content-Type"] == "application/zip"
    data = payload if isinstance(payload, bytes) else payload.encode("latin-1")
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = archive.namelist()
    document = json.loads(archive.read("contact.json"))
    assert document["email"] == ALICE
    assert document["contact"]["email"] == ALICE
    conversations = {c["conversation"]["id"]: c for c in document["conversations"]}
    assert set(conversations) == {world["first"], world["second"]}
    first = conversations[world["first"]]
    assert [m["message_id"] for m in first["messages"]] == [ALICE_IDS[0].strip("<>")]
    assert BIG_BODY_WORD in first["messages"][0]["full_body"]["text"]
    assert first["notes"]
    assert first["events"]
    second = conversations[world["second"]]
    assert {m["direction"] for m in second["messages"]} == {"inbound", "outbound"}
    assert second["replies"]
    raw_files = [n for n in names if n.startswith("raw/") and n.endswith(".eml")]
    assert len(raw_files) == 2
    assert any(ALICE_IDS[0].encode() in archive.read(n) for n in raw_files)
    assert any(archive.read(n) == ATTACHMENT for n in names if n.startswith("attachments/"))
    assert "bob" not in json.dumps(document).lower()
    # Unknown contacts: 404.
    status, _, _ = api("GET", "/api/admin/contacts/nobody@example.org/export")
    assert status == 404


def test_deleting_a_contact_leaves_no_trace(
    api: Api, world: dict[str, Any], table: Table, store: LocalStore
) -> None:
    assert _open_count(table, AGENT) == 2  # the reply claimed one, the other was assigned
    before = _store_files(store)
    assert any(ATTACHMENT in data for data in before.values())
    assert any(name.startswith("bodies/") for name in before)

    status, _, payload = api("POST", f"/api/admin/contacts/{ALICE}/delete", body=json.dumps({"confirm": "x"}))
    assert status == 422, payload  # the confirmation must repeat the address
    status, _, report = api(
        "POST", f"/api/admin/contacts/{ALICE}/delete", body=json.dumps({"confirm": ALICE})
    )
    assert status == 200, report
    assert report["found"]
    assert report["complete"]
    assert report["conversations"] == 2
    assert report["messages"] == 3

    # The full scan (test only): nothing of Alice's mail is left in the table...
    needles = [
        ALICE,
        "alice gdpr",
        *(mid.strip("<>") for mid in ALICE_IDS),
        SUBJECT.lower(),
        BIG_BODY_WORD.lower(),
        "answer 42",
        world["first"],
        world["second"],
    ]
    texts = _scan_text(table)
    tombstones = [t for t in texts if CONTACT_ERASED in t]
    for needle in needles:
        if needle in (world["first"], world["second"]):
            # Only aggregates may still name the conversation id (an opaque hash): the audit log's
            # assignment entries and the cost counters.
            hits = [t for t in texts if needle in t and not any(e in t for e in AGGREGATES)]
        else:
            hits = [t for t in texts if needle.lower() in t]
        assert hits == [], (needle, hits[:3])
    # ... nor in the raw store (every file, names and bytes).
    after = _store_files(store)
    for name, data in after.items():
        for needle in [ALICE, SUBJECT, BIG_BODY_WORD, ATTACHMENT.decode(), "Answer 42", *ALICE_IDS]:
            assert needle.encode().lower() not in data.lower(), (name, needle)
    assert len(after) < len(before)

    # Bob's data is untouched.
    status, _, bob = api("GET", f"/api/conversations/{world['other']}")
    assert status == 200
    assert bob["contact_email"] == BOB
    assert any(data == b"BOB-BYTES" for data in after.values())
    assert any("bob-1@example.com" in t and '"entity": "msgid"' in t for t in texts)

    # The agent's load went down with the conversation they held.
    assert _open_count(table, AGENT) == 0

    # The tombstone: who, when, a hash of the address (not the address).
    assert len(tombstones) == 1
    [entry] = [
        e
        for e in list_entries(table, AuditQuery.build(start=None, end=None, action=CONTACT_ERASED)).entries
        if e.target == contact_ref(ALICE)
    ]
    assert entry.actor == "admin@acme.test"
    assert entry.details["conversations"] == 2

    # Idempotent: again is fine (nothing found), and the page works after it.
    status, _, again = api("POST", f"/api/admin/contacts/{ALICE}/delete", body=json.dumps({"confirm": ALICE}))
    assert status == 200
    assert again["found"] is False
    assert again["complete"] is True
    status, _, _ = api("GET", f"/api/admin/contacts/{ALICE}/export")
    assert status == 404


def test_erasure_is_retryable_after_a_partial_run(
    api: Api, world: dict[str, Any], table: Table, store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash half-way (here: the raw store fails after the Message-ID entries went) is finished by
    calling again."""
    from mailroom.privacy import erase

    calls = {"n": 0}
    original = LocalStore.delete

    def flaky(self: LocalStore, key: str) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("S3 hiccup")
        original(self, key)

    monkeypatch.setattr(LocalStore, "delete", flaky)
    with pytest.raises(RuntimeError):
        erase.erase_contact(table, store, ALICE, actor="admin@acme.test")
    monkeypatch.setattr(LocalStore, "delete", original)
    report = erase.erase_contact(table, store, ALICE, actor="admin@acme.test")
    assert report.complete
    assert not [t for t in _scan_text(table) if ALICE in t or SUBJECT.lower() in t]
    assert not [n for n, d in _store_files(store).items() if ATTACHMENT in d or ALICE.encode() in d]


def test_non_admins_are_refused(api: Api, world: dict[str, Any], table: Table) -> None:
    for method, target, body in (
        ("GET", f"/api/admin/contacts/{ALICE}/export", None),
        ("POST", f"/api/admin/contacts/{ALICE}/delete", json.dumps({"confirm": ALICE})),
        ("GET", f"/admin/contact?email={ALICE}", None),
    ):
        path, _, query = target.partition("?")
        status, _, _ = api(method, path, query, body, user=AGENT)
        assert status == 403, (method, path)
    assert any(ALICE in t for t in _scan_text(table))  # nothing was erased


def test_contact_page_looks_up_and_erases(api: Api, world: dict[str, Any], table: Table) -> None:
    status, _, html = api("GET", "/admin/contact", f"email={ALICE}")
    assert status == 200
    assert "Delete permanently" in html
    assert "export" in html
    form = {"content-type": "application/x-www-form-urlencoded"}
    status, _, html = api("POST", "/admin/contact/delete", body=f"email={ALICE}&confirm=wrong", headers=form)
    assert status == 422
    status, _, html = api(
        "POST", "/admin/contact/delete", body=f"email={ALICE}&confirm={ALICE}", headers=form
    )
    assert status == 200
    assert "Erased: 2 conversations" in html
    status, _, _ = api("GET", "/admin/contact", f"email={ALICE}")
    assert status == 404


def test_retention_purges_old_bodies_and_raw_mail(
    deliver: Deliver, table: Table, store: LocalStore, api: Api
) -> None:
    now = datetime.now(UTC)
    old = deliver(
        make_mail(
            subject="Old thing",
            message_id="<old-1@example.com>",
            body=f"{BIG_BODY_WORD} " * 9000,
            attachments=[("old.bin", "application/octet-stream", b"OLD-ATTACHMENT")],
        ),
        [SUPPORT],
        received_at=now - timedelta(days=45),
    ).outcomes[0]["conversation_id"]
    recent = deliver(
        make_mail(subject="Recent thing", message_id="<new-1@example.com>", body="Fresh body text"),
        [SUPPORT],
        received_at=now - timedelta(days=2),
    ).outcomes[0]["conversation_id"]
    metrics_item = {schema.PK: "METRICS#support@acme.test", schema.SK: "A#2026-01-01T00", "received": 3}
    table.put(metrics_item)
    assert purge_expired(table, store, now=now).conversations == 0  # no policy: keep forever

    upsert_mailbox(table, SUPPORT, retention_days=30)
    report = purge_expired(table, store, now=now)
    assert report.conversations == 1
    assert report.messages == 1
    assert report.blobs == 3

    files = _store_files(store)
    assert not any(b"OLD-ATTACHMENT" in d or b"old-1@example.com" in d for d in files.values())
    assert not any(name.startswith("bodies/") for name in files)
    status, _, detail = api("GET", f"/api/conversations/{old}")
    assert status == 200
    assert detail["subject"] == "Old thing"
    [message] = [i for i in table.scan_all() if i.get("entity") == "message" and i["conversation_id"] == old]
    assert message["purged_at"]
    assert message["text"] == ""
    assert "raw_key" not in message
    assert message["attachments"][0]["filename"] == "old.bin"
    assert BIG_BODY_WORD not in json.dumps(detail)
    # The recent conversation and the metrics stay.
    status, _, fresh = api("GET", f"/api/conversations/{recent}")
    assert "Fresh body text" in json.dumps(fresh)
    assert any(b"new-1@example.com" in d for d in files.values())
    assert table.get({schema.PK: metrics_item[schema.PK], schema.SK: metrics_item[schema.SK]}) is not None
    # The next run starts past what it did (the watermark): nothing more to purge.
    assert purge_expired(table, store, now=now).conversations == 0


def test_cli_exports_and_deletes(world: dict[str, Any], table: Table, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mailroom.cli import main

    runner = CliRunner()
    target = tmp_path / "alice.zip"
    result = runner.invoke(main, ["contacts", "export", ALICE, "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert "contact.json" in zipfile.ZipFile(target).namelist()
    result = runner.invoke(main, ["contacts", "delete", ALICE, "--yes", "--actor", "dpo@acme.test"])
    assert result.exit_code == 0, result.output
    assert "tombstone: sha256:" in result.output
    assert not [t for t in _scan_text(table) if ALICE in t]
    result = runner.invoke(main, ["contacts", "export", ALICE, "-o", str(target)])
    assert result.exit_code != 0


def test_cli_sets_retention_and_runs_it(deliver: Deliver, table: Table) -> None:
    from click.testing import CliRunner

    from mailroom.cli import main
    from mailroom.inbox.directory import list_mailboxes

    deliver(make_mail(), [SUPPORT])
    runner = CliRunner()
    result = runner.invoke(main, ["retention", "set", SUPPORT, "30"])
    assert result.exit_code == 0, result.output
    assert [m.get("retention_days") for m in list_mailboxes(table)] == [30]
    assert runner.invoke(main, ["retention", "set", "nobody@acme.test", "3"]).exit_code != 0
    result = runner.invoke(main, ["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "purged 0 conversations" in result.output
