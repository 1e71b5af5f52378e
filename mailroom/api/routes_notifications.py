"""The notifications page: SLA breach warnings (and later kinds) for the signed-in person."""

from __future__ import annotations

from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from mailroom import clock
from mailroom.api import wiring
from mailroom.api.guard import current_session
from mailroom.api.render import page
from mailroom.auth import policy
from mailroom.notifications import (
    InvalidNotificationError,
    list_notifications,
    mark_all_read,
    mark_read,
)

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated

PAGE_SIZE = 50


@router.get("/notifications", include_in_schema=False)
def notifications_page() -> Response[str]:
    session = current_session(router.context)
    principal = session.principal
    query = router.current_event.query_string_parameters or {}
    unread_only = query.get("unread") == "1"
    try:
        found = list_notifications(
            wiring.table(),
            principal.email,
            visible=lambda notification: policy.can_see_mailbox(principal, notification.mailbox),
            limit=PAGE_SIZE,
            cursor=query.get("cursor") or None,
            unread_only=unread_only,
        )
    except InvalidNotificationError as exc:
        return page(
            session,
            "notifications.html",
            400,
            notifications=[],
            error=str(exc),
            unread_only=unread_only,
            active="notifications",
        )
    return page(
        session,
        "notifications.html",
        notifications=found.items,
        next_cursor=found.next_cursor,
        unread_only=unread_only,
        active="notifications",
    )


@router.post("/notifications/read", include_in_schema=False)
def notifications_read() -> Response[str]:
    """Mark one notification (``id``) or all (``all=1``) read, then back to the list."""
    email = current_session(router.context).principal.email
    form = {k: v[0] for k, v in parse_qs(router.current_event.decoded_body or "").items() if v}
    at = clock.iso(clock.now())
    try:
        if form.get("all"):
            mark_all_read(wiring.table(), email, at=at)
        elif form.get("id"):
            mark_read(wiring.table(), email, [form["id"]], at=at)
    except InvalidNotificationError:
        pass  # nothing to mark: back to the list all the same
    return Response(status_code=303, body="", headers={"Location": "/notifications"})
