"""Admins only: the product-wide audit log, and data protection (export or erase a contact).

JSON: ``GET /api/admin/audit`` (filters ``actor``, ``action`` (a prefix), ``from``/``to`` (dates,
at most 92 days), ``cursor``), ``GET /api/admin/audit.csv``, ``GET /api/admin/contacts/{email}/export``
(a zip) and ``POST /api/admin/contacts/{email}/delete`` (``{"confirm": "<the address again>"}``).
Pages: ``/admin/audit`` and ``/admin/contact`` (look a contact up, export it, erase it).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import parse_qs, unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, ForbiddenError, NotFoundError
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, Field

from mailroom.api import wiring
from mailroom.api.errors import ApiError
from mailroom.api.guard import current_session
from mailroom.api.openapi_docs import answers
from mailroom.api.render import page
from mailroom.audit.csv_export import audit_csv
from mailroom.audit.log import (
    CONTACT_EXPORTED,
    AuditEntry,
    AuditQuery,
    InvalidAuditQueryError,
    contact_ref,
    iter_entries,
    list_entries,
    record,
)
from mailroom.auth import policy
from mailroom.auth.model import Principal
from mailroom.privacy.erase import ErasureReport, contact_conversation_ids, erase_contact
from mailroom.privacy.export import ExportTooLargeError, collect_contact
from mailroom.table import keys, schema

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated

# One HTTP answer carries at most 6 MB (Lambda), base64 for binary: the zip must stay under this.
MAX_ZIP_BYTES = 4_000_000
MAX_EXPORT_SOURCE_BYTES = 20_000_000


_ADMINS = {403: "Admins only"}
_BAD_QUERY = "An invalid period, cursor or limit"
_NOT_AN_ADDRESS = "Not an email address"


def _admin() -> Principal:
    principal = current_session(router.context).principal
    if not policy.can_admin(principal):
        raise ForbiddenError("only admins can read the audit log or export and erase contacts")
    return principal


def _address(raw: str) -> str:
    email = unquote(raw).strip().lower()
    if not email or len(email) > 320 or "@" not in email or any(ch.isspace() for ch in email):
        raise BadRequestError("not an email address")
    return email


def _query(params: dict[str, str]) -> AuditQuery:
    try:
        start = date.fromisoformat(params["from"]) if params.get("from") else None
        end = date.fromisoformat(params["to"]) if params.get("to") else None
        return AuditQuery.build(start=start, end=end, actor=params.get("actor"), action=params.get("action"))
    except ValueError as exc:  # InvalidAuditQueryError too
        raise BadRequestError(f"invalid period: {exc}") from exc


def _params() -> dict[str, str]:
    return dict(router.current_event.query_string_parameters or {})


# -- the audit log ------------------------------------------------------------------------------


class AuditEntryOut(BaseModel):
    id: str
    at: str
    actor: str
    action: str
    target: str
    details: dict[str, Any]


class AuditPageOut(BaseModel):
    entries: list[AuditEntryOut]
    next_cursor: str | None
    period: dict[str, str]


def _out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(
        id=entry.id,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        details=entry.details,
    )


@router.get(
    "/api/admin/audit",
    summary="The audit log, newest first (filter by actor, action, period)",
    responses=answers({400: _BAD_QUERY, **_ADMINS}),
)
def audit_api() -> AuditPageOut:
    _admin()
    params = _params()
    query = _query(params)
    try:
        limit = int(params.get("limit") or 50)
        found = list_entries(wiring.table(), query, cursor=params.get("cursor") or None, limit=limit)
    except (InvalidAuditQueryError, ValueError) as exc:
        raise BadRequestError(str(exc)) from exc
    return AuditPageOut(
        entries=[_out(e) for e in found.entries],
        next_cursor=found.next_cursor,
        period={"from": query.start.isoformat(), "to": query.end.isoformat()},
    )


@router.get(
    "/api/admin/audit.csv",
    summary="The audit log as CSV (the same filters)",
    responses=answers({400: _BAD_QUERY, **_ADMINS}, content={"text/csv": {"schema": {"type": "string"}}}),
)
def audit_csv_api() -> Response[str]:
    _admin()
    query = _query(_params())
    name = f"mailroom-audit-{query.start.isoformat()}-{query.end.isoformat()}.csv"
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=audit_csv(iter_entries(wiring.table(), query)),
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.get("/admin/audit", include_in_schema=False)
def audit_page() -> Response[str]:
    _admin()
    session = current_session(router.context)
    params = _params()
    filters = {name: params.get(name, "") for name in ("actor", "action", "from", "to")}
    try:
        query = _query(params)
        found = list_entries(wiring.table(), query, cursor=params.get("cursor") or None)
    except (BadRequestError, InvalidAuditQueryError) as exc:
        message = exc.msg if isinstance(exc, BadRequestError) else str(exc)
        return page(
            session, "admin_audit.html", 400, entries=[], filters=filters, error=message, active="admin"
        )
    filters["from"], filters["to"] = query.start.isoformat(), query.end.isoformat()
    return page(
        session,
        "admin_audit.html",
        entries=found.entries,
        next_cursor=found.next_cursor,
        filters=filters,
        active="admin",
    )


# -- data protection ----------------------------------------------------------------------------


class EraseRequest(BaseModel):
    confirm: str = Field(max_length=320, description="The contact's address again, to confirm.")


class ErasureOut(BaseModel):
    contact: str = Field(description="SHA-256 of the address, as the tombstone names it.")
    found: bool
    conversations: int
    messages: int
    items: int
    blobs: int
    complete: bool = Field(description="False: more conversations remain; call again.")


# No return annotation on purpose (binary body): see routes_api.get_attachment.
@router.get(
    "/api/admin/contacts/<email>/export",
    summary="Everything about a contact, as a zip",
    responses=answers(
        {
            400: _NOT_AN_ADDRESS,
            **_ADMINS,
            404: "Nothing is stored about this address",
            413: "Too large for one answer: use `mailroom contacts export`",
        },
        content={"application/zip": {"schema": {"type": "string"}}},
    ),
)
def export_contact_api(email: str):  # type: ignore[no-untyped-def]
    principal = _admin()
    address = _address(email)
    try:
        export = collect_contact(wiring.table(), wiring.store(), address, max_bytes=MAX_EXPORT_SOURCE_BYTES)
        data = export.to_zip() if export is not None else None
    except ExportTooLargeError as exc:
        raise ApiError(413, f"{exc}: use `mailroom contacts export`") from exc
    if data is None:
        raise NotFoundError("no such contact")
    if len(data) > MAX_ZIP_BYTES:
        raise ApiError(413, "the export is too large for one answer: use `mailroom contacts export`")
    record(
        wiring.table(),
        actor=principal.email,
        action=CONTACT_EXPORTED,
        target=contact_ref(address),
        details={"conversations": len(export.document["conversations"]) if export else 0, "bytes": len(data)},
    )
    return Response(
        status_code=200,
        content_type="application/zip",
        body=data,
        headers={
            "Content-Disposition": 'attachment; filename="contact-export.zip"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "/api/admin/contacts/<email>/delete",
    summary="Erase a contact (GDPR): mail, raw store, items",
    responses={
        **answers(
            {400: _NOT_AN_ADDRESS, **_ADMINS, 422: "confirm does not repeat the address"},
            description="Erased",
        ),
        202: {"description": "Erased in part: more conversations remain; call again"},
    },
)
def delete_contact_api(email: str, request: Annotated[EraseRequest, Body()]) -> Response[ErasureOut]:
    principal = _admin()
    address = _address(email)
    if request.confirm.strip().lower() != address:
        raise ApiError(422, "confirm must repeat the contact's address exactly")
    report = erase_contact(wiring.table(), wiring.store(), address, actor=principal.email)
    return Response(
        status_code=200 if report.complete else 202,
        content_type="application/json",
        body=ErasureOut(**report.as_dict()),
    )


def _contact_summary(address: str) -> dict[str, Any] | None:
    table = wiring.table()
    contact = table.get({schema.PK: keys.contact_pk(address), schema.SK: keys.META})
    conversations = contact_conversation_ids(table, address, limit=1000)
    if contact is None and not conversations:
        return None
    return {
        "email": address,
        "name": (contact or {}).get("name") or "",
        "first_seen_at": (contact or {}).get("first_seen_at"),
        "last_seen_at": (contact or {}).get("last_seen_at"),
        "conversations": len(conversations),
        "messages": int((contact or {}).get("message_count") or 0),
    }


@router.get("/admin/contact", include_in_schema=False)
def contact_page() -> Response[str]:
    _admin()
    session = current_session(router.context)
    raw = (_params().get("email") or "").strip()
    if not raw:
        return page(session, "admin_contact.html", email="", contact=None, active="admin")
    try:
        address = _address(raw)
    except BadRequestError as exc:
        return page(
            session, "admin_contact.html", 400, email=raw, contact=None, error=exc.msg, active="admin"
        )
    summary = _contact_summary(address)
    return page(
        session,
        "admin_contact.html",
        200 if summary else 404,
        email=address,
        contact=summary,
        error=None if summary else "No contact with this address.",
        active="admin",
    )


@router.post("/admin/contact/delete", include_in_schema=False)
def contact_delete_page() -> Response[str]:
    principal = _admin()
    session = current_session(router.context)
    form = {k: v[0] for k, v in parse_qs(router.current_event.decoded_body or "").items() if v}
    try:
        address = _address(form.get("email", ""))
    except BadRequestError as exc:
        return page(session, "admin_contact.html", 400, email="", contact=None, error=exc.msg, active="admin")
    if form.get("confirm", "").strip().lower() != address:
        return page(
            session,
            "admin_contact.html",
            422,
            email=address,
            contact=_contact_summary(address),
            error="Type the contact's address exactly to confirm the deletion.",
            active="admin",
        )
    report: ErasureReport = erase_contact(wiring.table(), wiring.store(), address, actor=principal.email)
    return page(
        session,
        "admin_contact.html",
        email=address,
        contact=None,
        erased=report.as_dict(),
        active="admin",
    )
