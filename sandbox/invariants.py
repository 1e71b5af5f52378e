"""What must hold after any amount of traffic: read the table (and the outbox) and list what is wrong.

The load test (``bench/load``, ``make loadtest``) and the fault-injection tests call this once their
traffic has stopped and the pipeline is quiet. It reads every item once (a scan: a maintenance read,
never a request path), so call it against a table that holds one run.

API (stable; other tests import it)::

    from sandbox.invariants import Ledger, check_invariants

    ledger = Ledger()
    ledger.record_mail(SentMail(ses_message_id=..., mailboxes=("support@acme.test",),
                                message_id="abc@example.com", sha256=hashlib.sha256(raw).hexdigest(),
                                accepted_at=time.time(), kind="reply", thread_of="earlier@example.com"))
    ledger.record_reply(SentReply(conversation_id=..., idempotency_key=..., agent=..., status=201,
                                  message_id=answer["message_id"]))
    ledger.record_claim(Claim(conversation_id=..., agent=..., status=200))
    violations = check_invariants(table, outbox_dir, ledger, raw_store_dir=data_dir / "store")
    assert violations == [], "\\n".join(map(str, violations))

* :class:`Ledger` is what the traffic generator knows: each mail the SMTP server **accepted**
  (``250``; record nothing for a refused one), each reply request it made through the API with
  the HTTP status of its last attempt, and each claim. Thread-safe: senders and agents record from
  their own threads.
* :func:`check_invariants` returns a list of :class:`Violation` (``invariant``, ``subject``,
  ``detail``); empty when everything holds. ``raw_store_dir`` (the sandbox's ``<data-dir>/store``)
  adds the "raw mail kept" check. ``at`` is the moment availability is judged at (default now).
  ``allow_unrecorded=True`` tolerates mail and outbound messages that the ledger does not know
  (a table that also holds other traffic). ``check_invariants`` also takes a :class:`Snapshot`
  (``snapshot(table)``) read already.

The invariants, precisely (the ``invariant`` names):

``lost``
    Every accepted mail is stored: for each mailbox it was addressed to and each distinct content
    (same ``sha256``: a redelivery is the same message), exactly one inbound message item whose
    ``ses_message_id`` is one of that content's deliveries.
``stored_twice``
    ... and not more than one (a duplicate, concurrent or later, makes no second item). Also: two
    inbound items of one mailbox with the same Message-ID, neither flagged ``message_id_reused``.
``unrecorded_message``
    An inbound message item from a delivery the ledger does not know (unless ``allow_unrecorded``).
``not_flagged``
    Malformed mail is kept and flagged: a mail recorded with ``expect_flags`` has those flags on
    its item (or its conversation is quarantined).
``raw_missing``
    The raw mail under each item's ``raw_key`` is in the raw store with the bytes that were sent.
``wrong_thread``
    A mail recorded with ``thread_of`` (a reply to a Message-ID we sent, or to an agent's reply)
    is in the conversation that Message-ID belongs to in the same mailbox.
``two_assignees``
    No conversation is held twice: two ``assigned`` audit events of one conversation never come
    from the same version (two takers that both won), and two different agents never both had a
    claim accepted (``2xx``) on a conversation that was never unassigned.
``unassigned_with_available_agent``
    An open conversation held by nobody, in a team whose strategy is automatic (not ``manual``),
    while a member of that team is available at ``at`` (active, status available, in schedule, not
    out of office), has ``open_count < capacity`` and every skill the conversation requires. Only
    meaningful once the scheduled queue sweep has run after the traffic stopped: call it then.
``open_count_drift``
    An agent's stored ``open_count`` equals the conversations assigned to them whose status counts
    as load (open, pending, snoozed).
``over_capacity``
    No agent holds more than ``capacity`` such conversations, leaving out the ones a customer
    reopened after they were assigned (a reopened conversation returns to its owner even when that
    goes past capacity: ``mailroom/assignment/load.py``).
``reply_missing`` / ``reply_sent_twice`` / ``reply_not_sent`` / ``refused_reply_recorded``
    Every reply request the API accepted (``200``/``201``/``202``) has its ``REPLY#<key>`` record,
    with the Message-ID the API answered, status ``sent`` after exactly one hand-over to the sender,
    its outbound message item, and exactly one ``.eml`` in the outbox with that Message-ID. A
    refused request (any other status) left no record under its key unless a retry was accepted.
    A request recorded with status ``NO_ANSWER`` (0: the client never heard back) may or may not
    have been queued: if its record exists, it must have been sent exactly once like the others.
``unexpected_outbound``
    An ``.eml`` in the outbox that is no recorded reply and no automatic message
    (``Auto-Submitted`` other than ``no``), unless ``allow_unrecorded``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, Literal

from mailroom.assignment.load import LOAD_STATUSES
from mailroom.clock import now
from mailroom.domain.agent import Agent, is_available
from mailroom.domain.conversation import Status
from mailroom.domain.team import Strategy, Team
from mailroom.table import schema
from mailroom.table.client import Table

Item = dict[str, Any]
MailKind = Literal["new", "reply", "duplicate", "malformed", "attachment"]
ACCEPTED_REPLY = frozenset({200, 201, 202})
_BODY = frozenset({"text", "html", "headers"})
NO_ANSWER = 0  # a reply request whose HTTP answer never came (timeout, broken connection)


@dataclass(frozen=True)
class SentMail:
    """One mail the SMTP server accepted (answered 250)."""

    ses_message_id: str  # "queued as <id>" in the 250 reply: the raw mail's key and the items' link
    mailboxes: tuple[str, ...]  # the mailbox addresses it was addressed to
    message_id: str | None  # the Message-ID header without angle brackets; None when it had none
    sha256: str  # of the raw bytes: sends with the same value are the same message (redeliveries)
    accepted_at: float  # time.time() when the 250 arrived
    kind: MailKind = "new"
    thread_of: str | None = None  # must join the conversation of this Message-ID (same mailbox)
    expect_flags: frozenset[str] = frozenset()  # flags ingest must set on it (malformed mail)


@dataclass(frozen=True)
class SentReply:
    """One reply request through the API (``POST .../replies``), as its last attempt ended."""

    conversation_id: str
    idempotency_key: str
    agent: str
    status: int  # HTTP status of the last attempt; NO_ANSWER (0) when no answer came
    message_id: str | None = None  # the API's answer (``message_id``), when it accepted it
    attempts: int = 1  # how many times the client posted it with this key


@dataclass(frozen=True)
class Claim:
    conversation_id: str
    agent: str
    status: int


@dataclass
class Ledger:
    mails: list[SentMail] = field(default_factory=list)
    replies: list[SentReply] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record_mail(self, mail: SentMail) -> None:
        with self._lock:
            self.mails.append(mail)

    def record_reply(self, reply: SentReply) -> None:
        with self._lock:
            self.replies.append(reply)

    def record_claim(self, claim: Claim) -> None:
        with self._lock:
            self.claims.append(claim)


@dataclass(frozen=True)
class Violation:
    invariant: str
    subject: str  # the conversation, message, agent or reply concerned
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.subject}: {self.detail}"


@dataclass
class Snapshot:
    """The table's items, grouped as the checks read them (one scan)."""

    conversations: dict[str, Item] = field(default_factory=dict)
    messages: list[Item] = field(default_factory=list)
    events: dict[str, list[Item]] = field(default_factory=lambda: defaultdict(list))
    agents: dict[str, Item] = field(default_factory=dict)
    teams: dict[str, Item] = field(default_factory=dict)
    replies: dict[tuple[str, str], Item] = field(default_factory=dict)
    message_ids: dict[tuple[str, str], Item] = field(default_factory=dict)
    routed: set[tuple[str, str]] = field(default_factory=set)  # (conversation id, message key)

    @classmethod
    def of(cls, items: Iterable[Item]) -> Snapshot:
        snap = cls()
        for item in items:
            entity = item.get("entity")
            if entity == "conversation":
                snap.conversations[str(item["id"])] = item
            elif entity == "message":  # without the bodies: a big table fits in memory
                snap.messages.append({name: value for name, value in item.items() if name not in _BODY})
            elif entity == "event" and str(item[schema.PK]).startswith("CONV#"):
                snap.events[str(item["conversation_id"])].append(item)
            elif entity == "agent":
                snap.agents[str(item["id"])] = item
            elif entity == "team":
                snap.teams[str(item["id"])] = item
            elif entity == "reply":
                snap.replies[(str(item["conversation_id"]), str(item["idempotency_key"]))] = item
            elif entity == "routed":
                snap.routed.add(
                    (str(item[schema.PK]).removeprefix("CONV#"), str(item[schema.SK]).removeprefix("ROUTED#"))
                )
            elif entity == "msgid":
                key = (str(item["message_id"]).lower(), str(item["mailbox"]).lower())
                snap.message_ids[key] = item
        for events in snap.events.values():
            events.sort(key=lambda event: str(event[schema.SK]))
        return snap

    def inbound(self) -> list[Item]:
        return [m for m in self.messages if m.get("direction") == "inbound"]


