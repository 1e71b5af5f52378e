"""Which of our mailboxes an envelope recipient means, and the reply token it may carry."""

from __future__ import annotations

from dataclasses import dataclass

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
