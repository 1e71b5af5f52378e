"""Table access for agents, teams and assignments.

Item layout (one table, see ``docs``/DESIGN section 3):

* ``AGENT#<id>`` / ``META`` (entity ``agent``): the :class:`Agent` profile and its ``open_count``.
* ``TEAM#<id>`` / ``META`` (entity ``team``): the :class:`Team` and its ``rr_counter``.
* ``TEAM#<id>`` / ``MEMBER#<agent>`` (entity ``team_member``): one per member, so a team's members
  are one query; written with the team.
* ``DIR#TEAM`` / ``<id>`` (entity ``team_directory``): lists teams with one query.

Profile writes never touch the counters (``open_count``, ``rr_counter``): they are ``SET`` updates
that leave those attributes alone, so an admin saving an agent can't undo a concurrent assignment.

Assignment is one transaction: the conversation's next state at the version that was read (and
still unassigned, for claims and routing), the new agent's ``open_count + 1`` only if the agent is
active and below capacity, the previous agent's ``open_count - 1``, and the audit event. Either all
of it happens or none, so a conversation is never held twice, an agent is never routed past
capacity, and ``open_count`` always equals what the ``ByAssigneeStatus`` index shows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from mailroom import clock
from mailroom.assignment.errors import (
    AgentUnavailableError,
    AlreadyAssignedError,
    AssignmentError,
    ConversationNotFoundError,
    UnknownTeamError,
    VersionConflictError,
)
from mailroom.assignment.load import (
    OPEN_COUNT,
    agent_error,
    agent_key,
    counts_toward_load,
    open_count_change,
    status_change_actions,
    taking_condition,
)
from mailroom.assignment.strategy import Choice
from mailroom.audit.mirror import audit_mirror
from mailroom.domain.agent import Agent
from mailroom.domain.conversation import Conversation
from mailroom.domain.event import AuditEvent, EventType
from mailroom.domain.team import Team
from mailroom.ids import event_id_for
from mailroom.table import keys, schema
from mailroom.table.client import (
    Condition,
    ConditionCheck,
    ConditionFailedError,
    Delete,
    Put,
    Table,
    TransactAction,
    TransactionCancelledError,
    Update,
    partition,
    retry_on_conflict,
)
from mailroom.table.expressions import set_fields
from mailroom.table.items import conversation_item, event_item, get_conversation
from mailroom.table.process_cache import directory_cache

__all__ = ["AssignmentStore", "status_change_actions"]

Item = dict[str, Any]

MEMBER_PREFIX = "MEMBER#"
DIRECTORY_TEAMS = "DIR#TEAM"
RR_COUNTER = "rr_counter"

# Positions in the assignment transaction, for reading its cancellation reasons.
_CONVERSATION = 0
_NEW_AGENT = 1

# A transaction that collides with another one in flight on the same items is cancelled with
# TransactionConflict, not evaluated: it is retried as is, a few times, before giving up.
_CONFLICT_RETRIES = 6
_TRANSACT_LIMIT = 100


def team_key(team_id: str) -> Item:
    return {schema.PK: keys.team_pk(team_id), schema.SK: keys.META}


def member_key(team_id: str, agent_id: str) -> Item:
    return {schema.PK: keys.team_pk(team_id), schema.SK: f"{MEMBER_PREFIX}{agent_id.lower()}"}


def team_directory_key(team_id: str) -> Item:
    return {schema.PK: DIRECTORY_TEAMS, schema.SK: team_id}


def _version_condition(conv: Conversation, *, only_if_unassigned: bool) -> Condition:
    expression = "#version = :version"
    names = {"#version": "version"}
    if only_if_unassigned:
        expression += " AND attribute_not_exists(#assignee)"
        names["#assignee"] = "assignee"
    return Condition(expression, names, {":version": conv.version})


class AssignmentStore:
    def __init__(self, table: Table, *, now: Callable[[], datetime] = clock.now) -> None:
        self.table = table
        self.now = now

    # -- agents ---------------------------------------------------------------------------------

    def put_agent(self, agent: Agent) -> None:
        """Create or update an agent's profile; its ``open_count`` is kept (0 for a new agent)."""
        fields = agent.model_dump(mode="json", exclude={OPEN_COUNT})
        self.table.update(agent_key(agent.id), set_fields("agent", fields, counter=OPEN_COUNT))

    def get_agent(self, agent_id: str, *, consistent: bool = True) -> Agent | None:
        item = self.table.get(agent_key(agent_id), consistent=consistent)
        return Agent.model_validate(item) if item and item.get("entity") == "agent" else None

    def get_agents(self, agent_ids: Sequence[str], *, consistent: bool = True) -> list[Agent]:
        """The agents that exist among ``agent_ids``, in that order (missing ids are left out)."""
        wanted = list(dict.fromkeys(agent_id.lower() for agent_id in agent_ids))
        found: dict[str, Agent] = {}
        for start in range(0, len(wanted), 100):
            chunk = [agent_key(agent_id) for agent_id in wanted[start : start + 100]]
            for item in self.table.batch_get(chunk, consistent=consistent):
                if item.get("entity") == "agent":
                    agent = Agent.model_validate(item)
                    found[agent.id] = agent
        return [found[agent_id] for agent_id in wanted if agent_id in found]

    # -- teams ----------------------------------------------------------------------------------

    def put_team(self, team: Team) -> None:
        """Create or update a team with its member items and directory entry; members no longer
        listed lose their member item. Atomic for teams of up to 97 members (one transaction)."""
        fields = team.model_dump(mode="json")
        current = set(self._member_ids(team.id))
        actions: list[TransactAction] = [
            Update(team_key(team.id), set_fields("team", fields, counter=RR_COUNTER)),
            Put(
                {
                    **team_directory_key(team.id),
                    "entity": "team_directory",
                    "id": team.id,
                    "name": team.name,
                }
            ),
        ]
        for agent_id in team.members:
            actions.append(
                Put(
                    {
                        **member_key(team.id, agent_id),
                        "entity": "team_member",
                        "team": team.id,
                        "agent": agent_id,
                    }
                )
            )
        actions += [Delete(member_key(team.id, agent_id)) for agent_id in sorted(current - set(team.members))]
        for start in range(0, len(actions), _TRANSACT_LIMIT):
            self._transact_retrying(actions[start : start + _TRANSACT_LIMIT])
        directory_cache.forget()

    def get_team(self, team_id: str, *, consistent: bool = True) -> Team | None:
        item = self.table.get(team_key(team_id), consistent=consistent)
        return Team.model_validate(item) if item and item.get("entity") == "team" else None

    def list_teams(self) -> list[Team]:
        entries = self.table.query_all(
            key_condition=Condition("#pk = :pk", {"#pk": schema.PK}, {":pk": DIRECTORY_TEAMS})
        )
        ids = [str(entry[schema.SK]) for entry in entries]
        teams: list[Team] = []
        for start in range(0, len(ids), 100):
            items = self.table.batch_get([team_key(team_id) for team_id in ids[start : start + 100]])
            teams += [Team.model_validate(item) for item in items if item.get("entity") == "team"]
        return sorted(teams, key=lambda team: team.id)

    def list_teams_cached(self, max_age_s: float) -> list[Team]:
        """:meth:`list_teams`, reusing this process's last read while younger than ``max_age_s``
        (0: always read); see :mod:`mailroom.table.process_cache`. Read-only for callers."""
        return directory_cache.get(f"teams:{self.table.name}", max_age_s, self.list_teams)

    def team_agents(self, team_id: str, *, consistent: bool = True) -> list[Agent]:
        """The team's members that have an agent profile, in id order."""
        return self.get_agents(self._member_ids(team_id), consistent=consistent)

    def next_rr_counter(self, team_id: str) -> int:
        """This routing's turn in the team's round robin: 0, 1, 2, ... (an atomic ``ADD``), so two
        concurrent routings start their rotation at different members."""
        try:
            item = self.table.update(
                team_key(team_id),
                Condition("ADD #rr :one", {"#rr": RR_COUNTER}, {":one": 1}),
                Condition("attribute_exists(#pk)", {"#pk": schema.PK}),
            )
        except ConditionFailedError as exc:
            raise UnknownTeamError(team_id) from exc
        return int(item[RR_COUNTER]) - 1

    def _member_ids(self, team_id: str) -> list[str]:
        items = self.table.query_all(
            key_condition=partition(keys.team_pk(team_id), MEMBER_PREFIX),
            consistent=True,
        )
        return [str(item[schema.SK])[len(MEMBER_PREFIX) :] for item in items]

    # -- conversations ----------------------------------------------------------------------------

    def get_conversation(self, conversation_id: str) -> Conversation | None:
        return get_conversation(self.table, conversation_id)

    def assign(
        self,
        conv: Conversation,
        agent_id: str,
        *,
        actor: str,
        reason: str,
        rule_id: str | None = None,
        strategy: str | None = None,
        only_if_unassigned: bool = True,
        respect_capacity: bool = True,
    ) -> Conversation:
        """Give ``conv`` (as read, at ``conv.version``) to ``agent_id``; returns the new state.

        Raises :class:`AlreadyAssignedError` (``only_if_unassigned`` and someone holds it),
        :class:`VersionConflictError` (changed since read: re-read, decide again),
        :class:`AgentAtCapacityError` / :class:`AgentInactiveError` / :class:`UnknownAgentError`
        (try the next candidate). ``respect_capacity=False`` is for an admin's explicit override.
        Assigning to the current assignee with ``only_if_unassigned=False`` changes nothing.
        """
        agent_id = agent_id.strip().lower()
        previous = conv.assignee.lower() if conv.assignee else None
        if previous is not None and only_if_unassigned:
            raise AlreadyAssignedError(conv.id, previous)
        if previous == agent_id:
            return conv
        new = conv.model_copy(update={"assignee": agent_id, "version": conv.version + 1})
        counted = counts_toward_load(conv.status)
        taking = taking_condition(respect_capacity=respect_capacity and counted)
        agent_action: TransactAction = (
            Update(
                agent_key(agent_id), Condition("ADD #open :one", {"#open": OPEN_COUNT}, {":one": 1}), taking
            )
            if counted
            else ConditionCheck(agent_key(agent_id), taking)  # e.g. a closed conversation: no load
        )
        actions: list[TransactAction] = [
            Put(conversation_item(new), _version_condition(conv, only_if_unassigned=only_if_unassigned)),
            agent_action,
        ]
        if previous is not None and counted:
            actions.append(open_count_change(previous, -1))
        data = {
            "agent": agent_id,
            "previous": previous,
            "reason": reason,
            "rule_id": rule_id,
            "strategy": strategy,
            "version": new.version,
        }
        event = self._event(new, EventType.ASSIGNED, actor, data)
        actions += [Put(event_item(event)), audit_mirror(event)]
        try:
            self._transact_retrying(actions, conv=conv)
        except TransactionCancelledError as exc:
            mapped = _assignment_error(exc, conv, agent_id, only_if_unassigned=only_if_unassigned)
            if mapped is None:
                raise
            raise mapped from exc
        return new

    def assign_first_available(
        self, conv: Conversation, choice: Choice, *, actor: str, rule_id: str | None = None
    ) -> Conversation | None:
        """Try ``choice``'s candidates in order, falling through agents that turn out full or
        inactive at write time; None when none could take it (it stays queued). Raises
        :class:`AlreadyAssignedError` / :class:`VersionConflictError` like :meth:`assign`: the
        conversation itself changed, so the decision must be made again on a fresh read."""
        for candidate in choice.candidates:
            try:
                return self.assign(
                    conv,
                    candidate.agent_id,
                    actor=actor,
                    reason=candidate.reason,
                    rule_id=rule_id,
                    strategy=candidate.basis,
                )
            except AgentUnavailableError:
                continue
        return None

    def claim(
        self,
        conversation_id: str,
        agent_id: str,
        *,
        respect_capacity: bool = True,
        attempts: int = 5,
        seen_version: int | None = None,
    ) -> Conversation:
        """An agent takes an unassigned conversation (the API's claim); idempotent for the holder.

        Retries a version conflict (someone tagged or replied meanwhile) on a fresh read, a bounded
        number of times; raises :class:`AlreadyAssignedError` naming the holder when another agent
        has it (the API's 409), or :class:`ConversationNotFoundError`. With ``seen_version`` (the
        version the agent looked at), a conversation at any other version is not claimed: raises
        :class:`VersionConflictError` at once instead of retrying.
        """
        agent_id = agent_id.strip().lower()
        read_version = 0
        for attempt in range(max(attempts, 1)):
            conv = self.get_conversation(conversation_id)
            if conv is None:
                raise ConversationNotFoundError(conversation_id)
            read_version = conv.version
            if conv.assignee and conv.assignee.lower() == agent_id:
                return conv
            if seen_version is not None and conv.version != seen_version:
                raise VersionConflictError(conversation_id, seen_version, conv.version)
            try:
                return self.assign(
                    conv,
                    agent_id,
                    actor=agent_id,
                    reason="claimed",
                    strategy="claim",
                    respect_capacity=respect_capacity,
                )
            except AlreadyAssignedError as exc:
                if exc.holder != agent_id:
                    raise
                # Our own concurrent claim (another tab) won: the next read returns it.
            except VersionConflictError:
                if seen_version is not None:
                    raise
                retry_on_conflict(attempt)
        raise VersionConflictError(conversation_id, read_version)  # kept changing under us

    def unassign(self, conv: Conversation, *, actor: str, reason: str) -> Conversation:
        """Put ``conv`` (as read) back in the queue; the holder's load drops with it."""
        if conv.assignee is None:
            return conv
        new = conv.model_copy(update={"assignee": None, "version": conv.version + 1})
        data = {"agent": None, "previous": conv.assignee.lower(), "reason": reason, "version": new.version}
        actions: list[TransactAction] = [
            Put(conversation_item(new), _version_condition(conv, only_if_unassigned=False)),
            *status_change_actions(conv, new),
        ]
        event = self._event(new, EventType.UNASSIGNED, actor, data)
        actions += [Put(event_item(event)), audit_mirror(event)]
        try:
            self._transact_retrying(actions, conv=conv)
        except TransactionCancelledError as exc:
            mapped = _assignment_error(exc, conv, None, only_if_unassigned=False)
            if mapped is None:
                raise
            raise mapped from exc
        return new

    # -- helpers --------------------------------------------------------------------------------

    def _event(self, conv: Conversation, kind: EventType, actor: str, data: Item) -> AuditEvent:
        # One event per version transition: the id is derived from it, like ingest's ids.
        return AuditEvent(
            id=event_id_for(kind.value, conv.id, str(conv.version)),
            conversation_id=conv.id,
            mailbox=conv.mailbox,
            type=kind,
            at=clock.iso(self.now()),
            actor=actor,
            data={name: value for name, value in data.items() if value is not None},
        )

    def _transact_retrying(
        self, actions: Sequence[TransactAction], *, conv: Conversation | None = None
    ) -> None:
        """Run a transaction, retrying only TransactionConflict (collided, not evaluated). A failed
        condition is raised at once. Still colliding after the retries: a version conflict."""
        for attempt in range(_CONFLICT_RETRIES):
            try:
                self.table.transact_write(actions)
                return
            except TransactionCancelledError as exc:
                if not exc.is_conflict or "ConditionalCheckFailed" in exc.reasons:
                    raise
                if attempt == _CONFLICT_RETRIES - 1:
                    if conv is None:
                        raise
                    raise VersionConflictError(conv.id, conv.version) from exc
                retry_on_conflict(attempt)


def _assignment_error(
    exc: TransactionCancelledError, conv: Conversation, agent_id: str | None, *, only_if_unassigned: bool
) -> AssignmentError | None:
    """Which condition failed, from the cancellation reasons and the items as they were (ALL_OLD)."""
    if exc.failed_condition_at(_CONVERSATION):
        return _conversation_error(_old_item(exc, _CONVERSATION), conv, only_if_unassigned=only_if_unassigned)
    if agent_id and exc.failed_condition_at(_NEW_AGENT):
        return agent_error(_old_item(exc, _NEW_AGENT), agent_id)
    return None


def _old_item(exc: TransactionCancelledError, index: int) -> Item | None:
    return exc.items[index] if index < len(exc.items) else None


def _conversation_error(
    current: Item | None, conv: Conversation, *, only_if_unassigned: bool
) -> AssignmentError:
    if current is None or current.get("entity") != "conversation":
        return ConversationNotFoundError(conv.id)
    holder = current.get("assignee")
    if only_if_unassigned and holder:
        return AlreadyAssignedError(conv.id, str(holder))
    version = current.get("version")
    return VersionConflictError(conv.id, conv.version, int(version) if version is not None else None)
