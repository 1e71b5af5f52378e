"""An agent: a person who works conversations, with the facts routing needs to pick one.

Availability is a pure function of the agent and a moment, so routing decisions can be tested
without a table and explained in the audit log. ``open_count`` is the one stored counter: the
assignment store keeps it equal to the agent's assigned conversations that count as load (see
:mod:`mailroom.assignment.load`); it is read here only to compare against ``capacity``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from mailroom.schedule.hours import is_open
from mailroom.schedule.model import WeeklySchedule

Role = Literal["admin", "agent", "finance"]


class AgentStatus(StrEnum):
    """What the agent says about themselves right now (set in the UI), on top of their schedule."""

    AVAILABLE = "available"
    AWAY = "away"  # signed in but not taking new work (lunch, a call)
    OFFLINE = "offline"


class OutOfOffice(BaseModel):
    """An absence, ``start`` inclusive and ``end`` exclusive; ``replacement`` takes the absent
    agent's sticky and rule-directed work meanwhile (an agent id, or None for "route normally")."""

    model_config = ConfigDict(frozen=True)

    start: AwareDatetime
    end: AwareDatetime
    replacement: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> OutOfOffice:
        if self.end <= self.start:
            raise ValueError(f"out-of-office end {self.end} must be after its start {self.start}")
        return self

    @field_validator("replacement")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.strip().lower() if value else None

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end


class Agent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str  # the agent's email address, lower-case: also how conversations name their assignee
    name: str = ""
    role: Role = "agent"
    active: bool = True  # deactivated agents keep their history but can't be assigned
    status: AgentStatus = AgentStatus.AVAILABLE
    schedule: WeeklySchedule | None = None  # None: always working
    out_of_office: list[OutOfOffice] = Field(default_factory=list)
    capacity: int = Field(default=10, ge=0)  # most open conversations routing may give them
    skills: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)
    open_count: int = 0

    @field_validator("id")
    @classmethod
    def _id_lower(cls, value: str) -> str:
        value = value.strip().lower()
        if not value:
            raise ValueError("an agent id (their email address) is required")
        return value

    @field_validator("skills")
    @classmethod
    def _skills_lower(cls, value: list[str]) -> list[str]:
        # Skills are compared as sets of words: "DE" and "de" are the same skill.
        return sorted({skill.strip().lower() for skill in value if skill.strip()})


def absence_at(agent: Agent, at: datetime) -> OutOfOffice | None:
    """The out-of-office period covering ``at``; of overlapping ones, the one that started last
    (the most specific, e.g. a sick day inside a long trip with a different replacement)."""
    covering = [period for period in agent.out_of_office if period.covers(at)]
    return max(covering, key=lambda period: period.start) if covering else None


def is_working(agent: Agent, at: datetime) -> bool:
    """Within the agent's schedule (an agent without one works around the clock)."""
    return agent.schedule is None or is_open(agent.schedule, at)


def is_available(agent: Agent, at: datetime) -> bool:
    """May routing give this agent new work at ``at``? Capacity is checked separately, because the
    store re-checks it atomically at write time and a full agent is still "available" for display."""
    return (
        agent.active
        and agent.status is AgentStatus.AVAILABLE
        and is_working(agent, at)
        and absence_at(agent, at) is None
    )


def replacement_for(agent: Agent, at: datetime) -> str | None:
    """Who stands in for ``agent`` at ``at``: the replacement named by the covering out-of-office
    period, if any. Only absences name replacements; "away" or outside hours routes normally."""
    period = absence_at(agent, at)
    if period is None or period.replacement == agent.id:
        return None
    return period.replacement


def has_room(agent: Agent) -> bool:
    return agent.open_count < agent.capacity
