"""Who is replying, as the reply pipeline needs it: the caller's send right on the conversation's
mailbox, their name, the mailbox's display name and its signature (a template, rendered here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mailroom.auth import policy
from mailroom.auth.model import Principal
from mailroom.canned.context import template_context
from mailroom.canned.render import TemplateError, render_template
from mailroom.domain.conversation import Conversation
from mailroom.observability import logger
from mailroom.replies.model import AgentIdentity


def render_signature(
    conversation: Conversation, *, mailbox: Mapping[str, Any] | None, user: Mapping[str, Any] | None
) -> str | None:
    """The mailbox's signature for this agent; a template that does not render is left out (and
    logged) rather than blocking every reply from the mailbox."""
    source = (mailbox or {}).get("signature")
    if not isinstance(source, str) or not source.strip():
        return None
    context = template_context(conversation, mailbox=mailbox, agent=user)
    try:
        return render_template(source, context).strip() or None
    except TemplateError as exc:
        logger.warning("mailbox signature does not render", mailbox=conversation.mailbox, error=str(exc))
        return None


def agent_identity(
    principal: Principal,
    conversation: Conversation,
    *,
    mailbox: Mapping[str, Any] | None,
    user: Mapping[str, Any] | None,
) -> AgentIdentity:
    """The identity to send with. A caller without a send right gets ``read_only`` access, which
    the pipeline refuses with :class:`~mailroom.replies.model.ReplyNotPermittedError`."""
    access = policy.can_send(principal, conversation.mailbox)
    name = str((user or {}).get("name") or principal.name or "")
    return AgentIdentity(
        email=principal.email,
        name=name,
        access=access.value if access is not None else "read_only",
        mailbox_name=str((mailbox or {}).get("name") or ""),
        signature=render_signature(conversation, mailbox=mailbox, user=user),
        mailbox=conversation.mailbox,
    )
