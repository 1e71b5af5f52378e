"""SLA breach warnings, before a first-response target is missed (run by the scheduled sweep).

For each mailbox, one query on the ``BySlaDue`` index (only open conversations whose customer waits
and that have a due time carry its keys, sorted by due time) finds those due within the lead time
(``MAILROOM_SLA_WARNING_MINUTES``), and overdue ones not warned yet. Each is warned **once per due
time** (a reopen moves the due time and may warn again):

1. tag the conversation (``sla-at-risk``; an ordinary tag action by ``system``, so the inbox and
   the reports can filter on it; idempotent);
2. one transaction: the marker ``SLAWARN#<conversation>`` / ``<due>`` (``attribute_not_exists``,
   expiring a week after the due time) and an in-app notification for the assignee and every
   member of the conversation's team who may read the mailbox. A second sweep (or a concurrent
   one) finds the marker and does nothing;
3. with ``MAILROOM_SLA_WARNING_EMAIL`` on, one mail to those people from the mailbox, after the
   transaction (a crash in between loses the mail, never sends it twice).

Reads per sweep: one query per mailbox, plus one ``BatchGetItem`` of the candidates' markers; a
conversation already warned costs nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mailroom.actions.model import SYSTEM, ActionError
from mailroom.actions.notes import NoteService
from mailroom.actions.service import ConversationActions
from mailroom.assignment.errors import AssignmentError
from mailroom.assignment.store import AssignmentStore
from mailroom.clock import iso, parse_iso
from mailroom.domain.conversation import Conversation
from mailroom.inbox.directory import list_mailboxes
from mailroom.mail.model import Address
from mailroom.notifications import Notification, notification_item
from mailroom.observability import logger
from mailroom.outbound.compose import OutboundMail, compose, new_message_id
from mailroom.outbound.sender import MailSender
from mailroom.settings import Settings
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Put, Table, TransactionCancelledError
from mailroom.table.items import to_conversation

KIND = "sla_at_risk"
PER_MAILBOX = 100  # conversations considered per mailbox and sweep (soonest due first)
MAX_RECIPIENTS = 98  # a transaction holds 100 actions: the marker and the notifications
MARKER_DAYS = 7


@dataclass
class Warning:
    conversation_id: str
    due: str
    recipients: list[str] = field(default_factory=list)
    emailed: bool = False


def marker_key(conversation_id: str, due: str) -> dict[str, str]:
    return {schema.PK: keys.sla_warning_pk(conversation_id), schema.SK: due}


def due_within(
    table: Table, mailbox: str, until: datetime, *, limit: int = PER_MAILBOX
) -> list[Conversation]:
    """The mailbox's waiting open conversations due at or before ``until`` (overdue ones first)."""
    index = schema.BY_SLA_DUE
    page = table.query(
        key_condition=Condition(
            "#pk = :pk AND #sk <= :until",
            {"#pk": index.pk, "#sk": index.sk},
            {":pk": keys.sla_pk(mailbox), ":until": keys.due_sort_key(iso(until), "~")},
        ),
        index=index.name,
        limit=limit,
    )
    return [to_conversation(item) for item in page.items if item.get("entity") == "conversation"]


