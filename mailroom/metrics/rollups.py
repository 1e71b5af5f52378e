"""Metric rollups in the table: applying one audit event, and reading a period back.

Items (key spelling in :mod:`mailroom.table.keys`):

* ``METRICS#<mailbox>`` / ``A#<hour>``: the mailbox's counters in one UTC hour (``2026-11-23T14``);
  ``A#<hour>#U#<agent>``: one agent's counters in that mailbox and hour, sorted right after it, so
  one range query reads a period's mailbox figures and every agent's workload;
  ``T#<team>#<hour>`` and ``G#<tag>#<hour>``: the same counters for a team and for a tag.
  Counters are atomic ``ADD``\\ s: counts, and per duration a histogram (fixed buckets, see
  :data:`mailroom.metrics.model.BUCKET_BOUNDS`) and a sum of seconds.
* ``METRICSTATE#<conversation>`` / ``STATE``: the conversation's clocks, team, tags and assignee,
  and the ids of the events applied in the last days (:class:`ConversationState`).

A conversation's events in one batch are one write: its state (conditional on the version read)
and the counter items they touch, summed, in one transaction. The state names the events as
applied in that same transaction, so a redelivered event (a retried batch, a replayed stream) finds
itself in ``seen`` and writes nothing; a write that lost a race re-reads the state and decides again.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mailroom.assignment.store import AssignmentStore
from mailroom.domain.event import AuditEvent
from mailroom.faultpoints import checkpoint
from mailroom.metrics.model import (
    Contribution,
    ConversationState,
    Target,
    TargetKind,
    is_relevant,
    merge_increments,
    step,
)
from mailroom.schedule.model import ALWAYS_OPEN, WeeklySchedule
from mailroom.table import keys, schema
from mailroom.table.client import (
    Condition,
    ConditionFailedError,
    Put,
    Table,
    TransactAction,
    TransactionCancelledError,
    Update,
    retry_on_conflict,
)

Item = dict[str, Any]

MAX_ATTEMPTS = 8
MAX_TRANSACTION_ITEMS = 100
STATE_CACHE_SIZE = 2000
CALENDAR_TTL_SECONDS = 300.0


class MetricsConflictError(Exception):
    """The conversation's metric state kept changing under us: the batch is retried."""


class TooManyItemsError(Exception):
    """One write would touch more items than a transaction holds."""


def state_key(conversation_id: str) -> Item:
    return {schema.PK: keys.metric_state_pk(conversation_id), schema.SK: keys.METRIC_STATE_SK}


def state_item(state: ConversationState) -> Item:
    return {**state_key(state.conversation_id), "entity": "metric_state", **state.model_dump(mode="json")}


def counter_key(mailbox: str, target: Target, hour: str) -> Item:
    if target.kind is TargetKind.ALL:
        sort_key = keys.metrics_hour_sk(hour)
    elif target.kind is TargetKind.AGENT:
        sort_key = keys.metrics_agent_sk(hour, target.name)
    elif target.kind is TargetKind.TEAM:
        sort_key = keys.metrics_team_sk(target.name, hour)
    else:
        sort_key = keys.metrics_tag_sk(target.name, hour)
    return {schema.PK: keys.metrics_pk(mailbox), schema.SK: sort_key}


def counter_update(mailbox: str, target: Target, hour: str, increments: dict[str, int]) -> Update:
    """``ADD`` the increments to the target's item of that hour (created by the first one)."""
    names = {"#entity": "entity", "#scope": "scope", "#name": "name", "#hour": "hour"}
    values: dict[str, Any] = {
        ":entity": "metric",
        ":scope": target.kind.value,
        ":name": target.name,
        ":hour": hour,
    }
    adds = []
    for index, (field_name, amount) in enumerate(sorted(increments.items())):
        names[f"#c{index}"] = field_name
        values[f":c{index}"] = amount
        adds.append(f"#c{index} :c{index}")
    expression = "SET #entity = :entity, #scope = :scope, #name = :name, #hour = :hour ADD " + ", ".join(adds)
    return Update(counter_key(mailbox, target, hour), Condition(expression, names, values))


