"""Who is asking: a signed-in person's role and their access to each mailbox.

A :class:`Principal` is built once per request (from the directory, see
:mod:`mailroom.auth.permissions_store`) and handed to the pure policy functions in
:mod:`mailroom.auth.policy`, so every authorization decision is testable without a table or HTTP.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Role(StrEnum):
    """What a person does in the product; the values match ``role`` on directory user items."""

    ADMIN = "admin"  # everything, in every mailbox
    AGENT = "agent"  # works conversations in the mailboxes they were given access to
    FINANCE = "finance"  # reports and costs; never message bodies


class Access(StrEnum):
    """A person's access to one mailbox. Every level but ``read_only`` may act on conversations;
    the level also decides the From header of what they send (see :func:`~mailroom.auth.policy.can_send`).
    """

    FULL = "full"
    SEND_AS = "send_as"  # From: the mailbox
    SEND_ON_BEHALF = "send_on_behalf"  # From: the mailbox, Sender: the agent
    READ_ONLY = "read_only"


class Principal(BaseModel):
    """A signed-in person. ``mailbox_access`` maps lower-case mailbox addresses to access levels;
    a mailbox missing from it is one the person may not see (admins excepted)."""

    model_config = ConfigDict(frozen=True)

    email: str
    name: str = ""
    role: Role
    mailbox_access: dict[str, Access] = Field(default_factory=dict)

    @field_validator("email")
    @classmethod
    def _email_lower(cls, value: str) -> str:
        value = value.strip().lower()
        if not value:
            raise ValueError("a principal needs an email address")
        return value

    @field_validator("mailbox_access")
    @classmethod
    def _mailboxes_lower(cls, value: dict[str, Access]) -> dict[str, Access]:
        # Addresses are compared case-insensitively everywhere (the directory keys are lower-case).
        return {mailbox.strip().lower(): access for mailbox, access in value.items()}


class AuthenticationError(Exception):
    """The caller could not be identified (maps to 401). ``reason`` is short and safe to log;
    don't echo it to the client in detail, "sign in again" is all they need."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
