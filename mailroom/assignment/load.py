"""An agent's load: the stored ``open_count`` and the rule that keeps it true.

``open_count`` on ``AGENT#<id>``/``META`` always equals the number of conversations assigned to that
agent whose status is in :data:`LOAD_STATUSES`. Every write that changes a conversation's assignee
or status changes the counter in the same transaction, at the conversation's read version, so the
two can't drift: use :func:`status_change_actions` for it.

Open, pending (waiting on the customer) and snoozed count: the agent still owns the outcome and
will get the conversation back. Closed is done; spam and quarantined are not work.

Capacity limits only *new assignments* (the store's conditional increment). A closed conversation
reopened by the customer goes back to its assignee even when that takes them over capacity:
refusing the customer's mail, or silently reassigning it, would be worse.
"""

from __future__ import annotations

from typing import Any

from mailroom.assignment.errors import (
    AgentAtCapacityError,
    AgentInactiveError,
    AgentUnavailableError,
    UnknownAgentError,
)
from mailroom.domain.conversation import Conversation, Status
from mailroom.table import keys, schema
from mailroom.table.client import Condition, TransactAction, Update

LOAD_STATUSES = frozenset({Status.OPEN, Status.PENDING, Status.SNOOZED})

OPEN_COUNT = "open_count"


def agent_key(agent_id: str) -> dict[str, Any]:
    return {schema.PK: keys.agent_pk(agent_id), schema.SK: keys.META}


def counts_toward_load(status: Status) -> bool:
    return status in LOAD_STATUSES


def load_holder(conv: Conversation) -> str | None:
    """The agent whose ``open_count`` includes ``conv``, if any."""
    return conv.assignee.lower() if conv.assignee and counts_toward_load(conv.status) else None


def open_count_change(agent_id: str, delta: int) -> Update:
    """An unconditional ``ADD``: the caller's transaction condition (the conversation's version)
    is what makes it exact. Agents are deactivated, never deleted; should an agent item be missing,
    the counter still counts that id's conversations and a later profile write keeps it."""
    return Update(
        agent_key(agent_id),
        Condition("ADD #open :delta", {"#open": OPEN_COUNT}, {":delta": delta}),
    )


def status_change_actions(old: Conversation, new: Conversation) -> list[TransactAction]:
    """The agent counter updates implied by ``old`` becoming ``new`` (assignee and/or status).

    Put them in the same transaction as the conversation write, and make that write conditional on
    ``old.version``; otherwise a concurrent change could count twice or not at all. Examples:
    close → the assignee -1; reopen → the assignee +1; reassign while open → old -1, new +1.
    """
    before, after = load_holder(old), load_holder(new)
    if before == after:
        return []
    actions: list[TransactAction] = []
    if before is not None:
        actions.append(open_count_change(before, -1))
    if after is not None:
        actions.append(open_count_change(after, +1))
    return actions


def taking_condition(*, respect_capacity: bool) -> Condition:
    """The agent taking a conversation exists, is active and (when it adds load) has room. Capacity
    is on the same item, so routing, claims and claim-by-reply are refused by one condition."""
    condition = Condition(
        "attribute_exists(#pk) AND #active = :true", {"#pk": schema.PK, "#active": "active"}, {":true": True}
    )
    if respect_capacity:
        condition.expression += " AND (attribute_not_exists(#open) OR #open < #capacity)"
        condition.names.update({"#open": OPEN_COUNT, "#capacity": "capacity"})
    return condition


def agent_error(agent: dict[str, Any] | None, agent_id: str) -> AgentUnavailableError:
    """Why an agent's taking condition failed, from its item as it was (ALL_OLD)."""
    if agent is None or agent.get("entity") != "agent":
        return UnknownAgentError(agent_id)
    if agent.get("active") is not True:
        return AgentInactiveError(agent_id)
    return AgentAtCapacityError(agent_id, int(agent.get(OPEN_COUNT, 0)), int(agent.get("capacity", 0)))
