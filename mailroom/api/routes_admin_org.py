"""Admin: mailboxes, people and teams, as JSON (``/api/admin/...``) and as pages (``/admin/...``).

Only admins (``policy.can_admin``); everyone else gets 403. The work is done by
:class:`mailroom.org.service.OrgAdmin`, which the CLI uses too; this module maps its refusals to
HTTP (a wrong field is a 422 naming it, exactly like the models' own validation) and parses forms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs, quote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from pydantic import ValidationError

from mailroom.api import wiring
from mailroom.api.errors import ApiError
from mailroom.api.guard import current_session
from mailroom.api.openapi_docs import answers
from mailroom.api.render import page, render
from mailroom.auth import policy
from mailroom.canned.store import list_canned
from mailroom.domain.team import Team
from mailroom.org import forms
from mailroom.org.models import (
    DeactivateOut,
    MailboxCreate,
    MailboxList,
    MailboxOut,
    MailboxPatch,
    TeamCreate,
    TeamList,
    TeamPatch,
    UserInvite,
    UserList,
    UserOut,
    UserPatch,
)
from mailroom.org.provisioning import AlreadyInvitedError, ProvisioningError, provisioner_from_settings
from mailroom.org.service import ConflictError, FieldError, NotFoundError, OrgAdmin, OrgError

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated

T = TypeVar("T")

_REFUSED = {
    403: "Admins only",
    404: "No such mailbox, user or team",
    422: "Invalid input: `detail` names the field",
}
_REFUSALS = answers(_REFUSED)
_CREATED = answers(_REFUSED, success=201, description="Created")
AddressParam = Annotated[str, Path(max_length=254, description="A mailbox address")]
EmailParam = Annotated[str, Path(max_length=254, description="A user's email address")]
TeamParam = Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]


def admin_service() -> OrgAdmin:
    """The service for the signed-in admin (403 for anyone else)."""
    principal = current_session(router.context).principal
    policy.require_admin(principal)
    return OrgAdmin(wiring.table(), actor=principal.email, provisioner=provisioner_from_settings())


def field_problems(exc: ValidationError | FieldError) -> list[tuple[str, str]]:
    """``[(field, message)]`` from pydantic's errors (the first element of the location) or ours."""
    if isinstance(exc, FieldError):
        return exc.problems
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ()) if not isinstance(part, int)]
        message = str(error.get("msg") or "invalid").removeprefix("Value error, ")
        problems.append((loc[0] if loc else "request", message))
    return problems


def as_api_error(exc: Exception) -> ApiError:
    if isinstance(exc, FieldError | ValidationError):
        problems = field_problems(exc)
        return ApiError(
            422,
            "Invalid request: " + "; ".join(f"{field}: {message}" for field, message in problems),
            detail=[
                {"loc": ["body", field], "type": "value_error", "msg": message} for field, message in problems
            ],
        )
    if isinstance(exc, NotFoundError):
        return ApiError(404, str(exc))
    if isinstance(exc, AlreadyInvitedError):
        return as_api_error(FieldError([("email", str(exc))]))
    if isinstance(exc, ConflictError):
        return ApiError(409, str(exc))
    if isinstance(exc, ProvisioningError):
        return ApiError(502, str(exc))
    raise exc


def run(action: Callable[[], T]) -> T:
    try:
        return action()
    except (OrgError, ValidationError, ProvisioningError) as exc:
        raise as_api_error(exc) from exc


# -- JSON: mailboxes ---------------------------------------------------------------------------------


@router.get("/api/admin/mailboxes", summary="Every mailbox with its settings", responses=_REFUSALS)
def api_list_mailboxes() -> MailboxList:
    return MailboxList(mailboxes=admin_service().list_mailboxes())


@router.get("/api/admin/mailboxes/<address>", summary="One mailbox", responses=_REFUSALS)
def api_get_mailbox(address: AddressParam) -> MailboxOut:
    service = admin_service()
    return run(lambda: service.get_mailbox(address))


@router.post("/api/admin/mailboxes", summary="Create a mailbox", responses=_CREATED, status_code=201)
def api_create_mailbox(request: Annotated[MailboxCreate, Body()]) -> MailboxOut:
    service = admin_service()
    return run(lambda: service.create_mailbox(request))


