"""Authentication (who is calling) and authorization (what they may see and do).

Import the light, pure parts from here; :mod:`mailroom.auth.cognito` (PyJWT, cryptography) is
imported only where Cognito tokens are verified, to keep other functions' cold starts small.
"""

from mailroom.auth.model import Access, AuthenticationError, Principal, Role
from mailroom.auth.policy import (
    ForbiddenError,
    NotVisibleError,
    access_for,
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

__all__ = [
    "Access",
    "AuthenticationError",
    "ForbiddenError",
    "NotVisibleError",
    "Principal",
    "Role",
    "access_for",
    "can_act",
    "can_admin",
    "can_read_bodies",
    "can_see_costs",
    "can_see_mailbox",
    "can_send",
    "require_act",
    "require_admin",
    "require_bodies",
    "require_costs",
    "require_send",
    "require_visible",
    "visible_mailboxes",
]