def snapshot(table: Table) -> Snapshot:
    return Snapshot.of(table.scan_all())


def check_invariants(
    source: Table | Snapshot,
    outbox_dir: Path,
    ledger: Ledger,
    *,
    raw_store_dir: Path | None = None,
    at: datetime | None = None,
    allow_unrecorded: bool = False,
) -> list[Violation]:
    """Every violation of the invariants above; empty when all hold. ``source`` is the table, or a
    :class:`Snapshot` of it already read (the load test reuses its snapshot for the latencies)."""
    snap = snapshot(source) if isinstance(source, Table) else source
    moment = at or now()
    return [
        *stored_once(snap, ledger, allow_unrecorded=allow_unrecorded),
        *malformed_kept(snap, ledger, raw_store_dir),
        *threads_joined(snap, ledger),
        *held_once(snap, ledger),
        *assigned_when_possible(snap, moment),
        *within_capacity(snap),
        *replies_sent_once(snap, outbox_dir, ledger, allow_unrecorded=allow_unrecorded),
    ]


# -- mail in ------------------------------------------------------------------------------------------


def _items_by_delivery(snap: Snapshot) -> dict[tuple[str, str], list[Item]]:
    """Inbound message items by (ses message id, mailbox)."""
    found: dict[tuple[str, str], list[Item]] = defaultdict(list)
    for item in snap.inbound():
        found[(str(item.get("ses_message_id") or ""), str(item["mailbox"]).lower())].append(item)
    return found


