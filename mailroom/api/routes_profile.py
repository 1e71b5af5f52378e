"""The signed-in person's own profile: their status (available, away) and out-of-office periods.

``/api/me`` (GET, PATCH) and the ``/profile`` page. Anyone signed in may change these for
themselves, and nothing else: role, teams, capacity and schedule stay with admins.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import ValidationError

from mailroom.api import wiring
from mailroom.api.guard import current_session
from mailroom.api.openapi_docs import answers
from mailroom.api.render import page, render
from mailroom.api.routes_admin_org import as_api_error, field_problems
from mailroom.org import forms
from mailroom.org.models import MeOut, MePatch, UserOut
from mailroom.org.service import FieldError, OrgAdmin, OrgError

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated
_UNKNOWN = "The caller has no user record (a token for someone since removed)"


def _service() -> tuple[OrgAdmin, str]:
    principal = current_session(router.context).principal
    return OrgAdmin(wiring.table(), actor=principal.email), principal.email


def _me(user: UserOut) -> MeOut:
    return MeOut(
        email=user.email,
        name=user.name,
        role=user.role,
        status=user.status,
        out_of_office=user.out_of_office,
        open_count=user.open_count,
    )


@router.get(
    "/api/me", summary="Who I am, my status and my out-of-office periods", responses=answers({404: _UNKNOWN})
)
def get_me() -> MeOut:
    service, email = _service()
    try:
        return _me(service.get_user(email))
    except OrgError as exc:
        raise as_api_error(exc) from exc


@router.patch(
    "/api/me",
    summary="Set my status (available, away) or my out-of-office periods",
    responses=answers({404: _UNKNOWN, 422: "Invalid: `detail` names the field"}),
)
def patch_me(request: Annotated[MePatch, Body()]) -> MeOut:
    service, email = _service()
    try:
        user = service.set_own_presence(email, status=request.status, out_of_office=request.out_of_office)
    except OrgError as exc:
        raise as_api_error(exc) from exc
    return _me(user)


def _values(user: UserOut) -> dict[str, Any]:
    zone = user.schedule.timezone if user.schedule else "UTC"
    return {
        "status": user.status.value,
        "out_of_office": forms.absences_text(user.out_of_office, zone),
        "timezone": zone,
    }


@router.get("/profile", include_in_schema=False)
def profile_page() -> Response[str]:
    session = current_session(router.context)
    service, email = _service()
    user = service.get_user(email)
    saved = (router.current_event.query_string_parameters or {}).get("saved") == "1"
    return page(
        session,
        "profile.html",
        user=user,
        values=_values(user),
        errors={},
        saved=saved,
        users=[u for u in service.list_users() if u.active and u.email != email],
        active="profile",
    )


@router.post("/profile", include_in_schema=False)
def profile_save() -> Response[str]:
    session = current_session(router.context)
    service, email = _service()
    user = service.get_user(email)
    form = parse_qs(router.current_event.decoded_body or "", keep_blank_values=True)
    zone = user.schedule.timezone if user.schedule else "UTC"
    values = {
        "status": (form.get("status") or [""])[-1],
        "out_of_office": (form.get("out_of_office") or [""])[-1],
        "timezone": zone,
    }
    try:
        request = MePatch.model_validate(
            {
                "status": values["status"] or None,
                "out_of_office": forms.parse_absences(values["out_of_office"], zone),
            }
        )
        service.set_own_presence(email, status=request.status, out_of_office=request.out_of_office)
    except (ValidationError, FieldError) as exc:
        errors: dict[str, str] = {}
        for field, message in field_problems(exc):
            errors[field] = f"{errors[field]}; {message}" if field in errors else message
        headers = router.current_event.headers or {}
        context = {"user": user, "values": values, "errors": errors, "saved": False}
        if any(name.lower() == "hx-request" for name in headers):
            return render("_admin_profile_form.html", 422, session=session, csrf=session.csrf(), **context)
        return page(session, "profile.html", 422, active="profile", users=[], **context)
    headers = router.current_event.headers or {}
    if any(name.lower() == "hx-request" for name in headers):
        return Response(status_code=200, body="", headers={"HX-Redirect": "/profile?saved=1"})
    return Response(status_code=303, body="", headers={"Location": "/profile?saved=1"})
