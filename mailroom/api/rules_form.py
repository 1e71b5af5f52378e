"""The rules editor's form: rules as rows of fields, to and from rule data, with every problem
shown at the field that is wrong.

Field names: ``rule-<i>-id``, ``-name``, ``-enabled``, ``-stop``, ``-match`` (all/any), then per
condition row ``rule-<i>-cond-<j>-kind|op|name|value|negate`` and per action row
``rule-<i>-act-<k>-kind|value``. A rule whose conditions the rows can't express (nested all/any,
several phrases in one text test) is edited as YAML in ``rule-<i>-yaml``, with errors at its lines.

The form is the draft's whole state: adding, removing and moving rows re-renders it from the
posted fields (:func:`apply_op`), so nothing is lost and no script is needed.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

from mailroom.rules.model import (
    AddTags,
    AllCondition,
    AlwaysCondition,
    AnyCondition,
    AssignTo,
    AttachmentsCondition,
    AutoReply,
    BodyCondition,
    BusinessHoursCondition,
    CcCondition,
    ConditionModel,
    ContactTagCondition,
    FlagCondition,
    HeaderCondition,
    MailboxCondition,
    MarkSpam,
    NotCondition,
    RecipientCondition,
    RequireSkills,
    Rule,
    RuleSet,
    SenderCondition,
    SetPriority,
    SetSla,
    SetTeam,
    SubjectCondition,
    ToCondition,
    VerdictCondition,
)
from mailroom.rules.validation import RuleFieldError, validate_ruleset
from mailroom.rules.yaml_io import RulesError, parse_rules_yaml

# kind -> (label, operators (value, label), what the "name" input is, whether there is a value)
CONDITIONS: dict[str, tuple[str, tuple[tuple[str, str], ...], str, bool]] = {
    "subject": ("Subject", (("contains", "contains"), ("matches", "matches regex")), "", True),
    "body": ("Body", (("contains", "contains"), ("matches", "matches regex")), "", True),
    "sender": ("Sender", (("address", "address is"), ("domain", "domain is")), "", True),
    "mailbox": ("Mailbox is", (), "", True),
    "to": ("To includes", (), "", True),
    "cc": ("Cc includes", (), "", True),
    "recipient": ("To or Cc includes", (), "", True),
    "header": (
        "Header",
        (("present", "is present"), ("equals", "equals"), ("contains", "contains"), ("matches", "matches")),
        "header name",
        True,
    ),
    "has_attachments": ("Attachments", (("yes", "has attachments"), ("no", "has none")), "", False),
    "verdict": ("SES verdict", (), "verdict", True),
    "flag": ("Ingest flag is", (), "", True),
    "contact_tag": ("Contact tagged", (), "", True),
    "business_hours": ("Business hours", (("inside", "inside"), ("outside", "outside")), "calendar", False),
}
VERDICTS = ("spam", "virus", "spf", "dkim", "dmarc")
# kind -> (label, what the value is: "list", "one", "priority", "canned", "none")
ACTIONS: dict[str, tuple[str, str]] = {
    "add_tags": ("Add tags", "list"),
    "set_team": ("Set team", "one"),
    "set_priority": ("Set priority", "priority"),
    "set_sla": ("Set SLA policy", "one"),
    "assign_to": ("Assign to", "one"),
    "require_skills": ("Require skills", "list"),
    "auto_reply": ("Auto-reply with", "canned"),
    "mark_spam": ("Mark as spam", "none"),
}
PRIORITIES = ("low", "normal", "high", "urgent")
_FIELD = re.compile(r"rule-(\d+)-(.+)")
_ROW = re.compile(r"(cond|act)-(\d+)-(\w+)")


@dataclass
class ConditionRow:
    kind: str = "subject"
    op: str = ""
    name: str = ""
    value: str = ""
    negate: bool = False


@dataclass
class ActionRow:
    kind: str = "add_tags"
    value: str = ""


@dataclass
class RuleDraft:
    id: str = ""
    name: str = ""
    enabled: bool = True
    stop: bool = False
    match: str = "all"  # all: every condition must hold; any: one is enough
    conditions: list[ConditionRow] = field(default_factory=list)
    actions: list[ActionRow] = field(default_factory=list)
    yaml: str | None = None  # an advanced rule: edited as YAML


@dataclass
class FormErrors:
    fields: dict[str, list[str]] = field(default_factory=dict)  # field name -> messages
    general: list[str] = field(default_factory=list)

    def add(self, name: str | None, message: str) -> None:
        if name:
            self.fields.setdefault(name, []).append(message)
        else:
            self.general.append(message)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def count(self) -> int:
        return sum(len(messages) for messages in self.fields.values()) + len(self.general)


# -- from rules to rows ------------------------------------------------------------------------------


def drafts_from_ruleset(ruleset: RuleSet) -> list[RuleDraft]:
    return [draft_from_rule(rule) for rule in ruleset.rules]


def draft_from_rule(rule: Rule) -> RuleDraft:
    draft = RuleDraft(id=rule.id, name=rule.name, enabled=rule.enabled, stop=rule.stop)
    rows = _condition_rows(rule.when, draft)
    actions = [_action_row(action) for action in rule.then]
    if rows is None or any(action is None for action in actions):
        draft.yaml = rule_yaml(rule)
        return draft
    draft.conditions = rows
    draft.actions = [action for action in actions if action is not None]
    return draft


def rule_yaml(rule: Rule) -> str:
    from mailroom.rules.yaml_io import dump_rules_yaml

    text = dump_rules_yaml(RuleSet(rules=[rule]))
    body = text.split("\n", 1)[1]  # after "rules:"
    return textwrap.dedent(body.replace("- ", "  ", 1))


def _condition_rows(when: ConditionModel, draft: RuleDraft) -> list[ConditionRow] | None:
    if isinstance(when, AlwaysCondition):
        return []
    children: list[ConditionModel] = [when]
    if isinstance(when, AllCondition | AnyCondition):
        draft.match = "all" if isinstance(when, AllCondition) else "any"
        children = list(when.all_ if isinstance(when, AllCondition) else when.any_)
    rows = []
    for child in children:
        negate = isinstance(child, NotCondition)
        leaf = child.not_ if isinstance(child, NotCondition) else child
        row = _leaf_row(leaf)
        if row is None:
            return None
        row.negate = negate
        rows.append(row)
    return rows


def _join(values: list[str]) -> str:
    return ", ".join(values)


def _leaf_row(leaf: ConditionModel) -> ConditionRow | None:  # noqa: PLR0911  (one return per kind)
    if isinstance(leaf, SubjectCondition | BodyCondition):
        test = leaf.subject if isinstance(leaf, SubjectCondition) else leaf.body
        values = test.contains if test.contains is not None else test.matches or []
        if len(values) != 1:
            return None
        return ConditionRow(
            leaf.KIND, "contains" if test.contains is not None else "matches", value=values[0]
        )
    if isinstance(leaf, SenderCondition):
        if leaf.sender.address is not None:
            return ConditionRow("sender", "address", value=_join(leaf.sender.address))
        return ConditionRow("sender", "domain", value=_join(leaf.sender.domain or []))
    if isinstance(leaf, MailboxCondition | ToCondition | CcCondition | RecipientCondition):
        return ConditionRow(leaf.KIND, value=_join(getattr(leaf, leaf.KIND)))
    if isinstance(leaf, FlagCondition | ContactTagCondition):
        return ConditionRow(leaf.KIND, value=_join(getattr(leaf, leaf.KIND)))
    if isinstance(leaf, HeaderCondition):
        header = leaf.header
        for op in ("equals", "contains", "matches"):
            if getattr(header, op) is not None:
                return ConditionRow("header", op, name=header.name, value=str(getattr(header, op)))
        return ConditionRow("header", "present", name=header.name)
    if isinstance(leaf, AttachmentsCondition):
        return ConditionRow("has_attachments", "yes" if leaf.has_attachments else "no")
    if isinstance(leaf, VerdictCondition):
        return ConditionRow("verdict", name=leaf.verdict.name, value=_join(list(leaf.verdict.status)))
    if isinstance(leaf, BusinessHoursCondition):
        return ConditionRow(
            "business_hours", leaf.business_hours.is_, name=leaf.business_hours.calendar or ""
        )
    return None


def _action_row(action: Any) -> ActionRow | None:
    if isinstance(action, AddTags):
        return ActionRow("add_tags", _join(action.add_tags))
    if isinstance(action, RequireSkills):
        return ActionRow("require_skills", _join(action.require_skills))
    if isinstance(action, SetTeam | SetPriority | SetSla | AssignTo | AutoReply):
        return ActionRow(action.KIND, str(getattr(action, action.KIND)))
    if isinstance(action, MarkSpam):
        return ActionRow("mark_spam")
    return None


# -- from the posted form to rows --------------------------------------------------------------------


def drafts_from_form(form: dict[str, str]) -> list[RuleDraft]:
    """The rules as posted, in the order of their indexes (gaps are fine: removed rows)."""
    rules: dict[int, dict[str, str]] = {}
    for name, value in form.items():
        found = _FIELD.fullmatch(name)
        if found:
            rules.setdefault(int(found.group(1)), {})[found.group(2)] = value
    return [_draft(fields) for _, fields in sorted(rules.items())]


def _draft(fields: dict[str, str]) -> RuleDraft:
    draft = RuleDraft(
        id=fields.get("id", "").strip(),
        name=fields.get("name", ""),
        enabled=fields.get("enabled") == "on",
        stop=fields.get("stop") == "on",
        match="any" if fields.get("match") == "any" else "all",
    )
    if "yaml" in fields:
        draft.yaml = fields["yaml"]
        return draft
    conditions: dict[int, dict[str, str]] = {}
    actions: dict[int, dict[str, str]] = {}
    for name, value in fields.items():
        row = _ROW.fullmatch(name)
        if row:
            target = conditions if row.group(1) == "cond" else actions
            target.setdefault(int(row.group(2)), {})[row.group(3)] = value
    for _, row_fields in sorted(conditions.items()):
        kind = row_fields.get("kind", "subject")
        kind = kind if kind in CONDITIONS else "subject"
        ops = [op for op, _ in CONDITIONS[kind][1]]
        op = row_fields.get("op", "")
        draft.conditions.append(
            ConditionRow(
                kind=kind,
                op=op if op in ops else (ops[0] if ops else ""),
                name=row_fields.get("name", ""),
                value=row_fields.get("value", ""),
                negate=row_fields.get("negate") == "on",
            )
        )
    for _, row_fields in sorted(actions.items()):
        kind = row_fields.get("kind", "add_tags")
        draft.actions.append(ActionRow(kind if kind in ACTIONS else "add_tags", row_fields.get("value", "")))
    return draft


# -- editing operations ------------------------------------------------------------------------------


def apply_op(drafts: list[RuleDraft], op: str) -> list[RuleDraft]:
    """``add-rule``, ``remove-rule:i``, ``up:i``, ``down:i``, ``add-cond:i``, ``remove-cond:i:j``,
    ``add-act:i``, ``remove-act:i:k``; anything else (``refresh``) re-renders as posted."""
    name, _, rest = op.partition(":")
    at = [int(part) for part in rest.split(":") if part.isdigit()]
    rule = drafts[at[0]] if at and 0 <= at[0] < len(drafts) else None
    if name == "add-rule":
        taken = {draft.id for draft in drafts}
        number = len(drafts) + 1
        while f"rule-{number}" in taken:
            number += 1
        new = RuleDraft(id=f"rule-{number}", conditions=[ConditionRow("subject", "contains")])
        new.actions.append(ActionRow("add_tags"))
        drafts.append(new)
    elif rule is None:
        return drafts
    elif name == "remove-rule":
        drafts.pop(at[0])
    elif name in {"up", "down"}:
        other = at[0] - 1 if name == "up" else at[0] + 1
        if 0 <= other < len(drafts):
            drafts[at[0]], drafts[other] = drafts[other], drafts[at[0]]
    elif name == "add-cond":
        rule.conditions.append(ConditionRow("subject", "contains"))
    elif name == "add-act":
        rule.actions.append(ActionRow("add_tags"))
    elif name == "remove-cond" and len(at) == 2 and 0 <= at[1] < len(rule.conditions):
        rule.conditions.pop(at[1])
    elif name == "remove-act" and len(at) == 2 and 0 <= at[1] < len(rule.actions):
        rule.actions.pop(at[1])
    return drafts


# -- from rows to rules, with problems at their fields -----------------------------------------------


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _condition_data(row: ConditionRow) -> dict[str, Any]:  # noqa: PLR0911  (one return per kind)
    kind = row.kind
    if kind in {"subject", "body"}:
        return {kind: {row.op or "contains": row.value}}
    if kind == "sender":
        return {"sender": {row.op or "address": _split(row.value)}}
    if kind in {"mailbox", "to", "cc", "recipient", "flag", "contact_tag"}:
        return {kind: _split(row.value)}
    if kind == "header":
        test: dict[str, Any] = {"name": row.name}
        if row.op and row.op != "present":
            test[row.op] = row.value
        return {"header": test}
    if kind == "has_attachments":
        return {"has_attachments": row.op != "no"}
    if kind == "verdict":
        return {"verdict": {"name": row.name, "status": _split(row.value)}}
    hours: dict[str, Any] = {"is": row.op or "inside"}
    if row.name.strip():
        hours["calendar"] = row.name.strip()
    return {"business_hours": hours}


def _action_data(row: ActionRow) -> dict[str, Any]:
    shape = ACTIONS[row.kind][1]
    if shape == "list":
        return {row.kind: _split(row.value)}
    if shape == "none":
        return {row.kind: True}
    return {row.kind: row.value.strip()}


def _advanced_rule(text: str, prefix: str, errors: FormErrors) -> dict[str, Any] | None:
    """An advanced rule's YAML, checked on its own: problems at the textarea, with its lines."""
    lines = text.strip("\n").splitlines() or [""]
    document = "rules:\n" + "\n".join(("  - " if n == 0 else "    ") + line for n, line in enumerate(lines))
    try:
        parsed = parse_rules_yaml(document)
    except RulesError as exc:
        for problem in exc.problems:
            where = problem.path.removeprefix("rules[0]").lstrip(".")
            line = max(problem.line - 1, 1)
            errors.add(
                f"{prefix}-yaml", f"line {line}" + (f", {where}" if where else "") + f": {problem.reason}"
            )
        return None
    if len(parsed.rules) != 1:
        errors.add(f"{prefix}-yaml", "write exactly one rule here")
        return None
    data: dict[str, Any] = parsed.rules[0].model_dump(mode="json", exclude_defaults=True)
    return data


