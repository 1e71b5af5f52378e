"""What the load test sends: a planned mix of kinds, built one mail at a time as senders ask.

The plan fixes how many of each kind (:func:`plan_kinds`); the content is chosen when a sender asks
(:meth:`MailMix.next`), because replies and duplicates refer to mail that was already accepted:

* ``new``: a customer writes a new thread (unique subject, a body of a few paragraphs, HTML for
  half of them); a few go to two mailboxes at once (one conversation in each);
* ``reply``: the customer answers an earlier mail of theirs (``In-Reply-To``/``References`` on its
  Message-ID), or an agent's reply when there is one (a third of the time);
* ``duplicate``: the same bytes again (same Message-ID): half of them a mail already accepted, half
  one still on its way from another sender (a concurrent redelivery);
* ``attachment``: a new thread with a binary attachment of 1 to 4 MB;
* ``malformed``: a broken message from the real-world corpus (``../shared/corpus``), with a
  ``X-Loadtest-Copy`` header so each copy is a message of its own; the flags ingest must set are
  what the parser reads from exactly those bytes.

Every mail is sent with CRLF line ends, as SMTP requires, ending in CRLF, so the raw mail the
sandbox stores is byte for byte what was sent (the invariants compare their SHA-256).
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from mailroom.mail.parse import parse_message
from sandbox.invariants import MailKind
from tests.mailfactory import make_mail

# Flags that say a message is broken (not merely machine mail): what makes a corpus file "malformed".
DEFECT_FLAGS = frozenset({"parse_failed", "truncated", "message_id_synthesized", "date_missing"})
BROKEN_NAMES = re.compile(r"broken|mailformed|missing|false|endless|torture|no-ctype|bad-encoding")
SMTP_LINE_LIMIT = 998  # RFC 5321: longer lines are refused at DATA (500 Line too long)
WORDS = ("order", "invoice", "delivery", "printer", "account", "refund", "password", "billing", "upgrade",
         "shipment", "label", "warranty", "please", "help", "urgent", "thanks", "still", "waiting", "broken",
         "again", "since", "yesterday", "customer", "number", "attached")  # fmt: skip


@dataclass(frozen=True)
class Outgoing:
    """One mail to send."""

    seq: int
    kind: MailKind
    envelope_from: str
    recipients: tuple[str, ...]  # mailbox addresses
    raw: bytes
    message_id: str | None
    subject: str
    customer: str
    thread_of: str | None = None
    expect_flags: frozenset[str] = frozenset()
    original: int | None = None  # a duplicate: the seq of the mail it repeats

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


@dataclass(frozen=True)
class CorpusMail:
    name: str
    raw: bytes  # CRLF line ends


@dataclass(frozen=True)
class AgentReply:
    mailbox: str
    message_id: str
    customer: str
    subject: str


def crlf(raw: bytes) -> bytes:
    """SMTP's line ends, and a final CRLF (smtplib would add one, and the stored mail with it)."""
    text = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    return text if text.endswith(b"\r\n") else text + b"\r\n"


def malformed_corpus(directory: Path) -> list[CorpusMail]:
    """The corpus's broken messages that SMTP can carry: the parser finds a defect in them, or their
    name says how they are broken; files with lines longer than SMTP allows are left out (the
    sandbox, like any MTA, refuses them at DATA, so they would never reach ingest)."""
    chosen = []
    for path in sorted(directory.rglob("*.eml")):
        raw = crlf(path.read_bytes())
        if max(len(line) for line in raw.split(b"\r\n")) > SMTP_LINE_LIMIT:
            continue
        flags = {str(flag) for flag in parse_message(raw).flags}
        if flags & DEFECT_FLAGS or BROKEN_NAMES.search(path.name):
            chosen.append(CorpusMail(name=path.relative_to(directory).as_posix(), raw=raw))
    return chosen