def stored_once(snap: Snapshot, ledger: Ledger, *, allow_unrecorded: bool = False) -> list[Violation]:
    violations: list[Violation] = []
    by_delivery = _items_by_delivery(snap)
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)  # (mailbox, sha256) -> ses ids
    for mail in ledger.mails:
        for mailbox in mail.mailboxes:
            groups[(mailbox.lower(), mail.sha256)].add(mail.ses_message_id)
    for (mailbox, digest), ses_ids in sorted(groups.items()):
        items = [item for ses_id in sorted(ses_ids) for item in by_delivery.get((ses_id, mailbox), [])]
        if not items:
            violations.append(
                Violation(
                    "lost", f"{mailbox} {digest[:12]}", f"no message item for deliveries {sorted(ses_ids)}"
                )
            )
        elif len(items) > 1:
            keys = sorted(str(i["key"]) for i in items)
            violations.append(
                Violation("stored_twice", f"{mailbox} {digest[:12]}", f"{len(items)} items: {keys}")
            )
    if not allow_unrecorded:
        known = {(ses_id, mailbox) for (mailbox, _), ids in groups.items() for ses_id in ids}
        for key, items in sorted(by_delivery.items()):
            if key not in known:
                for item in items:
                    violations.append(
                        Violation("unrecorded_message", str(item["key"]), f"delivery {key[0]} to {key[1]}")
                    )
    by_message_id: dict[tuple[str, str], list[Item]] = defaultdict(list)
    for item in snap.inbound():
        by_message_id[(str(item["mailbox"]).lower(), str(item["message_id"]).lower())].append(item)
    for (mailbox, message_id), items in sorted(by_message_id.items()):
        plain = [i for i in items if "message_id_reused" not in i.get("flags", [])]
        if len(plain) > 1:
            keys = sorted(str(i["key"]) for i in plain)
            violations.append(
                Violation(
                    "stored_twice", f"{mailbox} <{message_id}>", f"{len(plain)} unflagged items: {keys}"
                )
            )
    return violations


