"""Pure construction of what one inbound message writes into one mailbox.

Given the parsed mail, where it was stored and which conversation it threads into, this decides the
stored message, the conversation's next state and the audit events. No I/O: the service commits it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from mailroom.domain.conversation import REOPENABLE, Conversation, Status
from mailroom.domain.event import AuditEvent, EventType
from mailroom.domain.message import AttachmentRef, Direction, StoredMessage
from mailroom.ids import conversation_id_for, event_id_for, message_key_for
from mailroom.ingest.threading import ThreadMatch
from mailroom.mail.model import Address, MessageFlag, ParsedMessage
from mailroom.mail.references import capped_references
from mailroom.mail.subject import normalize_subject

SNIPPET_CHARS = 200
# A DynamoDB item holds at most 400 KB. The message item's parts that grow with hostile mail are each
# bounded (inline body: MAILROOM_INLINE_BODY_LIMIT_BYTES, at most 200 KB; headers: HEADER_BUDGET_BYTES;
# subject: 8,192 characters; attachment listing: ATTACHMENT_LIST_BUDGET), and the address and
# Message-ID lists are trimmed to keep the whole within MESSAGE_BUDGET (measured as JSON, which
# counts a little more than DynamoDB does).
ATTACHMENT_LIST_BUDGET = 96_000
MESSAGE_BUDGET = 360_000
_TRIMMABLE = ("to", "cc", "reply_to", "references", "in_reply_to")
PREVIEW_CHARS = 1_000  # text kept in the item when the whole body goes to the raw store
HEADER_BUDGET_BYTES = 8_000
MAX_STORED_REFERENCES = 50  # of a message's References: its root and the newest (threading needs no more)
# Mail that is not a person waiting for us: it neither reopens a conversation nor starts a wait.
_NOT_A_PERSON = frozenset({MessageFlag.AUTO_REPLY, MessageFlag.BOUNCE, MessageFlag.BULK})

_QUOTE_INTRO = re.compile(
    r"^(on .{0,200} wrote:|am .{0,200} schrieb .{0,120}:|-{2,} ?original message ?-{2,})$", re.I
)


@dataclass(frozen=True)
class Envelope:
    """What SES says about the delivery (not the mail's own headers)."""

    ses_message_id: str
    source: str
    received_at: str
    raw_key: str
    size: int
    verdicts: dict[str, str]
    verdict_flags: frozenset[MessageFlag]


@dataclass(frozen=True)
class Body:
    text: str
    html: str | None  # sanitized
    ref: str | None  # raw-store key of the full body when it is too large to inline


def attachment_refs(parsed: ParsedMessage, message_key: str) -> list[AttachmentRef]:
    """Where each attachment of the message is stored (``attachments/<message key>/<n>``): a retry
    computes the same keys, so storing them again overwrites rather than adds.

    The message item lists them, and a DynamoDB item holds at most 400 KB: the attachments past
    :data:`ATTACHMENT_LIST_BUDGET` bytes of listing (hundreds of parts with long names) are left
    in the raw mail, and :func:`plan_ingest` flags the message truncated."""
    refs: list[AttachmentRef] = []
    used = 0
    for index, attachment in enumerate(parsed.attachments):
        ref = AttachmentRef(
            index=index,
            filename=attachment.filename,
            content_type=attachment.content_type,
            size=attachment.size,
            sha256=attachment.sha256,
            key=f"attachments/{message_key}/{index}",
            content_id=attachment.content_id,
            inline=attachment.inline,
        )
        used += _json_size(ref)
        if used > ATTACHMENT_LIST_BUDGET:
            break
        refs.append(ref)
    return refs


def _json_size(value: BaseModel | list[Any]) -> int:
    """Bytes as JSON: a little over what DynamoDB counts for the same attributes."""
    if isinstance(value, BaseModel):
        return len(value.model_dump_json(by_alias=True).encode("utf-8", "surrogatepass"))
    return len(json.dumps(value, default=_jsonable, ensure_ascii=False).encode("utf-8", "surrogatepass"))


def _jsonable(value: object) -> object:
    return value.model_dump(mode="json", by_alias=True) if isinstance(value, BaseModel) else str(value)


def fit_message(message: StoredMessage) -> tuple[StoredMessage, bool]:
    """The message within :data:`MESSAGE_BUDGET`, and whether anything had to go: the longest of its
    address and Message-ID lists is halved until it fits (the raw mail keeps them all; References
    keeps its root and newest ids). Everything
    else an item holds is bounded on its own (body, headers, subject, attachment listing)."""
    trimmed = False
    while _json_size(message) > MESSAGE_BUDGET:
        name = max(_TRIMMABLE, key=lambda field: _json_size(getattr(message, field)))
        values = getattr(message, name)
        if not values:
            break
        half = len(values) // 2
        kept = capped_references(values, half) if name == "references" else values[:half]
        message = message.model_copy(update={name: kept})
        trimmed = True
    return message, trimmed


def body_of(text: str, html: str | None, message_key: str, *, inline_limit: int) -> tuple[Body, bytes | None]:
    """The body as the message item carries it, and the JSON document to store at its ``ref`` when
    text and HTML together are over ``inline_limit`` bytes (the item then keeps a text preview)."""
    size = len(text.encode("utf-8")) + len((html or "").encode("utf-8"))
    if size <= inline_limit:
        return Body(text=text, html=html, ref=None), None
    payload = json.dumps({"text": text, "html": html}, ensure_ascii=False).encode("utf-8")
    return Body(text=text[:PREVIEW_CHARS], html=None, ref=f"bodies/{message_key}.json"), payload


@dataclass
class IngestPlan:
    message: StoredMessage
    conversation: Conversation
    previous_version: int | None  # None: the conversation is new
    events: list[AuditEvent] = field(default_factory=list)
    contact_email: str = ""
    contact_name: str = ""
    identity: str = ""  # the dedupe identity: the Message-ID, or a variant identity when it was reused
    fingerprint: str = ""
    previous: Conversation | None = None  # the conversation as read, when the message threads into one

    @property
    def is_new_conversation(self) -> bool:
        return self.previous_version is None


def snippet_of(text: str) -> str:
    """The first words a person wrote: quoted history and quote introductions are skipped."""
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(">") or _QUOTE_INTRO.match(stripped):
            if lines:
                break
            continue
        if stripped:
            lines.append(stripped)
        if sum(len(x) for x in lines) > SNIPPET_CHARS:
            break
    snippet = " ".join(" ".join(lines).split())
    return snippet[: SNIPPET_CHARS - 1] + "…" if len(snippet) > SNIPPET_CHARS else snippet


def clip_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Keep headers in order within a byte budget, so a header bomb can't bloat the item."""
    kept: list[tuple[str, str]] = []
    used = 0
    for name, value in headers:
        room = HEADER_BUDGET_BYTES - used - len(name)
        if room <= 0:
            break
        encoded = value.encode("utf-8", "replace")
        clipped = encoded[:room].decode("utf-8", "ignore") if len(encoded) > room else value
        kept.append((name, clipped))
        used += len(name) + len(clipped.encode("utf-8", "replace"))
    return kept


def customer_of(parsed: ParsedMessage, envelope: Envelope) -> Address:
    """Who the conversation is with: Reply-To, else From, else the envelope sender."""
    for candidate in (*parsed.reply_to[:1], parsed.from_):
        if candidate is not None and "@" in candidate.email:
            return candidate
    source = envelope.source.strip("<>").lower()
    return Address(email=source if "@" in source else "unknown@invalid", name="")


def plan_ingest(
    *,
    parsed: ParsedMessage,
    envelope: Envelope,
    mailbox: str,
    match: ThreadMatch,
    body: Body,
    attachments: list[AttachmentRef],
    identity: str,
    fingerprint: str,
) -> IngestPlan:
    """``identity`` is what dedupes the message in this mailbox (its Message-ID, unless another
    message already used that); every id of the plan derives from it, so a retry repeats them."""
    flags = set(parsed.flags) | set(envelope.verdict_flags)
    quarantined = MessageFlag.QUARANTINED in flags
    customer = customer_of(parsed, envelope)
    received_at = envelope.received_at
    existing = match.conversation
    conversation_id = existing.id if existing else conversation_id_for(mailbox, identity)
    key = message_key_for(mailbox, identity)
    snippet = snippet_of(body.text) or parsed.subject[:SNIPPET_CHARS]

    message = StoredMessage(
        key=key,
        conversation_id=conversation_id,
        mailbox=mailbox,
        message_id=parsed.message_id,
        direction=Direction.INBOUND,
        from_=parsed.from_ or customer,
        to=parsed.to,
        cc=parsed.cc,
        reply_to=parsed.reply_to,
        subject=parsed.subject,
        date=parsed.date.isoformat() if parsed.date else None,
        received_at=received_at,
        text=body.text,
        html=body.html,
        body_ref=body.ref,
        attachments=attachments,
        flags=sorted(flags),
        verdicts=envelope.verdicts,
        headers=clip_headers(parsed.headers),
        in_reply_to=parsed.in_reply_to,
        references=capped_references(parsed.references, MAX_STORED_REFERENCES),
        raw_key=envelope.raw_key,
        ses_message_id=envelope.ses_message_id,
        size=envelope.size,
        parse_error=parsed.parse_error,
        routable=not quarantined,
        threaded_by=match.threaded_by.value,
    )
    message, trimmed = fit_message(message)
    if trimmed or len(attachments) < len(parsed.attachments):  # the raw mail has the rest
        flags.add(MessageFlag.TRUNCATED)
        message.flags = sorted(flags)

    def event(kind: EventType, **data: object) -> AuditEvent:
        return AuditEvent(
            id="",  # set by _number_events once the order is final
            conversation_id=conversation_id,
            mailbox=mailbox,
            type=kind,
            at=received_at,
            actor="ingest",
            data=data,
        )

    person_waiting = not (flags & _NOT_A_PERSON) and not quarantined
    events = [
        event(
            EventType.RECEIVED,
            message_key=key,
            message_id=parsed.message_id,
            threaded_by=match.threaded_by.value,
            matched=match.matched,
            flags=sorted(flags),
        )
    ]

    if existing is None:
        conversation = Conversation(
            id=conversation_id,
            mailbox=mailbox,
            subject=parsed.subject,
            subject_norm=normalize_subject(parsed.subject),
            status=Status.QUARANTINED if quarantined else Status.OPEN,
            flags=sorted(str(f) for f in flags),
            version=1,
            message_count=1,
            contact_email=customer.email,
            contact_name=customer.name,
            snippet=snippet,
            created_at=received_at,
            last_message_at=received_at,
            last_activity_at=received_at,
            last_inbound_at=received_at,
            waiting_since=received_at if person_waiting else None,
        )
        events.insert(0, event(EventType.CREATED, subject=parsed.subject, contact=customer.email))
        if quarantined:
            events.append(event(EventType.QUARANTINED, reason="SES virus verdict FAIL"))
        numbered = _number_events(events, mailbox, identity)
        return IngestPlan(
            message, conversation, None, numbered, customer.email, customer.name, identity, fingerprint
        )

    latest = max(existing.last_message_at, received_at)
    updates: dict[str, object] = {
        "version": existing.version + 1,
        "message_count": existing.message_count + 1,
        "last_message_at": latest,
        "last_activity_at": max(existing.last_activity_at, received_at),
        "last_inbound_at": max(existing.last_inbound_at or received_at, received_at),
        "flags": sorted(set(existing.flags) | {str(f) for f in flags if f in _CONVERSATION_FLAGS}),
    }
    if latest == received_at:
        updates["snippet"] = snippet
    if person_waiting and existing.waiting_since is None:
        updates["waiting_since"] = received_at
    if person_waiting and existing.status in REOPENABLE:
        updates["status"] = Status.OPEN
        updates["snoozed_until"] = None  # woken by the customer, not by the clock
        message.reopened = True
        events.append(event(EventType.REOPENED, previous_status=existing.status.value))
    conversation = existing.model_copy(update=updates)
    numbered = _number_events(events, mailbox, identity)
    return IngestPlan(
        message,
        conversation,
        existing.version,
        numbered,
        customer.email,
        customer.name,
        identity,
        fingerprint,
        previous=existing,
    )


def _number_events(events: list[AuditEvent], mailbox: str, message_id: str) -> list[AuditEvent]:
    """Deterministic ids that sort in the order the events happened (they share one timestamp)."""
    return [
        e.model_copy(update={"id": f"{n:02d}{event_id_for(mailbox, message_id, e.type.value)}"})
        for n, e in enumerate(events)
    ]


# Message flags that describe the whole conversation once any message carries them.
_CONVERSATION_FLAGS = frozenset({MessageFlag.PARSE_FAILED, MessageFlag.SPAM, MessageFlag.AUTH_FAILED})
