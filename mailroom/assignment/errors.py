"""Why an assignment write did not happen, in terms a caller can act on.

* :class:`AlreadyAssignedError`: someone holds the conversation; stop (the API answers 409 with
  ``holder``).
* :class:`VersionConflictError`: the conversation changed since it was read; re-read and decide again.
* :class:`AgentUnavailableError` and its kinds: this agent can't take it; try the next candidate.
"""

from __future__ import annotations


class AssignmentError(Exception):
    """Base of every refusal of the assignment store."""


class ConversationNotFoundError(AssignmentError):
    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"conversation {conversation_id} does not exist")
        self.conversation_id = conversation_id


class AlreadyAssignedError(AssignmentError):
    """The conversation is held by ``holder`` (read from the item that failed the condition)."""

    def __init__(self, conversation_id: str, holder: str) -> None:
        super().__init__(f"conversation {conversation_id} is already assigned to {holder}")
        self.conversation_id = conversation_id
        self.holder = holder


class VersionConflictError(AssignmentError):
    """The conversation is no longer at the version that was read (or the write kept colliding with
    concurrent transactions): re-read it and retry."""

    def __init__(self, conversation_id: str, expected: int, current: int | None = None) -> None:
        seen = f", it is now at {current}" if current is not None else ""
        super().__init__(f"conversation {conversation_id} changed: expected version {expected}{seen}")
        self.conversation_id = conversation_id
        self.expected = expected
        self.current = current


class AgentUnavailableError(AssignmentError):
    """This agent can't take the conversation; the next candidate may."""

    def __init__(self, agent: str, message: str) -> None:
        super().__init__(message)
        self.agent = agent


class AgentAtCapacityError(AgentUnavailableError):
    def __init__(self, agent: str, open_count: int, capacity: int) -> None:
        super().__init__(agent, f"agent {agent} is at capacity ({open_count} open of {capacity})")
        self.open_count = open_count
        self.capacity = capacity


class AgentInactiveError(AgentUnavailableError):
    def __init__(self, agent: str) -> None:
        super().__init__(agent, f"agent {agent} is deactivated")


class UnknownAgentError(AgentUnavailableError):
    def __init__(self, agent: str) -> None:
        super().__init__(agent, f"no agent {agent}")


class UnknownTeamError(AssignmentError):
    def __init__(self, team_id: str) -> None:
        super().__init__(f"no team {team_id}")
        self.team_id = team_id
