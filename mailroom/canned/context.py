"""What a canned response (or a mailbox signature) sees when it is rendered for a conversation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mailroom.canned.model import Person, TemplateContext
from mailroom.domain.conversation import Conversation
from mailroom.mail.model import Address


def _text(entry: Mapping[str, Any] | None, name: str) -> str:
    value = (entry or {}).get(name)
    return value if isinstance(value, str) else ""


def first_name(name: str) -> str:
    """The first word of a display name ("Dana" of "Dana Scully"); for "Scully, Dana" the part
    after the comma, as directories write it."""
    name = " ".join(name.replace('"', " ").split())
    if "," in name:
        name = name.split(",", 1)[1].strip()
    return name.split(" ", 1)[0] if name else ""


def customer_person(conversation: Conversation, customer: Address | None = None) -> Person:
    address = customer or Address(email=conversation.contact_email, name=conversation.contact_name)
    name = address.name or conversation.contact_name
    return Person(name=name, first_name=first_name(name), email=address.email)


def agent_person(user: Mapping[str, Any] | None, email: str = "") -> Person:
    """An agent from their directory entry (name, title, company, calendar_url)."""
    name = _text(user, "name")
    return Person(
        name=name,
        first_name=first_name(name),
        email=_text(user, "email") or email,
        title=_text(user, "title"),
        company=_text(user, "company"),
        calendar_url=_text(user, "calendar_url"),
    )


def template_context(
    conversation: Conversation,
    *,
    mailbox: Mapping[str, Any] | None,
    agent: Mapping[str, Any] | None = None,
    agent_email: str = "",
    customer: Address | None = None,
) -> TemplateContext:
    """The variables: ``customer``, ``agent``, ``mailbox`` (address, name), ``conversation``
    (id, subject). ``mailbox`` and ``agent`` are directory entries (None: unknown)."""
    return TemplateContext(
        customer=customer_person(conversation, customer),
        agent=agent_person(agent, agent_email),
        mailbox={
            "address": conversation.mailbox,
            "name": _text(mailbox, "name") or conversation.mailbox,
        },
        conversation={"id": conversation.id, "subject": conversation.subject},
    )