@router.put("/api/admin/mailboxes/<address>", summary="Replace a mailbox's settings", responses=_REFUSALS)
def api_put_mailbox(address: AddressParam, request: Annotated[MailboxPatch, Body()]) -> MailboxOut:
    service = admin_service()
    full = MailboxPatch.model_validate(
        {**dict.fromkeys(MailboxPatch.model_fields), "aliases": [], "access": {}, "disabled": False}
        | request.model_dump(exclude_unset=True)
    )
    return run(lambda: service.update_mailbox(address, full))


@router.patch(
    "/api/admin/mailboxes/<address>", summary="Change some of a mailbox's settings", responses=_REFUSALS
)
def api_patch_mailbox(address: AddressParam, request: Annotated[MailboxPatch, Body()]) -> MailboxOut:
    service = admin_service()
    return run(lambda: service.update_mailbox(address, request))


@router.post("/api/admin/mailboxes/<address>/disable", summary="Refuse new mail", responses=_REFUSALS)
def api_disable_mailbox(address: AddressParam) -> MailboxOut:
    service = admin_service()
    return run(lambda: service.set_mailbox_disabled(address, True))


@router.post("/api/admin/mailboxes/<address>/enable", summary="Accept mail again", responses=_REFUSALS)
def api_enable_mailbox(address: AddressParam) -> MailboxOut:
    service = admin_service()
    return run(lambda: service.set_mailbox_disabled(address, False))


# -- JSON: people ------------------------------------------------------------------------------------


@router.get("/api/admin/users", summary="Every user, with their agent settings", responses=_REFUSALS)
def api_list_users() -> UserList:
    return UserList(users=admin_service().list_users())


@router.get("/api/admin/users/<email>", summary="One user", responses=_REFUSALS)
def api_get_user(email: EmailParam) -> UserOut:
    service = admin_service()
    return run(lambda: service.get_user(email))


@router.post(
    "/api/admin/users",
    summary="Invite a user (on AWS Cognito emails them a temporary password)",
    responses=answers({**_REFUSED, 502: "The sign-in provider refused"}, success=201, description="Invited"),
    status_code=201,
)
def api_invite_user(request: Annotated[UserInvite, Body()]) -> UserOut:
    service = admin_service()
    return run(lambda: service.invite_user(request))


@router.put("/api/admin/users/<email>", summary="Change a user's settings", responses=_REFUSALS)
def api_put_user(email: EmailParam, request: Annotated[UserPatch, Body()]) -> UserOut:
    service = admin_service()
    return run(lambda: service.update_user(email, request))


@router.patch("/api/admin/users/<email>", summary="Change some of a user's settings", responses=_REFUSALS)
def api_patch_user(email: EmailParam, request: Annotated[UserPatch, Body()]) -> UserOut:
    service = admin_service()
    return run(lambda: service.update_user(email, request))


@router.post(
    "/api/admin/users/<email>/deactivate",
    summary="Deactivate a user; their open conversations go back to their team's queue",
    responses=_REFUSALS,
)
def api_deactivate_user(email: EmailParam) -> DeactivateOut:
    service = admin_service()
    user, requeued = run(lambda: service.deactivate_user(email))
    return DeactivateOut(user=user, requeued=requeued)


@router.post(
    "/api/admin/users/<email>/activate", summary="Let a deactivated user back in", responses=_REFUSALS
)
def api_activate_user(email: EmailParam) -> UserOut:
    service = admin_service()
    return run(lambda: service.activate_user(email))


# -- JSON: teams -------------------------------------------------------------------------------------


@router.get("/api/admin/teams", summary="Every team", responses=_REFUSALS)
def api_list_teams() -> TeamList:
    return TeamList(teams=admin_service().list_teams())


@router.get("/api/admin/teams/<team_id>", summary="One team", responses=_REFUSALS)
def api_get_team(team_id: TeamParam) -> Team:
    service = admin_service()
    return run(lambda: service.get_team(team_id))


@router.post("/api/admin/teams", summary="Create a team", responses=_CREATED, status_code=201)
def api_create_team(request: Annotated[TeamCreate, Body()]) -> Team:
    service = admin_service()
    return run(lambda: service.create_team(request))


@router.put("/api/admin/teams/<team_id>", summary="Change a team's settings", responses=_REFUSALS)
def api_put_team(team_id: TeamParam, request: Annotated[TeamPatch, Body()]) -> Team:
    service = admin_service()
    return run(lambda: service.update_team(team_id, request))


