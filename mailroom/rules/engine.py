"""Evaluate a rule set against one message: which rules match, and what they decide together.

Rules run in list order. A matching rule's actions are applied on top of the earlier ones: tags
and required skills accumulate, and a single value (team, priority, SLA policy, assignee,
auto-reply) is overwritten by a later matching rule. A matching rule with ``stop`` ends the
evaluation, which is how an admin says "this one wins". Disabled rules are skipped.

Evaluation never raises for a message: a regular expression that times out, a regex budget that
runs out and a calendar that cannot be found all count as "no match" and are reported in
``Decision.warnings``, so one bad rule degrades one condition instead of routing as a whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeAlias, assert_never

from mailroom.rules.model import (
    Action,
    AddTags,
    AllCondition,
    AlwaysCondition,
    AnyCondition,
    AssignTo,
    AttachmentsCondition,
    AutoReply,
    BodyCondition,
    BusinessHoursCondition,
    BusinessHoursTest,
    CcCondition,
    Condition,
    ContactTagCondition,
    Decision,
    FlagCondition,
    HeaderCondition,
    HeaderTest,
    LeafCondition,
    MailboxCondition,
    MarkSpam,
    MessageFacts,
    NotCondition,
    RecipientCondition,
    RequireSkills,
    Rule,
    RuleMatch,
    RuleSet,
    SenderCondition,
    SenderTest,
    SetPriority,
    SetSla,
    SetTeam,
    SubjectCondition,
    TextTest,
    ToCondition,
    VerdictCondition,
)
from mailroom.rules.patterns import DEFAULT_LIMITS, PatternLimits, search
from mailroom.schedule.hours import is_open
from mailroom.schedule.model import WeeklySchedule

DEFAULT_REGEX_BUDGET_SECONDS = 1.0  # all regex searches for one message together

CalendarFor = Callable[[str | None], WeeklySchedule]


def evaluate(
    ruleset: RuleSet,
    facts: MessageFacts,
    *,
    calendar_for: CalendarFor,
    limits: PatternLimits = DEFAULT_LIMITS,
    regex_budget_seconds: float = DEFAULT_REGEX_BUDGET_SECONDS,
) -> Decision:
    """The decision of ``ruleset`` for the message described by ``facts``.

    ``calendar_for(name)`` returns the business-hours calendar called ``name``, or the facts'
    team calendar when given ``facts.team`` (which may be None: the caller picks a default).
    ``limits`` bounds each regex search and ``regex_budget_seconds`` all of them together, so
    even many hostile patterns cost a bounded time per message."""
    context = _Context(facts, calendar_for, limits, regex_budget_seconds)
    outcome = _Outcome()
    for rule in ruleset.rules:
        if not rule.enabled:
            continue
        context.rule_id = rule.id
        reason = _reason(rule.when, context)
        if reason is None:
            continue
        outcome.apply(rule, reason)
        if rule.stop:
            break
    return outcome.decision(context.warnings)


@dataclass
class _Context:
    """The facts, prepared once per message, and the warnings collected while evaluating."""

    facts: MessageFacts
    calendar_for: CalendarFor
    limits: PatternLimits
    regex_seconds_left: float
    rule_id: str = ""
    warnings: list[str] = field(default_factory=list)
    _budget_warned: bool = False
    _calendars: dict[str | None, WeeklySchedule | None] = field(default_factory=dict)

    def warn(self, message: str) -> None:
        line = f"rule {self.rule_id!r}: {message}"
        if line not in self.warnings:
            self.warnings.append(line)

    @cached_property
    def subject_words(self) -> str:
        return _fold(self.facts.subject, self.limits.max_chars)

    @cached_property
    def body_words(self) -> str:
        return _fold(self.facts.body, self.limits.max_chars)

    @cached_property
    def subject_text(self) -> str:
        return self.facts.subject[: self.limits.max_chars]

    @cached_property
    def body_text(self) -> str:
        """Cut once per message, not once per pattern: bodies can be large."""
        return self.facts.body[: self.limits.max_chars]

    @cached_property
    def recipients(self) -> frozenset[str]:
        return frozenset(address.lower() for address in [*self.facts.to, *self.facts.cc])

    @cached_property
    def flags(self) -> frozenset[str]:
        return frozenset(self.facts.flags)

    @cached_property
    def contact_tags(self) -> frozenset[str]:
        return frozenset(tag.lower() for tag in self.facts.contact_tags)

    @cached_property
    def verdicts(self) -> dict[str, str]:
        return {name.lower(): status.upper() for name, status in self.facts.verdicts.items()}

    def regex(self, source: str, text: str, where: str) -> bool:
        """A bounded search that reports, never raises, when it runs out of time."""
        if self.regex_seconds_left <= 0:
            if not self._budget_warned:
                self._budget_warned = True
                self.warn(
                    "regex time budget for this message is spent: this and later patterns count as no match"
                )
            return False
        limits = PatternLimits(
            timeout_seconds=min(self.limits.timeout_seconds, self.regex_seconds_left),
            max_chars=self.limits.max_chars,
        )
        outcome = search(source, text, limits)
        self.regex_seconds_left -= outcome.elapsed_seconds
        if outcome.timed_out:
            self.warn(
                f"/{source}/ on {where} timed out after {limits.timeout_seconds * 1000:.0f} ms; "
                "counted as no match"
            )
        return outcome.matched

    def calendar(self, name: str | None) -> WeeklySchedule | None:
        """Calendars are looked up once per message; a missing one is a warning, not a crash."""
        if name not in self._calendars:
            try:
                self._calendars[name] = self.calendar_for(name)
            except LookupError:
                self._calendars[name] = None
        found = self._calendars[name]
        if found is None:
            self.warn(f"no calendar {name!r}; business-hours condition counted as no match")
        return found


def _reason(condition: Condition, context: _Context) -> str | None:
    """Why ``condition`` holds, in words; None when it does not. ``any`` names the branch that held."""
    if isinstance(condition, AlwaysCondition):
        return condition.describe()
    if isinstance(condition, AllCondition):
        return _all_reasons(condition, context)
    if isinstance(condition, AnyCondition):
        return next((r for child in condition.any_ if (r := _reason(child, context)) is not None), None)
    if isinstance(condition, NotCondition):
        return condition.describe() if _reason(condition.not_, context) is None else None
    return condition.describe() if _holds(condition, context) else None


def _all_reasons(condition: AllCondition, context: _Context) -> str | None:
    reasons: list[str] = []
    for child in condition.all_:
        reason = _reason(child, context)
        if reason is None:
            return None  # later children are not evaluated: no regex time spent on them
        reasons.append(reason)
    return " and ".join(reasons)


_AddressCondition: TypeAlias = (
    MailboxCondition | SenderCondition | ToCondition | CcCondition | RecipientCondition
)
_ContentCondition: TypeAlias = SubjectCondition | BodyCondition | HeaderCondition | AttachmentsCondition
_SignalCondition: TypeAlias = VerdictCondition | FlagCondition | ContactTagCondition | BusinessHoursCondition


def _holds(condition: LeafCondition, context: _Context) -> bool:
    """Leaf conditions in three families: who sent it where, what it says, what else is known."""
    if isinstance(condition, _AddressCondition):
        return _address_holds(condition, context)
    if isinstance(condition, _ContentCondition):
        return _content_holds(condition, context)
    return _signal_holds(condition, context)


def _address_holds(condition: _AddressCondition, context: _Context) -> bool:
    facts = context.facts
    match condition:
        case MailboxCondition():
            return facts.mailbox.lower() in condition.mailbox
        case SenderCondition():
            return _sender_holds(condition.sender, facts)
        case ToCondition():
            return _any_address(condition.to, facts.to)
        case CcCondition():
            return _any_address(condition.cc, facts.cc)
        case RecipientCondition():
            return not context.recipients.isdisjoint(condition.recipient)
        case _:
            assert_never(condition)


def _content_holds(condition: _ContentCondition, context: _Context) -> bool:
    facts = context.facts
    match condition:
        case SubjectCondition():
            return _text_holds(
                condition.subject, context.subject_text, context.subject_words, "subject", context
            )
        case BodyCondition():
            return _text_holds(condition.body, context.body_text, context.body_words, "body", context)
        case HeaderCondition():
            return _header_holds(condition.header, context)
        case AttachmentsCondition():
            return facts.has_attachments == condition.has_attachments
        case _:
            assert_never(condition)


def _signal_holds(condition: _SignalCondition, context: _Context) -> bool:
    match condition:
        case VerdictCondition():
            return context.verdicts.get(condition.verdict.name) in condition.verdict.status
        case FlagCondition():
            return not context.flags.isdisjoint(condition.flag)
        case ContactTagCondition():
            return not context.contact_tags.isdisjoint(condition.contact_tag)
        case BusinessHoursCondition():
            return _hours_hold(condition.business_hours, context)
        case _:
            assert_never(condition)


def _sender_holds(test: SenderTest, facts: MessageFacts) -> bool:
    if test.address is not None:
        return facts.sender.lower() in test.address
    return facts.sender_domain.lower() in (test.domain or [])


def _any_address(wanted: list[str], addresses: list[str]) -> bool:
    return not {address.lower() for address in addresses}.isdisjoint(wanted)


def _text_holds(test: TextTest, text: str, words: str, where: str, context: _Context) -> bool:
    if test.contains is not None:
        return any(_fold(phrase, len(phrase)) in words for phrase in test.contains)
    return any(context.regex(source, text, where) for source in test.matches or [])


def _header_holds(test: HeaderTest, context: _Context) -> bool:
    """Any header of that name passing the test: a message may carry a header more than once."""
    wanted = test.name.lower()
    values = [value for name, value in context.facts.headers if name.lower() == wanted]
    return any(_header_value_holds(test, value, context) for value in values)


def _header_value_holds(test: HeaderTest, value: str, context: _Context) -> bool:
    if test.equals is not None:
        return value.strip().casefold() == test.equals.strip().casefold()
    if test.contains is not None:
        return _fold(test.contains, len(test.contains)) in _fold(value, context.limits.max_chars)
    if test.matches is not None:
        return context.regex(test.matches, value, f"header {test.name}")
    return True


def _hours_hold(test: BusinessHoursTest, context: _Context) -> bool:
    calendar = context.calendar(test.calendar if test.calendar is not None else context.facts.team)
    if calendar is None:
        return False
    return is_open(calendar, context.facts.received_at) == (test.is_ == "inside")


def _fold(text: str, max_chars: int) -> str:
    """Case and spacing don't matter to ``contains``: "Invoice\\n 42" contains "invoice 42"."""
    return " ".join(text[:max_chars].casefold().split())


