"""A contact: a customer address that has written to one of our mailboxes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Contact(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: str
    name: str = ""
    tags: list[str] = Field(default_factory=list)
    first_seen_at: str
    last_seen_at: str
    conversation_count: int = 0
    message_count: int = 0
