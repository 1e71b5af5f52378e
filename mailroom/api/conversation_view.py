"""Everything the conversation page shows, gathered in one place (the routes only render it).

Reads for a full page: the thread (one query on the conversation's partition), its replies'
delivery states (one query on the ``REPLY#`` prefix), the contact and their other conversations
(one get, one index query), the mailbox and the caller's directory entries (two gets), teams and
users for the pickers (two small directory queries), canned responses (one query).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from mailroom.api import wiring
from mailroom.auth import policy
from mailroom.auth.model import Access, Principal
from mailroom.auth.permissions_store import mailbox_grants
from mailroom.canned.model import CannedResponse
from mailroom.domain.contact import Contact
from mailroom.domain.conversation import Conversation
from mailroom.domain.event import EventType
from mailroom.ids import random_id
from mailroom.inbox.contacts import contact_conversations, get_contact
from mailroom.inbox.directory import get_mailbox, list_mailboxes_cached, list_users
from mailroom.inbox.thread import Thread, load_thread
from mailroom.mail.model import Address
from mailroom.mail.quoting import SplitText, has_remote_images, split_quoted_text
from mailroom.replies.model import NoRecipientError, ReplyResult, default_cc, default_recipients, reply_target
from mailroom.settings import get_settings
from mailroom.table import keys, schema
from mailroom.table.client import Condition

EARLIER_CONVERSATIONS = 10
# Events the timeline doesn't repeat: the message they are about is shown itself.
_SHOWN_BY_MESSAGE = frozenset({EventType.RECEIVED, EventType.CREATED, EventType.REPLIED})


@dataclass(frozen=True)
class TimelineEntry:
    kind: str  # "message", "note" or "event"
    at: str
    item: Any
    text: SplitText | None = None  # a message's own words and its quoted history
    remote_images: bool = False
    delivery: ReplyResult | None = None


@dataclass
class Composer:
    """The reply form's state: kept across a refusal so the draft is never lost."""

    idempotency_key: str = field(default_factory=lambda: random_id("r"))
    seen_version: int = 1
    text: str = ""
    cc: str = ""
    subject: str = ""
    canned_id: str = ""
    close_after: str = ""
    error: str | None = None
    changes: list[str] = field(default_factory=list)
    result: ReplyResult | None = None


def timeline(thread: Thread, deliveries: dict[str, ReplyResult]) -> list[TimelineEntry]:
    entries = [
        TimelineEntry(
            "message",
            m.received_at,
            m,
            text=split_quoted_text(m.text),
            remote_images=has_remote_images(m.html),
            delivery=deliveries.get(m.key),
        )
        for m in thread.messages
    ]
    entries += [TimelineEntry("note", n.created_at, n) for n in thread.notes]
    entries += [TimelineEntry("event", e.at, e) for e in thread.events if e.type not in _SHOWN_BY_MESSAGE]
    order = {"message": 0, "note": 1, "event": 2}
    return sorted(entries, key=lambda entry: (entry.at, order[entry.kind]))


def recipients_of(thread: Thread) -> list[Address]:
    try:
        return default_recipients(thread.conversation, reply_target(reversed(thread.messages)))
    except NoRecipientError:
        return []


def cc_of(thread: Thread, to: list[Address]) -> list[Address]:
    """The composer's Cc as "reply all" fills it (the agent may change it)."""
    mailboxes = list_mailboxes_cached(wiring.table(), get_settings().directory_cache_seconds)
    own = [str(entry.get("address", "")) for entry in mailboxes]
    return default_cc(thread.conversation, reply_target(reversed(thread.messages)), to, own)


def earlier_conversations(principal: Principal, conversation: Conversation) -> list[Conversation]:
    return [
        other
        for other in contact_conversations(
            wiring.table(), conversation.contact_email, limit=EARLIER_CONVERSATIONS + 1
        )
        if other.id != conversation.id and policy.can_see_mailbox(principal, other.mailbox)
    ][:EARLIER_CONVERSATIONS]


