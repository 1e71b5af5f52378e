"""What the agent's workspace does for a request, shared by the JSON API and the pages: send a
reply as the caller, pick and render canned responses, report presence."""

from __future__ import annotations

from mailroom import clock
from mailroom.api import wiring
from mailroom.api.access import actionable_conversation, readable_conversation, visible_conversation
from mailroom.auth.model import Principal
from mailroom.canned.context import template_context
from mailroom.canned.model import CannedResponse
from mailroom.canned.render import Rendered, render_canned
from mailroom.canned.store import list_canned
from mailroom.domain.conversation import Conversation
from mailroom.inbox.directory import get_mailbox, get_user
from mailroom.mail.html import sanitize_html
from mailroom.presence.model import Presence, PresenceState
from mailroom.presence.store import report_presence
from mailroom.replies.identity import agent_identity
from mailroom.replies.model import ReplyRequest, ReplyResult, reply_subject


def send_reply(principal: Principal, request: ReplyRequest) -> ReplyResult:
    """Send as ``principal``; refusals are the reply pipeline's errors (see :mod:`mailroom.api.errors`)."""
    conversation = actionable_conversation(principal, request.conversation_id)
    identity = agent_identity(
        principal,
        conversation,
        mailbox=get_mailbox(wiring.table(), conversation.mailbox),
        user=get_user(wiring.table(), principal.email),
    )
    if request.html is not None:  # an API client's HTML is sanitized like inbound mail
        request = request.model_copy(update={"html": sanitize_html(request.html)})
    return wiring.replies().send_reply(request, identity)


def applicable_canned(conversation: Conversation, *, mailbox_team: str | None = None) -> list[CannedResponse]:
    """Canned responses for this conversation: its mailbox's, its team's (or the mailbox's owning
    team's), and the global ones; by name."""
    teams = {team for team in (conversation.team, mailbox_team) if team}
    chosen = [
        canned
        for canned in list_canned(wiring.table())
        if (canned.mailbox is None and canned.team is None)
        or (canned.mailbox is not None and canned.mailbox.lower() == conversation.mailbox.lower())
        or (canned.team is not None and canned.team in teams)
    ]
    return sorted(chosen, key=lambda canned: canned.name.lower())


def canned_choices(principal: Principal, conversation_id: str) -> tuple[Conversation, list[CannedResponse]]:
    conversation = readable_conversation(principal, conversation_id)
    mailbox = get_mailbox(wiring.table(), conversation.mailbox) or {}
    team = mailbox.get("team")
    return conversation, applicable_canned(conversation, mailbox_team=team if isinstance(team, str) else None)


class CannedNotFoundError(LookupError):
    pass


def render_for(principal: Principal, conversation_id: str, canned_id: str) -> tuple[CannedResponse, Rendered]:
    """Render ``canned_id`` for the conversation as the caller (their name, title, calendar...).
    Raises :class:`CannedNotFoundError` when it doesn't exist or doesn't apply to the conversation;
    :class:`~mailroom.canned.render.TemplateError` when the template doesn't render."""
    conversation, choices = canned_choices(principal, conversation_id)
    canned = next((c for c in choices if c.id == canned_id), None)
    if canned is None:
        raise CannedNotFoundError(canned_id)
    context = template_context(
        conversation,
        mailbox=get_mailbox(wiring.table(), conversation.mailbox),
        agent=get_user(wiring.table(), principal.email),
        agent_email=principal.email,
    )
    return canned, render_canned(canned, context, default_subject=reply_subject(conversation.subject))


def presence(
    principal: Principal, conversation_id: str, state: PresenceState
) -> tuple[Conversation, list[Presence]]:
    """Report the caller's heartbeat; the others present, and the conversation as it is now
    (its version tells the page whether something changed under the agent)."""
    conversation = visible_conversation(principal, conversation_id)
    others = report_presence(
        wiring.table(),
        conversation_id=conversation.id,
        agent=principal.email,
        name=principal.name,
        state=state,
        now=clock.now(),
    )
    return conversation, others
