"""Send an agent's reply exactly once, and never over a conversation that changed under the agent.

The steps (DESIGN.md section 4):

1. Decide (pure, :func:`plan_reply`) on the conversation read at the agent's ``seen_version``, then
   write in **one transaction**: the ``REPLY#<key>`` record as ``queued`` (only if absent), the
   conversation's next state (only at that version; claimed for the agent when unassigned), the
   outbound message, its Message-ID index entry, the audit events, the agents' load counters.
2. Move the record ``queued`` → ``sending`` with a conditional write: of any number of concurrent
   submissions and retries, exactly one attempt holds ``sending``.
3. Hand the mail to the sender.
4. Record ``sent`` with the provider's id, ``failed`` when the provider refused it before accepting
   it (the agent may retry with the same key), or ``unknown`` when it may have gone out.

A submission whose key is already recorded never writes or sends again except from ``queued``
(step 2 on). A ``sending`` record nobody finished is *in doubt*: it is reported as ``unknown`` and
only an agent's :meth:`ReplyService.resolve_unknown` settles it; a blind resend could be a second
copy in the customer's inbox, which is worse than asking.

Stale replies: the reply is refused (:class:`StaleReplyError`) whenever the conversation's version is
not the one the agent saw. Every write to a conversation bumps its version; we can't tell from the
stored history which of those writes came after the agent's version for every writer (ingest's
events don't carry one), and even changes that are not messages may matter to the reply (closed by
a colleague, marked spam, reassigned). Refusing is cheap: the draft stays in the browser, the page
shows :attr:`StaleReplyError.changes` and the agent sends again at the new version.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

from mailroom import clock
from mailroom.assignment.errors import ConversationNotFoundError
from mailroom.domain.conversation import Conversation
from mailroom.faultpoints import checkpoint
from mailroom.ids import random_id
from mailroom.observability import logger
from mailroom.outbound.compose import compose, new_message_id
from mailroom.outbound.sender import MailSender, SendInDoubtError, SendRefusedError
from mailroom.replies.model import (
    AgentIdentity,
    IdempotencyKeyReusedError,
    NotAssigneeError,
    ReplyNotFoundError,
    ReplyRecord,
    ReplyRequest,
    ReplyResult,
    ReplyStateError,
    ReplyStatus,
    StaleReplyError,
    check_header_inputs,
    check_may_send,
    describe_changes,
    effective_status,
    mail_from_stored,
    plan_reply,
    reply_claims,
    reply_target,
    request_digest,
    result_of,
    split_body,
)
from mailroom.replies.store import QueueOutcome, ReplyStore
from mailroom.settings import Settings
from mailroom.storage import BlobStore, open_store
from mailroom.table.client import Table, retry_on_conflict
from mailroom.usage import attribute

# How long a ``sending`` record may stay unfinished before it is reported as in doubt: longer than
# any attempt can take (the reply function's timeout is 29 s), so a slow send is never "unknown".
IN_DOUBT_AFTER = timedelta(minutes=5)
MAX_QUEUE_ATTEMPTS = 10


# SES error codes that mean "not accepted, nothing was sent", whatever the HTTP status says.
def classify_send_failure(exc: Exception) -> tuple[ReplyStatus, str]:
    """``failed`` only when the sender says the mail certainly did not go out (a retry is safe);
    anything else may have happened after the provider accepted it: ``unknown``, never resent."""
    if isinstance(exc, SendRefusedError):
        return ReplyStatus.FAILED, str(exc)
    return ReplyStatus.UNKNOWN, str(exc) if isinstance(exc, SendInDoubtError) else (
        f"send in doubt after {type(exc).__name__}: {exc}"
    )


class ReplyService:
    """``send_reply`` and ``resolve_unknown`` over one table and one mail sender.

    ``store`` holds large bodies (the raw store; opened from ``settings`` when first needed);
    ``now`` and ``in_doubt_after`` are injectable so that tests can age a ``sending`` record.
    """

    def __init__(
        self,
        table: Table,
        sender: MailSender,
        settings: Settings,
        *,
        store: BlobStore | None = None,
        now: Callable[[], datetime] = clock.now,
        in_doubt_after: timedelta = IN_DOUBT_AFTER,
    ) -> None:
        self.replies = ReplyStore(table)
        self.sender = sender
        self.settings = settings
        self._blobs = store
        self.now = now
        self.in_doubt_after = in_doubt_after

    @property
    def blobs(self) -> BlobStore:
        if self._blobs is None:
            self._blobs = open_store(self.settings.raw_store_url)
        return self._blobs

    # -- the agent's reply ------------------------------------------------------------------------

    def send_reply(self, request: ReplyRequest, agent: AgentIdentity) -> ReplyResult:
        """Send ``request`` as ``agent``; the same key again returns the same reply, never a second.

        Raises (nothing written): :class:`ReplyNotPermittedError` (read-only access, another
        mailbox, a spam or quarantined conversation), :class:`HeaderInjectionError`,
        :class:`InvalidRecipientError`, :class:`NoRecipientError`, :class:`ConversationNotFoundError`,
        :class:`NotAssigneeError` (someone else holds it), :class:`StaleReplyError` (changed since
        ``seen_version``), :class:`AgentUnavailableError` subclasses (claiming while inactive or at
        capacity), :class:`IdempotencyKeyReusedError` (the key names a different reply).
        The result's status is ``sent``, ``failed`` (retry with the same key), ``unknown`` (in doubt:
        settle with :meth:`resolve_unknown`), or ``sending`` (another attempt is sending it now).
        """
        check_may_send(agent)
        check_header_inputs(request, agent)
        canned = request.canned_id
        for attempt in range(MAX_QUEUE_ATTEMPTS):
            record = self.replies.get_record(request.conversation_id, request.idempotency_key)
            if record is not None:
                return self._resume(record, request, agent)
            conversation = self.replies.get_conversation(request.conversation_id)
            if conversation is None:
                raise ConversationNotFoundError(request.conversation_id)
            attribute(
                conversation_id=conversation.id,
                mailbox=conversation.mailbox,
                team=conversation.team,
                agent=agent.email,
            )
            try:
                reply_claims(conversation, agent)  # someone else's conversation: refused before staleness
                if conversation.version != request.seen_version:
                    raise self._stale(request, conversation)
            except (NotAssigneeError, StaleReplyError):
                # The change may be this very reply, recorded by a concurrent submission of the same
                # key between our two reads (a double click): then it is not a refusal but a replay.
                record = self.replies.get_record(request.conversation_id, request.idempotency_key)
                if record is not None:
                    return self._resume(record, request, agent)
                raise
            plan = plan_reply(
                request=request,
                agent=agent,
                conversation=conversation,
                target=reply_target(self.replies.messages_newest_first(conversation.id)),
                message_id=new_message_id(conversation.mailbox.rpartition("@")[2]),
                at=self.now(),
            )
            message, body = split_body(
                plan.message, self.settings.inline_body_limit_bytes, f"bodies/{plan.message.key}.json"
            )
            if body is not None:
                # Before the transaction: the item must never point at a body that isn't there.
                # Racing submissions with one key write the same object; a refused one leaves it.
                self.blobs.put(str(message.body_ref), body, "application/json")
            outcome = self.replies.queue(plan, message, count_canned=canned)
            if outcome is QueueOutcome.QUEUED:
                logger.info(
                    "reply queued",
                    conversation_id=conversation.id,
                    message_key=plan.record.message_key,
                    agent=agent.email,
                    claimed=plan.claims,
                    version=plan.conversation.version,
                )
                checkpoint("reply.after_queue")
                return self._deliver(plan.record, plan.raw, replayed=False)
            if outcome is QueueOutcome.CANNED_MISSING:
                logger.warning("canned response gone; reply not counted", canned_id=canned)
                canned = None
            elif outcome is QueueOutcome.CONFLICT:
                retry_on_conflict(attempt)
            # KEY_TAKEN and CONVERSATION_CHANGED: the next round reads what won and decides.
        raise StaleReplyError(
            request.conversation_id,
            request.seen_version,
            request.seen_version,
            ["the conversation kept changing while the reply was being saved: reload it"],
        )

    def resolve_unknown(
        self, conversation_id: str, idempotency_key: str, sent: bool, *, actor: str | None = None
    ) -> ReplyResult:
        """An agent settles a reply in doubt: ``sent=True`` records it as sent; ``sent=False`` puts
        it back to ``queued``, and the next :meth:`send_reply` with the same key sends it once.

        Raises :class:`ReplyNotFoundError`, or :class:`ReplyStateError` when the reply is not in
        doubt (a ``sending`` younger than the in-doubt period may still be going out).
        """
        record = self.replies.get_record(conversation_id, idempotency_key)
        if record is None:
            raise ReplyNotFoundError(f"no reply {idempotency_key} in conversation {conversation_id}")
        status = effective_status(record, self.now(), self.in_doubt_after)
        if status is not ReplyStatus.UNKNOWN:
            raise ReplyStateError(f"reply {idempotency_key} is {status.value}, not in doubt")
        who = actor or "an agent"
        stamp = clock.iso(self.now())
        fields: dict[str, object] = {"updated_at": stamp, "attempt": None, "resolved_by": actor}
        if sent:
            target = ReplyStatus.SENT
            fields.update(sent_at=stamp, reason=f"confirmed sent by {who}")
        else:
            target = ReplyStatus.QUEUED
            fields["reason"] = f"confirmed not sent by {who}: the next retry sends it"
        moved, after = self.replies.transition(
            record,
            target,
            expect=record.status,
            attempt=record.attempt if record.status is ReplyStatus.SENDING else None,
            fields=fields,
        )
        if not moved or after is None:
            raise ReplyStateError(f"reply {idempotency_key} changed meanwhile: look again")
        logger.info("reply in doubt settled", conversation_id=conversation_id, key=idempotency_key, sent=sent)
        return result_of(after, target, replayed=False)

    def get_reply(self, conversation_id: str, idempotency_key: str) -> ReplyResult | None:
        """The reply recorded under this key, as a retry would report it (without acting on it)."""
        record = self.replies.get_record(conversation_id, idempotency_key)
        if record is None:
            return None
        return result_of(record, effective_status(record, self.now(), self.in_doubt_after), replayed=True)

    def replies_of(self, conversation_id: str) -> list[ReplyResult]:
        """Every reply of a conversation with its delivery state, for the thread view."""
        now = self.now()
        return [
            result_of(record, effective_status(record, now, self.in_doubt_after), replayed=True)
            for record in self.replies.records(conversation_id)
        ]

    # -- steps ------------------------------------------------------------------------------------

    def _stale(self, request: ReplyRequest, conversation: Conversation) -> StaleReplyError:
        messages, events = self.replies.history(conversation.id)
        changes = describe_changes(request.seen_version, conversation, messages, events)
        logger.info(
            "stale reply refused",
            conversation_id=conversation.id,
            seen_version=request.seen_version,
            version=conversation.version,
        )
        return StaleReplyError(conversation.id, request.seen_version, conversation.version, changes)

    def _resume(self, record: ReplyRecord, request: ReplyRequest, agent: AgentIdentity) -> ReplyResult:
        """A submission whose key is recorded: report it, or continue it from ``queued``/``failed``."""
        if record.request_digest != request_digest(request, agent):
            raise IdempotencyKeyReusedError(
                f"idempotency key {request.idempotency_key} was used for a different reply"
            )
        status = effective_status(record, self.now(), self.in_doubt_after)
        if status is ReplyStatus.FAILED:
            # The agent retries a refused send: one more attempt, through queued like the first.
            moved, current = self.replies.transition(
                record, ReplyStatus.QUEUED, expect=ReplyStatus.FAILED, fields={"updated_at": self._stamp()}
            )
            if current is None:
                raise ReplyStateError(f"reply {record.idempotency_key} vanished")
            record = current
            status = effective_status(record, self.now(), self.in_doubt_after)
            if not moved and status is ReplyStatus.FAILED:
                return result_of(record, status, replayed=True)
        if status is ReplyStatus.QUEUED:
            return self._deliver(record, None, replayed=True)
        return result_of(record, status, replayed=True)

    def _deliver(self, record: ReplyRecord, raw: bytes | None, *, replayed: bool) -> ReplyResult:
        """Steps 2-4 for a ``queued`` record. Only the attempt that wins ``queued → sending`` sends;
        a loser reports the state the winner left (usually ``sending`` or ``sent``)."""
        if raw is None:
            raw = self._recompose(record)  # before taking ``sending``: a failure here leaves it queued
        token = random_id("a")
        moved, current = self.replies.transition(
            record,
            ReplyStatus.SENDING,
            expect=ReplyStatus.QUEUED,
            fields={"attempt": token, "attempts": record.attempts + 1, "updated_at": self._stamp()},
        )
        if current is None:
            raise ReplyStateError(f"reply {record.idempotency_key} vanished")
        if not moved:  # another attempt holds it (or finished it): report what it left
            status = effective_status(current, self.now(), self.in_doubt_after)
            return result_of(current, status, replayed=replayed)
        checkpoint("reply.after_sending_taken")
        try:
            provider_id = self.sender.send(raw, message_id=record.message_id)
        except Exception as exc:  # every failure is classified and recorded, none is lost
            status, reason = classify_send_failure(exc)
            logger.warning(
                "reply not sent" if status is ReplyStatus.FAILED else "reply send in doubt",
                conversation_id=record.conversation_id,
                message_key=record.message_key,
                reason=reason,
            )
            fields: dict[str, object] = {"reason": reason, "updated_at": self._stamp(), "attempt": None}
            _, after = self.replies.transition(
                current, status, expect=ReplyStatus.SENDING, attempt=token, fields=fields
            )
            final = after or current
            return result_of(
                final, effective_status(final, self.now(), self.in_doubt_after), replayed=replayed
            )
        checkpoint("reply.after_send")
        return self._record_sent(current, token, provider_id, replayed=replayed)

    def _record_sent(
        self, record: ReplyRecord, token: str, provider_id: str, *, replayed: bool
    ) -> ReplyResult:
        stamp = self._stamp()
        fields: dict[str, object] = {
            "provider_id": provider_id,
            "sent_at": stamp,
            "updated_at": stamp,
            "attempt": None,
            "reason": None,
        }
        moved, after = self.replies.transition(
            record, ReplyStatus.SENT, expect=ReplyStatus.SENDING, attempt=token, fields=fields
        )
        if not moved and after is not None and after.status in {ReplyStatus.QUEUED, ReplyStatus.UNKNOWN}:
            # Settled as "in doubt" (or "not sent") while we were still sending: we know better now,
            # and leaving it queued would let a retry send a second copy.
            logger.error(
                "reply was settled while it was being sent; recording it as sent", key=record.idempotency_key
            )
            moved, after = self.replies.transition(
                after, ReplyStatus.SENT, expect=after.status, fields=fields
            )
        final = after or record
        logger.info("reply sent", conversation_id=record.conversation_id, message_key=record.message_key)
        return result_of(final, ReplyStatus.SENT if moved else final.status, replayed=replayed)

    def _recompose(self, record: ReplyRecord) -> bytes:
        message = self.replies.get_message(record.conversation_id, record.message_sk)
        if message is None:
            raise ReplyStateError(f"reply {record.idempotency_key} has no message {record.message_key}")
        if message.body_ref:
            body = json.loads(self.blobs.get(message.body_ref))
            message = message.model_copy(update={"text": body.get("text") or "", "html": body.get("html")})
        return compose(mail_from_stored(message, record.sender))

    def _stamp(self) -> str:
        return clock.iso(self.now())
