"""A canned response and the variables its template may use."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CannedResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    subject: str | None = Field(default=None, max_length=500)  # a template; None: "Re: <subject>"
    body: str = Field(min_length=1, max_length=20_000)  # a template (plain text)
    mailbox: str | None = None  # scope: one mailbox, or
    team: str | None = None  # one team, or everyone when both are None
    usage_count: int = 0


class Person(BaseModel):
    name: str = ""
    first_name: str = ""
    email: str = ""
    title: str = ""
    company: str = ""
    calendar_url: str = ""


class TemplateContext(BaseModel):
    """What a template sees: ``{{ customer.first_name }}``, ``{{ agent.calendar_url }}``, ..."""

    customer: Person
    agent: Person = Field(default_factory=Person)
    mailbox: dict[str, str] = Field(default_factory=dict)  # address, name
    conversation: dict[str, str] = Field(default_factory=dict)  # id, subject
