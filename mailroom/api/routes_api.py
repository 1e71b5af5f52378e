"""JSON API: conversations and their messages."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, ForbiddenError, NotFoundError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from mailroom.api import wiring
from mailroom.api.guard import current_session
from mailroom.api.openapi_docs import answers
from mailroom.api.schemas import (
    ConversationDetail,
    ConversationList,
    ConversationSummary,
    EventOut,
    MessageOut,
    NoteOut,
)
from mailroom.api.session import Session
from mailroom.auth import policy
from mailroom.auth.model import Principal
from mailroom.domain.conversation import Status
from mailroom.inbox.cursor import InvalidCursorError
from mailroom.inbox.listing import (
    MY_TEAMS,
    TAG_PATTERN,
    TEAM_PATTERN,
    InboxForbiddenError,
    InboxQuery,
    list_inbox,
)
from mailroom.inbox.search import SearchError
from mailroom.inbox.thread import Thread, load_thread
from mailroom.inbox.views import Sort as InboxSort
from mailroom.inbox.views import View as InboxView
from mailroom.inbox.views import ViewError
from mailroom.storage import BlobNotFoundError

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated

_NOT_FOUND = "No such conversation (or attachment), or one in a mailbox the caller can't see."
ConversationId = Annotated[str, Path(pattern=r"^c[0-9a-z]{6,32}$", description="Conversation id")]


def session() -> Session:
    return current_session(router.context)


def visible_thread(conversation_id: str) -> Thread:
    """The thread, or 404 when it does not exist or the caller may not see its mailbox."""
    thread = load_thread(wiring.table(), wiring.store(), conversation_id)
    if thread is None or not policy.can_see_mailbox(session().principal, thread.conversation.mailbox):
        raise NotFoundError(f"no conversation {conversation_id}")
    return thread


def _without_bodies(summary: ConversationSummary, principal: Principal) -> ConversationSummary:
    if policy.can_read_bodies(principal, summary.mailbox):
        return summary
    return summary.model_copy(update={"snippet": ""})


@router.get(
    "/api/conversations",
    summary="List conversations: views, filters, SLA sort and search",
    description=(
        "Every view is a set of index queries over the mailboxes the caller may see. "
        "A page may hold fewer than `limit` items while `next_cursor` is set: filtered views and "
        "subject searches read a bounded number of index items per request; follow the cursor. "
        "`q`: a customer address, a conversation id, or words that must all occur in the subject "
        "(searches cover every status). `sort=sla` lists only open conversations whose "
        "first-response clock runs, overdue and soonest due first."
    ),
    responses=answers(
        {
            400: "A cursor from another view, or view and status that disagree.",
            403: "A team or mailbox filter the caller may not see.",
        }
    ),
)
def get_conversations(
    *,
    view: Annotated[InboxView | None, Query(description="Which list; default all")] = None,
    mailbox: Annotated[str | None, Query(max_length=254, description="Only this mailbox address")] = None,
    status: Annotated[
        Status | None, Query(description="Same as view=<status> (kept for old clients)")
    ] = None,
    team: Annotated[
        str | None,
        Query(pattern=TEAM_PATTERN, description=f"A team id, or {MY_TEAMS} for the caller's teams"),
    ] = None,
    tag: Annotated[
        str | None, Query(pattern=TAG_PATTERN, description="Only conversations with this tag")
    ] = None,
    sort: Annotated[
        InboxSort, Query(description="activity (newest first) or sla (due first)")
    ] = InboxSort.ACTIVITY,
    q: Annotated[
        str | None, Query(max_length=200, description="Search: address, conversation id or words")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> ConversationList:
    principal = session().principal
    try:
        result = list_inbox(
            wiring.table(),
            principal,
            InboxQuery(
                view=_view_of(view, status),
                sort=sort,
                mailbox=mailbox,
                team=team,
                tag=tag,
                q=q,
                cursor=cursor,
                limit=limit,
            ),
        )
    except (InvalidCursorError, ViewError, SearchError) as exc:
        raise BadRequestError(str(exc)) from exc
    except InboxForbiddenError as exc:
        raise ForbiddenError(str(exc)) from exc
    items = [_without_bodies(ConversationSummary.of(c), principal) for c in result.page.items]
    return ConversationList(items=items, next_cursor=result.page.next_cursor)


def _view_of(view: InboxView | None, status: Status | None) -> InboxView:
    if status is None:
        return view or InboxView.ALL
    if view is not None and view.value != status.value:
        raise BadRequestError(f"view={view.value} and status={status.value} disagree: give one of them")
    return InboxView(status.value)


@router.get(
    "/api/conversations/<conversation_id>",
    summary="One conversation with its messages and events",
    responses=answers({404: _NOT_FOUND}),
)
def get_conversation(conversation_id: ConversationId) -> ConversationDetail:
    thread = visible_thread(conversation_id)
    principal = session().principal
    messages = [MessageOut.of(m) for m in thread.messages]
    notes = [NoteOut.of(n) for n in thread.notes]
    if not policy.can_read_bodies(principal, thread.conversation.mailbox):
        messages = [m.model_copy(update={"text": "", "html": None, "attachments": []}) for m in messages]
        notes = [n.model_copy(update={"text": "", "mentions": []}) for n in notes]
    return ConversationDetail(
        **_without_bodies(ConversationSummary.of(thread.conversation), principal).model_dump(),
        messages=messages,
        events=[EventOut.of(e) for e in thread.events],
        notes=notes,
    )


@router.get(
    "/api/conversations/<conversation_id>/messages/<message_key>/attachments/<index>",
    summary="Download an attachment",
    responses=answers(
        {404: _NOT_FOUND}, content={"application/octet-stream": {"schema": {"type": "string"}}}
    ),
)
# No return annotation on purpose: with one (Response[bytes]), Powertools' response validation
# serializes the bytes to text and the download is corrupted.
def get_attachment(  # type: ignore[no-untyped-def]
    conversation_id: ConversationId,
    message_key: Annotated[str, Path(pattern=r"^m[0-9a-z]{6,32}$")],
    index: Annotated[int, Path(ge=0, le=10_000)],
):
    thread = visible_thread(conversation_id)
    if not policy.can_read_bodies(session().principal, thread.conversation.mailbox):
        raise NotFoundError("no such attachment")
    message = next((m for m in thread.messages if m.key == message_key), None)
    attachment = next((a for a in message.attachments if a.index == index), None) if message else None
    if attachment is None:
        raise NotFoundError("no such attachment")
    try:
        data = wiring.store().get(attachment.key)
    except BlobNotFoundError as exc:
        raise NotFoundError("the attachment's content is gone (deleted or expired)") from exc
    safe_name = attachment.filename.replace('"', "").replace("\\", "")
    return Response(
        status_code=200,
        content_type="application/octet-stream",
        body=data,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{_rfc5987(safe_name)}",
            "Cache-Control": "private, max-age=300",
        },
    )


def _rfc5987(name: str) -> str:
    return quote(name, safe="")
