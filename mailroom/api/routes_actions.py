"""JSON API: what agents do to a conversation (claim, assign, transfer, tags, status, merge), internal
notes, and the caller's @mentions.

Authorization: a conversation in a mailbox the caller can't see is a 404, exactly like a missing
one; one the caller sees but may not change (read-only access, finance) is a 403. Refusals answer
``{"message": ..., **details}``: 409 names the holder of a claimed conversation, or carries the
conversation's current state when ``seen_version`` is stale.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import BaseModel, Field

from mailroom.actions.model import (
    Actor,
    AssignRequest,
    ClaimRequest,
    MentionsReadRequest,
    MergeRequest,
    NoteRequest,
    StatusRequest,
    TagRequest,
    TransferRequest,
    UnassignRequest,
)
from mailroom.actions.notes import NoteService, mention_id
from mailroom.actions.service import ConversationActions
from mailroom.api import wiring
from mailroom.api.access import actionable_conversation, actor_of, readable_conversation
from mailroom.api.errors import ApiError
from mailroom.api.guard import current_session
from mailroom.api.openapi_docs import answers
from mailroom.api.schemas import ConversationSummary, NoteOut
from mailroom.auth import policy
from mailroom.auth.model import Principal
from mailroom.domain.note import Mention
from mailroom.table.items import get_conversation

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated

ConversationId = Annotated[str, Path(pattern=r"^c[0-9a-z]{6,32}$", description="Conversation id")]


# -- shapes -----------------------------------------------------------------------------------------


class MergeOut(BaseModel):
    conversation: ConversationSummary = Field(description="The conversation merged into (the primary).")
    merged: ConversationSummary = Field(description="The merged conversation, now closed.")


class NoteCreatedOut(BaseModel):
    note: NoteOut
    conversation: ConversationSummary
    unresolved_mentions: list[str] = Field(
        description="@handles that named nobody who may read this conversation."
    )


class NoteList(BaseModel):
    items: list[NoteOut]


class MentionOut(BaseModel):
    id: str
    conversation_id: str
    note_id: str
    mailbox: str
    subject: str
    author: str
    author_name: str
    snippet: str
    at: str
    read: bool
    read_at: str | None

    @classmethod
    def of(cls, mention: Mention) -> MentionOut:
        return cls.model_validate(
            {**mention.model_dump(mode="json"), "id": mention_id(mention), "read": mention.read}
        )


class MentionList(BaseModel):
    items: list[MentionOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at the end.")


class MentionsReadOut(BaseModel):
    updated: int


_MEANINGS = {
    403: "Visible, but the caller may not change it (read-only access, finance).",
    404: "No such conversation, or one in a mailbox the caller can't see.",
    409: "Held by someone else (holder), agent at capacity, stale seen_version, or merged.",
}
_REFUSALS = answers(_MEANINGS)


# -- helpers ----------------------------------------------------------------------------------------


def _principal() -> Principal:
    return current_session(router.context).principal


def _acting_on(conversation_id: str) -> Actor:
    """404 unless visible; 403 unless the caller may change conversations in its mailbox."""
    principal = _principal()
    actionable_conversation(principal, conversation_id)
    return actor_of(principal)


def _actions() -> ConversationActions:
    return ConversationActions(wiring.table())


def _notes() -> NoteService:
    return NoteService(wiring.table())


# -- assignment -------------------------------------------------------------------------------------


@router.post(
    "/api/conversations/<conversation_id>/claim",
    summary="Take an unassigned conversation",
    responses=_REFUSALS,
)
def claim(
    conversation_id: ConversationId, request: Annotated[ClaimRequest | None, Body()] = None
) -> ConversationSummary:
    actor = _acting_on(conversation_id)
    conv = _actions().claim(conversation_id, actor, seen_version=request.seen_version if request else None)
    return ConversationSummary.of(conv)


@router.post(
    "/api/conversations/<conversation_id>/assign",
    summary="Assign to an agent (admins may force past capacity)",
    responses=_REFUSALS,
)
def assign(conversation_id: ConversationId, request: Annotated[AssignRequest, Body()]) -> ConversationSummary:
    actor = _acting_on(conversation_id)
    conv = _actions().assign(
        conversation_id, request.agent, actor, seen_version=request.seen_version, force=request.force
    )
    return ConversationSummary.of(conv)


@router.post(
    "/api/conversations/<conversation_id>/unassign", summary="Put back in the queue", responses=_REFUSALS
)
def unassign(
    conversation_id: ConversationId, request: Annotated[UnassignRequest | None, Body()] = None
) -> ConversationSummary:
    actor = _acting_on(conversation_id)
    conv = _actions().unassign(conversation_id, actor, seen_version=request.seen_version if request else None)
    return ConversationSummary.of(conv)


@router.post(
    "/api/conversations/<conversation_id>/transfer",
    summary="Move to another team (an assignee who is not a member is unassigned)",
    responses=_REFUSALS,
)
def transfer(
    conversation_id: ConversationId, request: Annotated[TransferRequest, Body()]
) -> ConversationSummary:
    actor = _acting_on(conversation_id)
    conv = _actions().transfer(conversation_id, request.team, actor, seen_version=request.seen_version)
    return ConversationSummary.of(conv)


# -- tags and status --------------------------------------------------------------------------------


@router.post("/api/conversations/<conversation_id>/tags", summary="Add a tag", responses=_REFUSALS)
def add_tag(conversation_id: ConversationId, request: Annotated[TagRequest, Body()]) -> ConversationSummary:
    actor = _acting_on(conversation_id)
    conv = _actions().tag(conversation_id, request.tag, actor, seen_version=request.seen_version)
    return ConversationSummary.of(conv)


@router.delete("/api/conversations/<conversation_id>/tags/<tag>", summary="Remove a tag", responses=_REFUSALS)
def remove_tag(
    conversation_id: ConversationId,
    tag: Annotated[str, Path(min_length=1, max_length=200)],
    seen_version: Annotated[int | None, Query(ge=1)] = None,
) -> ConversationSummary:
    actor = _acting_on(conversation_id)
    conv = _actions().untag(conversation_id, unquote(tag), actor, seen_version=seen_version)
    return ConversationSummary.of(conv)


@router.post(
    "/api/conversations/<conversation_id>/status",
    summary="Open, pending, snoozed until a time, or closed",
    responses=_REFUSALS,
)
def set_status(
    conversation_id: ConversationId, request: Annotated[StatusRequest, Body()]
) -> ConversationSummary:
    actor = _acting_on(conversation_id)
    conv = _actions().set_status(conversation_id, request, actor)
    return ConversationSummary.of(conv)


# -- merge ------------------------------------------------------------------------------------------


@router.post(
    "/api/conversations/<conversation_id>/merge",
    summary="Merge this conversation into another of the same contact and mailbox",
    description="Its messages, notes and events join the other conversation's thread; the customer's "
    "replies to them thread there too; this one is closed with merged_into. Retrying a merge that "
    "failed midway finishes it without duplicates.",
    responses=_REFUSALS,
)
def merge(conversation_id: ConversationId, request: Annotated[MergeRequest, Body()]) -> MergeOut:
    actor = _acting_on(conversation_id)
    into = get_conversation(wiring.table(), request.into)
    if into is None or not policy.can_see_mailbox(_principal(), into.mailbox):
        raise ApiError(422, f"no conversation {request.into} to merge into")
    result = _actions().merge(conversation_id, request.into, actor, seen_version=request.seen_version)
    return MergeOut(
        conversation=ConversationSummary.of(result.primary), merged=ConversationSummary.of(result.secondary)
    )


# -- notes ------------------------------------------------------------------------------------------


@router.post(
    "/api/conversations/<conversation_id>/notes",
    summary="Add an internal note (@name mentions a colleague)",
    responses=answers(_MEANINGS, success=201, description="Added"),
    status_code=201,
)
def add_note(conversation_id: ConversationId, request: Annotated[NoteRequest, Body()]) -> NoteCreatedOut:
    actor = _acting_on(conversation_id)
    result = _notes().add_note(conversation_id, request.text, actor, seen_version=request.seen_version)
    return NoteCreatedOut(
        note=NoteOut.of(result.note),
        conversation=ConversationSummary.of(result.conversation),
        unresolved_mentions=result.unresolved_mentions,
    )


@router.get(
    "/api/conversations/<conversation_id>/notes",
    summary="The conversation's internal notes",
    responses=answers({status: _MEANINGS[status] for status in (403, 404)}),
)
def list_notes(conversation_id: ConversationId) -> NoteList:
    readable_conversation(_principal(), conversation_id)
    return NoteList(items=[NoteOut.of(note) for note in _notes().list_notes(conversation_id)])


# -- mentions ---------------------------------------------------------------------------------------


@router.get("/api/mentions", summary="My @mentions, newest first")
def list_mentions(
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    unread: Annotated[bool, Query(description="Only unread mentions")] = False,
) -> MentionList:
    principal = _principal()
    page = _notes().mentions(
        principal.email,
        visible=lambda mention: policy.can_read_bodies(principal, mention.mailbox),
        limit=limit,
        cursor=cursor,
        unread_only=unread,
    )
    return MentionList(items=[MentionOut.of(m) for m in page.items], next_cursor=page.next_cursor)


@router.post("/api/mentions/read", summary="Mark my mentions read (some ids, or all)")
def mark_mentions_read(request: Annotated[MentionsReadRequest, Body()]) -> MentionsReadOut:
    email = _principal().email
    notes = _notes()
    updated = notes.mark_all_read(email) if request.all else notes.mark_read(email, request.ids)
    return MentionsReadOut(updated=updated)
