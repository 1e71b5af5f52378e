"""The write side shared by the actions: a conversation's next state at the version that was read,
its audit events and the load counters, in one transaction; and what a refusal says.

Every write here follows the contract of :mod:`mailroom.assignment.load`: the conversation ``Put``
is conditional on the version read, and the agents' ``open_count`` changes it implies ride in the
same transaction, so the counters can't drift.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from mailroom.actions.model import Change, EventSpec, StaleVersionError
from mailroom.assignment.errors import ConversationNotFoundError, VersionConflictError
from mailroom.assignment.load import load_holder, open_count_change
from mailroom.audit.mirror import audit_mirrors
from mailroom.domain.conversation import Conversation
from mailroom.domain.event import AuditEvent
from mailroom.ids import event_id_for
from mailroom.replies.model import describe_changes
from mailroom.table import keys, schema
from mailroom.table.client import (
    Condition,
    Put,
    Table,
    TransactAction,
    TransactionCancelledError,
    partition,
    retry_on_conflict,
)
from mailroom.table.items import conversation_item, event_item, to_conversation, to_event, to_message

Item = dict[str, Any]

# Transactions cancelled by a collision with another one in flight (not evaluated) are retried as
# they are, this many times; a failed condition is never retried here (the caller re-reads).
CONFLICT_RETRIES = 6
# Re-read and decide again this many times when the conversation changed under us (no seen_version).
MAX_ATTEMPTS = 6


def version_condition(conv: Conversation) -> Condition:
    return Condition(
        "#version = :version AND attribute_exists(#pk)",
        {"#version": "version", "#pk": schema.PK},
        {":version": conv.version},
    )


def conversation_put(old: Conversation, new: Conversation) -> Put:
    return Put(conversation_item(new), version_condition(old))


def audit_event(conv: Conversation, spec: EventSpec, *, actor: str, at: str) -> AuditEvent:
    """One event per (kind, version) of a conversation: the id is derived from them, so a retried
    write of the same transition can't add a second one."""
    return AuditEvent(
        id=event_id_for(spec.type.value, conv.id, str(conv.version)),
        conversation_id=conv.id,
        mailbox=conv.mailbox,
        type=spec.type,
        at=at,
        actor=actor,
        data=spec.data,
    )


def load_actions(*transitions: tuple[Conversation, Conversation]) -> list[TransactAction]:
    """The ``open_count`` changes of several conversation transitions in one transaction, summed
    per agent (a transaction may touch an item only once: a merge can take one from and give one
    to the same agent)."""
    deltas: Counter[str] = Counter()
    for old, new in transitions:
        before, after = load_holder(old), load_holder(new)
        if before == after:
            continue
        if before is not None:
            deltas[before] -= 1
        if after is not None:
            deltas[after] += 1
    return [open_count_change(agent, delta) for agent, delta in sorted(deltas.items()) if delta]


def change_actions(
    old: Conversation, change: Change, *, actor: str, at: str, extra: Sequence[TransactAction] = ()
) -> list[TransactAction]:
    """The conversation at ``old.version`` becoming ``change.conversation`` (first action), the
    load counters, the events (an assignment's with its copy in the audit log), then ``extra``."""
    new = change.conversation
    events = [audit_event(new, spec, actor=actor, at=at) for spec in change.events]
    return [
        conversation_put(old, new),
        *load_actions((old, new)),
        *[Put(event_item(event)) for event in events],
        *audit_mirrors(events),
        *extra,
    ]


def transact(table: Table, actions: Sequence[TransactAction]) -> None:
    """Run a transaction, retrying only collisions (TransactionConflict); a failed condition is
    raised at once as :class:`TransactionCancelledError`."""
    for attempt in range(CONFLICT_RETRIES):
        try:
            table.transact_write(actions)
            return
        except TransactionCancelledError as exc:
            if (
                not exc.is_conflict
                or "ConditionalCheckFailed" in exc.reasons
                or attempt == CONFLICT_RETRIES - 1
            ):
                raise
            retry_on_conflict(attempt)


def commit(table: Table, conv: Conversation, actions: Sequence[TransactAction]) -> None:
    """:func:`transact` for actions whose first one is ``conv``'s versioned write. Raises
    :class:`VersionConflictError` (it changed, or kept colliding: re-read) or
    :class:`ConversationNotFoundError`."""
    try:
        transact(table, actions)
    except TransactionCancelledError as exc:
        raise conversation_error(exc, conv, index=0) from exc


def conversation_error(exc: TransactionCancelledError, conv: Conversation, *, index: int) -> Exception:
    if not exc.failed_condition_at(index):
        if exc.is_conflict:
            return VersionConflictError(conv.id, conv.version)
        return exc
    current = exc.items[index] if index < len(exc.items) else None
    if current is None or current.get("entity") != "conversation":
        return ConversationNotFoundError(conv.id)
    version = current.get("version")
    return VersionConflictError(conv.id, conv.version, int(version) if version is not None else None)


def read_conversation(table: Table, conversation_id: str) -> Conversation:
    """The conversation now (consistent), or :class:`ConversationNotFoundError`."""
    item = table.get(
        {schema.PK: keys.conversation_pk(conversation_id), schema.SK: keys.META}, consistent=True
    )
    if item is None or item.get("entity") != "conversation":
        raise ConversationNotFoundError(conversation_id)
    return to_conversation(item)


def stale_error(table: Table, current: Conversation, seen_version: int) -> StaleVersionError:
    """The 409 for a request made at ``seen_version``: the conversation now and what changed, in
    words (from its messages and versioned events; one query, only on this path)."""
    items = table.query_all(key_condition=partition(keys.conversation_pk(current.id)), consistent=True)
    messages = [to_message(item) for item in items if item.get("entity") == "message"]
    events = [to_event(item) for item in items if item.get("entity") == "event"]
    return StaleVersionError(current, seen_version, describe_changes(seen_version, current, messages, events))
