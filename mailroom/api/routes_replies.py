"""JSON API for replying: send (idempotent, stale-safe), delivery state, settling a send in doubt,
canned responses for a conversation, and presence."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from pydantic import BaseModel, Field, ValidationError

from mailroom.api import wiring
from mailroom.api.access import CONVERSATION_ID_PATTERN, actionable_conversation, readable_conversation
from mailroom.api.errors import ApiError, describe
from mailroom.api.guard import current_session
from mailroom.api.openapi_docs import answers
from mailroom.api.workspace import CannedNotFoundError, canned_choices, presence, render_for, send_reply
from mailroom.auth.model import Principal
from mailroom.canned.render import TemplateError
from mailroom.mail.model import Address
from mailroom.presence.model import PresenceState
from mailroom.replies.model import (
    IDEMPOTENCY_KEY_PATTERN,
    MAX_HTML_CHARS,
    MAX_RECIPIENTS,
    MAX_TEXT_CHARS,
    ReplyRequest,
    ReplyResult,
    ReplyStatus,
)

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated

ConversationId = Annotated[str, Path(pattern=CONVERSATION_ID_PATTERN, description="Conversation id")]
IdempotencyKey = Annotated[str, Path(pattern=IDEMPOTENCY_KEY_PATTERN)]
_NOT_FOUND = "No such conversation (or not visible)"
_NO_CONTENTS = "The caller sees the conversation but not its contents (finance)"


class AddressIn(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    name: str = Field(default="", max_length=200)


class ReplyIn(BaseModel):
    idempotency_key: str = Field(
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Chosen by the client, once per reply: resubmitting with it never sends a second mail.",
    )
    seen_version: int = Field(ge=1, description="The conversation `version` the agent was looking at.")
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    html: str | None = Field(default=None, max_length=MAX_HTML_CHARS, description="Sanitized on arrival.")
    to: list[AddressIn] | None = Field(
        default=None, max_length=MAX_RECIPIENTS, description="Default: the customer."
    )
    cc: list[AddressIn] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    subject: str | None = Field(default=None, max_length=998, description='Default: "Re: <subject>".')
    canned_id: str | None = Field(default=None, max_length=64)
    close_after: Literal["pending", "closed"] | None = None


class ReplyOut(BaseModel):
    conversation_id: str
    idempotency_key: str
    message_key: str
    message_id: str
    status: ReplyStatus
    in_doubt: bool = Field(description="It may or may not have gone out: settle it with .../resolve.")
    provider_id: str | None
    conversation_version: int
    claimed: bool
    reason: str | None
    replayed: bool

    @classmethod
    def of(cls, result: ReplyResult) -> ReplyOut:
        return cls.model_validate({**result.model_dump(mode="json"), "in_doubt": result.in_doubt})


class ReplyList(BaseModel):
    items: list[ReplyOut]


class ResolveIn(BaseModel):
    sent: bool = Field(
        description="true: it went out (record it as sent); false: it did not (the next retry sends it)."
    )


class CannedOut(BaseModel):
    id: str
    name: str
    mailbox: str | None
    team: str | None
    usage_count: int


class CannedList(BaseModel):
    items: list[CannedOut]


class RenderedOut(BaseModel):
    canned_id: str
    subject: str
    body: str


class PresenceIn(BaseModel):
    state: PresenceState = PresenceState.VIEWING


class PresentOut(BaseModel):
    agent: str
    name: str
    state: PresenceState
    label: str


class PresenceOut(BaseModel):
    present: list[PresentOut]
    conversation_version: int


# Sent: 201 the first time, 200 on a replay; on its way or in doubt: 202; refused by the provider: 502.
def _status_code(result: ReplyResult) -> int:
    if result.status is ReplyStatus.SENT:
        return 200 if result.replayed else 201
    if result.status is ReplyStatus.FAILED:
        return 502
    return 202


def _principal() -> Principal:
    return current_session(router.context).principal


@router.post(
    "/api/conversations/<conversation_id>/replies",
    summary="Reply to the customer (exactly once per idempotency key)",
    responses={
        **answers(
            {
                400: "A header value contains CR or LF",
                403: "No send right on the mailbox",
                404: _NOT_FOUND,
                409: "Stale (changed since seen_version) or someone else holds it",
                422: "Invalid input, or the idempotency key names another reply",
            },
            success=201,
            description="Sent",
        ),
        200: {"description": "Sent before: this idempotency key's reply, as it was (a replay)"},
        202: {"description": "On its way, or in doubt (settle it with .../resolve)"},
        502: {"description": "The mail provider refused it: the reply with its reason"},
    },
)
def post_reply(conversation_id: ConversationId, reply: Annotated[ReplyIn, Body()]) -> Response[ReplyOut]:
    try:
        request = ReplyRequest(
            conversation_id=conversation_id,
            idempotency_key=reply.idempotency_key,
            seen_version=reply.seen_version,
            text=reply.text,
            html=reply.html,
            to=[Address(email=a.email, name=a.name) for a in reply.to] if reply.to else None,
            cc=[Address(email=a.email, name=a.name) for a in reply.cc],
            subject=reply.subject,
            canned_id=reply.canned_id,
            close_after=reply.close_after,
        )
    except ValidationError as exc:  # e.g. text that is only blanks
        raise describe(exc) or ApiError(422, str(exc)) from exc
    result = send_reply(_principal(), request)
    return Response(
        status_code=_status_code(result),
        content_type=content_types.APPLICATION_JSON,
        body=ReplyOut.of(result),
    )


@router.get(
    "/api/conversations/<conversation_id>/replies",
    summary="The conversation's replies and their delivery state",
    responses=answers({403: _NO_CONTENTS, 404: _NOT_FOUND}),
)
def get_replies(conversation_id: ConversationId) -> ReplyList:
    conversation = readable_conversation(_principal(), conversation_id)
    return ReplyList(items=[ReplyOut.of(r) for r in wiring.replies().replies_of(conversation.id)])


@router.post(
    "/api/conversations/<conversation_id>/replies/<idempotency_key>/resolve",
    summary="Settle a reply whose sending is in doubt",
    responses=answers(
        {
            403: "No send right on the mailbox",
            404: "No such conversation or reply (or not visible)",
            409: "The reply is not in doubt",
        }
    ),
)
def resolve_reply(
    conversation_id: ConversationId, idempotency_key: IdempotencyKey, resolution: Annotated[ResolveIn, Body()]
) -> ReplyOut:
    principal = _principal()
    conversation = actionable_conversation(principal, conversation_id)
    result = wiring.replies().resolve_unknown(
        conversation.id, idempotency_key, resolution.sent, actor=principal.email
    )
    return ReplyOut.of(result)


@router.get(
    "/api/conversations/<conversation_id>/canned",
    summary="Canned responses that fit this conversation",
    responses=answers({403: _NO_CONTENTS, 404: _NOT_FOUND}),
)
def get_canned(conversation_id: ConversationId) -> CannedList:
    _, choices = canned_choices(_principal(), conversation_id)
    return CannedList(
        items=[
            CannedOut(id=c.id, name=c.name, mailbox=c.mailbox, team=c.team, usage_count=c.usage_count)
            for c in choices
        ]
    )


@router.post(
    "/api/conversations/<conversation_id>/canned/<canned_id>/render",
    summary="Render a canned response for this conversation, as the caller",
    responses=answers(
        {403: _NO_CONTENTS, 404: "No such conversation or canned response", 422: "It does not render"}
    ),
)
def post_render_canned(
    conversation_id: ConversationId,
    canned_id: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")],
) -> RenderedOut:
    try:
        canned, rendered = render_for(_principal(), conversation_id, canned_id)
    except CannedNotFoundError as exc:
        raise ApiError(404, f"no canned response {canned_id} for this conversation") from exc
    except TemplateError as exc:
        raise ApiError(422, f"the canned response does not render: {exc}", line=exc.line) from exc
    return RenderedOut(canned_id=canned.id, subject=rendered.subject, body=rendered.body)


@router.post(
    "/api/conversations/<conversation_id>/presence",
    summary="Report that the caller is viewing or replying; returns who else is here",
    responses=answers({404: _NOT_FOUND}),
)
def post_presence(conversation_id: ConversationId, heartbeat: Annotated[PresenceIn, Body()]) -> PresenceOut:
    conversation, others = presence(_principal(), conversation_id, heartbeat.state)
    return PresenceOut(
        present=[PresentOut(agent=p.agent, name=p.name, state=p.state, label=p.label) for p in others],
        conversation_version=conversation.version,
    )
