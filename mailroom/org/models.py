"""What an admin sends and gets back when managing mailboxes, people and teams.

These models are the JSON API's request and response bodies (so they appear in the OpenAPI
document), the admin pages' form parsing target and the CLI's. Checks that need no table live
here (a signature must render, addresses must look like addresses); checks against the table (a
team that exists, a canned response that exists) are the service's, reported at the same field.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from mailroom.auth.model import Access, Role
from mailroom.canned.model import Person, TemplateContext
from mailroom.canned.render import TemplateError, render_template
from mailroom.domain.agent import AgentStatus, OutOfOffice
from mailroom.domain.team import SlaPolicy, Strategy, Team
from mailroom.schedule.model import WeeklySchedule

_ADDRESS = re.compile(r"^[^@\s<>\",;()\[\]]+@[^@\s<>\",;()\[\]]+$")
_SLUG = r"^[a-z0-9][a-z0-9-]{0,63}$"
MAX_RETENTION_DAYS = 36_500


def _address(value: str) -> str:
    value = value.strip().lower()
    if not _ADDRESS.fullmatch(value) or len(value) > 254:
        raise ValueError(f"{value!r} is not an email address")
    return value


def _optional_slug(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


Address = Annotated[str, AfterValidator(_address)]
OptionalId = Annotated[str | None, AfterValidator(_optional_slug)]

# What a signature is checked against when it is saved: every variable a real reply provides.
SAMPLE_CONTEXT = TemplateContext(
    customer=Person(name="Maria Lopez", first_name="Maria", email="maria@example.com"),
    agent=Person(
        name="Sam Agent",
        first_name="Sam",
        email="sam@example.com",
        title="Support Engineer",
        company="Acme",
        calendar_url="https://cal.example.com/sam",
    ),
    mailbox={"address": "support@example.com", "name": "Support"},
    conversation={"id": "c0000000000a", "subject": "Can't log in"},
)


def check_signature(value: str | None) -> str | None:
    """A signature is a template: it must render with the variables a reply has. The error names
    the line (``line 2: unknown variable: 'agent' has no attribute 'phone'``)."""
    if value is None or not value.strip():
        return None
    try:
        render_template(value, SAMPLE_CONTEXT)
    except TemplateError as exc:
        raise ValueError(str(exc)) from exc
    return value


# -- mailboxes --------------------------------------------------------------------------------------


class MailboxSettings(BaseModel):
    """A mailbox's settings (everything but its address)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200, description="The display name in From headers.")
    aliases: list[Address] = Field(default_factory=list, max_length=50)
    signature: Annotated[str | None, AfterValidator(check_signature)] = Field(
        default=None, max_length=5_000, description="A Jinja template, rendered like canned responses."
    )
    team: OptionalId = Field(default=None, description="The team that owns the mailbox's conversations.")
    sla_policy: OptionalId = Field(default=None, description="One of the owning team's SLA policy ids.")
    auto_ack: OptionalId = Field(
        default=None, description="A canned response sent as the automatic acknowledgement; none: off."
    )
    access: dict[Address, Access] = Field(default_factory=dict, description="email -> access level")
    disabled: bool = Field(default=False, description="A disabled mailbox refuses new mail.")
    retention_days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_RETENTION_DAYS,
        description="Raw mail and bodies of conversations inactive for longer are purged by the "
        "scheduled job (metrics and costs stay); none: kept forever.",
    )

    @field_validator("aliases")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class MailboxCreate(MailboxSettings):
    address: Address


class MailboxPatch(BaseModel):
    """Only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    aliases: list[Address] | None = Field(default=None, max_length=50)
    signature: Annotated[str | None, AfterValidator(check_signature)] = Field(default=None, max_length=5_000)
    team: OptionalId = None
    sla_policy: OptionalId = None
    auto_ack: OptionalId = None
    access: dict[Address, Access] | None = None
    disabled: bool | None = None
    retention_days: int | None = Field(
        default=None, ge=1, le=MAX_RETENTION_DAYS, description="null: kept forever."
    )


class MailboxOut(MailboxCreate):
    model_config = ConfigDict(extra="ignore")

    conversation_count: int = 0
    created_at: str | None = None


class MailboxList(BaseModel):
    mailboxes: list[MailboxOut]


# -- people -----------------------------------------------------------------------------------------


class UserSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    role: Role = Role.AGENT
    teams: list[str] = Field(default_factory=list, max_length=50)
    skills: list[str] = Field(default_factory=list, max_length=50)
    capacity: int = Field(default=10, ge=0, le=1_000)
    schedule: WeeklySchedule | None = Field(default=None, description="None: always working.")
    out_of_office: list[OutOfOffice] = Field(default_factory=list, max_length=50)

    @field_validator("teams", "skills")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        return sorted({word.strip().lower() for word in value if word.strip()})


class UserInvite(UserSettings):
    email: Address


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    teams: list[str] | None = Field(default=None, max_length=50)
    skills: list[str] | None = Field(default=None, max_length=50)
    capacity: int | None = Field(default=None, ge=0, le=1_000)
    schedule: WeeklySchedule | None = None
    clear_schedule: bool = Field(default=False, description="Remove the schedule (always working).")
    out_of_office: list[OutOfOffice] | None = Field(default=None, max_length=50)
    status: AgentStatus | None = None


class UserOut(BaseModel):
    email: str
    name: str
    role: Role
    active: bool
    teams: list[str]
    skills: list[str]
    capacity: int
    status: AgentStatus
    schedule: WeeklySchedule | None
    out_of_office: list[OutOfOffice]
    open_count: int


class UserList(BaseModel):
    users: list[UserOut]


class DeactivateOut(BaseModel):
    user: UserOut
    requeued: list[str] = Field(description="The conversations put back in their team's queue.")


# -- teams ------------------------------------------------------------------------------------------


class TeamSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    strategy: Strategy = Strategy.MANUAL
    members: list[Address] = Field(default_factory=list, max_length=500)
    calendar: WeeklySchedule | None = Field(default=None, description="Business hours; None: always open.")
    sla_policies: list[SlaPolicy] = Field(default_factory=list, max_length=20)
    default_sla: str | None = None
    sticky_days: int = Field(default=14, ge=0, le=365)


class TeamCreate(TeamSettings):
    id: str = Field(pattern=_SLUG)


class TeamPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    strategy: Strategy | None = None
    members: list[Address] | None = Field(default=None, max_length=500)
    calendar: WeeklySchedule | None = None
    sla_policies: list[SlaPolicy] | None = Field(default=None, max_length=20)
    default_sla: str | None = None
    sticky_days: int | None = Field(default=None, ge=0, le=365)


class TeamList(BaseModel):
    teams: list[Team]


# -- the caller's own profile ----------------------------------------------------------------------


class MeOut(BaseModel):
    email: str
    name: str
    role: Role
    status: AgentStatus
    out_of_office: list[OutOfOffice]
    open_count: int


class MePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal[AgentStatus.AVAILABLE, AgentStatus.AWAY] | None = None
    out_of_office: list[OutOfOffice] | None = Field(default=None, max_length=50)
