"""Ingest one SES delivery: read the raw mail, parse it, store its parts, thread it, commit it.

Every step is idempotent, so SES's and Lambda's at-least-once delivery, and a retry after a crash
at any point, end in the same state with nothing duplicated: attachments and large bodies go to
deterministic keys, and the table write for each mailbox is one conditional transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from mailroom.clock import iso, parse_iso
from mailroom.domain.message import AttachmentRef
from mailroom.faultpoints import checkpoint
from mailroom.ids import message_key_for
from mailroom.inbox.directory import list_mailboxes_cached
from mailroom.ingest.build import Body, Envelope, attachment_refs, body_of, customer_of, plan_ingest
from mailroom.ingest.fingerprint import content_fingerprint, variant_identity
from mailroom.ingest.recipients import Recipient, mailbox_routes, route_recipients
from mailroom.ingest.repository import CONVERSATION_ACTION, MESSAGE_ID_ACTION, IngestRepository
from mailroom.ingest.ses_event import SesMessage
from mailroom.ingest.threading import find_thread
from mailroom.ingest.verdicts import verdict_flags, verdicts_of
from mailroom.mail.html import sanitize_html
from mailroom.mail.model import MessageFlag, ParsedMessage
from mailroom.mail.parse import parse_message
from mailroom.mail.subject import normalize_subject
from mailroom.observability import logger
from mailroom.settings import Settings
from mailroom.storage import BlobNotFoundError, BlobStore
from mailroom.table.client import TransactionCancelledError, retry_on_conflict
from mailroom.usage import attribute, record_ses_inbound

MAX_COMMIT_ATTEMPTS = 8


class RawMailMissingError(RuntimeError):
    """The SES S3 action's object is not there (yet): fail so the invocation is retried."""


@dataclass(frozen=True)
class IngestOutcome:
    mailbox: str
    conversation_id: str
    message_key: str
    stored: bool  # False: the message was already there (a duplicate delivery)
    threaded_by: str
    new_conversation: bool
    flags: tuple[str, ...] = ()