def _lookup(snap: Snapshot, ledger: Ledger) -> dict[tuple[str, str], Item]:
    """(ses id of any delivery of a content, mailbox) -> the item stored for that content."""
    by_delivery = _items_by_delivery(snap)
    by_content: dict[tuple[str, str], list[str]] = defaultdict(list)
    for mail in ledger.mails:
        for mailbox in mail.mailboxes:
            by_content[(mailbox.lower(), mail.sha256)].append(mail.ses_message_id)
    found: dict[tuple[str, str], Item] = {}
    for (mailbox, _), ses_ids in by_content.items():
        items = [item for ses_id in ses_ids for item in by_delivery.get((ses_id, mailbox), [])]
        if items:
            for ses_id in ses_ids:
                found[(ses_id, mailbox)] = items[0]
    return found


def malformed_kept(snap: Snapshot, ledger: Ledger, raw_store_dir: Path | None) -> list[Violation]:
    violations: list[Violation] = []
    stored = _lookup(snap, ledger)
    for mail in ledger.mails:
        for mailbox in mail.mailboxes:
            item = stored.get((mail.ses_message_id, mailbox.lower()))
            if item is None:
                continue  # reported as lost
            subject = f"{item['key']} ({mail.kind})"
            conversation = snap.conversations.get(str(item["conversation_id"]), {})
            missing = mail.expect_flags - set(item.get("flags", []))
            if missing and conversation.get("status") != Status.QUARANTINED.value:
                violations.append(Violation("not_flagged", subject, f"flags {sorted(missing)} missing"))
            if raw_store_dir is not None:
                violations += _raw_kept(raw_store_dir, item, mail, subject)
    return violations


def _raw_kept(raw_store_dir: Path, item: Item, mail: SentMail, subject: str) -> list[Violation]:
    raw_key = item.get("raw_key")
    path = raw_store_dir / str(raw_key) if raw_key else None
    if path is None or not path.is_file():
        return [Violation("raw_missing", subject, f"raw mail {raw_key!r} not in the raw store")]
    if hashlib.sha256(path.read_bytes()).hexdigest() != mail.sha256:
        return [Violation("raw_missing", subject, f"raw mail {raw_key} differs from what was sent")]
    return []


def threads_joined(snap: Snapshot, ledger: Ledger) -> list[Violation]:
    violations: list[Violation] = []
    stored = _lookup(snap, ledger)
    for mail in ledger.mails:
        if not mail.thread_of:
            continue
        for mailbox in mail.mailboxes:
            item = stored.get((mail.ses_message_id, mailbox.lower()))
            if item is None:
                continue
            parent = snap.message_ids.get((mail.thread_of.lower(), mailbox.lower()))
            if parent is None:
                violations.append(
                    Violation(
                        "wrong_thread", str(item["key"]), f"<{mail.thread_of}> is not known in {mailbox}"
                    )
                )
            elif parent["conversation_id"] != item["conversation_id"]:
                violations.append(
                    Violation(
                        "wrong_thread",
                        str(item["key"]),
                        f"in {item['conversation_id']}, <{mail.thread_of}> in {parent['conversation_id']}",
                    )
                )
    return violations


