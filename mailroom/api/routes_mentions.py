"""The "mentions" view: notes where a colleague @mentioned me, newest first, unread marked."""

from __future__ import annotations

from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from mailroom.actions.model import InvalidActionError
from mailroom.actions.notes import NoteService, mention_id
from mailroom.api import wiring
from mailroom.api.guard import current_session
from mailroom.api.render import page
from mailroom.auth import policy

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated

PAGE_SIZE = 50


@router.get("/mentions", include_in_schema=False)
def mentions_page() -> Response[str]:
    session = current_session(router.context)
    principal = session.principal
    query = router.current_event.query_string_parameters or {}
    unread_only = query.get("unread") == "1"
    try:
        found = NoteService(wiring.table()).mentions(
            principal.email,
            visible=lambda mention: policy.can_read_bodies(principal, mention.mailbox),
            limit=PAGE_SIZE,
            cursor=query.get("cursor") or None,
            unread_only=unread_only,
        )
    except InvalidActionError as exc:
        return page(
            session,
            "mentions.html",
            400,
            mentions=[],
            error=str(exc),
            unread_only=unread_only,
            active="mentions",
        )
    return page(
        session,
        "mentions.html",
        mentions=[(mention_id(m), m) for m in found.items],
        next_cursor=found.next_cursor,
        unread_only=unread_only,
        active="mentions",
    )


@router.post("/mentions/read", include_in_schema=False)
def mark_read() -> Response[str]:
    """Mark one mention (``id``) or all (``all=1``) read, then back to the list."""
    email = current_session(router.context).principal.email
    form = {k: v[0] for k, v in parse_qs(router.current_event.decoded_body or "").items() if v}
    notes = NoteService(wiring.table())
    if form.get("all"):
        notes.mark_all_read(email)
    elif form.get("id"):
        notes.mark_read(email, [form["id"]])
    return Response(status_code=303, body="", headers={"Location": "/mentions"})