@router.patch("/api/admin/teams/<team_id>", summary="Change some of a team's settings", responses=_REFUSALS)
def api_patch_team(team_id: TeamParam, request: Annotated[TeamPatch, Body()]) -> Team:
    service = admin_service()
    return run(lambda: service.update_team(team_id, request))


# -- pages -------------------------------------------------------------------------------------------


def _form() -> dict[str, list[str]]:
    return parse_qs(router.current_event.decoded_body or "", keep_blank_values=True)


def _is_htmx() -> bool:
    headers = router.current_event.headers or {}
    return any(name.lower() == "hx-request" for name in headers)


def _go(location: str) -> Response[str]:
    if _is_htmx():
        return Response(status_code=200, body="", headers={"HX-Redirect": location})
    return Response(status_code=303, body="", headers={"Location": location})


def _admin_page(template: str, status: int = 200, **context: Any) -> Response[str]:
    session = current_session(router.context)
    if not policy.can_admin(session.principal):
        return page(session, template, 403, forbidden=True, active="admin")
    query = router.current_event.query_string_parameters or {}
    notice = None
    if query.get("saved") == "1":
        notice = "Saved."
    elif query.get("invited"):
        notice = f"Invited {query['invited']}."
    elif query.get("requeued", "").isdigit():
        notice = f"Deactivated: {query['requeued']} conversation(s) went back to their team's queue."
    elif query.get("done") in _DONE:
        notice = _DONE[query["done"]]
    return page(session, template, status, active="admin", notice=notice, **context)


# What a one-button change says once done (``?done=``).
_DONE = {
    "activated": "Reactivated: they can sign in again and get work.",
    "enabled": "Enabled: the mailbox accepts mail again.",
    "disabled": "Disabled: new mail to the mailbox and its aliases is refused.",
}


def _choices(service: OrgAdmin) -> dict[str, Any]:
    return {
        "all_users": service.list_users(),
        "all_teams": service.list_teams(),
        "all_canned": list_canned(service.table),
    }


def _fragment(template: str, status: int, **context: Any) -> Response[str]:
    session = current_session(router.context)
    return render(template, status, session=session, csrf=session.csrf(), **context)


def _save(
    *,
    template: str,
    partial: str,
    form_values: dict[str, Any],
    action: Callable[[], Any],
    done: str,
    context: dict[str, Any],
) -> Response[str]:
    """Run ``action``; on a refusal show the form again with the messages at their fields (422)."""
    try:
        action()
    except (OrgError, ValidationError, ProvisioningError) as exc:
        if isinstance(exc, ProvisioningError) and not isinstance(exc, AlreadyInvitedError):
            problems = [("form", str(exc))]
        elif isinstance(exc, AlreadyInvitedError):
            problems = [("email", str(exc))]
        elif isinstance(exc, NotFoundError | ConflictError):
            problems = [("form", str(exc))]
        elif isinstance(exc, FieldError | ValidationError):
            problems = field_problems(exc)
        else:
            problems = [("form", str(exc))]
        errors: dict[str, str] = {}
        for field, message in problems:
            errors[field] = f"{errors[field]}; {message}" if field in errors else message
        if _is_htmx():
            return _fragment(partial, 422, values=form_values, errors=errors, **context)
        return _admin_page(template, 422, values=form_values, errors=errors, **context)
    return _go(done)


def _not_admin() -> bool:
    return not policy.can_admin(current_session(router.context).principal)


@router.get("/admin", include_in_schema=False)
def admin_home() -> Response[str]:
    if _not_admin():
        return _admin_page("admin_mailboxes.html")
    return Response(status_code=303, body="", headers={"Location": "/admin/mailboxes"})


@router.get("/admin/mailboxes", include_in_schema=False)
def mailboxes_page() -> Response[str]:
    if _not_admin():
        return _admin_page("admin_mailboxes.html")
    service = admin_service()
    return _admin_page(
        "admin_mailboxes.html",
        mailboxes=service.list_mailboxes(),
        values=forms.mailbox_values(None),
        errors={},
        editing=None,
        **_choices(service),
    )


@router.get("/admin/mailboxes/<address>", include_in_schema=False)
def mailbox_page(address: str) -> Response[str]:
    if _not_admin():
        return _admin_page("admin_mailboxes.html")
    service = admin_service()
    try:
        mailbox = service.get_mailbox(address)
    except NotFoundError:
        return _admin_page("admin_mailboxes.html", 404, mailboxes=[], missing=address, values={}, errors={})
    return _admin_page(
        "admin_mailboxes.html",
        mailboxes=None,
        mailbox=mailbox,
        values=forms.mailbox_values(mailbox),
        errors={},
        editing=mailbox.address,
        **_choices(service),
    )