# -- assignment ---------------------------------------------------------------------------------------


def held_once(snap: Snapshot, ledger: Ledger) -> list[Violation]:
    violations: list[Violation] = []
    for conversation_id, events in sorted(snap.events.items()):
        versions = Counter(
            event.get("data", {}).get("version") for event in events if event.get("type") == "assigned"
        )
        for version, count in sorted(versions.items(), key=lambda pair: str(pair[0])):
            if version is not None and count > 1:
                violations.append(
                    Violation("two_assignees", conversation_id, f"{count} assignments from version {version}")
                )
    claimed: dict[str, set[str]] = defaultdict(set)
    for claim in ledger.claims:
        if 200 <= claim.status < 300:
            claimed[claim.conversation_id].add(claim.agent.lower())
    for conversation_id, agents in sorted(claimed.items()):
        unassigned = any(e.get("type") == "unassigned" for e in snap.events.get(conversation_id, []))
        if len(agents) > 1 and not unassigned:
            violations.append(
                Violation("two_assignees", conversation_id, f"claims accepted for {sorted(agents)}")
            )
    return violations


def _agents(snap: Snapshot) -> dict[str, Agent]:
    return {agent_id: Agent.model_validate(item) for agent_id, item in snap.agents.items()}


def _load(snap: Snapshot) -> dict[str, list[Item]]:
    """Per agent, the conversations they hold that count as load."""
    held: dict[str, list[Item]] = defaultdict(list)
    for conversation in snap.conversations.values():
        assignee = conversation.get("assignee")
        if assignee and Status(str(conversation.get("status"))) in LOAD_STATUSES:
            held[str(assignee).lower()].append(conversation)
    return held


def assigned_when_possible(snap: Snapshot, at: datetime) -> list[Violation]:
    violations: list[Violation] = []
    agents = _agents(snap)
    teams = {team_id: Team.model_validate(item) for team_id, item in snap.teams.items()}
    for conversation_id, conversation in sorted(snap.conversations.items()):
        if conversation.get("status") != Status.OPEN.value or conversation.get("assignee"):
            continue
        team = teams.get(str(conversation.get("team") or ""))
        if team is None or team.strategy is Strategy.MANUAL:
            continue
        skills = {str(s).lower() for s in conversation.get("required_skills", [])}
        free = [
            agent.id
            for member in team.members
            if (agent := agents.get(member)) is not None
            and is_available(agent, at)
            and agent.open_count < agent.capacity
            and skills <= set(agent.skills)
        ]
        if free:
            violations.append(
                Violation(
                    "unassigned_with_available_agent",
                    conversation_id,
                    f"open in team {team.id} ({team.strategy.value}) while {free[:3]} have room",
                )
            )
    return violations


def _reopened_since_assigned(events: list[Item], agent_id: str) -> bool:
    """A customer reopened the conversation after it was last assigned to ``agent_id``."""
    reopened = False
    for event in events:
        kind = event.get("type")
        if kind == "assigned" and str(event.get("data", {}).get("agent", "")).lower() == agent_id:
            reopened = False
        elif kind == "reopened":
            reopened = True
    return reopened


def within_capacity(snap: Snapshot) -> list[Violation]:
    violations: list[Violation] = []
    held = _load(snap)
    for agent_id, agent in sorted(_agents(snap).items()):
        mine = held.get(agent_id, [])
        if agent.open_count != len(mine):
            violations.append(
                Violation(
                    "open_count_drift", agent_id, f"open_count {agent.open_count}, holds {len(mine)} as load"
                )
            )
        returned = sum(
            1 for conv in mine if _reopened_since_assigned(snap.events.get(str(conv["id"]), []), agent_id)
        )
        if len(mine) - returned > agent.capacity:
            violations.append(
                Violation(
                    "over_capacity",
                    agent_id,
                    f"holds {len(mine)} ({returned} reopened by customers) with capacity {agent.capacity}",
                )
            )
    for agent_id in sorted(set(held) - set(snap.agents)):
        violations.append(
            Violation("open_count_drift", agent_id, "holds conversations but has no agent item")
        )
    return violations


