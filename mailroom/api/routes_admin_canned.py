"""Canned responses for admins: the ``/admin/canned`` page (list by usage, create, edit, delete, a
live preview against a chosen conversation) and the JSON API under ``/api/admin/canned``.
Templates are checked before they are saved: an error is refused with its field and line."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import BaseModel, Field, ValidationError, field_validator

from mailroom.api import wiring
from mailroom.api.admin_common import forbidden_page, form_of, query_of, recent_conversations
from mailroom.api.errors import ApiError
from mailroom.api.guard import current_session
from mailroom.api.openapi_docs import answers
from mailroom.api.render import page, render
from mailroom.api.session import Session
from mailroom.assignment.store import AssignmentStore
from mailroom.auth import policy
from mailroom.auth.model import Principal
from mailroom.canned import admin
from mailroom.canned.context import template_context
from mailroom.canned.model import CannedResponse, TemplateContext
from mailroom.canned.store import get_canned
from mailroom.inbox.directory import get_mailbox, get_user, list_mailboxes
from mailroom.inbox.search import conversation_by_id
from mailroom.replies.model import reply_subject

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated

SLUG = r"^[a-z0-9][a-z0-9-]{0,63}$"
TEMPLATE = "admin_canned.html"


def _session() -> Session:
    return current_session(router.context)


def _admin() -> Session:
    session = _session()
    policy.require_admin(session.principal)
    return session


# -- models -------------------------------------------------------------------------------------------


class CannedFields(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    subject: str | None = Field(
        default=None, max_length=500, description="A template; none: 'Re: <the conversation's subject>'."
    )
    body: str = Field(min_length=1, max_length=20_000, description="A Jinja2 template (plain text).")
    mailbox: str | None = Field(default=None, max_length=320, description="Scope: one mailbox, or")
    team: str | None = Field(default=None, pattern=SLUG, description="one team; neither: everyone.")

    @field_validator("subject", "mailbox", "team", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("name")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("give it a name agents will recognise")
        return value.strip()

    def canned(self, canned_id: str) -> CannedResponse:
        fields = self.model_dump(include={"name", "subject", "body", "mailbox", "team"})
        return CannedResponse(id=canned_id, **fields)


class CannedIn(CannedFields):
    id: str = Field(pattern=SLUG, description="A slug: what rules name in auto_reply.")


class CannedOut(BaseModel):
    id: str
    name: str
    subject: str | None
    body: str
    mailbox: str | None
    team: str | None
    usage_count: int

    @classmethod
    def of(cls, canned: CannedResponse) -> CannedOut:
        return cls(**canned.model_dump())


class CannedList(BaseModel):
    canned: list[CannedOut]


class PreviewIn(BaseModel):
    body: str = Field(max_length=20_000)
    subject: str | None = Field(default=None, max_length=500)
    conversation_id: str | None = Field(
        default=None,
        pattern=r"^c[0-9a-z]{6,32}$",
        description="Render for this conversation (default: a sample).",
    )


class PreviewOut(BaseModel):
    subject: str
    body: str


_ADMINS = {403: "Admins only"}
_NO_SUCH = "No such canned response"
_INVALID = "Invalid: `field` (and `line`) say where; a template that does not render"


def _field_error(exc: admin.CannedFieldError) -> ApiError:
    return ApiError(422, f"Invalid request: {exc}", field=exc.field, line=exc.line, reason=exc.reason)


def _context(principal: Principal, conversation_id: str | None) -> tuple[TemplateContext, str]:
    """The variables for a preview (the conversation's, as the caller), and the default subject."""
    if not conversation_id:
        return admin.SAMPLE, reply_subject(str(admin.SAMPLE.conversation["subject"]))
    conversation = conversation_by_id(wiring.table(), conversation_id)
    if conversation is None:
        raise ApiError(404, f"no conversation {conversation_id}")
    context = template_context(
        conversation,
        mailbox=get_mailbox(wiring.table(), conversation.mailbox),
        agent=get_user(wiring.table(), principal.email),
        agent_email=principal.email,
    )
    return context, reply_subject(conversation.subject)


def _render_preview(principal: Principal, request: PreviewIn) -> PreviewOut:
    context, default_subject = _context(principal, request.conversation_id)
    draft = CannedResponse.model_construct(
        id="preview", name="preview", subject=request.subject or None, body=request.body, usage_count=0
    )
    rendered = admin.preview(draft, context, default_subject=default_subject)
    return PreviewOut(subject=rendered.subject, body=rendered.body)


# -- JSON API -----------------------------------------------------------------------------------------


@router.get(
    "/api/admin/canned", summary="Every canned response, most used first (admins)", responses=answers(_ADMINS)
)
def list_canned_api(
    sort: Annotated[Literal["usage", "name"], Query(description="usage (default) or name")] = "usage",
) -> CannedList:
    _admin()
    return CannedList(canned=[CannedOut.of(c) for c in admin.sorted_canned(wiring.table(), sort)])


@router.post(
    "/api/admin/canned",
    summary="Create a canned response (admins)",
    responses=answers(
        {**_ADMINS, 409: "A canned response with this id exists", 422: _INVALID},
        success=201,
        description="Created",
    ),
)
def create_canned_api(request: Annotated[CannedIn, Body()]) -> Response[CannedOut]:
    session = _admin()
    try:
        canned = admin.create(wiring.table(), request.canned(request.id), actor=session.principal.email)
    except admin.CannedFieldError as exc:
        raise _field_error(exc) from exc
    except admin.CannedExistsError as exc:
        raise ApiError(409, str(exc)) from exc
    return Response(status_code=201, content_type="application/json", body=CannedOut.of(canned))


@router.post(
    "/api/admin/canned/preview",
    summary="Render a canned response's templates for a conversation (admins)",
    description="422 with `field` and `line` when a template doesn't render.",
    responses=answers({**_ADMINS, 404: "No such conversation", 422: _INVALID}),
)
def preview_canned_api(request: Annotated[PreviewIn, Body()]) -> PreviewOut:
    session = _admin()
    try:
        return _render_preview(session.principal, request)
    except admin.CannedFieldError as exc:
        raise _field_error(exc) from exc


@router.get(
    "/api/admin/canned/<canned_id>",
    summary="One canned response (admins)",
    responses=answers({**_ADMINS, 404: _NO_SUCH}),
)
def get_canned_api(canned_id: Annotated[str, Path(pattern=SLUG)]) -> CannedOut:
    _admin()
    canned = get_canned(wiring.table(), canned_id)
    if canned is None:
        raise ApiError(404, f"no canned response {canned_id!r}")
    return CannedOut.of(canned)


@router.put(
    "/api/admin/canned/<canned_id>",
    summary="Edit a canned response; its usage count is kept (admins)",
    responses=answers({**_ADMINS, 404: _NO_SUCH, 422: _INVALID}),
)
def put_canned_api(
    canned_id: Annotated[str, Path(pattern=SLUG)], request: Annotated[CannedFields, Body()]
) -> CannedOut:
    session = _admin()
    try:
        return CannedOut.of(
            admin.update(wiring.table(), request.canned(canned_id), actor=session.principal.email)
        )
    except admin.CannedFieldError as exc:
        raise _field_error(exc) from exc
    except admin.CannedNotFound as exc:
        raise ApiError(404, str(exc)) from exc


@router.delete(
    "/api/admin/canned/<canned_id>",
    summary="Delete a canned response (admins); 409 while a rule auto-replies with it",
    responses=answers(
        {**_ADMINS, 404: _NO_SUCH, 409: "A rule auto-replies with it: `rules` names them"},
        success=204,
        description="Deleted",
        content={},
    ),
)
def delete_canned_api(canned_id: Annotated[str, Path(pattern=SLUG)]) -> Response[str]:
    session = _admin()
    _delete(canned_id, session)
    return Response(status_code=204, body="")


def _delete(canned_id: str, session: Session) -> None:
    try:
        admin.delete(wiring.table(), canned_id, actor=session.principal.email)
    except admin.CannedInUseError as exc:
        raise ApiError(409, str(exc), rules=exc.rules) from exc
    except admin.CannedNotFound as exc:
        raise ApiError(404, str(exc)) from exc


# -- the page -----------------------------------------------------------------------------------------


def _page(session: Session, status_code: int = 200, **context: Any) -> Response[str]:
    table = wiring.table()
    sort = context.pop("sort", "usage")
    values: dict[str, Any] = {
        "sort": sort,
        "canned_list": admin.sorted_canned(table, sort),
        "mailboxes": sorted(str(item["address"]) for item in list_mailboxes(table)),
        "teams": sorted(team.id for team in AssignmentStore(table).list_teams()),
        "recent": recent_conversations(session.principal),
        "active": "admin",
        **context,
    }
    return page(session, TEMPLATE, status_code, **values)


@router.get("/admin/canned", include_in_schema=False)
def canned_page() -> Response[str]:
    session = _session()
    refused = forbidden_page(session, TEMPLATE, active="admin")
    if refused:
        return refused
    params = query_of(router)
    sort = "name" if params.get("sort") == "name" else "usage"
    editing = get_canned(wiring.table(), params["edit"]) if params.get("edit") else None
    draft: dict[str, Any] = editing.model_dump() if editing else {}
    return _page(
        session,
        sort=sort,
        draft=draft,
        editing=editing is not None,
        show_form=editing is not None or "new" in params,
        notice=params.get("done", ""),
    )


@router.post("/admin/canned", include_in_schema=False)
def save_canned_form() -> Response[str]:
    session = _admin()
    form = form_of(router)
    editing = form.get("mode") == "edit"
    canned_id = form.get("id", "").strip()
    errors: dict[str, str] = {}
    try:
        fields = CannedFields.model_validate(
            {k: form.get(k) for k in ("name", "subject", "body", "mailbox", "team")}
        )
        if editing:
            admin.update(wiring.table(), fields.canned(canned_id), actor=session.principal.email)
        else:
            CannedIn.model_validate({"id": canned_id, **fields.model_dump()})
            admin.create(wiring.table(), fields.canned(canned_id), actor=session.principal.email)
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "name"
            errors.setdefault(name, str(error["msg"]).removeprefix("Value error, "))
    except admin.CannedFieldError as exc:
        errors[exc.field] = f"line {exc.line}: {exc.reason}" if exc.line else exc.reason
    except admin.CannedExistsError as exc:
        errors["id"] = str(exc)
    except admin.CannedNotFound as exc:
        errors["id"] = str(exc)
    if errors:
        return _page(session, 422, draft=form, editing=editing, show_form=True, errors=errors)
    return Response(status_code=303, body="", headers={"Location": f"/admin/canned?done=saved+{canned_id}"})


@router.post("/admin/canned/preview", include_in_schema=False)
def preview_form() -> Response[str]:
    """The live preview (htmx, on input): rendered, or the error at its line."""
    session = _admin()
    form = form_of(router)
    body = form.get("body", "")
    conversation_id = form.get("preview_conversation") or None
    context: dict[str, Any] = {"session": session, "csrf": session.csrf()}
    if not body.strip():
        return render("_canned_preview.html", empty=True, **context)
    try:
        request = PreviewIn(body=body, subject=form.get("subject") or None, conversation_id=conversation_id)
        rendered = _render_preview(session.principal, request)
    except ValidationError as exc:
        return render("_canned_preview.html", 422, message=str(exc.errors()[0]["msg"]), **context)
    except ApiError as exc:
        return render("_canned_preview.html", exc.status, message=exc.message, **context)
    except admin.CannedFieldError as exc:
        source = form.get(exc.field, "") or ""
        return render(
            "_canned_preview.html",
            422,
            error=exc,
            source_lines=list(enumerate(source.splitlines(), start=1)),
            **context,
        )
    return render("_canned_preview.html", rendered=rendered, **context)


@router.post("/admin/canned/<canned_id>/delete", include_in_schema=False)
def delete_canned_form(canned_id: Annotated[str, Path(pattern=SLUG)]) -> Response[str]:
    session = _admin()
    try:
        _delete(canned_id, session)
    except ApiError as exc:
        return _page(session, exc.status, problem=exc.message)
    return Response(status_code=303, body="", headers={"Location": f"/admin/canned?done=deleted+{canned_id}"})
