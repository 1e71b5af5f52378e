"""The conversation a caller asks for, or the refusal: 404 when it doesn't exist or lives in a
mailbox they can't see (the same answer, so nothing leaks), 403 when they see it but may not act."""

from __future__ import annotations

from mailroom.actions.model import Actor
from mailroom.api import wiring
from mailroom.auth import policy
from mailroom.auth.model import Principal, Role
from mailroom.domain.conversation import Conversation
from mailroom.table.items import get_conversation
from mailroom.usage import attribute

CONVERSATION_ID_PATTERN = r"^c[0-9a-z]{6,32}$"


def visible_conversation(principal: Principal, conversation_id: str) -> Conversation:
    conversation = get_conversation(wiring.table(), conversation_id) if conversation_id.isalnum() else None
    if conversation is None or not policy.can_see_mailbox(principal, conversation.mailbox):
        raise policy.NotVisibleError(conversation_id)
    attribute(conversation_id=conversation.id, mailbox=conversation.mailbox, team=conversation.team)
    return conversation


def readable_conversation(principal: Principal, conversation_id: str) -> Conversation:
    """Visible, and its message contents readable (not finance)."""
    conversation = visible_conversation(principal, conversation_id)
    policy.require_bodies(principal, conversation.mailbox)
    return conversation


def actionable_conversation(principal: Principal, conversation_id: str) -> Conversation:
    conversation = visible_conversation(principal, conversation_id)
    policy.require_act(principal, conversation.mailbox)
    return conversation


def actor_of(principal: Principal) -> Actor:
    """The signed-in person as the author of an action (admins may override capacity)."""
    return Actor(email=principal.email, name=principal.name, is_admin=principal.role is Role.ADMIN)