def assignable_people(mailbox: dict[str, Any] | None) -> list[dict[str, str]]:
    """Who may be given a conversation of this mailbox: people with an acting grant on it, and
    admins; by name."""
    grants = mailbox_grants(mailbox or {})
    people = []
    for user in list_users(wiring.table()):
        email = str(user.get("email") or "")
        if user.get("active") is False or not email:
            continue
        acting = grants.get(email) not in {None, Access.READ_ONLY}
        if acting or user.get("role") == "admin":
            people.append({"email": email, "name": str(user.get("name") or email)})
    return sorted(people, key=lambda person: person["name"].lower())


@dataclass
class ConversationView:
    thread: Thread
    entries: list[TimelineEntry]
    bodies: bool
    can_act: bool
    can_send: bool
    recipients: list[Address]
    contact: Contact | None
    earlier: list[Conversation]
    teams: list[Any]
    people: list[dict[str, str]]
    canned: list[CannedResponse]
    mailbox: dict[str, Any]

    @property
    def conversation(self) -> Conversation:
        return self.thread.conversation

    @cached_property
    def cc(self) -> list[Address]:
        """The composer's Cc as "reply all" fills it; read only when a fresh composer is shown."""
        return cc_of(self.thread, self.recipients) if self.bodies else []

    @property
    def merge_candidates(self) -> list[Conversation]:
        """Other conversations of the same customer in the same mailbox (merge is only allowed there)."""
        return [c for c in self.earlier if c.mailbox == self.conversation.mailbox and not c.merged_into]


def load_view(principal: Principal, conversation_id: str) -> ConversationView | None:
    """The page's data, or None when the caller may not see the conversation (shown as not found)."""
    from mailroom.api.workspace import applicable_canned
    from mailroom.assignment.store import AssignmentStore

    thread = (
        load_thread(wiring.table(), wiring.store(), conversation_id) if conversation_id.isalnum() else None
    )
    if thread is None or not policy.can_see_mailbox(principal, thread.conversation.mailbox):
        return None
    conversation = thread.conversation
    bodies = policy.can_read_bodies(principal, conversation.mailbox)
    acting = policy.can_act(principal, conversation.mailbox)
    mailbox = get_mailbox(wiring.table(), conversation.mailbox) or {}
    deliveries = {r.message_key: r for r in wiring.replies().replies_of(conversation.id)} if bodies else {}
    team = mailbox.get("team")
    return ConversationView(
        thread=thread,
        entries=timeline(thread, deliveries),
        bodies=bodies,
        can_act=acting,
        can_send=policy.can_send(principal, conversation.mailbox) is not None,
        recipients=recipients_of(thread),
        contact=get_contact(wiring.table(), conversation.contact_email),
        earlier=earlier_conversations(principal, conversation),
        teams=AssignmentStore(wiring.table()).list_teams() if acting else [],
        people=assignable_people(mailbox) if acting else [],
        canned=applicable_canned(conversation, mailbox_team=team if isinstance(team, str) else None)
        if bodies and acting
        else [],
        mailbox=mailbox,
    )


def next_conversation(principal: Principal, after: str) -> str | None:
    """The conversation to work on after ``after``: the next one in the caller's own open queue
    (most recent activity first), wrapping to its start; None when the queue holds nothing else."""
    index = schema.BY_ASSIGNEE_STATUS
    page = wiring.table().query(
        key_condition=Condition(
            "#pk = :pk", {"#pk": index.pk}, {":pk": f"{keys.agent_pk(principal.email)}#STATUS#open"}
        ),
        index=index.name,
        forward=False,
        limit=100,
    )
    ids = [str(item["id"]) for item in page.items if policy.can_see_mailbox(principal, str(item["mailbox"]))]
    if after in ids:
        position = ids.index(after)
        ids = ids[position + 1 :] + ids[:position]
    return next((conversation_id for conversation_id in ids if conversation_id != after), None)