@router.post("/admin/mailboxes", include_in_schema=False)
def mailbox_create_form() -> Response[str]:
    if _not_admin():
        return _admin_page("admin_mailboxes.html")
    service = admin_service()
    form = _form()
    values = forms.mailbox_form_values(form)
    return _save(
        template="admin_mailboxes.html",
        partial="_admin_mailbox_form.html",
        form_values=values,
        action=lambda: service.create_mailbox(MailboxCreate.model_validate(forms.mailbox_payload(values))),
        done=f"/admin/mailboxes/{quote(values['address'].strip().lower(), safe='@')}",
        context={"editing": None, "mailboxes": service.list_mailboxes(), **_choices(service)},
    )


@router.post("/admin/mailboxes/<address>", include_in_schema=False)
def mailbox_update_form(address: str) -> Response[str]:
    if _not_admin():
        return _admin_page("admin_mailboxes.html")
    service = admin_service()
    values = forms.mailbox_form_values(_form(), address=address)
    payload = forms.mailbox_payload(values)
    payload.pop("address", None)
    return _save(
        template="admin_mailboxes.html",
        partial="_admin_mailbox_form.html",
        form_values=values,
        action=lambda: service.update_mailbox(address, MailboxPatch.model_validate(payload)),
        done=f"/admin/mailboxes/{quote(address, safe='@')}?saved=1",
        context={"editing": address, "mailboxes": None, **_choices(service)},
    )


def _mailbox_state_form(address: str, *, disabled: bool) -> Response[str]:
    """The mailbox page's Enable / Disable button."""
    if _not_admin():
        return _admin_page("admin_mailboxes.html")
    service = admin_service()
    try:
        mailbox = service.set_mailbox_disabled(address, disabled)
    except NotFoundError:
        return _admin_page("admin_mailboxes.html", 404, mailboxes=[], missing=address, values={}, errors={})
    except (OrgError, ValidationError) as exc:  # its stored settings no longer pass: edit them first
        problems = (
            field_problems(exc) if isinstance(exc, FieldError | ValidationError) else [("form", str(exc))]
        )
        current = service.get_mailbox(address)
        return _admin_page(
            "admin_mailboxes.html",
            422,
            mailboxes=None,
            mailbox=current,
            values=forms.mailbox_values(current),
            errors=dict(problems),
            editing=current.address,
            **_choices(service),
        )
    done = "disabled" if disabled else "enabled"
    return _go(f"/admin/mailboxes/{quote(mailbox.address, safe='@')}?done={done}")


@router.post("/admin/mailboxes/<address>/enable", include_in_schema=False)
def mailbox_enable_form(address: str) -> Response[str]:
    return _mailbox_state_form(address, disabled=False)


@router.post("/admin/mailboxes/<address>/disable", include_in_schema=False)
def mailbox_disable_form(address: str) -> Response[str]:
    return _mailbox_state_form(address, disabled=True)


@router.get("/admin/people", include_in_schema=False)
def people_page() -> Response[str]:
    if _not_admin():
        return _admin_page("admin_people.html")
    service = admin_service()
    return _admin_page(
        "admin_people.html",
        users=service.list_users(),
        values=forms.user_values(None),
        errors={},
        editing=None,
        **_choices(service),
    )


@router.get("/admin/people/<email>", include_in_schema=False)
def person_page(email: str) -> Response[str]:
    if _not_admin():
        return _admin_page("admin_people.html")
    service = admin_service()
    try:
        user = service.get_user(email)
    except NotFoundError:
        return _admin_page("admin_people.html", 404, users=[], missing=email, values={}, errors={})
    return _admin_page(
        "admin_people.html",
        users=None,
        user=user,
        values=forms.user_values(user),
        errors={},
        editing=user.email,
        **_choices(service),
    )


@router.post("/admin/people", include_in_schema=False)
def person_invite_form() -> Response[str]:
    if _not_admin():
        return _admin_page("admin_people.html")
    service = admin_service()
    values = forms.user_form_values(_form())
    return _save(
        template="admin_people.html",
        partial="_admin_person_form.html",
        form_values=values,
        action=lambda: service.invite_user(
            UserInvite.model_validate(forms.user_payload(values, invite=True))
        ),
        done="/admin/people?invited=" + quote(values["email"].strip().lower(), safe="@"),
        context={"editing": None, "users": service.list_users(), **_choices(service)},
    )


