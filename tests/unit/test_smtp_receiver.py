"""The sandbox's SES stand-in, spoken to over real SMTP."""

from __future__ import annotations

import logging
import smtplib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mailroom.ingest.ses_event import SesEvent
from mailroom.storage.local import LocalStore
from sandbox.smtp import SmtpReceiver

PREFIX = "raw/inbound/"
LIMIT = 20_000
MAIL = (
    b"From: Maria Lopez <maria@example.com>\r\n"
    b"To: support@acme.test, sales@acme.test\r\n"
    b"Subject: Can't log in\r\n"
    b"Message-ID: <m1@example.com>\r\n"
    b"\r\n"
    b"Hello,\r\n.leading dot survives dot-stuffing\r\n"
)


class Inbox:
    """The deliver callable: records events, can be told to fail or to wait."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.events: list[dict[str, Any]] = []
        self.raw_stored_before_delivery: list[bool] = []
        self.before: Callable[[], None] = lambda: None
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        key = PREFIX + event["Records"][0]["ses"]["mail"]["messageId"]
        self.before()
        with self.lock:
            self.raw_stored_before_delivery.append(self.store.exists(key))
            self.events.append(event)


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


@pytest.fixture
def inbox(store: LocalStore) -> Inbox:
    return Inbox(store)


@pytest.fixture
def domains() -> set[str]:
    return {"acme.test"}


@pytest.fixture
def receiver(store: LocalStore, inbox: Inbox, domains: set[str]) -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver(
        host="127.0.0.1",
        port=0,
        accept_domains=lambda: set(domains),
        store=store,
        raw_prefix=PREFIX,
        deliver=inbox,
        max_message_bytes=LIMIT,
    )
    receiver.start()
    yield receiver
    receiver.stop()


def connect(receiver: SmtpReceiver) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", receiver.port, timeout=30)
    client.ehlo("client.example.com")
    return client


def send(receiver: SmtpReceiver, mail_from: str, rcpt_to: list[str], raw: bytes) -> tuple[int, bytes]:
    """One transaction by hand, to see the DATA reply that smtplib.sendmail hides."""
    with connect(receiver) as client:
        assert client.mail(mail_from)[0] == 250
        for address in rcpt_to:
            assert client.rcpt(address)[0] == 250
        return client.data(raw)


def ses_id_from(reply: bytes) -> str:
    prefix = b"2.0.0 Ok: queued as "
    assert reply.startswith(prefix)
    return reply[len(prefix) :].decode()


def test_ehlo_advertises_size_8bitmime_and_smtputf8(receiver: SmtpReceiver) -> None:
    with connect(receiver) as client:
        assert client.has_extn("size")
        assert client.esmtp_features["size"] == str(LIMIT)
        assert client.has_extn("8bitmime")
        assert client.has_extn("smtputf8")


def test_accepted_mail_is_stored_then_delivered_as_an_ses_event(
    receiver: SmtpReceiver, store: LocalStore, inbox: Inbox
) -> None:
    code, reply = send(receiver, "maria@example.com", ["support@acme.test", "sales@acme.test"], MAIL)

    assert code == 250
    ses_id = ses_id_from(reply)
    assert len(inbox.events) == 1
    event = inbox.events[0]
    mail = event["Records"][0]["ses"]["mail"]
    assert mail["messageId"] == ses_id
    assert store.get(PREFIX + ses_id) == MAIL  # byte for byte, dot-stuffing undone
    assert store.list(PREFIX) == [PREFIX + ses_id]
    assert inbox.raw_stored_before_delivery == [True]
    assert mail["source"] == "maria@example.com"
    assert mail["commonHeaders"]["subject"] == "Can't log in"
    receipt = SesEvent.model_validate(event).records[0].ses.receipt
    assert receipt.recipients == ["support@acme.test", "sales@acme.test"]


def test_sendmail_with_multiple_recipients(receiver: SmtpReceiver, inbox: Inbox) -> None:
    with connect(receiver) as client:
        refused = client.sendmail("maria@example.com", ["support@acme.test", "Sales@ACME.test"], MAIL)

    assert refused == {}
    (event,) = inbox.events
    assert event["Records"][0]["ses"]["receipt"]["recipients"] == ["support@acme.test", "Sales@ACME.test"]
    assert event["Records"][0]["ses"]["mail"]["destination"] == ["support@acme.test", "Sales@ACME.test"]


def test_foreign_domain_is_refused_with_the_reason(
    receiver: SmtpReceiver, store: LocalStore, inbox: Inbox
) -> None:
    with connect(receiver) as client:
        client.mail("maria@example.com")
        code, reply = client.rcpt("someone@elsewhere.example")
        client.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("maria@example.com", ["someone@elsewhere.example"], MAIL)

    assert code == 550
    assert reply == b"5.1.1 <someone@elsewhere.example>: this server only accepts mail for acme.test"
    assert inbox.events == []
    assert store.list("") == []


def test_only_accepted_recipients_reach_the_event(receiver: SmtpReceiver, inbox: Inbox) -> None:
    with connect(receiver) as client:
        refused = client.sendmail("maria@example.com", ["support@acme.test", "x@elsewhere.example"], MAIL)

    assert refused == {
        "x@elsewhere.example": (
            550,
            b"5.1.1 <x@elsewhere.example>: this server only accepts mail for acme.test",
        )
    }
    assert inbox.events[0]["Records"][0]["ses"]["receipt"]["recipients"] == ["support@acme.test"]


def test_domains_added_at_run_time_are_accepted(
    receiver: SmtpReceiver, domains: set[str], inbox: Inbox
) -> None:
    with connect(receiver) as client:
        client.mail("maria@example.com")
        assert client.rcpt("help@newbrand.test")[0] == 550
        domains.add("newbrand.test")
        assert client.rcpt("help@newbrand.test")[0] == 250


def test_mail_over_the_size_limit_is_refused_at_mail_from(receiver: SmtpReceiver, store: LocalStore) -> None:
    big = MAIL + b"x" * 70 + (b"\r\n" + b"x" * 70) * (LIMIT // 70)

    with connect(receiver) as client, pytest.raises(smtplib.SMTPSenderRefused) as refused:
        client.sendmail("maria@example.com", ["support@acme.test"], big)  # smtplib declares SIZE=...

    assert refused.value.smtp_code == 552
    assert refused.value.smtp_error == f"5.3.4 Message size exceeds fixed limit of {LIMIT} bytes".encode()
    assert store.list("") == []


def test_mail_over_the_size_limit_is_refused_at_data(
    receiver: SmtpReceiver, store: LocalStore, inbox: Inbox
) -> None:
    big = MAIL + (b"y" * 70 + b"\r\n") * (LIMIT // 70)

    with connect(receiver) as client:
        client.mail("maria@example.com")  # no SIZE declared
        client.rcpt("support@acme.test")
        code, reply = client.data(big)
        assert client.noop()[0] == 250  # the session goes on

    assert code == 552
    assert reply == f"5.3.4 Message size exceeds fixed limit of {LIMIT} bytes".encode()
    assert inbox.events == []
    assert store.list("") == []


def test_failing_delivery_still_gets_250_and_keeps_the_raw_mail(
    receiver: SmtpReceiver, store: LocalStore, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    def explode() -> None:
        raise RuntimeError("ingest is down")

    inbox.before = explode
    with caplog.at_level(logging.INFO, logger="mailroom.sandbox.smtp"):
        code, reply = send(receiver, "maria@example.com", ["support@acme.test"], MAIL)

    assert code == 250
    ses_id = ses_id_from(reply)
    assert store.get(PREFIX + ses_id) == MAIL
    failures = [record for record in caplog.records if record.getMessage() == "delivery failed"]
    assert len(failures) == 1
    assert getattr(failures[0], "ses_message_id", None) == ses_id
    assert failures[0].exc_info is not None


def test_null_sender_is_accepted(receiver: SmtpReceiver, inbox: Inbox) -> None:
    code, _ = send(receiver, "", ["support@acme.test"], MAIL)

    assert code == 250
    assert inbox.events[0]["Records"][0]["ses"]["mail"]["source"] == ""


def test_eight_bit_mail_is_stored_unchanged(receiver: SmtpReceiver, store: LocalStore, inbox: Inbox) -> None:
    raw = "From: Jürgen <j@example.org>\r\nSubject: Grüße\r\n\r\nSchöne Grüße\r\n".encode()
    with connect(receiver) as client:
        client.sendmail("j@example.org", ["support@acme.test"], raw, mail_options=["BODY=8BITMIME"])

    ses_id = inbox.events[0]["Records"][0]["ses"]["mail"]["messageId"]
    assert store.get(PREFIX + ses_id) == raw
    assert inbox.events[0]["Records"][0]["ses"]["mail"]["commonHeaders"]["subject"] == "Grüße"


def test_concurrent_sessions_are_delivered_concurrently(receiver: SmtpReceiver, inbox: Inbox) -> None:
    # Each delivery waits until the other one has started: this only completes if they overlap.
    barrier = threading.Barrier(2, timeout=20)

    def meet() -> None:
        barrier.wait()

    inbox.before = meet
    replies: list[tuple[int, bytes]] = []

    def one() -> None:
        replies.append(send(receiver, "maria@example.com", ["support@acme.test"], MAIL))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not barrier.broken
    assert [code for code, _ in replies] == [250, 250]
    assert len(inbox.events) == 2
    ids = {event["Records"][0]["ses"]["mail"]["messageId"] for event in inbox.events}
    assert ids == {ses_id_from(reply) for _, reply in replies}
    assert len(ids) == 2


def test_lookup_failure_is_a_temporary_error(store: LocalStore, inbox: Inbox) -> None:
    def broken() -> set[str]:
        raise ConnectionError("table unavailable")

    receiver = SmtpReceiver(
        host="127.0.0.1",
        port=0,
        accept_domains=broken,
        store=store,
        raw_prefix=PREFIX,
        deliver=inbox,
        max_message_bytes=LIMIT,
    )
    receiver.start()
    try:
        with connect(receiver) as client:
            client.mail("maria@example.com")
            code, _ = client.rcpt("support@acme.test")
    finally:
        receiver.stop()

    assert code == 451
