"""Automatic replies by rule (RFC 3834).

Never to automatic mail (auto-replies, bounces, lists, bulk), never to machine senders or to our
own domains (that is how mail loops start), and at most once per sender and mailbox per period.
The once-per-period marker is written before sending: a crash after it may lose one automatic reply
but can never send two, which is the right way round for mail nobody asked for.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from mailroom.canned.context import template_context
from mailroom.canned.model import CannedResponse
from mailroom.canned.render import TemplateError, render_canned
from mailroom.canned.store import count_use
from mailroom.clock import iso, now
from mailroom.domain.conversation import Conversation
from mailroom.domain.event import AuditEvent, EventType
from mailroom.domain.message import Direction, StoredMessage
from mailroom.faultpoints import checkpoint
from mailroom.ids import event_id_for, message_key_for
from mailroom.ingest.recipients import reply_address
from mailroom.mail.model import Address, MessageFlag
from mailroom.observability import logger
from mailroom.outbound.compose import OutboundMail, compose, new_message_id
from mailroom.outbound.sender import MailSender
from mailroom.table import keys, schema
from mailroom.table.client import Condition, ConditionFailedError, Put, Table
from mailroom.table.items import event_item, message_id_item, message_item

_MACHINE_SENDER = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|notifications?|listserv|majordomo)([+@.-]|$)",
    re.IGNORECASE,
)
_AUTOMATIC = frozenset({MessageFlag.AUTO_REPLY, MessageFlag.BOUNCE, MessageFlag.BULK, MessageFlag.SPAM})


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str


def may_auto_reply(message: StoredMessage, *, own_domains: set[str]) -> Verdict:
    """RFC 3834 section 2: whom an automatic reply must never go to."""
    sender = message.from_.email.lower() if message.from_ else ""
    if not sender or "@" not in sender:
        return Verdict(False, "no sender address")
    flags = set(message.flags) & {f.value for f in _AUTOMATIC}
    if flags:
        return Verdict(False, f"the message is automatic ({', '.join(sorted(flags))})")
    if _asks_for_no_auto_reply(message):
        return Verdict(False, "the sender asked for no automatic replies (X-Auto-Response-Suppress)")
    if _MACHINE_SENDER.match(sender):
        return Verdict(False, f"{sender} is a machine address")
    if sender.rpartition("@")[2] in own_domains:
        return Verdict(False, "the sender is one of our own addresses")
    return Verdict(True, "allowed")


def _asks_for_no_auto_reply(message: StoredMessage) -> bool:
    """Exchange's ``X-Auto-Response-Suppress`` (All, OOF, AutoReply): the sender's wish, honoured.
    It is no sign that a machine wrote the mail (Outlook and ticket tools set it on people's mail
    too), so it does not make the message automatic: a person's mail still reopens and waits."""
    for name, value in message.headers:
        if name.lower() == "x-auto-response-suppress":
            words = {word.strip().lower() for word in value.split(",")}
            if words & {"all", "oof", "autoreply"}:
                return True
    return False


def claim_auto_reply_slot(table: Table, mailbox: str, sender: str, period_hours: int) -> bool:
    """Atomically take the once-per-period slot for (mailbox, sender); False when it is taken.

    When DynamoDB's answer is lost, the SDK's retry finds the slot taken by this very claim (its
    item, time stamp included, is exactly the one written here): that is ours, not "taken"."""
    now_s = int(time.time())
    slot = {
        schema.PK: keys.autoreply_pk(mailbox),
        schema.SK: sender.lower(),
        "entity": "autoreply",
        schema.TTL_ATTRIBUTE: now_s + period_hours * 3600,
        "sent_at": iso(now()),
    }
    try:
        table.put(
            slot,
            Condition(
                "attribute_not_exists(#pk) OR #exp < :now",
                {"#pk": schema.PK, "#exp": schema.TTL_ATTRIBUTE},
                {":now": now_s},
            ),
        )
    except ConditionFailedError as exc:
        return exc.item == slot
    return True


def send_auto_reply(
    *,
    table: Table,
    sender: MailSender,
    conversation: Conversation,
    message: StoredMessage,
    canned: CannedResponse,
    mailbox_name: str,
) -> StoredMessage | None:
    """Render, send and record one automatic reply; None when the template does not render."""
    customer = message.from_ or Address(email=conversation.contact_email)
    context = template_context(conversation, mailbox={"name": mailbox_name}, customer=customer)
    subject = (
        conversation.subject
        if conversation.subject.lower().startswith("re:")
        else f"Re: {conversation.subject}"
    )
    try:
        rendered = render_canned(canned, context, default_subject=subject)
    except TemplateError as exc:
        logger.warning("auto-reply template does not render", canned=canned.id, error=str(exc))
        return None
    domain = conversation.mailbox.rpartition("@")[2]
    at = now()
    message_id = new_message_id(domain)
    mail = OutboundMail(
        from_=Address(email=conversation.mailbox, name=mailbox_name),
        to=[customer],
        subject=rendered.subject,
        text=rendered.body,
        reply_to=Address(email=reply_address(conversation.mailbox, conversation.id), name=mailbox_name),
        message_id=message_id,
        in_reply_to=message.message_id,
        references=[*message.references, message.message_id],
        auto_submitted="auto-replied",
        date=at,
    )
    provider_id = sender.send(compose(mail), message_id=message_id)
    checkpoint("route.after_auto_reply_sent")
    key = message_key_for(conversation.mailbox, message_id)
    stored = StoredMessage(
        key=key,
        conversation_id=conversation.id,
        mailbox=conversation.mailbox,
        message_id=message_id,
        direction=Direction.OUTBOUND,
        from_=mail.from_,
        to=mail.to,
        subject=mail.subject,
        date=iso(at),
        received_at=iso(at),
        text=rendered.body,
        flags=[MessageFlag.AUTO_REPLY.value],
        in_reply_to=[message.message_id],
        references=mail.references,
        ses_message_id=provider_id,
        routable=False,
    )
    event = AuditEvent(
        id=event_id_for(key, "auto_replied"),
        conversation_id=conversation.id,
        mailbox=conversation.mailbox,
        type=EventType.AUTO_REPLIED,
        at=iso(at),
        actor="route",
        data={"canned_id": canned.id, "message_key": key, "to": customer.email, "in_reply_to": message.key},
    )
    table.transact_write(
        [
            Put(message_item(stored)),
            Put(message_id_item(message_id, conversation.mailbox, conversation.id, key)),
            Put(event_item(event)),
            count_use(table, canned.id),
        ]
    )
    return stored