@router.post("/admin/people/<email>", include_in_schema=False)
def person_update_form(email: str) -> Response[str]:
    if _not_admin():
        return _admin_page("admin_people.html")
    service = admin_service()
    values = forms.user_form_values(_form(), email=email)
    return _save(
        template="admin_people.html",
        partial="_admin_person_form.html",
        form_values=values,
        action=lambda: service.update_user(
            email, UserPatch.model_validate(forms.user_payload(values, invite=False))
        ),
        done=f"/admin/people/{quote(email, safe='@')}?saved=1",
        context={"editing": email, "users": None, **_choices(service)},
    )


@router.post("/admin/people/<email>/deactivate", include_in_schema=False)
def person_deactivate_form(email: str) -> Response[str]:
    if _not_admin():
        return _admin_page("admin_people.html")
    service = admin_service()
    try:
        _, requeued = service.deactivate_user(email)
    except (OrgError, ProvisioningError) as exc:
        return _admin_page(
            "admin_people.html",
            422,
            users=service.list_users(),
            error=str(exc),
            values=forms.user_values(None),
            errors={},
            editing=None,
            **_choices(service),
        )
    return _go(f"/admin/people/{quote(email, safe='@')}?requeued={len(requeued)}")


@router.post("/admin/people/<email>/activate", include_in_schema=False)
def person_activate_form(email: str) -> Response[str]:
    """The Reactivate button of a deactivated person's page."""
    if _not_admin():
        return _admin_page("admin_people.html")
    service = admin_service()
    try:
        user = service.activate_user(email)
    except NotFoundError:
        return _admin_page("admin_people.html", 404, users=[], missing=email, values={}, errors={})
    except (OrgError, ProvisioningError) as exc:
        current = service.get_user(email)
        return _admin_page(
            "admin_people.html",
            422,
            users=None,
            user=current,
            error=str(exc),
            values=forms.user_values(current),
            errors={},
            editing=current.email,
            **_choices(service),
        )
    return _go(f"/admin/people/{quote(user.email, safe='@')}?done=activated")


@router.get("/admin/teams", include_in_schema=False)
def teams_page() -> Response[str]:
    if _not_admin():
        return _admin_page("admin_teams.html")
    service = admin_service()
    return _admin_page(
        "admin_teams.html",
        teams=service.list_teams(),
        values=forms.team_values(None),
        errors={},
        editing=None,
        **_choices(service),
    )


@router.get("/admin/teams/<team_id>", include_in_schema=False)
def team_page(team_id: str) -> Response[str]:
    if _not_admin():
        return _admin_page("admin_teams.html")
    service = admin_service()
    try:
        team = service.get_team(team_id)
    except NotFoundError:
        return _admin_page("admin_teams.html", 404, teams=[], missing=team_id, values={}, errors={})
    return _admin_page(
        "admin_teams.html",
        teams=None,
        values=forms.team_values(team),
        errors={},
        editing=team.id,
        **_choices(service),
    )


@router.post("/admin/teams", include_in_schema=False)
def team_create_form() -> Response[str]:
    if _not_admin():
        return _admin_page("admin_teams.html")
    service = admin_service()
    values = forms.team_form_values(_form())
    return _save(
        template="admin_teams.html",
        partial="_admin_team_form.html",
        form_values=values,
        action=lambda: service.create_team(
            TeamCreate.model_validate(forms.team_payload(values, create=True))
        ),
        done=f"/admin/teams/{quote(values['id'].strip())}",
        context={"editing": None, "teams": service.list_teams(), **_choices(service)},
    )


@router.post("/admin/teams/<team_id>", include_in_schema=False)
def team_update_form(team_id: str) -> Response[str]:
    if _not_admin():
        return _admin_page("admin_teams.html")
    service = admin_service()
    values = forms.team_form_values(_form(), team_id=team_id)
    return _save(
        template="admin_teams.html",
        partial="_admin_team_form.html",
        form_values=values,
        action=lambda: service.update_team(
            team_id, TeamPatch.model_validate(forms.team_payload(values, create=False))
        ),
        done=f"/admin/teams/{quote(team_id)}?saved=1",
        context={"editing": team_id, "teams": None, **_choices(service)},
    )