class SlaWarnings:
    def __init__(
        self,
        table: Table,
        *,
        lead_minutes: int,
        tag: str,
        sender: MailSender | None = None,
        email: bool = False,
    ) -> None:
        self.table = table
        self.lead = timedelta(minutes=lead_minutes)
        self.tag = tag
        self.sender = sender
        self.email = email and sender is not None

    def sweep(self, now: datetime) -> list[Warning]:
        """Warn every conversation of every mailbox that is due within the lead time."""
        candidates: list[Conversation] = []
        for entry in list_mailboxes(self.table):
            candidates += due_within(self.table, str(entry.get("address") or ""), now + self.lead)
        candidates = [c for c in candidates if c.first_response_due]
        if not candidates:
            return []
        warned = {
            (str(item[schema.PK]), str(item[schema.SK]))
            for start in range(0, len(candidates), 100)
            for item in self.table.batch_get(
                [marker_key(c.id, str(c.first_response_due)) for c in candidates[start : start + 100]]
            )
        }
        done: list[Warning] = []
        for conversation in candidates:
            key = marker_key(conversation.id, str(conversation.first_response_due))
            if (key[schema.PK], key[schema.SK]) in warned:
                continue
            try:
                warning = self.warn(conversation, now)
            except Exception:  # one conversation's trouble must not stop the others' warnings
                logger.exception("SLA warning failed", conversation_id=conversation.id)
                continue
            if warning is not None:
                done.append(warning)
        if done:
            logger.info("SLA warnings sent", warned=len(done))
        return done

    def warn(self, conversation: Conversation, now: datetime) -> Warning | None:
        """Tag, then notify once for this due time; None if it had been warned already."""
        due = str(conversation.first_response_due)
        try:
            ConversationActions(self.table, now=lambda: now).tag(conversation.id, self.tag, SYSTEM)
        except (ActionError, AssignmentError) as exc:  # merged, quarantined or gone meanwhile
            logger.info("SLA warning skipped", conversation_id=conversation.id, reason=str(exc))
            return None
        recipients = self.recipients(conversation)
        at = iso(now)
        minutes = round((parse_iso(due) - now).total_seconds() / 60)
        when = f"in {minutes} min" if minutes > 0 else f"{-minutes} min ago" if minutes < 0 else "now"
        text = f"First response due {due[:16].replace('T', ' ')} UTC ({when})"
        expires = int((parse_iso(due) + timedelta(days=MARKER_DAYS)).timestamp())
        marker = {
            **marker_key(conversation.id, due),
            "entity": "sla_warning",
            "conversation_id": conversation.id,
            "mailbox": conversation.mailbox,
            "at": at,
            "recipients": recipients,
            schema.TTL_ATTRIBUTE: expires,
        }
        actions = [Put(marker, Condition("attribute_not_exists(#pk)", {"#pk": schema.PK}))]
        actions += [
            Put(
                notification_item(
                    Notification(
                        user=user,
                        kind=KIND,
                        conversation_id=conversation.id,
                        mailbox=conversation.mailbox,
                        subject=conversation.subject,
                        text=text,
                        at=at,
                        due=due,
                    )
                )
            )
            for user in recipients
        ]
        try:
            self.table.transact_write(actions)
        except TransactionCancelledError as exc:
            if exc.failed_condition_at(0):
                return None  # another sweep warned it first
            raise
        warning = Warning(conversation.id, due, recipients)
        if self.email and recipients:
            warning.emailed = self._mail(conversation, recipients, text)
        return warning

    def recipients(self, conversation: Conversation) -> list[str]:
        """The assignee and the team's members, among those who may read the mailbox."""
        wanted: list[str] = [conversation.assignee.lower()] if conversation.assignee else []
        if conversation.team:
            team = AssignmentStore(self.table).get_team(conversation.team, consistent=False)
            wanted += team.members if team else []
        readers = {person.email for person in NoteService(self.table).mentionable(conversation.mailbox)}
        return [user for user in dict.fromkeys(wanted) if user in readers][:MAX_RECIPIENTS]

    def _mail(self, conversation: Conversation, recipients: list[str], text: str) -> bool:
        assert self.sender is not None
        domain = conversation.mailbox.rpartition("@")[2]
        message_id = new_message_id(domain)
        mail = OutboundMail(
            from_=Address(email=conversation.mailbox, name="Mailroom"),
            to=[Address(email=user, name="") for user in recipients],
            subject=" ".join(f"SLA at risk: {conversation.subject or conversation.id}".split())[:200],
            text=f"{text}\n\nConversation {conversation.id} in {conversation.mailbox}.\n",
            message_id=message_id,
            auto_submitted="auto-generated",
        )
        try:
            self.sender.send(compose(mail), message_id=message_id)
        except Exception:
            logger.exception("SLA warning mail failed", conversation_id=conversation.id)
            return False
        return True


def warn_sla_at_risk(table: Table, sender: MailSender | None, settings: Settings, *, now: datetime) -> int:
    """The scheduled sweep's call: warn what is due soon, per the settings. Returns how many."""
    warnings = SlaWarnings(
        table,
        lead_minutes=settings.sla_warning_minutes,
        tag=settings.sla_warning_tag,
        sender=sender,
        email=settings.sla_warning_email,
    )
    return len(warnings.sweep(now))
