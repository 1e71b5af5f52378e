"""The routing rules for admins: the editor page (rules as form fields, a YAML tab, history with
diffs and one-click restore, a "test this rule set" panel) and the JSON API under
``/api/admin/rules``. Every change is a new version, audited; non-admins get 403."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import BaseModel, Field, model_validator

from mailroom.api import wiring
from mailroom.api.admin_common import forbidden_page, form_of, is_htmx, query_of, recent_conversations
from mailroom.api.errors import ApiError
from mailroom.api.form_data import FormData, read_form
from mailroom.api.guard import current_session
from mailroom.api.openapi_docs import answers
from mailroom.api.render import page, render
from mailroom.api.routes_rules import DryRunResponse
from mailroom.api.rules_form import (
    ACTIONS,
    CONDITIONS,
    PRIORITIES,
    VERDICTS,
    FormErrors,
    RuleDraft,
    apply_op,
    build,
    drafts_from_form,
    drafts_from_ruleset,
)
from mailroom.api.session import Session
from mailroom.assignment.store import AssignmentStore
from mailroom.auth import policy
from mailroom.canned.store import get_canned, list_canned
from mailroom.routing import rules_admin
from mailroom.routing.dry_run import DryRunError, dry_run_raw, dry_run_stored
from mailroom.routing.rules_store import RuleSetConflictError, StoredRuleSet, load_rules, rule_history
from mailroom.routing.wiring import router as routing
from mailroom.rules.model import Decision, RuleSet
from mailroom.rules.validation import RuleFieldError, validate_ruleset
from mailroom.rules.yaml_io import RulesError, parse_rules_yaml

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated

MAX_YAML = 1_000_000
HISTORY = 50


def _session() -> Session:
    return current_session(router.context)


def _admin() -> Session:
    session = _session()
    policy.require_admin(session.principal)
    return session


# -- JSON API -----------------------------------------------------------------------------------------


class RuleVersionOut(BaseModel):
    version: int
    updated_at: str | None
    updated_by: str | None
    note: str = ""
    rule_count: int

    @classmethod
    def of(cls, stored: StoredRuleSet) -> RuleVersionOut:
        return cls(
            version=stored.version,
            updated_at=stored.updated_at,
            updated_by=stored.updated_by,
            note=stored.note,
            rule_count=len(stored.ruleset.rules),
        )


class RuleVersionDetail(RuleVersionOut):
    rules: list[dict[str, Any]] = Field(description="The rules, as JSON (the same shape as the YAML).")
    yaml: str

    @classmethod
    def detail(cls, stored: StoredRuleSet) -> RuleVersionDetail:
        return cls(
            **RuleVersionOut.of(stored).model_dump(),
            rules=[rule.model_dump(mode="json", exclude_defaults=True) for rule in stored.ruleset.rules],
            yaml=rules_admin.ruleset_yaml(stored.ruleset),
        )


class RulesOut(RuleVersionDetail):
    versions: list[RuleVersionOut] = Field(description="Saved versions, newest first (the latest 50).")


# Versions count saves: far below this. A larger number would not even fit a DynamoDB number (38
# digits), and writing one (an expected version is a condition value) failed with a 500.
MAX_VERSION = 2**53 - 1


class RulesIn(BaseModel):
    expected_version: int = Field(
        ge=0, le=MAX_VERSION, description="The version you edited: a stale one is a 409."
    )
    rules: list[dict[str, Any]] | None = Field(
        default=None, max_length=2000, description="The rules as JSON, in evaluation order; or give yaml."
    )
    yaml: str | None = Field(default=None, max_length=MAX_YAML, description="The rules file, as YAML.")
    note: str = Field(default="", max_length=500, description="Why: kept with the version.")

    @model_validator(mode="after")
    def _one_source(self) -> RulesIn:
        if (self.rules is None) == (self.yaml is None):
            raise ValueError("give either rules (JSON) or yaml")
        return self


class SavedOut(BaseModel):
    version: int


class RestoreIn(BaseModel):
    version: int = Field(ge=0, le=MAX_VERSION, description="The version whose rules become the next version.")
    expected_version: int | None = Field(
        default=None,
        ge=0,
        le=MAX_VERSION,
        description="The current version as you saw it (default: whatever is current).",
    )


class DiffOut(BaseModel):
    from_version: int
    to_version: int
    diff: str = Field(description="A unified diff of the two versions' YAML; empty when equal.")


class DraftDryRunIn(BaseModel):
    rules: list[dict[str, Any]] | None = Field(default=None, max_length=2000, description="Unsaved rules.")
    yaml: str | None = Field(default=None, max_length=MAX_YAML, description="Unsaved rules as YAML.")
    conversation_id: str | None = Field(default=None, pattern=r"^c[0-9a-z]{6,32}$")
    message_key: str | None = Field(default=None, pattern=r"^m[0-9a-z]{6,32}$")
    eml: str | None = Field(default=None, max_length=5_000_000, description="A raw message, as text.")
    mailbox: str | None = Field(default=None, max_length=320)

    @model_validator(mode="after")
    def _sources(self) -> DraftDryRunIn:
        if self.rules is not None and self.yaml is not None:
            raise ValueError("give rules or yaml (or neither: the active rules), not both")
        if (self.eml is None) == (self.conversation_id is None):
            raise ValueError("give either conversation_id (and optionally message_key) or eml")
        return self


def _parsed(rules: list[dict[str, Any]] | None, text: str | None) -> RuleSet:
    """Rules from JSON or YAML; a 422 listing each problem at its path (and line, for YAML)."""
    try:
        if text is not None:
            return parse_rules_yaml(text)
        return validate_ruleset({"rules": rules or []})
    except RulesError as exc:
        problems = [{"path": p.path, "line": p.line, "message": p.reason} for p in exc.problems]
        raise ApiError(422, f"Invalid rules: {exc.problems[0]}", problems=problems) from exc
    except RuleFieldError as exc:
        problems = [{"path": p.path, "line": None, "message": p.message} for p in exc.problems]
        raise ApiError(422, f"Invalid rules: {exc.problems[0]}", problems=problems) from exc


_ADMINS = {403: "Admins only"}
_NO_VERSION = "No such version of the rules"
_CONFLICT = "Someone saved meanwhile: `current_version` is the version now"
_INVALID_RULES = "Invalid: each problem at its `path` (and `line` for YAML) in `problems`"


def _version_or_404(version: int) -> StoredRuleSet:
    try:
        return rules_admin.get_version(wiring.table(), version)
    except rules_admin.VersionNotFoundError as exc:
        raise ApiError(404, str(exc)) from exc


def _conflict(exc: RuleSetConflictError) -> ApiError:
    return ApiError(409, str(exc), current_version=load_rules(wiring.table()).version)


@router.get(
    "/api/admin/rules",
    summary="The active routing rules and their saved versions (admins)",
    responses=answers(_ADMINS),
)
def get_rules() -> RulesOut:
    _admin()
    table = wiring.table()
    active = load_rules(table)
    return RulesOut(
        **RuleVersionDetail.detail(active).model_dump(),
        versions=[RuleVersionOut.of(stored) for stored in rule_history(table, HISTORY)],
    )


@router.put(
    "/api/admin/rules",
    summary="Save the routing rules as a new version (admins)",
    description=(
        "Optimistic: `expected_version` must be the current version, else 409 (someone saved "
        "meanwhile). Invalid rules are refused whole with 422, each problem at its `path` (and `line` "
        "for YAML). Live within a minute."
    ),
    responses=answers({**_ADMINS, 409: _CONFLICT, 422: _INVALID_RULES}),
)
def put_rules(request: Annotated[RulesIn, Body()]) -> SavedOut:
    session = _admin()
    ruleset = _parsed(request.rules, request.yaml)
    try:
        version = rules_admin.save(
            wiring.table(),
            ruleset,
            expected_version=request.expected_version,
            actor=session.principal.email,
            note=request.note,
        )
    except RuleSetConflictError as exc:
        raise _conflict(exc) from exc
    return SavedOut(version=version)


@router.get(
    "/api/admin/rules/versions/<version>",
    summary="One saved version of the rules (admins)",
    responses=answers({**_ADMINS, 404: _NO_VERSION}),
)
def get_rule_version(version: Annotated[int, Path(ge=0, le=MAX_VERSION)]) -> RuleVersionDetail:
    _admin()
    return RuleVersionDetail.detail(_version_or_404(version))


@router.get(
    "/api/admin/rules/diff",
    summary="A unified diff between two versions' YAML (admins)",
    responses=answers({**_ADMINS, 404: _NO_VERSION}),
)
def get_rules_diff(
    from_: Annotated[int, Query(alias="from", ge=0, le=MAX_VERSION, description="The older version")],
    to: Annotated[
        int | None, Query(ge=0, le=MAX_VERSION, description="The newer version (default: the active one)")
    ] = None,
) -> DiffOut:
    _admin()
    target = load_rules(wiring.table()).version if to is None else to
    _version_or_404(from_)
    _version_or_404(target)
    return DiffOut(
        from_version=from_, to_version=target, diff=rules_admin.diff_versions(wiring.table(), from_, target)
    )


@router.post(
    "/api/admin/rules/restore",
    summary="Restore a version: its rules are saved as a new version (admins)",
    responses=answers({**_ADMINS, 404: _NO_VERSION, 409: _CONFLICT}, success=201, description="Saved"),
)
def restore_rules(request: Annotated[RestoreIn, Body()]) -> Response[SavedOut]:
    session = _admin()
    _version_or_404(request.version)
    try:
        version = rules_admin.restore(
            wiring.table(),
            request.version,
            expected_version=request.expected_version,
            actor=session.principal.email,
        )
    except RuleSetConflictError as exc:
        raise _conflict(exc) from exc
    return Response(status_code=201, content_type="application/json", body=SavedOut(version=version))


@router.post(
    "/api/admin/rules/dry-run",
    summary="Test unsaved rules (or the active ones) on a stored message or a raw email (admins)",
    responses=answers(
        {
            **_ADMINS,
            400: "The raw email names no mailbox to arrive in",
            404: "No such conversation or message",
            422: _INVALID_RULES,
        }
    ),
)
def dry_run_draft(request: Annotated[DraftDryRunIn, Body()]) -> DryRunResponse:
    _admin()
    ruleset = None if request.rules is None and request.yaml is None else _parsed(request.rules, request.yaml)
    try:
        decision = _dry_run(
            ruleset, request.conversation_id, request.eml, request.mailbox, request.message_key
        )
    except DryRunError as exc:
        raise ApiError(404 if request.conversation_id else 400, str(exc)) from exc
    return DryRunResponse.of(decision)


def _dry_run(
    ruleset: RuleSet | None,
    conversation_id: str | None,
    eml: str | None,
    mailbox: str | None,
    message_key: str | None = None,
) -> Decision:
    if eml is not None:
        raw = eml.encode("utf-8", "surrogateescape")
        return dry_run_raw(routing(), raw, mailbox=mailbox or None, ruleset=ruleset)
    return dry_run_stored(routing(), wiring.store(), str(conversation_id), message_key, ruleset=ruleset)


# -- the page -----------------------------------------------------------------------------------------

TEMPLATE = "admin_rules.html"


def _page(
    session: Session,
    *,
    tab: str = "editor",
    status_code: int = 200,
    drafts: list[RuleDraft] | None = None,
    errors: FormErrors | None = None,
    fragment: bool = False,
    **context: Any,
) -> Response[str]:
    table = wiring.table()
    active = load_rules(table)
    if drafts is None:
        drafts = drafts_from_ruleset(active.ruleset)
    values = {
        "tab": tab,
        "active_rules": active,
        "expected_version": context.pop("expected_version", active.version),
        "drafts": drafts,
        "errors": errors or FormErrors(),
        "conditions": CONDITIONS,
        "actions": ACTIONS,
        "priorities": PRIORITIES,
        "verdicts": VERDICTS,
        "canned": sorted(list_canned(table), key=lambda canned: canned.id),
        "teams": [team.id for team in AssignmentStore(table).list_teams()],
        "recent": recent_conversations(session.principal) if tab == "editor" else [],
        "active": "admin",
        **context,
    }
    if tab == "yaml" and "yaml_text" not in values:
        values["yaml_text"] = rules_admin.ruleset_yaml(active.ruleset)
    if tab == "history":
        values["history"] = rule_history(table, HISTORY)
    if fragment:
        return render(
            "_rules_editor.html", status_code=status_code, session=session, csrf=session.csrf(), **values
        )
    return page(session, TEMPLATE, status_code, **values)


@router.get("/admin/rules", include_in_schema=False)
def rules_page() -> Response[str]:
    session = _session()
    refused = forbidden_page(session, TEMPLATE, active="admin")
    if refused:
        return refused
    params = query_of(router)
    tab = params.get("tab", "editor")
    tab = tab if tab in {"editor", "yaml", "history"} else "editor"
    saved = params.get("saved", "")
    return _page(session, tab=tab, saved=int(saved) if saved.isdigit() else None)


@router.post("/admin/rules/editor", include_in_schema=False)
def rules_editor() -> Response[str]:
    """Add, remove or move rows and rules (the form's ``op``); answers the editor as edited."""
    session = _admin()
    form = form_of(router)
    drafts = apply_op(drafts_from_form(form), form.get("op", "refresh"))
    return _page(
        session,
        drafts=drafts,
        expected_version=_int(form.get("expected_version")),
        fragment=is_htmx(router),
    )


@router.post("/admin/rules", include_in_schema=False)
def save_rules_form() -> Response[str]:
    session = _admin()
    form = form_of(router)
    drafts = drafts_from_form(form)
    expected = _int(form.get("expected_version"))
    ruleset, errors = build(drafts)
    if ruleset is None:
        return _page(session, status_code=422, drafts=drafts, errors=errors, expected_version=expected)
    try:
        version = rules_admin.save(
            wiring.table(), ruleset, expected_version=expected, actor=session.principal.email,
            note=form.get("note", "")[:500],
        )  # fmt: skip
    except RuleSetConflictError:
        current = load_rules(wiring.table())
        message = (
            f"Someone else saved version {current.version} while you were editing. Your draft is kept below: "
            f"check what changed (History), then save again to replace it."
        )
        return _page(
            session, status_code=409, drafts=drafts, conflict=message, expected_version=current.version
        )
    return Response(status_code=303, body="", headers={"Location": f"/admin/rules?saved={version}"})


def _yaml_of(submitted: FormData) -> tuple[str, str | None]:
    """(the rules file's text, a refusal): an uploaded file (``yaml_file``) wins over the pasted text."""
    upload = submitted.files.get("yaml_file")
    if upload is None:
        return submitted.first().get("yaml", ""), None
    text = upload.text()
    if text is None:
        return "", f"{upload.filename or 'The file'} is not UTF-8 text: upload the rules as YAML."
    if len(text) > MAX_YAML:
        return "", f"{upload.filename or 'The file'} is larger than {MAX_YAML:,} characters."
    return text, None


@router.post("/admin/rules/yaml", include_in_schema=False)
def import_yaml_form() -> Response[str]:
    """Import a rules file, pasted (``yaml``) or uploaded (``yaml_file``, multipart)."""
    session = _admin()
    submitted = read_form(router.current_event)
    form = submitted.first()
    expected = _int(form.get("expected_version"))
    text, refused = _yaml_of(submitted)
    if refused:
        return _page(
            session,
            tab="yaml",
            status_code=422,
            yaml_text=form.get("yaml", ""),
            upload_error=refused,
            expected_version=expected,
        )
    try:
        ruleset = parse_rules_yaml(text)
    except RulesError as exc:
        return _page(
            session,
            tab="yaml",
            status_code=422,
            yaml_text=text,
            yaml_problems=exc.problems,
            expected_version=expected,
        )
    try:
        version = rules_admin.save(
            wiring.table(), ruleset, expected_version=expected, actor=session.principal.email,
            note=form.get("note", "")[:500] or "imported YAML",
        )  # fmt: skip
    except RuleSetConflictError:
        current = load_rules(wiring.table()).version
        message = (
            f"Someone else saved version {current} meanwhile. Your YAML is kept: save again to replace it."
        )
        return _page(
            session, tab="yaml", status_code=409, yaml_text=text, conflict=message, expected_version=current
        )
    return Response(status_code=303, body="", headers={"Location": f"/admin/rules?tab=yaml&saved={version}"})


@router.get("/admin/rules/export.yaml", include_in_schema=False)
def export_yaml() -> Response[str]:
    _admin()
    active = load_rules(wiring.table())
    return Response(
        status_code=200,
        content_type="application/yaml; charset=utf-8",
        body=f"# version {active.version}\n{rules_admin.ruleset_yaml(active.ruleset)}",
        headers={
            "Content-Disposition": f'attachment; filename="mailroom-rules-v{active.version}.yaml"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/admin/rules/test", include_in_schema=False)
def test_rules_form() -> Response[str]:
    """The "test this rule set" panel: the draft as posted (form rows, or the YAML tab's text)."""
    session = _admin()
    form = form_of(router)
    context: dict[str, Any] = {"session": session, "csrf": session.csrf()}
    if "yaml" in form:
        try:
            ruleset: RuleSet | None = parse_rules_yaml(form["yaml"])
        except RulesError as exc:
            return render("_rules_test.html", 422, problems=[str(p) for p in exc.problems], **context)
    else:
        ruleset, errors = build(drafts_from_form(form))
        if ruleset is None:
            problems = [f"{message}" for messages in errors.fields.values() for message in messages]
            return render("_rules_test.html", 422, problems=problems + errors.general, **context)
    eml = form.get("test_eml", "").strip()
    conversation_id = form.get("test_conversation", "").strip()
    if not eml and not conversation_id:
        return render("_rules_test.html", 422, problems=["Pick a conversation or paste an email."], **context)
    try:
        decision = _dry_run(ruleset, None if eml else conversation_id, eml or None, form.get("test_mailbox"))
    except DryRunError as exc:
        return render("_rules_test.html", 422, problems=[str(exc)], **context)
    warnings = []
    if decision.auto_reply and get_canned(wiring.table(), decision.auto_reply) is None:
        warnings.append(f"there is no canned response {decision.auto_reply!r} to auto-reply with")
    return render(
        "_rules_test.html", decision=decision, result=DryRunResponse.of(decision), extra=warnings, **context
    )


@router.get("/admin/rules/diff", include_in_schema=False)
def diff_page() -> Response[str]:
    session = _session()
    refused = forbidden_page(session, TEMPLATE, active="admin")
    if refused:
        return refused
    params = query_of(router)
    table = wiring.table()
    current = load_rules(table).version
    new = _int(params.get("to"), current)
    old = _int(params.get("from"), max(new - 1, 0))
    try:
        before, after = rules_admin.get_version(table, old), rules_admin.get_version(table, new)
    except rules_admin.VersionNotFoundError as exc:
        return page(session, "not_found.html", 404, what="rules version", ident=str(exc.version))
    return _page(
        session,
        tab="diff",
        before=before,
        after=after,
        diff=rules_admin.diff_versions(table, old, new).splitlines(),
        after_yaml=rules_admin.ruleset_yaml(after.ruleset),
    )


@router.post("/admin/rules/restore", include_in_schema=False)
def restore_form() -> Response[str]:
    session = _admin()
    form = form_of(router)
    version = _int(form.get("version"))
    expected = _int(form.get("expected_version"), -1)
    try:
        rules_admin.get_version(wiring.table(), version)
        saved = rules_admin.restore(
            wiring.table(), version, expected_version=None if expected < 0 else expected,
            actor=session.principal.email,
        )  # fmt: skip
    except rules_admin.VersionNotFoundError as exc:
        raise ApiError(404, str(exc)) from exc
    except RuleSetConflictError:
        message = "Someone else saved the rules meanwhile: look at the history again before restoring."
        return _page(session, tab="history", status_code=409, conflict=message)
    return Response(status_code=303, body="", headers={"Location": f"/admin/rules?tab=history&saved={saved}"})


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default
