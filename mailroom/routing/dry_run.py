"""The dry run: which rules match a message and what they would do. Nothing is written."""

from __future__ import annotations

import copy

from mailroom.clock import iso, now
from mailroom.domain.conversation import Conversation
from mailroom.domain.message import AttachmentRef, Direction, StoredMessage
from mailroom.inbox.thread import load_thread
from mailroom.mail.parse import parse_message
from mailroom.routing.rules_store import RuleCache, StoredRuleSet
from mailroom.routing.service import Router
from mailroom.rules.model import Decision, RuleSet
from mailroom.storage import BlobStore


class DryRunError(ValueError):
    """The message to test could not be found or read."""


class _FixedRules(RuleCache):
    """A rule set that is not (yet) the active one: a draft being tested, or an old version."""

    def __init__(self, router: Router, ruleset: RuleSet) -> None:
        super().__init__(router.table, ttl=float("inf"))
        self._fixed = StoredRuleSet(ruleset, ruleset.version, None, None)

    def get(self) -> StoredRuleSet:
        return self._fixed


def with_rules(router: Router, ruleset: RuleSet | None) -> Router:
    """``router`` deciding with ``ruleset`` instead of the active rules (None: unchanged)."""
    if ruleset is None:
        return router
    clone = copy.copy(router)
    clone.rules = _FixedRules(router, ruleset)
    return clone


def dry_run_stored(
    router: Router,
    store: BlobStore,
    conversation_id: str,
    message_key: str | None = None,
    *,
    ruleset: RuleSet | None = None,
) -> Decision:
    """For a stored message: the given one, or the conversation's latest inbound message.
    ``ruleset``: decide with these rules (an unsaved draft) rather than the active ones."""
    router = with_rules(router, ruleset)
    thread = load_thread(router.table, store, conversation_id)
    if thread is None:
        raise DryRunError(f"no conversation {conversation_id}")
    inbound = [m for m in thread.messages if m.direction == Direction.INBOUND]
    if message_key:
        chosen = next((m for m in inbound if m.key == message_key), None)
    else:
        chosen = inbound[-1] if inbound else None
    if chosen is None:
        raise DryRunError(f"no inbound message {message_key or ''} in {conversation_id}".replace("  ", " "))
    return router.decide(chosen, thread.conversation)


def dry_run_raw(
    router: Router, raw: bytes, *, mailbox: str | None = None, ruleset: RuleSet | None = None
) -> Decision:
    """For a raw .eml that was never received: as if it had just arrived in ``mailbox``
    (``ruleset``: with these rules rather than the active ones)."""
    router = with_rules(router, ruleset)
    parsed = parse_message(raw)
    target = (mailbox or (parsed.to[0].email if parsed.to else "")).lower()
    if "@" not in target:
        raise DryRunError("say which mailbox the message arrives in (it has no To address)")
    at = iso(now())
    customer = parsed.from_ or parsed.sender
    contact = customer.email if customer else "unknown@invalid"
    message = StoredMessage(
        key="mdryrun",
        conversation_id="cdryrun",
        mailbox=target,
        message_id=parsed.message_id,
        direction=Direction.INBOUND,
        from_=customer,
        to=parsed.to,
        cc=parsed.cc,
        subject=parsed.subject,
        received_at=at,
        text=parsed.text,
        attachments=[
            AttachmentRef(
                index=i,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                sha256=a.sha256,
                key="",
                inline=a.inline,
            )
            for i, a in enumerate(parsed.attachments)
        ],
        flags=sorted(str(f) for f in parsed.flags),
        verdicts={"spam": "PASS", "virus": "PASS", "spf": "PASS", "dkim": "PASS", "dmarc": "PASS"},
        headers=parsed.headers,
    )
    conversation = Conversation(
        id="cdryrun", mailbox=target, subject=parsed.subject, contact_email=contact,
        created_at=at, last_message_at=at, last_activity_at=at,
    )  # fmt: skip
    return router.decide(message, conversation)
