"""Authorization as a matrix: every role x every access level x every operation, from one table."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import pytest
from pydantic import ValidationError

from mailroom.auth import (
    Access,
    ForbiddenError,
    NotVisibleError,
    Principal,
    Role,
    can_act,
    can_admin,
    can_read_bodies,
    can_see_costs,
    can_see_mailbox,
    can_send,
    require_act,
    require_admin,
    require_bodies,
    require_costs,
    require_send,
    require_visible,
    visible_mailboxes,
)

MAILBOX = "support@example.com"
OTHER = "sales@example.com"  # never granted to anyone in the matrix


class Expected(NamedTuple):
    see: bool
    bodies: bool
    act: bool
    send: Access | None
    admin: bool
    costs: bool


T, F = True, False
A = Access
# (role, the grant on MAILBOX or None) -> what they may do with MAILBOX, and globally.
MATRIX: dict[tuple[Role, Access | None], Expected] = {
    (Role.ADMIN, None): Expected(T, T, T, A.FULL, T, T),
    (Role.ADMIN, A.READ_ONLY): Expected(T, T, T, A.FULL, T, T),
    (Role.ADMIN, A.SEND_ON_BEHALF): Expected(T, T, T, A.SEND_ON_BEHALF, T, T),
    (Role.ADMIN, A.SEND_AS): Expected(T, T, T, A.SEND_AS, T, T),
    (Role.ADMIN, A.FULL): Expected(T, T, T, A.FULL, T, T),
    (Role.AGENT, None): Expected(F, F, F, None, F, F),
    (Role.AGENT, A.READ_ONLY): Expected(T, T, F, None, F, F),
    (Role.AGENT, A.SEND_ON_BEHALF): Expected(T, T, T, A.SEND_ON_BEHALF, F, F),
    (Role.AGENT, A.SEND_AS): Expected(T, T, T, A.SEND_AS, F, F),
    (Role.AGENT, A.FULL): Expected(T, T, T, A.FULL, F, F),
    (Role.FINANCE, None): Expected(F, F, F, None, F, T),
    (Role.FINANCE, A.READ_ONLY): Expected(T, F, F, None, F, T),
    (Role.FINANCE, A.SEND_ON_BEHALF): Expected(T, F, F, None, F, T),
    (Role.FINANCE, A.SEND_AS): Expected(T, F, F, None, F, T),
    (Role.FINANCE, A.FULL): Expected(T, F, F, None, F, T),
}


CASES = [pytest.param(role, access, id=f"{role}-{access}") for role, access in MATRIX]


def principal(role: Role, access: Access | None) -> Principal:
    grants = {MAILBOX: access} if access is not None else {}
    return Principal(email="Pat@Example.com", name="Pat", role=role, mailbox_access=grants)


def test_the_matrix_covers_every_role_and_level() -> None:
    assert set(MATRIX) == {(role, access) for role in Role for access in [None, *Access]}


@pytest.mark.parametrize(("role", "access"), CASES)
def test_policy_matrix(role: Role, access: Access | None) -> None:
    p = principal(role, access)
    expected = MATRIX[(role, access)]
    actual = Expected(
        see=can_see_mailbox(p, MAILBOX),
        bodies=can_read_bodies(p, MAILBOX),
        act=can_act(p, MAILBOX),
        send=can_send(p, MAILBOX),
        admin=can_admin(p),
        costs=can_see_costs(p),
    )
    assert actual == expected


@pytest.mark.parametrize(("role", "access"), CASES)
def test_a_mailbox_without_a_grant_is_only_for_admins(role: Role, access: Access | None) -> None:
    p = principal(role, access)
    admin = role is Role.ADMIN
    assert can_see_mailbox(p, OTHER) is admin
    assert can_read_bodies(p, OTHER) is admin
    assert can_act(p, OTHER) is admin
    assert can_send(p, OTHER) == (Access.FULL if admin else None)


@pytest.mark.parametrize(("role", "access"), CASES)
def test_guards_hide_what_is_not_visible_and_forbid_what_is(role: Role, access: Access | None) -> None:
    """404 for a mailbox the caller can't see, 403 only for what they see but may not do."""
    p = principal(role, access)
    expected = MATRIX[(role, access)]

    def outcome(guard: Callable[[], object]) -> type[Exception] | None:
        try:
            guard()
        except (NotVisibleError, ForbiddenError) as exc:
            return type(exc)
        return None

    hidden = None if expected.see else NotVisibleError
    assert outcome(lambda: require_visible(p, MAILBOX)) is hidden
    assert outcome(lambda: require_bodies(p, MAILBOX)) is (
        hidden or (None if expected.bodies else ForbiddenError)
    )
    assert outcome(lambda: require_act(p, MAILBOX)) is (hidden or (None if expected.act else ForbiddenError))
    assert outcome(lambda: require_send(p, MAILBOX)) is (
        hidden or (None if expected.send else ForbiddenError)
    )
    assert outcome(lambda: require_admin(p)) is (None if expected.admin else ForbiddenError)
    assert outcome(lambda: require_costs(p)) is (None if expected.costs else ForbiddenError)
    if expected.send is not None:
        assert require_send(p, MAILBOX) is expected.send


def test_visible_mailboxes_filters_the_directory() -> None:
    directory = ["Support@example.com", "sales@example.com", "billing@example.com", "support@example.com"]
    agent = Principal(
        email="a@example.com",
        role=Role.AGENT,
        mailbox_access={"support@example.com": Access.READ_ONLY, "gone@example.com": Access.FULL},
    )
    admin = Principal(email="root@example.com", role=Role.ADMIN)
    finance = Principal(
        email="f@example.com", role=Role.FINANCE, mailbox_access={"BILLING@example.com": Access.READ_ONLY}
    )
    nobody = Principal(email="n@example.com", role=Role.AGENT)

    assert visible_mailboxes(admin, directory) == [
        "support@example.com",
        "sales@example.com",
        "billing@example.com",
    ]
    assert visible_mailboxes(agent, directory) == [
        "support@example.com"
    ]  # not the grant to a removed mailbox
    assert visible_mailboxes(finance, directory) == ["billing@example.com"]
    assert visible_mailboxes(nobody, directory) == []


def test_mailbox_addresses_compare_case_insensitively() -> None:
    p = Principal(
        email=" Pat@Example.COM ", role=Role.AGENT, mailbox_access={"Support@Example.com": Access.FULL}
    )
    assert p.email == "pat@example.com"
    assert p.mailbox_access == {"support@example.com": Access.FULL}
    assert can_act(p, "SUPPORT@example.com")
    assert can_send(p, " support@example.com ") is Access.FULL


def test_principal_is_frozen_and_validated() -> None:
    p = Principal(email="a@example.com", role=Role.AGENT)
    with pytest.raises(ValidationError):
        p.role = Role.ADMIN  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Principal.model_validate({"email": "a@example.com", "role": "superuser"})
    with pytest.raises(ValidationError):
        Principal(email="  ", role=Role.AGENT)
    with pytest.raises(ValidationError):
        Principal.model_validate(
            {"email": "a@example.com", "role": "agent", "mailbox_access": {"x@example.com": "owner"}}
        )


def test_not_visible_and_forbidden_are_distinct_standard_errors() -> None:
    assert issubclass(NotVisibleError, LookupError)
    assert issubclass(ForbiddenError, PermissionError)
    assert not issubclass(NotVisibleError, ForbiddenError)
    assert not issubclass(ForbiddenError, NotVisibleError)