def plan_kinds(
    total: int,
    rng: random.Random,
    *,
    reply_share: float = 0.30,
    duplicate_share: float = 0.05,
    malformed_share: float = 0.01,
    attachments: int = 5,
) -> list[MailKind]:
    """``total`` kinds in a random order; the first mails are new threads (something to answer)."""
    counts: dict[MailKind, int] = {
        "reply": round(total * reply_share),
        "duplicate": round(total * duplicate_share),
        "malformed": round(total * malformed_share),
        "attachment": min(attachments, total),
    }
    rest = total - sum(counts.values())
    if rest < 0:
        raise ValueError(f"{total} mails are too few for that mix")
    kinds: list[MailKind] = ["new"] * rest
    for kind, count in counts.items():
        kinds += [kind] * count
    head = min(rest, max(2, total // 50))
    tail = kinds[head:]
    rng.shuffle(tail)
    return kinds[:head] + tail


def insert_header(raw: bytes, name: str, value: str) -> bytes:
    """Add a header as the first one (after an mbox ``From `` line, if the file starts with one)."""
    line = f"{name}: {value}\r\n".encode()
    if raw.startswith(b"From "):
        first, _, rest = raw.partition(b"\r\n")
        return first + b"\r\n" + line + rest
    return line + raw


class MailMix:
    """Thread-safe: senders call :meth:`next` and :meth:`accepted`, agents :meth:`agent_replied`."""

    def __init__(
        self,
        *,
        kinds: list[MailKind],
        mailboxes: tuple[str, ...],
        mailbox_weights: tuple[int, ...],
        corpus: list[CorpusMail],
        seed: int,
        run_id: str,
        customers: int,
        domain: str = "customers.example",
    ) -> None:
        self.kinds = kinds
        self.mailboxes = mailboxes
        self.weights = mailbox_weights
        self.corpus = corpus
        self.rng = random.Random(seed)
        self.run_id = run_id
        self.customers = [f"customer{n}@{domain}" for n in range(max(1, customers))]
        self._lock = threading.Lock()
        self._next = 0
        self._threads: list[Outgoing] = []  # accepted mail a customer may answer
        self._accepted: list[Outgoing] = []  # accepted mail that may be delivered again
        self._in_flight: deque[Outgoing] = deque(maxlen=64)  # handed out, not yet accepted
        self._agent_replies: list[AgentReply] = []
        self.sent_kinds: dict[str, int] = {}

    # -- what senders and agents report ----------------------------------------------------------

    def accepted(self, mail: Outgoing) -> None:
        with self._lock:
            if mail.kind in {"new", "reply"}:
                self._threads.append(mail)
            if mail.kind != "attachment":  # megabytes: not kept for redelivery
                self._accepted.append(mail)

    def agent_replied(self, reply: AgentReply) -> None:
        with self._lock:
            self._agent_replies.append(reply)

    # -- the next mail ---------------------------------------------------------------------------

    def next(self) -> Outgoing | None:
        """The next mail to send, or None when the plan is done."""
        with self._lock:
            if self._next >= len(self.kinds):
                return None
            seq = self._next
            self._next += 1
            mail = self._build(seq, self.kinds[seq])
            self._in_flight.append(mail)
            self.sent_kinds[mail.kind] = self.sent_kinds.get(mail.kind, 0) + 1
            return mail

    def _build(self, seq: int, kind: MailKind) -> Outgoing:
        if kind == "reply" and (self._threads or self._agent_replies):
            if self._agent_replies and (not self._threads or self.rng.random() < 1 / 3):
                return self._answer_agent(seq, self.rng.choice(self._agent_replies))
            return self._answer_own(seq, self.rng.choice(self._threads))
        if kind == "duplicate":
            pending = [m for m in self._in_flight if m.kind != "attachment"]
            pool = pending if pending and self.rng.random() < 0.5 else self._accepted
            if pool:
                return self._again(seq, self.rng.choice(pool))
        if kind == "malformed" and self.corpus:
            return self._malformed(seq, self.rng.choice(self.corpus))
        return self._new(seq, attachment=kind == "attachment")

    def _mailbox(self) -> str:
        return self.rng.choices(self.mailboxes, weights=self.weights)[0]

    def _body(self) -> str:
        paragraphs = []
        for _ in range(self.rng.randint(1, 4)):
            words = self.rng.choices(WORDS, k=self.rng.randint(20, 120))
            paragraphs.append(" ".join(words).capitalize() + ".")
        return "\n\n".join(paragraphs)

    def _message_id(self, seq: int) -> str:
        return f"lt{seq}.{self.run_id}@customers.example"

    def _new(self, seq: int, *, attachment: bool) -> Outgoing:
        customer = self.rng.choice(self.customers)
        to = [self._mailbox()]
        if len(self.mailboxes) > 1 and self.rng.random() < 0.02:
            to = list(self.mailboxes[:2])  # one mail, two mailboxes: a conversation in each
        subject = f"Question {seq} about {self.rng.choice(WORDS)} ({self.run_id})"
        body = self._body()
        files = []
        if attachment:
            size = self.rng.randint(1, 4) * 1024 * 1024
            files.append((f"scan-{seq}.bin", "application/octet-stream", self.rng.randbytes(size)))
        message_id = self._message_id(seq)
        raw = make_mail(
            subject=subject,
            sender=customer,
            to=to[0],
            body=body,
            message_id=f"<{message_id}>",
            html=f"<p>{body}</p>" if self.rng.random() < 0.5 else None,
            headers={"Cc": to[1]} if len(to) > 1 else None,
            attachments=files,
            date=datetime.now(UTC),
        )
        return Outgoing(
            seq=seq,
            kind="attachment" if attachment else "new",
            envelope_from=customer,
            recipients=tuple(to),
            raw=crlf(raw),
            message_id=message_id,
            subject=subject,
            customer=customer,
        )

    def _reply(
        self, seq: int, *, customer: str, to: tuple[str, ...], subject: str, parent: str, references: str
    ) -> Outgoing:
        message_id = self._message_id(seq)
        reply_subject = subject if subject.lower().startswith("re:") else f"Re: {subject}"
        raw = make_mail(
            subject=reply_subject,
            sender=customer,
            to=to[0],
            body=self._body(),
            message_id=f"<{message_id}>",
            in_reply_to=f"<{parent}>",
            references=references,
            headers={"Cc": ", ".join(to[1:])} if len(to) > 1 else None,
            date=datetime.now(UTC),
        )
        return Outgoing(
            seq=seq,
            kind="reply",
            envelope_from=customer,
            recipients=to,
            raw=crlf(raw),
            message_id=message_id,
            subject=reply_subject,
            customer=customer,
            thread_of=parent,
        )

    def _answer_own(self, seq: int, earlier: Outgoing) -> Outgoing:
        assert earlier.message_id is not None
        return self._reply(
            seq,
            customer=earlier.customer,
            to=earlier.recipients,
            subject=earlier.subject,
            parent=earlier.message_id,
            references=f"<{earlier.message_id}>",
        )

    def _answer_agent(self, seq: int, reply: AgentReply) -> Outgoing:
        return self._reply(
            seq,
            customer=reply.customer,
            to=(reply.mailbox,),
            subject=reply.subject,
            parent=reply.message_id,
            references=f"<{reply.message_id}>",
        )

    def _again(self, seq: int, original: Outgoing) -> Outgoing:
        return Outgoing(
            seq=seq,
            kind="duplicate",
            envelope_from=original.envelope_from,
            recipients=original.recipients,
            raw=original.raw,
            message_id=original.message_id,
            subject=original.subject,
            customer=original.customer,
            thread_of=original.thread_of,
            expect_flags=original.expect_flags,
            original=original.seq,
        )

    def _malformed(self, seq: int, source: CorpusMail) -> Outgoing:
        raw = insert_header(source.raw, "X-Loadtest-Copy", f"{self.run_id}-{seq}")
        parsed = parse_message(raw)
        flags = frozenset(str(flag) for flag in parsed.flags)
        mailbox = self._mailbox()
        return Outgoing(
            seq=seq,
            kind="malformed",
            envelope_from=f"corpus-{seq}@{self.customers[0].rpartition('@')[2]}",
            recipients=(mailbox,),
            raw=raw,
            # Unknown to us when synthesized (it derives from the raw bytes): the checker goes by
            # the delivery's SES id, not by Message-ID.
            message_id=None if "message_id_synthesized" in flags else parsed.message_id,
            subject=source.name,
            customer="",
            expect_flags=flags,
        )
