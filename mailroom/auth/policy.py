"""Authorization as pure functions of a :class:`~mailroom.auth.model.Principal`.

Rules (DESIGN.md section 7):

* Admins see and may do everything, in every mailbox.
* Agents see only the mailboxes in their ``mailbox_access``; every level but ``read_only`` may act
  (status, tags, assignment) and send.
* Finance sees reports and costs, and the mailboxes they were given (for per-mailbox figures), but
  never message bodies, and never acts or sends, whatever their grant says: a grant to finance
  works as ``read_only`` without bodies.

A mailbox the caller may not see must be indistinguishable from one that does not exist, so the
``require_*`` guards raise :class:`NotVisibleError` (map to 404) for it, and
:class:`ForbiddenError` (403) only for things the caller can see but not do.
"""

from __future__ import annotations

from collections.abc import Iterable

from mailroom.auth.model import Access, Principal, Role

_ACTING = frozenset({Access.FULL, Access.SEND_AS, Access.SEND_ON_BEHALF})


class NotVisibleError(LookupError):
    """The mailbox (or what lives in it) is not visible to the caller: answer 404, as for a
    mailbox that does not exist, so its existence does not leak."""


class ForbiddenError(PermissionError):
    """The caller sees the thing but may not do this with it: answer 403."""


def access_for(p: Principal, mailbox: str) -> Access | None:
    """The grant ``p`` holds on ``mailbox``, if any (admins may hold none and still see it)."""
    return p.mailbox_access.get(mailbox.strip().lower())


def can_see_mailbox(p: Principal, mailbox: str) -> bool:
    return p.role is Role.ADMIN or access_for(p, mailbox) is not None


def visible_mailboxes(p: Principal, all_mailboxes: Iterable[str]) -> list[str]:
    """The mailboxes of ``all_mailboxes`` that ``p`` may see, lower-case, in their given order.

    Filtering the directory's list (rather than returning the grants) means a grant for a mailbox
    that no longer exists shows nothing. Every query must be scoped to this list.
    """
    seen: set[str] = set()
    visible: list[str] = []
    for mailbox in all_mailboxes:
        address = mailbox.strip().lower()
        if address not in seen and can_see_mailbox(p, address):
            seen.add(address)
            visible.append(address)
    return visible


def can_read_bodies(p: Principal, mailbox: str) -> bool:
    """Message bodies, attachments and notes. Finance never, whatever their grant."""
    return p.role is not Role.FINANCE and can_see_mailbox(p, mailbox)


def can_act(p: Principal, mailbox: str) -> bool:
    """Change status or tags, assign, add notes."""
    if p.role is Role.ADMIN:
        return True
    return p.role is Role.AGENT and access_for(p, mailbox) in _ACTING


def can_send(p: Principal, mailbox: str) -> Access | None:
    """The access that decides the From header of a reply from ``mailbox``, or None if ``p`` may
    not send from it. An admin sends with their own acting grant if they hold one (so an admin set
    to send-on-behalf still shows as the Sender), otherwise with full access."""
    if not can_act(p, mailbox):
        return None
    access = access_for(p, mailbox)
    if access in _ACTING:
        return access
    return Access.FULL  # an admin without an acting grant


def can_admin(p: Principal) -> bool:
    """Users, mailboxes, access, rules, settings."""
    return p.role is Role.ADMIN


def can_see_costs(p: Principal) -> bool:
    """Usage and cost reports (aggregates, no message content)."""
    return p.role in {Role.ADMIN, Role.FINANCE}


def can_see_reports(p: Principal) -> bool:
    """The team metrics dashboard: managers (admins) and finance, for the mailboxes they see.
    Reports hold figures, agent names and conversation ids, never message content."""
    return p.role in {Role.ADMIN, Role.FINANCE}


# -- guards for handlers: raise the error that maps to the right status ------------------------------


def require_visible(p: Principal, mailbox: str) -> None:
    if not can_see_mailbox(p, mailbox):
        raise NotVisibleError(mailbox)


def require_bodies(p: Principal, mailbox: str) -> None:
    require_visible(p, mailbox)
    if not can_read_bodies(p, mailbox):
        raise ForbiddenError(f"may not read messages in {mailbox}")


def require_act(p: Principal, mailbox: str) -> None:
    require_visible(p, mailbox)
    if not can_act(p, mailbox):
        raise ForbiddenError(f"may not change conversations in {mailbox}")


def require_send(p: Principal, mailbox: str) -> Access:
    require_visible(p, mailbox)
    access = can_send(p, mailbox)
    if access is None:
        raise ForbiddenError(f"may not send from {mailbox}")
    return access


def require_admin(p: Principal) -> None:
    if not can_admin(p):
        raise ForbiddenError("admins only")


def require_costs(p: Principal) -> None:
    if not can_see_costs(p):
        raise ForbiddenError("admins and finance only")


def require_reports(p: Principal) -> None:
    if not can_see_reports(p):
        raise ForbiddenError("reports are for admins and finance")
