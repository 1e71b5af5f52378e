"""Which of our mailboxes an envelope recipient means, and the reply token it may carry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TOKEN_SEPARATOR = "+"  # noqa: S105 - a plus sign, not a password


@dataclass(frozen=True)
class Recipient:
    mailbox: str  # the mailbox address, lower-case, without the +token
    token: str | None  # the reply token after "+", e.g. a conversation id


def parse_recipient(address: str) -> Recipient | None:
    """``Support+C1a2B3@Acme.test`` -> mailbox ``support@acme.test``, token ``c1a2b3``."""
    address = address.strip().strip("<>").lower()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return None
    base, sep, token = local.partition(TOKEN_SEPARATOR)
    return Recipient(mailbox=f"{base}@{domain}", token=token if sep and token else None)


def mailboxes_of(recipients: list[str]) -> list[Recipient]:
    """One entry per distinct mailbox, in envelope order (the first token seen for it wins)."""
    seen: dict[str, Recipient] = {}
    for address in recipients:
        recipient = parse_recipient(address)
        if recipient is not None and recipient.mailbox not in seen:
            seen[recipient.mailbox] = recipient
    return list(seen.values())


def reply_address(mailbox: str, conversation_id: str) -> str:
    """The Reply-To address that threads a customer's answer by token even without headers."""
    local, _, domain = mailbox.partition("@")
    return f"{local}{TOKEN_SEPARATOR}{conversation_id}@{domain}"


# -- aliases and disabled mailboxes (the admin's mailbox directory) -------------------------------


@dataclass(frozen=True)
class MailboxRoute:
    mailbox: str  # the mailbox an address (its own, or one of its aliases) delivers to
    disabled: bool  # a disabled mailbox refuses new mail


def mailbox_routes(entries: Iterable[Mapping[str, Any]]) -> dict[str, MailboxRoute]:
    """Every directory address and alias, lower-case, to its mailbox: from the ``DIR#MAILBOX`` items."""
    routes: dict[str, MailboxRoute] = {}
    for entry in entries:
        address = str(entry.get("address") or "").lower()
        if not address:
            continue
        route = MailboxRoute(mailbox=address, disabled=bool(entry.get("disabled", False)))
        for alias in entry.get("aliases") or []:
            routes.setdefault(str(alias).lower(), route)
        routes[address] = route  # a mailbox's own address wins over another's alias
    return routes


def route_recipients(
    recipients: list[str], routes: Mapping[str, MailboxRoute]
) -> tuple[list[Recipient], list[str]]:
    """The mailboxes the envelope delivers to, aliases resolved (``sales@`` an alias of ``support@``
    is ``support@``; a ``+token`` is kept), one entry per mailbox; and the disabled mailboxes
    addressed (their mail is refused). Addresses the directory doesn't know stay as they are:
    ingest registers a new mailbox on its first mail."""
    seen: dict[str, Recipient] = {}
    refused: list[str] = []
    for recipient in mailboxes_of(recipients):
        route = routes.get(recipient.mailbox)
        mailbox = route.mailbox if route else recipient.mailbox
        if route is not None and route.disabled:
            if mailbox not in refused:
                refused.append(mailbox)
            continue
        if mailbox not in seen:
            seen[mailbox] = Recipient(mailbox=mailbox, token=recipient.token)
    return list(seen.values()), refused


def refusal_reason(address: str, routes: Mapping[str, MailboxRoute]) -> str | None:
    """Why mail to ``address`` is refused, or None: the mailbox it reaches is disabled."""
    recipient = parse_recipient(address)
    route = routes.get(recipient.mailbox) if recipient else None
    if route is None or not route.disabled:
        return None
    return f"the mailbox {route.mailbox} is disabled and does not accept new mail"
