"""Table access for replies: the reads a reply decides on, its one queueing transaction, and the
conditional writes of its delivery state.

Item layout (all under the conversation's partition, so they go where the conversation goes):

* ``CONV#<id>`` / ``REPLY#<idempotency key>`` (entity ``reply``): :class:`ReplyRecord`, the
  idempotency marker and the outbox entry. Created with ``attribute_not_exists``: one per key.
* ``CONV#<id>`` / ``MSG#<queued at>#<message key>`` (entity ``message``): the outbound
  :class:`StoredMessage`, direction ``outbound``, ``routable`` false. Written once, never changed.
* ``MSGID#<message-id>`` / ``MAILBOX#<mailbox>`` (entity ``msgid``): registers the reply's
  Message-ID, so the customer's answer threads by In-Reply-To/References (and our own copy coming
  back is a duplicate, not a new message).
* ``CONV#<id>`` / ``EVT#<at>#<nn><id>`` (entity ``event``): ``assigned`` (a claim), ``replied``,
  ``status_changed`` (close/pending with the reply), each carrying ``version``; a claim's copy in
  the admin audit log (:mod:`mailroom.audit.mirror`).

The delivery state lives on the small record, not on the message item: each transition is then a
one-item conditional write of about 1 KB instead of rewriting the message with its body.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

from mailroom.assignment.load import (
    agent_error,
    agent_key,
    load_holder,
    status_change_actions,
    taking_condition,
)
from mailroom.audit.mirror import audit_mirrors
from mailroom.canned.store import count_use
from mailroom.domain.conversation import Conversation
from mailroom.domain.event import AuditEvent
from mailroom.domain.message import StoredMessage
from mailroom.replies.model import ReplyPlan, ReplyRecord, ReplyStatus
from mailroom.table import keys, schema
from mailroom.table.client import (
    Condition,
    ConditionCheck,
    ConditionFailedError,
    Put,
    Table,
    TransactAction,
    TransactionCancelledError,
    Update,
    partition,
)
from mailroom.table.expressions import set_fields
from mailroom.table.items import (
    conversation_item,
    event_item,
    get_conversation,
    message_id_item,
    message_item,
    to_event,
    to_message,
)

Item = dict[str, Any]

REPLY_PREFIX = "REPLY#"
MESSAGE_PREFIX = "MSG#"
_PAGE = 10  # messages per page when looking for the newest inbound one (usually on the first page)


def reply_key(conversation_id: str, idempotency_key: str) -> Item:
    return {schema.PK: keys.conversation_pk(conversation_id), schema.SK: f"{REPLY_PREFIX}{idempotency_key}"}


def claim_counter_actions(old: Conversation, new: Conversation, claimer: str | None) -> list[TransactAction]:
    """The agents' ``open_count`` changes for ``old`` becoming ``new`` (:func:`status_change_actions`),
    with the claiming agent's taking condition on its item: on the +1 when the claim adds load,
    else as a condition check (a reply that claims and closes at once adds no load)."""
    actions = status_change_actions(old, new)
    if claimer is None:
        return actions
    key = agent_key(claimer)
    condition = taking_condition(respect_capacity=load_holder(new) == claimer)
    conditioned: list[TransactAction] = []
    found = False
    for action in actions:
        if isinstance(action, Update) and action.key == key:
            conditioned.append(Update(action.key, action.update, condition))
            found = True
        else:
            conditioned.append(action)
    if not found:
        conditioned.append(ConditionCheck(key, condition))
    return conditioned


class QueueOutcome(Enum):
    QUEUED = "queued"
    KEY_TAKEN = "key_taken"  # a reply with this idempotency key exists: resume it
    CONVERSATION_CHANGED = "conversation_changed"  # not at the seen version (or claimed meanwhile)
    CONFLICT = "conflict"  # collided with another transaction in flight: try again
    CANNED_MISSING = "canned_missing"  # the canned response is gone: queue without counting it


@dataclass(frozen=True)
class _Positions:
    agent: int | None
    canned: int | None


_RECORD = 0
_CONVERSATION = 1


class ReplyStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    # -- reads ----------------------------------------------------------------------------------

    def get_record(self, conversation_id: str, idempotency_key: str) -> ReplyRecord | None:
        item = self.table.get(reply_key(conversation_id, idempotency_key), consistent=True)
        return _record(item)

    def records(self, conversation_id: str) -> list[ReplyRecord]:
        """Every reply of a conversation with its delivery state (for the thread view)."""
        items = self.table.query_all(
            key_condition=partition(keys.conversation_pk(conversation_id), REPLY_PREFIX),
            consistent=True,
        )
        return [record for record in (_record(item) for item in items) if record is not None]

    def get_conversation(self, conversation_id: str) -> Conversation | None:
        return get_conversation(self.table, conversation_id)

    def messages_newest_first(self, conversation_id: str) -> Iterator[StoredMessage]:
        """The conversation's messages, newest first, a page at a time (a generator, so the caller
        stops reading as soon as it found what it needs). Consistent: they must include everything
        the conversation's consistently read version includes."""
        start: Item | None = None
        while True:
            page = self.table.query(
                key_condition=partition(keys.conversation_pk(conversation_id), MESSAGE_PREFIX),
                forward=False,
                limit=_PAGE,
                start_key=start,
                consistent=True,
            )
            for item in page.items:
                if item.get("entity") == "message":
                    yield to_message(item)
            if page.last_key is None:
                return
            start = page.last_key

    def history(self, conversation_id: str) -> tuple[list[StoredMessage], list[AuditEvent]]:
        """Every message and event of the conversation (for describing a stale reply's changes)."""
        items = self.table.query_all(
            key_condition=Condition(
                "#pk = :pk", {"#pk": schema.PK}, {":pk": keys.conversation_pk(conversation_id)}
            ),
            consistent=True,
        )
        messages = [to_message(item) for item in items if item.get("entity") == "message"]
        events = [to_event(item) for item in items if item.get("entity") == "event"]
        return messages, events

    def get_message(self, conversation_id: str, message_sk: str) -> StoredMessage | None:
        item = self.table.get(
            {schema.PK: keys.conversation_pk(conversation_id), schema.SK: message_sk}, consistent=True
        )
        return to_message(item) if item and item.get("entity") == "message" else None

    # -- the queueing transaction ----------------------------------------------------------------

    def queue(self, plan: ReplyPlan, message: StoredMessage, *, count_canned: str | None) -> QueueOutcome:
        """Record the reply as ``queued`` with everything it changes, all or nothing.

        Conditions: the record does not exist (one reply per idempotency key); the conversation is
        at the seen version and, for a claim, still unassigned (else held by this agent); the
        claiming agent can take it. Raises :class:`AgentUnavailableError` for the agent's condition.
        """
        actions, positions = self._queue_actions(plan, message, count_canned)
        try:
            self.table.transact_write(actions)
        except TransactionCancelledError as exc:
            if exc.failed_condition_at(_RECORD):
                return QueueOutcome.KEY_TAKEN
            if exc.failed_condition_at(_CONVERSATION):
                return QueueOutcome.CONVERSATION_CHANGED
            if positions.agent is not None and exc.failed_condition_at(positions.agent):
                old = exc.items[positions.agent] if positions.agent < len(exc.items) else None
                raise agent_error(old, plan.record.agent) from exc
            if positions.canned is not None and exc.failed_condition_at(positions.canned):
                return QueueOutcome.CANNED_MISSING
            if exc.is_conflict:
                return QueueOutcome.CONFLICT
            raise
        return QueueOutcome.QUEUED

    def _queue_actions(
        self, plan: ReplyPlan, message: StoredMessage, count_canned: str | None
    ) -> tuple[list[TransactAction], _Positions]:
        previous, conversation = plan.previous, plan.conversation
        record = plan.record.model_dump(mode="json", exclude_none=True)
        # Every write to a conversation bumps its version, so "still at the version the agent saw"
        # also means "still held by them". A claim says "still unassigned" too, so that the
        # condition itself states the contract (DESIGN.md section 4) and not only the version.
        conversation_condition = Condition(
            "#version = :version", {"#version": "version"}, {":version": previous.version}
        )
        if plan.claims:
            conversation_condition.expression += " AND attribute_not_exists(#assignee)"
            conversation_condition.names["#assignee"] = "assignee"
        not_there = Condition("attribute_not_exists(#pk)", {"#pk": schema.PK})
        actions: list[TransactAction] = [
            Put(
                {
                    **reply_key(conversation.id, plan.record.idempotency_key),
                    "entity": "reply",
                    **record,
                },
                not_there,
            ),
            Put(conversation_item(conversation), conversation_condition),
        ]
        agent_position: int | None = None
        for action in claim_counter_actions(
            previous, conversation, plan.record.agent if plan.claims else None
        ):
            if (
                plan.claims
                and isinstance(action, (Update, ConditionCheck))
                and action.key == agent_key(plan.record.agent)
            ):
                agent_position = len(actions)
            actions.append(action)
        actions += [
            Put(message_item(message), not_there),
            Put(
                message_id_item(message.message_id, message.mailbox, conversation.id, message.key), not_there
            ),
            *(Put(event_item(event)) for event in plan.events),
            *audit_mirrors(plan.events),  # a claim by replying is in the admin audit log too
        ]
        canned_position: int | None = None
        if count_canned:
            use = count_use(self.table, count_canned)
            # Counting a canned response that was deleted would leave a stub item behind.
            canned_position = len(actions)
            actions.append(
                Update(use.key, use.update, Condition("attribute_exists(#pk)", {"#pk": schema.PK}))
            )
        return actions, _Positions(agent_position, canned_position)

    # -- delivery state ---------------------------------------------------------------------------

    def transition(
        self,
        record: ReplyRecord,
        to: ReplyStatus,
        *,
        expect: ReplyStatus,
        attempt: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> tuple[bool, ReplyRecord | None]:
        """Move the record from ``expect`` (and, if given, the attempt that holds it) to ``to``.

        Returns (True, the record after) or (False, the record as it is now): another attempt, a
        resolution or a concurrent retry got there first. ``None`` values in ``fields`` are removed.

        When DynamoDB's answer to the write is lost, the SDK sends it again and the retry fails
        its condition on the write itself. A record that already shows every change is taken as
        ours: each transition carries a fresh time stamp (and taking ``sending`` a fresh attempt
        token), so another writer's change never looks the same.
        """
        changes = {**(fields or {}), "status": to.value}
        condition = Condition("#status = :expect", {"#status": "status"}, {":expect": expect.value})
        if attempt is not None:
            condition.expression += " AND #attempt = :attempt"
            condition.names["#attempt"] = "attempt"
            condition.values[":attempt"] = attempt
        key = reply_key(record.conversation_id, record.idempotency_key)
        try:
            item = self.table.update(key, set_fields("reply", changes), condition)
        except ConditionFailedError as exc:
            current = exc.item or self.table.get(key, consistent=True)
            return _shows(current, changes), _record(current)
        return True, _record(item)


def _shows(item: Item | None, changes: dict[str, Any]) -> bool:
    """Whether ``item`` holds every one of ``changes`` (``None``: the attribute is absent)."""
    return item is not None and all(
        name not in item if value is None else item.get(name) == value for name, value in changes.items()
    )


def _record(item: Item | None) -> ReplyRecord | None:
    return ReplyRecord.model_validate(item) if item and item.get("entity") == "reply" else None