class TeamCalendars:
    """Team business-hours calendars, read once per team and kept a few minutes per container."""

    def __init__(self, table: Table, *, ttl: float = CALENDAR_TTL_SECONDS) -> None:
        self._store = AssignmentStore(table)
        self._ttl = ttl
        self._cache: dict[str, tuple[float, WeeklySchedule]] = {}

    def __call__(self, team_id: str | None) -> WeeklySchedule:
        if not team_id:
            return ALWAYS_OPEN
        cached = self._cache.get(team_id)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        team = self._store.get_team(team_id, consistent=False)
        calendar = team.calendar if team is not None else ALWAYS_OPEN
        self._cache[team_id] = (time.monotonic(), calendar)
        return calendar


@dataclass
class Applied:
    """What applying one event did (``duplicate``: it had been applied before: nothing written)."""

    event: AuditEvent
    contributions: list[Contribution] = field(default_factory=list)
    duplicate: bool = False


@dataclass
class Written:
    """One write: the events it applied and how many items it wrote."""

    applied: list[Applied]
    items: int = 0


class MetricsWriter:
    """Applies audit events to the rollups. Keeps the states it wrote (a bounded cache per
    container): a later batch with the same conversation needs no read; a stale entry only costs a
    failed condition and a re-read."""

    def __init__(
        self, table: Table, *, calendar_for: Callable[[str | None], WeeklySchedule] | None = None
    ) -> None:
        self.table = table
        self.calendar_for = calendar_for or TeamCalendars(table)
        self._states: OrderedDict[str, ConversationState] = OrderedDict()

    def apply(self, event: AuditEvent) -> Applied:
        """Apply one event (one write, or none for an irrelevant or redelivered event)."""
        return self.apply_batch([event])[0]

    def apply_batch(self, events: Sequence[AuditEvent]) -> list[Applied]:
        """Apply a batch: each conversation's events, in their order, in **one** write (its state
        and every counter item they touch, summed), so a conversation routed, assigned and
        acknowledged within one batch costs one transaction, not five. Returns one
        :class:`Applied` per event, in the batch's order. Raises on a write that can't be made
        (the batch is retried: what was written is recognised and skipped)."""
        by_conversation: dict[str, list[AuditEvent]] = {}
        for event in events:
            by_conversation.setdefault(event.conversation_id, []).append(event)
        done: dict[int, Applied] = {}
        for group in by_conversation.values():
            for written in self._apply_conversation(group):
                done.update((id(applied.event), applied) for applied in written.applied)
            checkpoint("metrics.after_conversation_written")
        return [done.get(id(event), Applied(event)) for event in events]

    def _apply_conversation(self, events: list[AuditEvent]) -> list[Written]:
        relevant = [event for event in events if is_relevant(event)]
        if not relevant:
            return []
        try:
            return [self._write_events(relevant)]
        except TooManyItemsError:  # a huge batch of one conversation: one write per event instead
            return [self._write_events([event]) for event in relevant]

    def _write_events(self, events: list[AuditEvent]) -> Written:
        conversation_id = events[0].conversation_id
        for attempt in range(MAX_ATTEMPTS):
            state = self._state(conversation_id)
            current, applied = state, []
            for event in events:
                result = step(current, event, calendar_for=self.calendar_for)
                applied.append(Applied(event, result.contributions, duplicate=result.duplicate))
                current = result.state
            if current is None or all(one.duplicate for one in applied):
                return Written(applied)
            new = current.model_copy(update={"version": (state.version if state else 0) + 1})
            actions: list[TransactAction] = [Put(state_item(new), _version_condition(state))]
            contributions = [c for one in applied for c in one.contributions]
            for (target, hour), increments in sorted(merge_increments(contributions).items()):
                actions.append(counter_update(new.mailbox, target, hour, increments))
            if len(actions) > MAX_TRANSACTION_ITEMS and len(events) > 1:
                raise TooManyItemsError(conversation_id)
            try:
                self._write(actions)
            except ConditionFailedError:
                self._forget(conversation_id)  # someone else moved it: read it again
                continue
            except TransactionCancelledError as exc:
                if exc.failed_condition_at(0):
                    self._forget(conversation_id)
                    continue
                if exc.is_conflict:  # collided with another writer of a counter item: try again
                    retry_on_conflict(attempt)
                    continue
                raise
            self._remember(new)
            return Written(applied, items=len(actions))
        raise MetricsConflictError(f"metric state of {conversation_id} kept changing")

    # -- helpers ------------------------------------------------------------------------------------

    def _write(self, actions: list[TransactAction]) -> None:
        if len(actions) == 1:  # the state alone (a team, a tag, an SLA due time): no transaction
            only = actions[0]
            assert isinstance(only, Put)
            self.table.put(only.item, only.condition)
        else:
            self.table.transact_write(actions)

    def _cache_key(self, conversation_id: str) -> str:
        return f"{self.table.name}/{conversation_id}"

    def _state(self, conversation_id: str) -> ConversationState | None:
        cached = self._states.get(self._cache_key(conversation_id))
        if cached is not None:
            self._states.move_to_end(self._cache_key(conversation_id))
            return cached
        item = self.table.get(state_key(conversation_id), consistent=True)
        return ConversationState.model_validate(item) if item else None

    def _remember(self, state: ConversationState) -> None:
        key = self._cache_key(state.conversation_id)
        self._states[key] = state
        self._states.move_to_end(key)
        while len(self._states) > STATE_CACHE_SIZE:
            self._states.popitem(last=False)

    def _forget(self, conversation_id: str) -> None:
        self._states.pop(self._cache_key(conversation_id), None)