class Ingestor:
    def __init__(self, *, repository: IngestRepository, store: BlobStore, settings: Settings) -> None:
        self.repository = repository
        self.store = store
        self.settings = settings

    def ingest(self, ses: SesMessage) -> list[IngestOutcome]:
        mail, receipt = ses.mail, ses.receipt
        raw_key = f"{self.settings.raw_inbound_prefix}{mail.message_id}"
        try:
            raw = self.store.get(raw_key)
        except BlobNotFoundError as exc:
            raise RawMailMissingError(f"raw mail not found at {raw_key!r}") from exc
        record_ses_inbound(len(raw))  # SES receiving (and its S3 action's PUT), for the cost metering

        parsed = parse_message(
            raw, max_parts=self.settings.max_mime_parts, max_depth=self.settings.max_mime_depth
        )
        if len(raw) > self.settings.max_message_bytes:
            parsed.flags.add(MessageFlag.TRUNCATED)
            parsed.defects.append(
                f"message of {len(raw)} bytes exceeds the {self.settings.max_message_bytes} limit"
            )
        verdicts = verdicts_of(receipt)
        envelope = Envelope(
            ses_message_id=mail.message_id,
            source=mail.source,
            received_at=iso(receipt.timestamp),
            raw_key=raw_key,
            size=len(raw),
            verdicts=verdicts,
            verdict_flags=frozenset(verdict_flags(verdicts)),
        )
        html = sanitize_html(parsed.html) if parsed.html else None
        recipients, refused = route_recipients(
            receipt.recipients,
            mailbox_routes(
                list_mailboxes_cached(self.repository.table, self.settings.directory_cache_seconds)
            ),
        )
        if refused:  # disabled by an admin: kept in the raw store, never a conversation
            logger.warning(
                "mail to a disabled mailbox refused", ses_message_id=mail.message_id, mailboxes=refused
            )
        outcomes = [self._ingest_into(parsed, envelope, recipient, html) for recipient in recipients]
        logger.info(
            "ingested",
            ses_message_id=mail.message_id,
            message_id=parsed.message_id,
            size=len(raw),
            flags=sorted(parsed.flags),
            outcomes=[o.__dict__ for o in outcomes],
        )
        return outcomes

    def _ingest_into(
        self, parsed: ParsedMessage, envelope: Envelope, recipient: Recipient, html: str | None
    ) -> IngestOutcome:
        mailbox = recipient.mailbox
        fingerprint = content_fingerprint(parsed)
        contact_email = customer_of(parsed, envelope).email
        subject_norm = normalize_subject(parsed.subject)
        window = timedelta(days=self.settings.subject_thread_window_days)
        stored_parts: dict[str, tuple[list[AttachmentRef], Body]] = {}
        for attempt in range(MAX_COMMIT_ATTEMPTS):
            identity = self._identity(parsed.message_id, fingerprint, mailbox)
            if identity is None:
                return self._duplicate(parsed.message_id, fingerprint, mailbox)
            reused = identity != parsed.message_id
            key = message_key_for(mailbox, identity)
            if key not in stored_parts:
                stored_parts[key] = (
                    self._store_attachments(parsed, key),
                    self._store_body(parsed.text, html, key),
                )
                checkpoint("ingest.after_parts_stored")
            attachments, body = stored_parts[key]
            # A different message reusing a Message-ID (a resent edit) joins its namesake's
            # conversation, but only that same customer's: a broken mailer that numbers every mail
            # <1234@localhost> must not show one customer's mail in another's conversation.
            namesake = reused and self._is_contacts_message(parsed.message_id, mailbox, contact_email)
            # A bounce of our reply names the reply only in its returned headers.
            bounced = [parsed.bounced_message_id] if parsed.bounced_message_id else []
            match = find_thread(
                mailbox=mailbox,
                in_reply_to=[*([parsed.message_id] if namesake else []), *parsed.in_reply_to, *bounced],
                references=parsed.references,
                token=recipient.token,
                subject_norm=subject_norm,
                contact_email=contact_email,
                received_at=parse_iso(envelope.received_at),
                window=window,
                lookup=self.repository,
            )
            plan = plan_ingest(
                parsed=parsed,
                envelope=envelope,
                mailbox=mailbox,
                match=match,
                body=body,
                attachments=attachments,
                identity=identity,
                fingerprint=fingerprint,
            )
            if reused:
                plan.message.flags = sorted({*plan.message.flags, MessageFlag.MESSAGE_ID_REUSED.value})
            try:
                self.repository.commit(plan)
            except TransactionCancelledError as exc:
                if exc.failed_condition_at(MESSAGE_ID_ACTION):
                    continue  # another delivery stored this identity meanwhile: decide again
                if exc.failed_condition_at(CONVERSATION_ACTION) or exc.is_conflict:
                    logger.info(
                        "conversation changed meanwhile; planning again", mailbox=mailbox, attempt=attempt
                    )
                    retry_on_conflict(attempt)
                    continue
                raise
            checkpoint("ingest.after_commit")
            attribute(conversation_id=plan.conversation.id, mailbox=mailbox, team=plan.conversation.team)
            return IngestOutcome(
                mailbox=mailbox,
                conversation_id=plan.conversation.id,
                message_key=key,
                stored=True,
                threaded_by=match.threaded_by.value,
                new_conversation=plan.is_new_conversation,
                flags=tuple(plan.message.flags),
            )
        raise RuntimeError(f"could not commit message {parsed.message_id!r} to {mailbox} after retries")

    def _is_contacts_message(self, message_id: str, mailbox: str, contact_email: str) -> bool:
        """Whether the conversation that already holds ``message_id`` in ``mailbox`` is this
        contact's (the same customer resending), as opposed to someone else's."""
        key = message_id.lower()
        conversation_id = self.repository.conversation_ids_by_message_id([key], mailbox).get(key)
        conversation = self.repository.conversation(conversation_id) if conversation_id else None
        return conversation is not None and conversation.contact_email.lower() == contact_email.lower()

    def _identity(self, message_id: str, fingerprint: str, mailbox: str) -> str | None:
        """The dedupe identity to store this message under, or None when it is already stored.

        The Message-ID, unless a message with different content already has it: then a variant
        identity derived from the content, so that message is kept too and redeliveries of either
        one are still recognized."""
        record = self.repository.message_id_record(message_id, mailbox)
        if record is None:
            return message_id
        if record.get("fingerprint") in {fingerprint, None}:
            return None
        variant = variant_identity(message_id, fingerprint)
        return None if self.repository.message_id_record(variant, mailbox) else variant

    def _duplicate(self, message_id: str, fingerprint: str, mailbox: str) -> IngestOutcome:
        record = self.repository.message_id_record(message_id, mailbox) or {}
        if record.get("fingerprint") not in {fingerprint, None}:
            record = (
                self.repository.message_id_record(variant_identity(message_id, fingerprint), mailbox) or {}
            )
        logger.info("duplicate delivery ignored", mailbox=mailbox, message_id=message_id)
        attribute(conversation_id=str(record.get("conversation_id", "")), mailbox=mailbox)
        return IngestOutcome(
            mailbox=mailbox,
            conversation_id=str(record.get("conversation_id", "")),
            message_key=str(record.get("message_key", "")),
            stored=False,
            threaded_by="duplicate",
            new_conversation=False,
        )

    def _store_attachments(self, parsed: ParsedMessage, message_key: str) -> list[AttachmentRef]:
        refs = attachment_refs(parsed, message_key)  # those the message item can list
        for ref in refs:
            attachment = parsed.attachments[ref.index]
            self.store.put(ref.key, attachment.data, attachment.content_type)
        return refs

    def _store_body(self, text: str, html: str | None, message_key: str) -> Body:
        body, payload = body_of(text, html, message_key, inline_limit=self.settings.inline_body_limit_bytes)
        if body.ref is not None and payload is not None:
            self.store.put(body.ref, payload, "application/json")
        return body