# -- replies ------------------------------------------------------------------------------------------


def outbox_message_ids(outbox_dir: Path) -> tuple[Counter[str], set[str]]:
    """(Message-ID -> number of .eml files with it, Message-IDs of automatic messages)."""
    counts: Counter[str] = Counter()
    automatic: set[str] = set()
    if not outbox_dir.is_dir():
        return counts, automatic
    parser = BytesHeaderParser(policy=default_policy)
    for path in outbox_dir.glob("*.eml"):
        with path.open("rb") as handle:
            headers = parser.parse(handle)
        message_id = str(headers.get("Message-ID", "")).strip().strip("<>").lower()
        counts[message_id] += 1
        if str(headers.get("Auto-Submitted", "no")).strip().lower() != "no":
            automatic.add(message_id)
    return counts, automatic


def replies_sent_once(
    snap: Snapshot, outbox_dir: Path, ledger: Ledger, *, allow_unrecorded: bool = False
) -> list[Violation]:
    violations: list[Violation] = []
    in_outbox, automatic = outbox_message_ids(outbox_dir)
    message_sks = {(str(m[schema.PK]), str(m[schema.SK])) for m in snap.messages}
    accepted_keys = {
        (r.conversation_id, r.idempotency_key) for r in ledger.replies if r.status in ACCEPTED_REPLY
    }
    expected_ids: set[str] = set()
    for reply in ledger.replies:
        key = (reply.conversation_id, reply.idempotency_key)
        record = snap.replies.get(key)
        subject = f"{reply.conversation_id}/{reply.idempotency_key}"
        if reply.status == NO_ANSWER and record is None:
            continue  # the client never heard back and nothing was recorded: nothing was sent
        if reply.status not in ACCEPTED_REPLY and reply.status != NO_ANSWER:
            if record is not None and key not in accepted_keys:
                violations.append(
                    Violation("refused_reply_recorded", subject, f"answered {reply.status} but recorded")
                )
            continue
        if record is None:
            violations.append(Violation("reply_missing", subject, "no REPLY record"))
            continue
        violations += _one_reply(record, reply, subject, in_outbox, message_sks)
        expected_ids.add(str(record["message_id"]).lower())
    if not allow_unrecorded:
        for message_id, count in sorted(in_outbox.items()):
            if message_id not in expected_ids and message_id not in automatic:
                violations.append(
                    Violation(
                        "unexpected_outbound", f"<{message_id}>", f"{count} .eml file(s), no reply recorded"
                    )
                )
    return violations


def _one_reply(
    record: Item, reply: SentReply, subject: str, in_outbox: Counter[str], message_sks: set[tuple[str, str]]
) -> list[Violation]:
    violations: list[Violation] = []
    message_id = str(record["message_id"]).lower()
    if reply.message_id and reply.message_id.strip("<>").lower() != message_id:
        violations.append(
            Violation(
                "reply_missing", subject, f"API answered <{reply.message_id}>, record has <{message_id}>"
            )
        )
    if record.get("status") != "sent":
        violations.append(Violation("reply_not_sent", subject, f"status {record.get('status')}"))
    # A second attempt is legitimate once an agent settled a send in doubt as "not sent"
    # (``resolved_by``); the outbox count below is the ground truth either way.
    if int(record.get("attempts", 0)) > 1 and not record.get("resolved_by"):
        violations.append(
            Violation("reply_sent_twice", subject, f"handed to the sender {record['attempts']} times")
        )
    if (str(record[schema.PK]), str(record["message_sk"])) not in message_sks:
        violations.append(Violation("reply_missing", subject, "no outbound message item"))
    files = in_outbox.get(message_id, 0)
    if files != 1:
        kind = "reply_sent_twice" if files > 1 else "reply_missing"
        violations.append(Violation(kind, subject, f"{files} .eml files with <{message_id}>"))
    return violations