@dataclass
class _Outcome:
    """The decision as it builds up, rule by rule, with the rule behind each part of it."""

    matched: list[RuleMatch] = field(default_factory=list)
    values: dict[str, str | bool] = field(default_factory=dict)
    lists: dict[str, dict[str, str]] = field(default_factory=lambda: {"tags": {}, "required_skills": {}})
    sources: dict[str, str] = field(default_factory=dict)

    def apply(self, rule: Rule, reason: str) -> None:
        self.matched.append(
            RuleMatch(rule_id=rule.id, rule_name=rule.name, reason=reason, actions=rule.then, stop=rule.stop)
        )
        for action in rule.then:
            self._apply_action(action, rule.id)

    def _apply_action(self, action: Action, rule_id: str) -> None:
        match action:
            case AddTags():
                self._extend("tags", action.add_tags, rule_id)
            case RequireSkills():
                self._extend("required_skills", action.require_skills, rule_id)
            case SetTeam():
                self._set("team", action.set_team, rule_id)
            case SetPriority():
                self._set("priority", action.set_priority, rule_id)
            case SetSla():
                self._set("sla_policy", action.set_sla, rule_id)
            case AssignTo():
                self._set("assign_to", action.assign_to, rule_id)
            case AutoReply():
                self._set("auto_reply", action.auto_reply, rule_id)
            case MarkSpam():
                self._set("spam", True, rule_id)
            case _:
                assert_never(action)

    def _set(self, name: str, value: str | bool, rule_id: str) -> None:
        self.values[name] = value
        self.sources[name] = rule_id

    def _extend(self, name: str, items: list[str], rule_id: str) -> None:
        known = self.lists[name]
        for item in items:
            known.setdefault(item, rule_id)
        self.sources.setdefault(name, rule_id)

    def decision(self, warnings: list[str]) -> Decision:
        return Decision.model_validate(
            {
                **self.values,
                "matched": self.matched,
                "tags": list(self.lists["tags"]),
                "required_skills": list(self.lists["required_skills"]),
                "sources": self.sources,
                "item_sources": {name: dict(items) for name, items in self.lists.items() if items},
                "warnings": warnings,
            }
        )
