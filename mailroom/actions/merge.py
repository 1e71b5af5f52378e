"""Merge one conversation (the secondary) into another of the same contact and mailbox (the primary).

Three steps, each idempotent, so a merge that fails midway is finished by calling it again:

1. **Commit** (one transaction, conditional on both versions): the secondary is closed with
   ``merged_into``; the primary absorbs its counts, activity, tags and flags (and opens if the
   secondary was open, see :func:`~mailroom.actions.model.plan_merge`) and lists it in
   ``merged_from``; both get a ``merged`` audit event; the agents' ``open_count`` changes of both
   transitions, summed per agent. From here on the merge has happened: ingest follows
   ``merged_into`` (:func:`~mailroom.ingest.threading.find_thread`), so a customer's reply threads
   into the primary even before step 3. A retry that finds ``merged_into`` already pointing at the
   primary skips this step.
2. **Copy** the secondary's messages, notes and events into the primary's partition, under the
   same sort keys (``Put`` of the same item: a retry overwrites with identical content, never adds
   a duplicate), in transactions of at most :data:`COPY_BATCH` items and :data:`COPY_BYTES` bytes.
   The thread, the reply pipeline and anything else reading the primary's partition see them.
   Copies say where they came from (``merged_from``); copied messages are ``routable: false`` (they
   were routed in their own conversation; the route function's stream filter ignores them);
   copied events are stored as entity ``merged_event`` so the metrics consumer (which counts
   ``entity: event`` inserts) does not count them twice. The secondary keeps its own items.
3. **Repoint** the Message-ID index entries (``MSGID#<id>`` / ``MAILBOX#<mailbox>``) of the
   secondary's messages from the secondary to the primary: conditional updates
   (``conversation_id = :secondary``), so they are idempotent and never take an entry that
   points elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailroom import clock
from mailroom.actions import writes
from mailroom.actions.model import MergeRefusedError, check_merge, plan_merge
from mailroom.assignment.errors import ConversationNotFoundError, VersionConflictError
from mailroom.domain.conversation import Conversation
from mailroom.observability import logger
from mailroom.table import capacity, keys, schema
from mailroom.table.client import (
    Condition,
    ConditionFailedError,
    Put,
    Table,
    TransactAction,
    TransactionCancelledError,
    partition,
    retry_on_conflict,
    serialize,
)
from mailroom.table.items import event_item

Item = dict[str, Any]

COPY_BATCH = 100  # DynamoDB's limit of actions per transaction
COPY_BYTES = 3_500_000  # under the 4 MB limit of a transaction's items
COPIED_ENTITIES = frozenset({"message", "note", "event", "merged_event"})
MERGED_EVENT = "merged_event"

_SECONDARY = 0
_PRIMARY = 1


@dataclass
class MergeResult:
    primary: Conversation
    secondary: Conversation
    copied: int  # items copied into the primary's partition by this call
    repointed: int  # Message-ID index entries repointed by this call


class Merger:
    def __init__(self, table: Table, *, now: Callable[[], datetime] = clock.now) -> None:
        self.table = table
        self.now = now

    def merge(
        self, secondary_id: str, primary_id: str, *, actor: str, seen_version: int | None = None
    ) -> MergeResult:
        """Merge ``secondary_id`` into ``primary_id``. ``seen_version`` is the secondary's version the
        agent looked at (ignored when resuming a merge into the same primary). Raises
        ``MergeRefusedError`` / ``ConversationMergedError`` (see :func:`check_merge`),
        ``StaleVersionError``, ``ConversationNotFoundError`` (the secondary),
        ``VersionConflictError``."""
        secondary, primary = self._commit(secondary_id, primary_id, actor=actor, seen_version=seen_version)
        items = self.table.query_all(
            key_condition=partition(keys.conversation_pk(secondary.id)), consistent=True
        )
        copied = self._copy(items, secondary.id, primary.id)
        repointed = self._repoint(items, secondary, primary.id)
        logger.info(
            "merged",
            secondary=secondary.id,
            primary=primary.id,
            copied=copied,
            repointed=repointed,
            actor=actor,
        )
        return MergeResult(
            primary=writes.read_conversation(self.table, primary.id),
            secondary=secondary,
            copied=copied,
            repointed=repointed,
        )

    # -- step 1 -----------------------------------------------------------------------------------

    def _commit(
        self, secondary_id: str, primary_id: str, *, actor: str, seen_version: int | None
    ) -> tuple[Conversation, Conversation]:
        for attempt in range(writes.MAX_ATTEMPTS):
            secondary = writes.read_conversation(self.table, secondary_id)
            primary = self._primary(primary_id)
            if secondary.merged_into == primary.id:
                return secondary, primary  # committed by an earlier call: finish its other steps
            check_merge(secondary, primary)
            if seen_version is not None and secondary.version != seen_version:
                raise writes.stale_error(self.table, secondary, seen_version)
            plan = plan_merge(secondary, primary)
            at = clock.iso(self.now())
            new_secondary, new_primary = plan.secondary.conversation, plan.primary.conversation
            actions: list[TransactAction] = [
                writes.conversation_put(secondary, new_secondary),
                writes.conversation_put(primary, new_primary),
                *writes.load_actions((secondary, new_secondary), (primary, new_primary)),
            ]
            for conv, change in ((new_secondary, plan.secondary), (new_primary, plan.primary)):
                actions += [
                    Put(event_item(writes.audit_event(conv, spec, actor=actor, at=at)))
                    for spec in change.events
                ]
            try:
                writes.transact(self.table, actions)
                return new_secondary, new_primary
            except TransactionCancelledError as exc:
                if exc.failed_condition_at(_SECONDARY) and seen_version is not None:
                    raise writes.stale_error(
                        self.table, writes.read_conversation(self.table, secondary_id), seen_version
                    ) from exc
                if not (
                    exc.failed_condition_at(_SECONDARY)
                    or exc.failed_condition_at(_PRIMARY)
                    or exc.is_conflict
                ):
                    raise
                retry_on_conflict(attempt)  # one of them changed meanwhile: decide again
        raise VersionConflictError(secondary_id, seen_version or 0)

    def _primary(self, primary_id: str) -> Conversation:
        try:
            return writes.read_conversation(self.table, primary_id)
        except ConversationNotFoundError as exc:
            raise MergeRefusedError(f"no conversation {primary_id} to merge into") from exc

    # -- step 2 -----------------------------------------------------------------------------------

    def _copy(self, items: Sequence[Item], secondary_id: str, primary_id: str) -> int:
        copies = [
            copy_item(item, secondary_id, primary_id)
            for item in items
            if item.get("entity") in COPIED_ENTITIES
        ]
        batch: list[TransactAction] = []
        size = 0
        for copy in copies:
            item_size = capacity.item_size(serialize(copy))
            if batch and (len(batch) >= COPY_BATCH or size + item_size > COPY_BYTES):
                writes.transact(self.table, batch)
                batch, size = [], 0
            batch.append(Put(copy))
            size += item_size
        if batch:
            writes.transact(self.table, batch)
        return len(copies)

    # -- step 3 -----------------------------------------------------------------------------------

    def _repoint(self, items: Sequence[Item], secondary: Conversation, primary_id: str) -> int:
        message_ids = sorted(
            {
                str(item["message_id"])
                for item in items
                if item.get("entity") == "message" and item.get("message_id")
            }
        )
        index_keys = [
            {schema.PK: keys.message_id_pk(message_id), schema.SK: keys.message_id_sk(secondary.mailbox)}
            for message_id in message_ids
        ]
        repointed = 0
        for start in range(0, len(index_keys), 100):
            for entry in self.table.batch_get(index_keys[start : start + 100], consistent=True):
                if entry.get("conversation_id") != secondary.id:
                    continue  # done by an earlier call, or an entry of another conversation
                try:
                    self.table.update(
                        {schema.PK: entry[schema.PK], schema.SK: entry[schema.SK]},
                        Condition(
                            "SET #conversation = :primary, #merged = :secondary",
                            {"#conversation": "conversation_id", "#merged": "merged_from"},
                            {":primary": primary_id, ":secondary": secondary.id},
                        ),
                        Condition("#conversation = :secondary", {"#conversation": "conversation_id"}),
                    )
                    repointed += 1
                except ConditionFailedError:
                    continue
        return repointed


def copy_item(item: Item, secondary_id: str, primary_id: str) -> Item:
    """The primary's copy of one of the secondary's items (same sort key, so copying twice writes
    the same item). Copies of copies (a merged conversation merged again) keep their origin."""
    copy = {
        **item,
        schema.PK: keys.conversation_pk(primary_id),
        "conversation_id": primary_id,
        "merged_from": item.get("merged_from") or secondary_id,
    }
    entity = item.get("entity")
    if entity == "message":
        copy["routable"] = False  # routed where it arrived; the route function must not see it again
    elif entity == "event":
        copy["entity"] = MERGED_EVENT  # history, not a new event: metrics count entity=event inserts
        copy["data"] = {**(item.get("data") or {}), "merged_from": copy["merged_from"]}
    return copy
