"""An agent's reply: what is asked for, what is stored, and every decision about it that needs no I/O.

The service (:mod:`mailroom.replies.service`) reads the table, calls these functions, writes what
they decided and talks to the sender. Keeping the decisions here means the rules (who may send,
what the headers are, what counts as stale, which failures may be retried) are tested as plain
functions, and the I/O code has no choices left to make.

The reply's delivery state machine (stored on the ``REPLY#<idempotency key>`` record)::

    queued ──(conditional)──► sending ──► sent
      ▲                         │ ├────► failed   (the provider refused it: nothing went out)
      │                         │ └────► unknown  (it may or may not have gone out)
      ├──── failed  (a retry with the same key: one more attempt)
      └──── unknown (an agent says "it did not go out": resolve_unknown(sent=False))
            unknown ──► sent  (an agent says "it went out": resolve_unknown(sent=True))

``sending`` is also read as ``unknown`` once it is older than the in-doubt period: the process that
moved it there died between the move and recording the outcome.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mailroom.clock import iso, parse_iso
from mailroom.domain.conversation import Conversation, Status
from mailroom.domain.event import AuditEvent, EventType, describe
from mailroom.domain.message import Direction, StoredMessage
from mailroom.ids import event_id_for, message_key_for
from mailroom.ingest.recipients import parse_recipient, reply_address
from mailroom.mail.model import Address, MessageFlag
from mailroom.mail.references import capped_references
from mailroom.outbound.compose import (
    OutboundMail,
    UnsendableAddressError,
    ascii_address,
    check_header_value,
    compose,
)
from mailroom.table import keys

# -- limits -------------------------------------------------------------------------------------------

MAX_TEXT_CHARS = 100_000
MAX_HTML_CHARS = 1_000_000
MAX_RECIPIENTS = 50
MAX_REFERENCES = 20  # the thread root plus the newest ones: enough for every client's threading
PREVIEW_CHARS = 1_000  # what stays on the message item when its body goes to the raw store
SIGNATURE_SEPARATOR = "\n\n-- \n"  # RFC 3676 section 4.3: clients recognise and fold it

IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_-]{8,128}$"


class ReplyStatus(StrEnum):
    QUEUED = "queued"  # recorded, not yet handed to the sender
    SENDING = "sending"  # one attempt holds it: handed (or about to be handed) to the sender
    SENT = "sent"  # the provider accepted it (provider_id), or an agent confirmed it went out
    UNKNOWN = "unknown"  # in doubt: it may have gone out; never resent without an agent's word
    FAILED = "failed"  # the provider refused it before accepting: a retry with the same key may send


Access = Literal["full", "send_as", "send_on_behalf", "read_only"]
SENDING_ACCESS: frozenset[str] = frozenset({"full", "send_as", "send_on_behalf"})

# A reply to these would answer a machine or confirm an address to a spammer.
_NOT_REPLYABLE = frozenset({Status.SPAM, Status.QUARANTINED})
# Mail that is not a person talking to us: a reply goes to the person's last message instead.
_MACHINE_FLAGS = frozenset({MessageFlag.AUTO_REPLY.value, MessageFlag.BOUNCE.value, MessageFlag.BULK.value})


# -- errors ---------------------------------------------------------------------------------------------


class ReplyError(Exception):
    """Base of every refusal of the reply pipeline. Nothing was written when one is raised."""


class StaleReplyError(ReplyError):
    """The conversation is no longer at the version the agent saw (the API's 409). ``changes``
    says what happened since, for the page to show; the agent re-reads and sends again."""

    def __init__(
        self, conversation_id: str, seen_version: int, current_version: int, changes: list[str]
    ) -> None:
        summary = "; ".join(changes) if changes else "it changed"
        super().__init__(f"conversation {conversation_id} changed since version {seen_version}: {summary}")
        self.conversation_id = conversation_id
        self.seen_version = seen_version
        self.current_version = current_version
        self.changes = changes


class NotAssigneeError(ReplyError):
    """Another agent holds the conversation: only they may reply (the API's 409 names them)."""

    def __init__(self, conversation_id: str, holder: str) -> None:
        super().__init__(f"conversation {conversation_id} is assigned to {holder}")
        self.conversation_id = conversation_id
        self.holder = holder


class ReplyNotPermittedError(ReplyError):
    """This agent may not send from this mailbox, or the conversation is not one to answer (403)."""


class InvalidRecipientError(ReplyError):
    """An address the agent gave is not an email address (422)."""


class NoRecipientError(ReplyError):
    """Nobody to send to: no override, and the conversation has no usable customer address (422)."""


class IdempotencyKeyReusedError(ReplyError):
    """The key already names a different reply (other text, recipients or agent): a client bug (422).
    A retry must repeat the request it retries, or the agent would get a result for another reply."""


class ReplyNotFoundError(ReplyError):
    """No reply was ever recorded under this idempotency key in this conversation (404)."""


class ReplyStateError(ReplyError):
    """The reply is not in a state that allows this (e.g. settling a send that is not in doubt)."""


# -- requests, identity, record, result -----------------------------------------------------------------


class ReplyRequest(BaseModel):
    """What the agent submits. Header-bound fields are checked for CR/LF by
    :func:`check_header_inputs` (raising :class:`HeaderInjectionError`), not here, so that the
    refusal has its own type instead of disappearing into a validation error."""

    model_config = ConfigDict(frozen=True)

    conversation_id: str = Field(min_length=1, max_length=64)
    idempotency_key: str = Field(pattern=IDEMPOTENCY_KEY_PATTERN)
    seen_version: int = Field(ge=1)
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    html: str | None = Field(default=None, max_length=MAX_HTML_CHARS)  # already sanitized
    to: list[Address] | None = Field(default=None, max_length=MAX_RECIPIENTS)  # None/[]: the customer
    cc: list[Address] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    subject: str | None = Field(default=None, max_length=998)  # None: "Re: <conversation subject>"
    canned_id: str | None = Field(default=None, max_length=64)
    close_after: Literal["pending", "closed"] | None = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a reply needs some text")
        return value


class AgentIdentity(BaseModel):
    """Who is replying and how they may use the conversation's mailbox (the caller resolves it).

    ``full`` and ``send_as`` send as the mailbox; ``send_on_behalf`` sends as the mailbox with the
    agent named in From and in the Sender header; ``read_only`` may not send. ``mailbox``, when
    given, is the mailbox this access was granted for: a reply in another mailbox is refused.
    """

    model_config = ConfigDict(frozen=True)

    email: str = Field(min_length=3, max_length=254)
    name: str = Field(default="", max_length=200)
    access: Access  # no default: send rights are never granted by omission
    mailbox_name: str = Field(default="", max_length=200)
    signature: str | None = Field(default=None, max_length=5_000)
    mailbox: str | None = None

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class ReplyRecord(BaseModel):
    """The ``CONV#<id>`` / ``REPLY#<idempotency key>`` item: the idempotency marker and the outbox
    entry in one small item, so each state transition is a cheap single-item conditional write."""

    model_config = ConfigDict(extra="ignore")

    conversation_id: str
    idempotency_key: str
    mailbox: str
    agent: str
    message_key: str
    message_sk: str  # the message item's sort key (it starts with the queue time)
    message_id: str
    status: ReplyStatus
    request_digest: str
    conversation_version: int  # the conversation's version that the reply's transaction wrote
    claimed: bool = False  # the reply took the unassigned conversation for ``agent``
    sender: Address | None = None  # the Sender header (send-on-behalf), to compose a retry alike
    created_at: str
    updated_at: str
    attempt: str | None = None  # the token of the attempt that holds ``sending``
    attempts: int = 0  # how many times it was handed to the sender
    provider_id: str | None = None
    sent_at: str | None = None
    reason: str | None = None  # why it failed / is in doubt / how it was settled
    resolved_by: str | None = None


class ReplyResult(BaseModel):
    """What the caller gets, the first time and on every retry with the same key."""

    model_config = ConfigDict(frozen=True)

    conversation_id: str
    idempotency_key: str
    message_key: str
    message_id: str
    status: ReplyStatus
    provider_id: str | None = None
    conversation_version: int
    claimed: bool = False
    reason: str | None = None
    replayed: bool = False  # True: an earlier submission with this key did the work

    @property
    def in_doubt(self) -> bool:
        return self.status is ReplyStatus.UNKNOWN


def result_of(record: ReplyRecord, status: ReplyStatus, *, replayed: bool) -> ReplyResult:
    reason = record.reason
    if status is ReplyStatus.UNKNOWN and record.status is ReplyStatus.SENDING:
        reason = "send in doubt: check the outbox or ask the recipient before retrying"
    return ReplyResult(
        conversation_id=record.conversation_id,
        idempotency_key=record.idempotency_key,
        message_key=record.message_key,
        message_id=record.message_id,
        status=status,
        provider_id=record.provider_id,
        conversation_version=record.conversation_version,
        claimed=record.claimed,
        reason=reason,
        replayed=replayed,
    )


def effective_status(record: ReplyRecord, now: datetime, in_doubt_after: timedelta) -> ReplyStatus:
    """``sending`` that nobody finished within ``in_doubt_after`` is in doubt: the attempt that
    held it died after handing the mail to the sender (or just before; we can't tell which)."""
    if record.status is ReplyStatus.SENDING and now - parse_iso(record.updated_at) >= in_doubt_after:
        return ReplyStatus.UNKNOWN
    return record.status


# -- permission -----------------------------------------------------------------------------------------


def check_may_send(agent: AgentIdentity) -> None:
    if agent.access not in SENDING_ACCESS:
        raise ReplyNotPermittedError(f"{agent.email} has {agent.access} access and may not send")


def reply_claims(conv: Conversation, agent: AgentIdentity) -> bool:
    """May ``agent`` reply to ``conv`` as it is now; True when the reply must also claim it.

    Only the assignee replies to an assigned conversation; an unassigned one is claimed by the
    reply, in the same transaction (so two agents answering at once can't both send).
    """
    check_may_send(agent)
    if agent.mailbox is not None and agent.mailbox.strip().lower() != conv.mailbox.lower():
        raise ReplyNotPermittedError(f"{agent.email}'s access is to {agent.mailbox}, not {conv.mailbox}")
    if conv.status in _NOT_REPLYABLE:
        raise ReplyNotPermittedError(f"conversation {conv.id} is {conv.status.value}: it is not answered")
    holder = conv.assignee.lower() if conv.assignee else None
    if holder is not None and holder != agent.email:
        raise NotAssigneeError(conv.id, holder)
    return holder is None


# -- header-bound input ---------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_EMAIL = re.compile(r"^[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+\.[^\s@<>()\[\],;:\"\\]+$")


def check_header_inputs(request: ReplyRequest, agent: AgentIdentity) -> None:
    """Refuse CR/LF (and other controls) in everything the agent or the caller puts in a header.

    Raises :class:`~mailroom.outbound.compose.HeaderInjectionError` before anything is read or
    written; then :class:`InvalidRecipientError` for an address that is not one.
    """
    if request.subject is not None:
        check_header_value("subject", request.subject)
    check_header_value("agent email", agent.email)
    check_header_value("agent name", agent.name)
    check_header_value("mailbox name", agent.mailbox_name)
    for address in [*(request.to or []), *request.cc]:
        check_header_value("recipient address", address.email)
        check_header_value("recipient name", address.name)
        if not is_plausible_email(address.email):
            raise InvalidRecipientError(f"{address.email!r} is not an email address")
        if (problem := unsendable(address.email)) is not None:
            raise InvalidRecipientError(problem)
    # The agent's address comes from our own directory (the sandbox's first admin is
    # admin@localhost, a single-label domain): it needs a local part and a domain, not a dot.
    local, _, domain = agent.email.partition("@")
    if not local or not domain or any(ch.isspace() for ch in agent.email):
        raise ReplyNotPermittedError(f"{agent.email!r} is not an agent's email address")


def is_plausible_email(value: str) -> bool:
    return len(value) <= 254 and _EMAIL.match(value) is not None


def unsendable(email: str) -> str | None:
    """Why mail cannot be sent to ``email`` (a non-ASCII local part, a bad international domain),
    or None when it can."""
    try:
        ascii_address(email)
    except UnsendableAddressError as exc:
        return str(exc)
    return None


def clean_header_text(value: str) -> str:
    """A customer-supplied value made safe for a header: controls and line breaks become spaces.

    Used for what *customers* wrote (their subject, their display name): refusing those would let
    any customer make their conversation unanswerable, so they are cleaned, not refused.
    """
    return " ".join(_CONTROL.sub(" ", value).split())


# -- composing ------------------------------------------------------------------------------------------

_REPLY_WORDS = "re|aw|antw|antwort|sv|vs|odp|res|rif|r|ynt|vá|απ|השב|回复|回覆|答复|返信"  # several scripts
_REPLY_PREFIX = re.compile(
    rf"^(?:\s*\[[^\[\]]*\])*\s*(?:{_REPLY_WORDS})(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:\uff1a]", re.IGNORECASE
)


def reply_subject(conversation_subject: str, override: str | None = None) -> str:
    """``Re: <subject>``, unless the subject already starts with a reply prefix in any common
    language (``Re:``, ``AW:``, ``SV:``, ``[list] Re:``...); then it is kept, so replies don't grow
    ``Re: Re: Re:``. A forward (``Fwd: x``) is answered as ``Re: Fwd: x``, as mail clients do."""
    if override is not None and override.strip():
        return override.strip()
    subject = clean_header_text(conversation_subject)
    if not subject:
        return "Re:"
    return subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}"


def from_addresses(agent: AgentIdentity, mailbox: str) -> tuple[Address, Address | None]:
    """(From, Sender). Replies always come *from the mailbox*, so the customer's answer comes back to
    the shared inbox; send-on-behalf names the agent: ``"Ann via Support" <support@>`` plus
    ``Sender: Ann <ann@>`` (RFC 5322 3.6.2: the mailbox is the author, the agent the sender)."""
    mailbox_name = clean_header_text(agent.mailbox_name)
    if agent.access == "send_on_behalf":
        person = clean_header_text(agent.name) or agent.email
        display = f"{person} via {mailbox_name}" if mailbox_name else f"{person} via {mailbox}"
        return Address(email=mailbox, name=display), Address(email=agent.email, name=agent.name)
    return Address(email=mailbox, name=mailbox_name), None


def is_person_message(message: StoredMessage) -> bool:
    """An inbound message that a person wrote (not an auto-reply, bounce or list mail)."""
    return (
        message.direction is Direction.INBOUND
        and not (set(message.flags) & _MACHINE_FLAGS)
        and MessageFlag.QUARANTINED.value not in message.flags
    )


def reply_target(newest_first: Iterable[StoredMessage]) -> StoredMessage | None:
    """The message a reply answers: the newest inbound message from a person, else the newest
    inbound message at all (so an out-of-office after our last reply doesn't become the target)."""
    fallback: StoredMessage | None = None
    for message in newest_first:
        if message.direction is not Direction.INBOUND:
            continue
        if is_person_message(message):
            return message
        fallback = fallback or message
    return fallback


def _is_own_address(email: str, mailbox: str) -> bool:
    recipient = parse_recipient(email)
    return recipient is not None and recipient.mailbox == mailbox.lower()


def _usable(address: Address, mailbox: str, refused: list[str]) -> Address | None:
    email = address.email.strip()
    if not is_plausible_email(email) or _is_own_address(email, mailbox):
        return None
    if (problem := unsendable(email)) is not None:
        refused.append(problem)
        return None
    return Address(email=email, name=clean_header_text(address.name))


def default_recipients(conv: Conversation, target: StoredMessage | None) -> list[Address]:
    """The customer: the answered message's Reply-To, else its From, else the conversation's
    contact. Our own mailbox (with or without a ``+token``) is never a recipient: that is a loop."""
    candidates: list[list[Address]] = []
    if target is not None:
        candidates.append(list(target.reply_to))
        if target.from_ is not None:
            candidates.append([target.from_])
    candidates.append([Address(email=conv.contact_email, name=conv.contact_name)])
    refused: list[str] = []
    for group in candidates:
        usable = [a for a in (_usable(address, conv.mailbox, refused) for address in group) if a is not None]
        if usable:
            return usable
    why = f" ({'; '.join(dict.fromkeys(refused))})" if refused else ""
    raise NoRecipientError(f"conversation {conv.id} has no customer address to reply to{why}")


MAX_DEFAULT_CC = 20


def default_cc(
    conv: Conversation, target: StoredMessage | None, to: Sequence[Address], own_mailboxes: Iterable[str]
) -> list[Address]:
    """Whom "reply all" copies: everyone else the answered message went to (its To and Cc) and the
    conversation's customer when someone else wrote, but never a recipient already in ``to``, nor
    one of our own mailboxes (with or without a ``+token``: that would make a loop), nor an address
    mail cannot be sent to. The composer offers it; the agent may change it."""
    others = {mailbox.lower() for mailbox in own_mailboxes}
    taken = {address.email.lower() for address in to}
    candidates = [*(target.to if target else []), *(target.cc if target else [])]
    candidates.append(Address(email=conv.contact_email, name=conv.contact_name))
    cc: list[Address] = []
    for candidate in candidates:
        address = _usable(candidate, conv.mailbox, refused=[])  # plausible, sendable, not this mailbox
        recipient = parse_recipient(address.email) if address else None
        if address is None or recipient is None or recipient.mailbox in others:
            continue
        if address.email.lower() not in taken:
            taken.add(address.email.lower())
            cc.append(address)
    return cc[:MAX_DEFAULT_CC]


def recipients(
    request: ReplyRequest, conv: Conversation, target: StoredMessage | None
) -> tuple[list[Address], list[Address]]:
    """(To, Cc), each address once (Cc drops what To already has)."""
    to = list(request.to) if request.to else default_recipients(conv, target)
    to = _unique(to)
    seen = {address.email.lower() for address in to}
    cc = [address for address in _unique(request.cc) if address.email.lower() not in seen]
    return to, cc


def _unique(addresses: Sequence[Address]) -> list[Address]:
    kept: dict[str, Address] = {}
    for address in addresses:
        kept.setdefault(address.email.lower(), Address(email=address.email.strip(), name=address.name))
    return list(kept.values())


def threading_headers(target: StoredMessage | None) -> tuple[str | None, list[str]]:
    """(In-Reply-To, References) per RFC 5322 3.6.4: the answered message's Message-ID, and its
    References plus that id, capped at :data:`MAX_REFERENCES` keeping the root and the newest."""
    if target is None:
        return None, []
    chain: list[str] = []
    for message_id in [*target.references, target.message_id]:
        if message_id and message_id.lower() not in {m.lower() for m in chain}:
            chain.append(clean_header_text(message_id).replace(" ", ""))
    return target.message_id, capped_references(chain, MAX_REFERENCES)


def with_signature(text: str, html: str | None, signature: str | None) -> tuple[str, str | None]:
    """Append the signature below ``-- `` (text), and as an escaped block (HTML given by the caller).
    With no HTML given, the HTML part is derived from the whole text later, signature included."""
    if not signature or not signature.strip():
        return text, html
    signature = signature.strip("\n")
    full_text = text.rstrip() + SIGNATURE_SEPARATOR + signature
    if html is None:
        return full_text, None
    escaped = html_lib.escape(signature).replace("\n", "<br>")
    return full_text, f'{html}<div class="signature"><p>-- <br>{escaped}</p></div>'


def reply_message_key(mailbox: str, conversation_id: str, idempotency_key: str) -> str:
    """The reply's message key, from its idempotency key: submissions racing with one key compute
    the same key (and the same large-body object), whichever of them wins."""
    return message_key_for(mailbox, f"reply:{conversation_id}:{idempotency_key}")


def request_digest(request: ReplyRequest, agent: AgentIdentity) -> str:
    """What makes two submissions "the same reply": everything but the key and the seen version."""
    body = request.model_dump(mode="json", exclude={"idempotency_key", "seen_version"})
    body["agent"] = agent.email
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


@dataclass
class ReplyPlan:
    """Everything one reply writes and sends, decided from the conversation as read."""

    mail: OutboundMail
    raw: bytes
    message: StoredMessage  # full body; the service moves a large one to the raw store
    previous: Conversation  # as read, at the agent's seen version
    conversation: Conversation  # the next state
    claims: bool
    record: ReplyRecord  # the marker, as ``queued``
    events: list[AuditEvent] = field(default_factory=list)


def plan_reply(
    *,
    request: ReplyRequest,
    agent: AgentIdentity,
    conversation: Conversation,
    target: StoredMessage | None,
    message_id: str,
    at: datetime,
) -> ReplyPlan:
    """Decide the mail, the stored message, the conversation's next state and the audit events.

    ``conversation`` must be the state the agent saw (the caller checked the version). Raises
    :class:`NotAssigneeError` / :class:`ReplyNotPermittedError`, :class:`HeaderInjectionError`,
    :class:`NoRecipientError`.
    """
    check_header_inputs(request, agent)
    claims = reply_claims(conversation, agent)
    mailbox = conversation.mailbox
    stamp = iso(at)
    from_, sender = from_addresses(agent, mailbox)
    to, cc = recipients(request, conversation, target)
    in_reply_to, references = threading_headers(target)
    text, html = with_signature(request.text, request.html, agent.signature)
    mail = OutboundMail(
        from_=from_,
        to=to,
        cc=cc,
        sender=sender,
        reply_to=Address(email=reply_address(mailbox, conversation.id), name=from_.name),
        subject=reply_subject(conversation.subject, request.subject),
        text=text,
        html=html,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        date=at,
    )
    raw = compose(mail)  # checks every header once more; it's what the first attempt sends
    key = reply_message_key(mailbox, conversation.id, request.idempotency_key)
    message = StoredMessage(
        key=key,
        conversation_id=conversation.id,
        mailbox=mailbox,
        message_id=message_id,
        direction=Direction.OUTBOUND,
        from_=from_,
        to=to,
        cc=cc,
        reply_to=[mail.reply_to] if mail.reply_to else [],
        subject=mail.subject,
        date=stamp,
        received_at=stamp,
        text=text,
        html=html,
        headers=[("Sender", sender.display())] if sender else [],
        in_reply_to=[in_reply_to] if in_reply_to else [],
        references=references,
        size=len(raw),
        routable=False,
        threaded_by="reply",
    )

    new_status = Status(request.close_after) if request.close_after else conversation.status
    updates: dict[str, object] = {
        "version": conversation.version + 1,
        "message_count": conversation.message_count + 1,
        "last_message_at": max(conversation.last_message_at, stamp),
        "last_activity_at": max(conversation.last_activity_at, stamp),
        "waiting_since": None,  # answered: the customer is no longer waiting on us
        "first_replied_at": conversation.first_replied_at or stamp,
        "status": new_status,
    }
    if claims:
        updates["assignee"] = agent.email
    nxt = conversation.model_copy(update=updates)
    events: list[AuditEvent] = []

    def event(kind: EventType, **data: object) -> AuditEvent:
        number = len(events)  # same timestamp: the ordinal keeps them in the order they happened
        return AuditEvent(
            id=f"{number:02d}{event_id_for(kind.value, conversation.id, str(nxt.version))}",
            conversation_id=conversation.id,
            mailbox=mailbox,
            type=kind,
            at=stamp,
            actor=agent.email,
            data={name: value for name, value in data.items() if value is not None},
        )

    if claims:
        events.append(
            event(
                EventType.ASSIGNED,
                agent=agent.email,
                reason="claimed by replying",
                strategy="reply",
                version=nxt.version,
            )
        )
    events.append(
        event(
            EventType.REPLIED,
            message_key=key,
            message_id=message_id,
            idempotency_key=request.idempotency_key,
            to=[a.email for a in to],
            cc=[a.email for a in cc] or None,
            in_reply_to=target.key if target else None,
            canned_id=request.canned_id,
            first_reply=conversation.first_replied_at is None,
            claimed=claims,
            version=nxt.version,
        )
    )
    if new_status is not conversation.status:
        events.append(
            event(
                EventType.STATUS_CHANGED,
                status=new_status.value,
                previous=conversation.status.value,
                reason="set with the reply",
                version=nxt.version,
            )
        )
    record = ReplyRecord(
        conversation_id=conversation.id,
        idempotency_key=request.idempotency_key,
        mailbox=mailbox,
        agent=agent.email,
        message_key=key,
        message_sk=keys.message_sk(stamp, key),
        message_id=message_id,
        status=ReplyStatus.QUEUED,
        request_digest=request_digest(request, agent),
        conversation_version=nxt.version,
        claimed=claims,
        sender=sender,
        created_at=stamp,
        updated_at=stamp,
    )
    return ReplyPlan(mail, raw, message, conversation, nxt, claims, record, events)


def split_body(message: StoredMessage, limit_bytes: int, ref: str) -> tuple[StoredMessage, bytes | None]:
    """Keep a large body out of the item (and the transaction) like ingest does: the item keeps a
    preview and ``body_ref``; the returned JSON goes to the raw store under ``ref``."""
    size = len(message.text.encode("utf-8")) + len((message.html or "").encode("utf-8"))
    if size <= limit_bytes:
        return message, None
    payload = json.dumps({"text": message.text, "html": message.html}, ensure_ascii=False).encode("utf-8")
    preview = message.model_copy(update={"text": message.text[:PREVIEW_CHARS], "html": None, "body_ref": ref})
    return preview, payload


def mail_from_stored(message: StoredMessage, sender: Address | None) -> OutboundMail:
    """The same mail again, for an attempt after the first (the queued one was not sent)."""
    return OutboundMail(
        from_=message.from_ or Address(email=message.mailbox),
        to=list(message.to),
        cc=list(message.cc),
        sender=sender,
        reply_to=message.reply_to[0] if message.reply_to else None,
        subject=message.subject,
        text=message.text,
        html=message.html,
        message_id=message.message_id,
        in_reply_to=message.in_reply_to[0] if message.in_reply_to else None,
        references=list(message.references),
        date=parse_iso(message.date) if message.date else None,
    )


# -- what changed (stale replies) ------------------------------------------------------------------------


def _when(stamp: str) -> str:
    return parse_iso(stamp).strftime("%Y-%m-%d %H:%M UTC")


def _version_of(event: AuditEvent) -> int | None:
    version = event.data.get("version")  # a Decimal when read back from the table
    if isinstance(version, bool) or not isinstance(version, int | Decimal):
        return None
    return int(version)


def describe_changes(
    seen_version: int,
    current: Conversation,
    messages: Sequence[StoredMessage],
    events: Sequence[AuditEvent],
) -> list[str]:
    """What happened after ``seen_version``, oldest first, in words for the page.

    Exact for writes that stamp their event with the version they wrote (assignment, replies,
    status changes made with a reply). Inbound messages carry no version (ingest's events don't
    record one), so a message counts as new when it arrived after the newest moment known to be at
    or before ``seen_version`` (a stamped event, or the conversation's creation); an ingest event
    that does carry ``version`` is used exactly. When nothing specific is found the change is still
    reported, generically: the refusal never depends on this list.
    """
    if current.version == seen_version:
        return []
    if current.version < seen_version:
        return [f"the conversation is at version {current.version}, not {seen_version}: reload it"]
    stamped = [(event, version) for event in events if (version := _version_of(event)) is not None]
    anchor = max([current.created_at, *(event.at for event, version in stamped if version <= seen_version)])
    received_version = {
        str(event.data.get("message_key")): version
        for event, version in stamped
        if event.type is EventType.RECEIVED
    }
    changes: list[tuple[str, str]] = []
    for message in messages:
        if message.direction is not Direction.INBOUND:
            continue  # our replies are described by their REPLIED events
        version = received_version.get(message.key)
        is_new = version > seen_version if version is not None else message.received_at > anchor
        if is_new:
            sender = message.from_.email if message.from_ else "the customer"
            changes.append(
                (message.received_at, f"new message from {sender} at {_when(message.received_at)}")
            )
    for event, version in stamped:
        if version <= seen_version or event.type is EventType.RECEIVED:
            continue
        when = f" at {_when(event.at)}" if event.type is EventType.REPLIED else ""
        changes.append((event.at, describe(event) + when))
    described = [text for _, text in sorted(changes, key=lambda change: change[0])]
    return described or [f"the conversation changed since version {seen_version} (now {current.version})"]
