"""Managing canned responses as an admin: templates checked before they are saved, previews
against a real conversation, scope checks, usage-sorted listing, and one audit entry per change."""

from __future__ import annotations

from typing import Any

from mailroom.assignment.store import AssignmentStore
from mailroom.audit.log import record
from mailroom.canned.model import CannedResponse, Person, TemplateContext
from mailroom.canned.render import Rendered, TemplateError, render_canned, render_template
from mailroom.canned.store import create_canned, delete_canned, get_canned, list_canned, update_canned
from mailroom.inbox.directory import list_mailboxes
from mailroom.routing.rules_store import load_rules
from mailroom.rules.model import AutoReply
from mailroom.table.client import Table

# What a template is checked against when saved: every variable a real context has.
SAMPLE = TemplateContext(
    customer=Person(name="Dana Scully", first_name="Dana", email="dana@example.com"),
    agent=Person(
        name="Fox Mulder",
        first_name="Fox",
        email="fox@example.com",
        title="Agent",
        company="Acme",
        calendar_url="https://example.com/fox",
    ),
    mailbox={"address": "support@example.com", "name": "Support"},
    conversation={"id": "c000000", "subject": "Hello"},
)


class CannedFieldError(ValueError):
    """A canned response refused at one field (``line``: the template's line, when known)."""

    def __init__(self, field: str, message: str, line: int | None = None) -> None:
        super().__init__(f"{field}: line {line}: {message}" if line else f"{field}: {message}")
        self.field = field
        self.reason = message
        self.line = line


class CannedExistsError(ValueError):
    pass


class CannedNotFound(LookupError):
    pass


class CannedInUseError(ValueError):
    def __init__(self, canned_id: str, rules: list[str]) -> None:
        super().__init__(
            f"canned response {canned_id!r} is the auto-reply of rule(s) {', '.join(rules)}: "
            "change those rules first"
        )
        self.rules = rules


def check_templates(subject: str | None, body: str) -> None:
    """Render both templates against :data:`SAMPLE`; raises CannedFieldError at the field and line."""
    for field, source in (("subject", subject), ("body", body)):
        if not source:
            continue
        try:
            render_template(source, SAMPLE)
        except TemplateError as exc:
            raise CannedFieldError(field, exc.reason, exc.line) from exc


def check_scope(table: Table, canned: CannedResponse) -> None:
    if canned.mailbox and canned.team:
        raise CannedFieldError("team", "give a mailbox or a team, not both (neither: everyone)")
    if canned.mailbox and canned.mailbox.lower() not in {
        str(item["address"]).lower() for item in list_mailboxes(table)
    }:
        raise CannedFieldError("mailbox", f"no mailbox {canned.mailbox}")
    if canned.team and canned.team not in {team.id for team in AssignmentStore(table).list_teams()}:
        raise CannedFieldError("team", f"no team {canned.team}")


def preview(canned: CannedResponse, context: TemplateContext, *, default_subject: str) -> Rendered:
    """Raises CannedFieldError (field, line) when a template does not render."""
    field = "subject"
    try:
        if canned.subject:
            render_template(canned.subject, context)
        field = "body"
        return render_canned(canned, context, default_subject=default_subject)
    except TemplateError as exc:
        raise CannedFieldError(field, exc.reason, exc.line) from exc


def sorted_canned(table: Table, by: str = "usage") -> list[CannedResponse]:
    """Every canned response: most used first (``by="usage"``, so unused ones sink), or by name."""
    found = list_canned(table)
    if by == "name":
        return sorted(found, key=lambda canned: (canned.name.lower(), canned.id))
    return sorted(found, key=lambda canned: (-canned.usage_count, canned.name.lower(), canned.id))


def _audited(canned: CannedResponse) -> dict[str, Any]:
    return {"name": canned.name, "mailbox": canned.mailbox, "team": canned.team}


def create(table: Table, canned: CannedResponse, *, actor: str) -> CannedResponse:
    check_templates(canned.subject, canned.body)
    check_scope(table, canned)
    canned = canned.model_copy(update={"usage_count": 0})
    if not create_canned(table, canned):
        raise CannedExistsError(f"there is already a canned response {canned.id!r}")
    record(table, actor=actor, action="canned.create", target=f"canned:{canned.id}", details=_audited(canned))
    return canned


def update(table: Table, canned: CannedResponse, *, actor: str) -> CannedResponse:
    check_templates(canned.subject, canned.body)
    check_scope(table, canned)
    before = get_canned(table, canned.id)
    if before is None or not update_canned(table, canned):
        raise CannedNotFound(f"no canned response {canned.id!r}")
    changed = [
        name
        for name in ("name", "subject", "body", "mailbox", "team")
        if getattr(before, name) != getattr(canned, name)
    ]
    record(
        table,
        actor=actor,
        action="canned.update",
        target=f"canned:{canned.id}",
        details={**_audited(canned), "changed": changed},
    )
    return canned.model_copy(update={"usage_count": before.usage_count})


def delete(table: Table, canned_id: str, *, actor: str) -> None:
    """Refused while a rule auto-replies with it: routing would have nothing to send."""
    using = [
        rule.id
        for rule in load_rules(table).ruleset.rules
        if any(isinstance(action, AutoReply) and action.auto_reply == canned_id for action in rule.then)
    ]
    if using:
        raise CannedInUseError(canned_id, using)
    before = get_canned(table, canned_id)
    if before is None or not delete_canned(table, canned_id):
        raise CannedNotFound(f"no canned response {canned_id!r}")
    record(
        table,
        actor=actor,
        action="canned.delete",
        target=f"canned:{canned_id}",
        details={**_audited(before), "usage_count": before.usage_count},
    )