def build(drafts: list[RuleDraft]) -> tuple[RuleSet | None, FormErrors]:
    """The rule set the rows describe, or the problems at their fields."""
    errors = FormErrors()
    rules: list[dict[str, Any]] = []
    fields: list[tuple[str, str]] = []  # (path prefix, field name), longest prefixes win
    for index, draft in enumerate(drafts):
        prefix, path = f"rule-{index}", f"rules[{len(rules)}]"
        if draft.yaml is not None:
            advanced = _advanced_rule(draft.yaml, prefix, errors)
            if advanced is None:
                continue
            rules.append(advanced)
            fields += [(path, f"{prefix}-yaml")]
            continue
        rule: dict[str, Any] = {"id": draft.id, "name": draft.name}
        if not draft.enabled:
            rule["enabled"] = False
        if draft.stop:
            rule["stop"] = True
        conditions = [_condition_data(row) for row in draft.conditions]
        conditions = [
            {"not": data} if row.negate else data
            for row, data in zip(draft.conditions, conditions, strict=True)
        ]
        if len(conditions) == 1:
            rule["when"] = conditions[0]
            fields.append((f"{path}.when", f"{prefix}-cond-0-value"))
        elif conditions:
            rule["when"] = {draft.match: conditions}
            fields += [
                (f"{path}.when.{draft.match}[{j}]", f"{prefix}-cond-{j}-value")
                for j in range(len(conditions))
            ]
            fields.append((f"{path}.when", f"{prefix}-conditions"))
        rule["then"] = [_action_data(row) for row in draft.actions]
        fields += [(f"{path}.then[{k}]", f"{prefix}-act-{k}-value") for k in range(len(draft.actions))]
        fields += [(f"{path}.then", f"{prefix}-actions"), (f"{path}.id", f"{prefix}-id")]
        fields += [(f"{path}.name", f"{prefix}-name"), (path, f"{prefix}-actions")]
        for j, row in enumerate(draft.conditions):  # the name input's own problems
            if row.kind in {"header", "verdict", "business_hours"}:
                inner = f".{draft.match}[{j}]" if len(conditions) > 1 else ""
                negated = ".not" if row.negate else ""
                key = {
                    "header": "header.name",
                    "verdict": "verdict.name",
                    "business_hours": "business_hours.calendar",
                }
                fields.append((f"{path}.when{inner}{negated}.{key[row.kind]}", f"{prefix}-cond-{j}-name"))
        rules.append(rule)
    if errors:
        return None, errors
    try:
        return validate_ruleset({"rules": rules}), errors
    except RuleFieldError as exc:
        for problem in exc.problems:
            errors.add(_field_for(problem.path, fields), problem.message)
        return None, errors


def _field_for(path: str, fields: list[tuple[str, str]]) -> str | None:
    best: tuple[int, str] | None = None
    for prefix, name in fields:
        under = path == prefix or path.startswith((prefix + ".", prefix + "["))
        if under and (best is None or len(prefix) > best[0]):
            best = (len(prefix), name)
    return best[1] if best else None


def error_for_rule(errors: FormErrors, index: int) -> bool:
    """Whether rule ``index`` has a problem (its box is marked)."""
    return any(name.startswith(f"rule-{index}-") for name in errors.fields)
