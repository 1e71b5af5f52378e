"""A team: the members who share a queue, how new work is distributed among them, and the
business hours and SLA policies that its clocks run on."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mailroom.schedule.model import ALWAYS_OPEN, WeeklySchedule

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class Strategy(StrEnum):
    MANUAL = "manual"  # nobody is picked: conversations wait in the team queue to be claimed
    ROUND_ROBIN = "round_robin"  # take turns, in order of agent id
    LEAST_LOADED = "least_loaded"  # the lowest open conversations / capacity
    SKILLS = "skills"  # only agents with every required skill, least loaded first


MAX_SLA_MINUTES = 366 * 24 * 60


class SlaPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    # At most a year: a longer clock is no SLA, and an unbounded one overflows date arithmetic (and
    # DynamoDB's 38-digit numbers).
    first_response_minutes: int = Field(gt=0, le=MAX_SLA_MINUTES)
    resolution_minutes: int = Field(gt=0, le=MAX_SLA_MINUTES)
    # Count only the team calendar's open hours (True) or wall-clock time (False).
    business_hours: bool = True


class Team(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str  # a slug: it appears in keys (TEAM#<id>) and URLs
    name: str
    strategy: Strategy = Strategy.MANUAL
    members: list[str] = Field(default_factory=list)  # agent ids; authoritative for routing
    calendar: WeeklySchedule = ALWAYS_OPEN
    sla_policies: list[SlaPolicy] = Field(default_factory=list)
    default_sla: str | None = None
    # A contact's new conversation goes to the agent who handled their last one within this many days.
    sticky_days: int = Field(default=14, ge=0)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.fullmatch(value):
            raise ValueError(f"team id {value!r} must be a slug: lower-case letters, digits and '-'")
        return value

    @field_validator("members")
    @classmethod
    def _members(cls, value: list[str]) -> list[str]:
        return sorted({member.strip().lower() for member in value if member.strip()})

    @model_validator(mode="after")
    def _known_default_sla(self) -> Team:
        ids = [policy.id for policy in self.sla_policies]
        if len(ids) != len(set(ids)):
            raise ValueError(f"team {self.id}: SLA policy ids must be unique, got {ids}")
        if self.default_sla is not None and self.default_sla not in ids:
            raise ValueError(f"team {self.id}: default_sla {self.default_sla!r} is not one of {ids}")
        return self

    def sla_policy(self, policy_id: str | None = None) -> SlaPolicy | None:
        """The named policy, or the team's default when no id is given."""
        wanted = policy_id or self.default_sla
        return next((policy for policy in self.sla_policies if policy.id == wanted), None)