def _version_condition(state: ConversationState | None) -> Condition:
    if state is None or state.version == 0:
        return Condition("attribute_not_exists(#pk)", {"#pk": schema.PK})
    return Condition("#version = :version", {"#version": "version"}, {":version": state.version})


# -- reads ------------------------------------------------------------------------------------------

# Sorts after every character of an email address, a team id or a tag.
_HIGH = "~"


def read_counters(
    table: Table, mailbox: str, target: Target, first_hour: str, last_hour: str, *, agents_only: bool = False
) -> list[Item]:
    """The counter items of one mailbox and scope for the UTC hours ``first_hour`` to ``last_hour``
    (inclusive): one query, paged. For :data:`TargetKind.ALL` and :data:`TargetKind.AGENT` it is
    the same range: the mailbox-wide hours with every agent's items (``scope`` says which is
    which); ``agents_only`` leaves the mailbox-wide ones out (they are still read)."""
    if target.kind in {TargetKind.ALL, TargetKind.AGENT}:
        low, high = keys.metrics_hour_sk(first_hour), keys.metrics_agent_sk(last_hour, _HIGH)
    elif target.kind is TargetKind.TEAM:
        low, high = (
            keys.metrics_team_sk(target.name, first_hour),
            keys.metrics_team_sk(target.name, last_hour),
        )
    else:
        low, high = keys.metrics_tag_sk(target.name, first_hour), keys.metrics_tag_sk(target.name, last_hour)
    only_agents = (
        Condition("#scope = :agent", {"#scope": "scope"}, {":agent": TargetKind.AGENT.value})
        if agents_only
        else None
    )
    return table.query_all(
        key_condition=Condition(
            "#pk = :pk AND #sk BETWEEN :low AND :high",
            {"#pk": schema.PK, "#sk": schema.SK},
            {":pk": keys.metrics_pk(mailbox), ":low": low, ":high": high},
        ),
        filter_=only_agents,
        max_items=100_000,
    )
