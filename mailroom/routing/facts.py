"""What the rules see of a message: built from the stored message, its conversation and contact."""

from __future__ import annotations

from mailroom.clock import parse_iso
from mailroom.domain.conversation import Conversation
from mailroom.domain.message import StoredMessage
from mailroom.rules.model import MessageFacts


def message_facts(
    message: StoredMessage, conversation: Conversation, *, contact_tags: list[str], team: str | None
) -> MessageFacts:
    sender = (message.from_.email if message.from_ else conversation.contact_email).lower()
    return MessageFacts(
        mailbox=message.mailbox,
        sender=sender,
        sender_domain=sender.rpartition("@")[2],
        to=[a.email.lower() for a in message.to],
        cc=[a.email.lower() for a in message.cc],
        subject=message.subject,
        body=message.text,
        headers=[(name, value) for name, value in message.headers],
        has_attachments=any(not a.inline for a in message.attachments),
        verdicts=message.verdicts,
        flags=message.flags,
        contact_tags=contact_tags,
        received_at=parse_iso(message.received_at),
        team=team,
    )
