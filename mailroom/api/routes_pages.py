"""The agent UI's pages: server-rendered HTML, htmx for live updates."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from mailroom.api import wiring
from mailroom.api.guard import current_session
from mailroom.api.render import render
from mailroom.api.routes_api import visible_mailboxes
from mailroom.api.security import MAIL_BODY_CSP
from mailroom.auth import policy
from mailroom.domain.conversation import Status
from mailroom.inbox.cursor import InvalidCursorError
from mailroom.inbox.queries import list_conversations
from mailroom.inbox.thread import Thread, load_thread

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated

_STATUS_TABS = [
    None,
    Status.OPEN,
    Status.PENDING,
    Status.SNOOZED,
    Status.CLOSED,
    Status.SPAM,
    Status.QUARANTINED,
]


def _inbox_context() -> dict[str, Any]:
    query = router.current_event.query_string_parameters or {}
    mailbox = query.get("mailbox") or None
    status_name = query.get("status") or None
    status = Status(status_name) if status_name in {s.value for s in Status} else None
    cursor = query.get("cursor") or None
    principal = current_session(router.context).principal
    mailboxes = visible_mailboxes(None, principal)
    try:
        page = list_conversations(
            wiring.table(),
            mailboxes=visible_mailboxes(mailbox, principal),
            status=status,
            limit=50,
            cursor=cursor,
        )
        error = None
    except InvalidCursorError as exc:
        page, error = list_conversations(wiring.table(), mailboxes=[], limit=1), str(exc)
    return {
        "conversations": page.items,
        "next_cursor": page.next_cursor,
        "mailboxes": mailboxes,
        "mailbox": mailbox,
        "status": status.value if status else None,
        "cursor": cursor,
        "tabs": [s.value if s else None for s in _STATUS_TABS],
        "error": error,
    }


def page(template: str, status_code: int = 200, **context: Any) -> Response[str]:
    """Render with the signed-in person and their CSRF token (for forms and htmx requests)."""
    session = current_session(router.context)
    return render(template, status_code=status_code, session=session, csrf=session.csrf(), **context)


def _visible(conversation_id: str) -> Thread | None:
    """The thread if it exists and the caller may see its mailbox; else None (shown as not found)."""
    thread = (
        load_thread(wiring.table(), wiring.store(), conversation_id) if conversation_id.isalnum() else None
    )
    if thread is None or not policy.can_see_mailbox(
        current_session(router.context).principal, thread.conversation.mailbox
    ):
        return None
    return thread


@router.get("/", include_in_schema=False)
def inbox_page() -> Response[str]:
    return page("inbox.html", **_inbox_context())


@router.get("/partials/inbox-rows", include_in_schema=False)
def inbox_rows() -> Response[str]:
    return page("_inbox_rows.html", **_inbox_context())


@router.get("/conversations/<conversation_id>", include_in_schema=False)
def conversation_page(conversation_id: str) -> Response[str]:
    thread = _visible(conversation_id)
    if thread is None:
        return page("not_found.html", status_code=404, what="conversation", ident=conversation_id)
    timeline = sorted(
        [("message", m.received_at, m) for m in thread.messages]
        + [("event", e.at, e) for e in thread.events],
        key=lambda entry: (entry[1], 0 if entry[0] == "message" else 1),
    )
    bodies = policy.can_read_bodies(current_session(router.context).principal, thread.conversation.mailbox)
    return page("conversation.html", conversation=thread.conversation, timeline=timeline, bodies=bodies)


@router.get("/conversations/<conversation_id>/messages/<message_key>/body", include_in_schema=False)
def message_body(conversation_id: str, message_key: str) -> Response[str]:
    """One message's sanitized HTML as a document of its own, for the sandboxed iframe."""
    thread = _visible(conversation_id)
    message = next((m for m in thread.messages if m.key == message_key), None) if thread else None
    if (
        thread is None
        or message is None
        or not policy.can_read_bodies(current_session(router.context).principal, thread.conversation.mailbox)
    ):
        return page("not_found.html", status_code=404, what="message", ident=message_key)
    response = render("message_body.html", html=message.html, text=message.text)
    response.headers["Content-Security-Policy"] = MAIL_BODY_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "private, max-age=300"
    return response
