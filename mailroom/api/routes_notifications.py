"""The signed-in person's notifications (SLA breach warnings, and later kinds): the page and the
JSON API (``GET /api/notifications``, ``POST /api/notifications/read``).

Only the caller's own notifications, and only those about a mailbox they may still see: a
notification about a mailbox whose access was taken away is left out of every listing.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mailroom import clock
from mailroom.api import wiring
from mailroom.api.errors import ApiError
from mailroom.api.guard import current_session
from mailroom.api.openapi_docs import answers
from mailroom.api.render import page
from mailroom.auth import policy
from mailroom.auth.model import Principal
from mailroom.notifications import (
    NOTIFICATION_ID_PATTERN,
    InvalidNotificationError,
    Notification,
    NotificationPage,
    list_notifications,
    mark_all_read,
    mark_read,
)

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated

PAGE_SIZE = 50
MAX_IDS = 100


# -- shapes -----------------------------------------------------------------------------------------


class NotificationOut(BaseModel):
    id: str = Field(description="Pass to POST /api/notifications/read; also the listing's cursor.")
    kind: str = Field(description="sla_at_risk")
    conversation_id: str
    mailbox: str
    subject: str
    text: str = Field(description="One line for people.")
    at: str
    due: str | None = Field(description="sla_at_risk: when the first response is due.")
    read: bool
    read_at: str | None

    @classmethod
    def of(cls, notification: Notification) -> NotificationOut:
        return cls.model_validate(
            {**notification.model_dump(mode="json"), "id": notification.id, "read": notification.read}
        )


class NotificationList(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at the end.")


class NotificationsReadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[str, Field(pattern=NOTIFICATION_ID_PATTERN)]] = Field(
        default_factory=list, max_length=MAX_IDS, description="The notifications to mark read."
    )
    all: bool = Field(default=False, description="Mark every unread notification read.")

    @model_validator(mode="after")
    def _one_of(self) -> NotificationsReadRequest:
        if bool(self.ids) == self.all:
            raise ValueError("give either ids (the notifications to mark read) or all: true")
        return self


class NotificationsReadOut(BaseModel):
    updated: int = Field(description="How many were unread and are now read (unknown ids are ignored).")


_REFUSALS = answers({422: "Invalid request: a cursor or id this API did not give out."})


def _visible_to(
    principal: Principal, *, limit: int, cursor: str | None, unread_only: bool
) -> NotificationPage:
    """A page of the caller's notifications about mailboxes they may still see."""
    return list_notifications(
        wiring.table(),
        principal.email,
        visible=lambda notification: policy.can_see_mailbox(principal, notification.mailbox),
        limit=limit,
        cursor=cursor,
        unread_only=unread_only,
    )


# -- JSON -------------------------------------------------------------------------------------------


@router.get("/api/notifications", summary="My notifications, newest first", responses=_REFUSALS)
def api_list_notifications(
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    unread: Annotated[bool, Query(description="Only unread notifications")] = False,
) -> NotificationList:
    principal = current_session(router.context).principal
    try:
        found = _visible_to(principal, limit=limit, cursor=cursor, unread_only=unread)
    except InvalidNotificationError as exc:
        raise ApiError(422, str(exc)) from exc
    return NotificationList(items=[NotificationOut.of(n) for n in found.items], next_cursor=found.next_cursor)


@router.post(
    "/api/notifications/read", summary="Mark my notifications read (some ids, or all)", responses=_REFUSALS
)
def api_mark_notifications_read(request: Annotated[NotificationsReadRequest, Body()]) -> NotificationsReadOut:
    email = current_session(router.context).principal.email
    at = clock.iso(clock.now())
    table = wiring.table()
    try:
        updated = (
            mark_all_read(table, email, at=at) if request.all else mark_read(table, email, request.ids, at=at)
        )
    except InvalidNotificationError as exc:  # the model's pattern already refuses these
        raise ApiError(422, str(exc)) from exc
    return NotificationsReadOut(updated=updated)


# -- the page ---------------------------------------------------------------------------------------


@router.get("/notifications", include_in_schema=False)
def notifications_page() -> Response[str]:
    session = current_session(router.context)
    principal = session.principal
    query = router.current_event.query_string_parameters or {}
    unread_only = query.get("unread") == "1"
    try:
        found = _visible_to(
            principal, limit=PAGE_SIZE, cursor=query.get("cursor") or None, unread_only=unread_only
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
