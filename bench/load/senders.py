"""SMTP senders: each a thread with its own connection, sending what the mix hands out until it is done.

A mail is recorded in the ledger only when the server answered ``250`` to its DATA (the SES id is
in that answer: ``queued as <id>``). A ``4xx`` is retried as an MTA would (after ``RSET``, up to
:data:`ATTEMPTS` times); a ``5xx`` is a refusal, counted, never recorded as accepted.
"""

from __future__ import annotations

import re
import smtplib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.load.mix import MailMix, Outgoing
from sandbox.invariants import Ledger, SentMail

ATTEMPTS = 3
QUEUED_AS = re.compile(rb"queued as (\S+)")


@dataclass
class SendStats:
    accepted: int = 0
    accepted_bytes: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # "550 ..." (code and kind) -> count
    errors: Counter[str] = field(default_factory=Counter)  # connection trouble, by exception type
    first_send: float | None = None
    last_accept: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def started(self) -> None:
        with self.lock:
            now = time.time()
            self.first_send = now if self.first_send is None else min(self.first_send, now)

    def count_accept(self, mail: Outgoing, at: float) -> None:
        with self.lock:
            self.accepted += 1
            self.accepted_bytes += len(mail.raw)
            self.last_accept = at if self.last_accept is None else max(self.last_accept, at)

    def count_refusal(self, code: int, kind: str) -> None:
        with self.lock:
            self.refused[f"{code} {kind}"] += 1

    def count_error(self, error: Exception) -> None:
        with self.lock:
            self.errors[type(error).__name__] += 1


class Pacer:
    """An open-loop pace shared by every sender: at most ``rate`` mails a second in all (None: as fast
    as the senders go, each waiting for its 250)."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            slot = max(self._next, time.monotonic())
            self._next = slot + self.interval
        time.sleep(max(0.0, slot - time.monotonic()))


class SmtpRefusedError(Exception):
    def __init__(self, code: int, message: bytes) -> None:
        super().__init__(f"{code} {message.decode(errors='replace')}")
        self.code = code


def transact(smtp: smtplib.SMTP, mail: Outgoing) -> str:
    """One SMTP transaction; the SES id from the 250 answer. Raises :class:`SmtpRefusedError`."""
    code, message = smtp.mail(mail.envelope_from, [f"SIZE={len(mail.raw)}"])
    if code != 250:
        raise SmtpRefusedError(code, message)
    for recipient in mail.recipients:
        code, message = smtp.rcpt(recipient)
        if code not in (250, 251):
            raise SmtpRefusedError(code, message)
    code, message = smtp.data(mail.raw)
    if code != 250:
        raise SmtpRefusedError(code, message)
    found = QUEUED_AS.search(message)
    if found is None:
        raise SmtpRefusedError(code, b"250 without a queue id: " + message)
    return found.group(1).decode()


class Sender(threading.Thread):
    def __init__(
        self,
        *,
        name: str,
        host: str,
        port: int,
        mix: MailMix,
        ledger: Ledger,
        stats: SendStats,
        pacer: Pacer | None = None,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.host, self.port = host, port
        self.pacer = pacer or Pacer(None)
        self.mix, self.ledger, self.stats = mix, ledger, stats
        self._smtp: smtplib.SMTP | None = None

    def run(self) -> None:
        self.stats.started()
        try:
            while True:
                self.pacer.wait()
                mail = self.mix.next()
                if mail is None:
                    return
                self._send(mail)
        finally:
            self._close()

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            self._smtp = smtplib.SMTP(self.host, self.port, timeout=300)
            self._smtp.ehlo("loadtest.example")
        return self._smtp

    def _close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def _send(self, mail: Outgoing) -> None:
        for attempt in range(ATTEMPTS):
            try:
                ses_id = transact(self._connection(), mail)
            except SmtpRefusedError as refused:
                self._reset()
                if 400 <= refused.code < 500 and attempt + 1 < ATTEMPTS:
                    time.sleep(0.5 * (attempt + 1))
                    continue
                self.stats.count_refusal(refused.code, mail.kind)
                return
            except (smtplib.SMTPException, OSError) as error:
                # The connection broke: if it broke after DATA, the mail may be stored without our
                # knowing its id. Sending it again is what an MTA does; ingest deduplicates it.
                self.stats.count_error(error)
                self._smtp = None
                time.sleep(0.5 * (attempt + 1))
                continue
            self._accepted(mail, ses_id)
            return

    def _reset(self) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._smtp = None

    def _accepted(self, mail: Outgoing, ses_id: str) -> None:
        at = time.time()
        self.ledger.record_mail(
            SentMail(
                ses_message_id=ses_id,
                mailboxes=tuple(r.lower() for r in mail.recipients),
                message_id=mail.message_id,
                sha256=mail.sha256,
                accepted_at=at,
                kind=mail.kind,
                thread_of=mail.thread_of,
                expect_flags=mail.expect_flags,
            )
        )
        self.stats.count_accept(mail, at)
        self.mix.accepted(mail)
