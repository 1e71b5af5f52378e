"""Routing rules as data: what a rule sees (MessageFacts), what it says (Rule, RuleSet) and what
evaluating a rule set decided (Decision).

Rules are written by admins (as YAML, or JSON from the admin UI) and stored in the table, so every
model here validates strictly and explains itself: unknown keys are refused with a suggestion,
regular expressions are compiled (and bounded) at validation time, and ids, tags and priorities
are checked against their formats. A rule set that validates cannot fail at routing time.

Conditions and actions are one-key mappings, which reads well in YAML::

    when:
      any:
        - subject: {contains: invoice}
        - body: {matches: "refund(ed|s)?"}
    then:
      - add_tags: [billing]
      - set_team: billing

A list where one value is expected in a condition means "any of" (``flag: [bulk, auto_reply]``);
a single value may be written without brackets. Text tests are case-insensitive.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, TypeAlias, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    Tag,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from mailroom.mail.model import MessageFlag
from mailroom.rules.patterns import PatternError, check_pattern

MAX_RULES = 2000
MAX_CONDITION_DEPTH = 12
MAX_PHRASE_LENGTH = 1000
MAX_NAME_LENGTH = 200

Priority: TypeAlias = Literal["low", "normal", "high", "urgent"]
VerdictName: TypeAlias = Literal["spam", "virus", "spf", "dkim", "dmarc"]
VerdictStatus: TypeAlias = Literal["PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED"]
HoursState: TypeAlias = Literal["inside", "outside"]

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_DOMAIN = re.compile(r"[^@\s.]+(?:\.[^@\s.]+)*")
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 field name: printable ASCII but ':'
_FLAGS = tuple(flag.value for flag in MessageFlag)


# --- errors that point at the offending key -----------------------------------------------------


def _unknown_key(key: object, allowed: Iterable[str], what: str) -> PydanticCustomError:
    """``ctx["at"]`` names the key itself, so the YAML reader can report that key's line."""
    choices = sorted(allowed)
    close = difflib.get_close_matches(str(key), choices, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return PydanticCustomError(
        "unknown_key",
        "unknown {what} '{key}' (expected one of: {choices}){hint}",
        {"what": what, "key": str(key), "choices": ", ".join(choices), "hint": hint, "at": (key,)},
    )


# --- value types --------------------------------------------------------------------------------


def _listify(value: Any) -> Any:
    """One value or a list of them; an empty list is refused because it could never match."""
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError("an empty list is not allowed: give at least one value")
        return list(value)
    return [value]


def _unique(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _compact(values: list[Any]) -> Any:
    """Serialize ``[x]`` as ``x``: stored and dumped rules read like the YAML people write."""
    return values[0] if len(values) == 1 else values


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(f"{value!r} must be a slug: lower-case letters, digits and '-', at most 64")
    return value


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


def _domain(value: str) -> str:
    value = value.strip().lower()
    if not _DOMAIN.fullmatch(value):
        raise ValueError(f"{value!r} is not a domain name (write acme.com, without '@')")
    return value


def _phrase(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("an empty phrase matches everything: write the text to look for")
    if len(value) > MAX_PHRASE_LENGTH:
        raise ValueError(f"phrase is {len(value)} characters long; at most {MAX_PHRASE_LENGTH} are allowed")
    return value


def _pattern(value: str) -> str:
    try:
        return check_pattern(value)
    except PatternError as exc:
        raise ValueError(str(exc)) from exc


def _header_name(value: str) -> str:
    value = value.strip()
    if not _HEADER_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a header name (such as List-Id or X-Priority)")
    return value


def _flag(value: str) -> str:
    if value not in _FLAGS:
        raise ValueError(f"unknown flag {value!r}: use one of {', '.join(_FLAGS)}")
    return value


def _status(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


Slug = Annotated[str, AfterValidator(_slug)]
Email = Annotated[str, AfterValidator(_email)]
Pattern = Annotated[str, AfterValidator(_pattern)]
HeaderName = Annotated[str, AfterValidator(_header_name)]
Domain = Annotated[str, AfterValidator(_domain)]
Phrase = Annotated[str, AfterValidator(_phrase)]
Flag = Annotated[str, AfterValidator(_flag)]
Status = Annotated[VerdictStatus, BeforeValidator(_status)]

# A condition value: one item or a non-empty list of them, deduplicated, meaning "any of".
_one_or_many = BeforeValidator(_listify)
_deduplicated = AfterValidator(_unique)
_written_short = PlainSerializer(_compact)
Emails: TypeAlias = Annotated[list[Email], _one_or_many, _deduplicated, _written_short]
Domains: TypeAlias = Annotated[list[Domain], _one_or_many, _deduplicated, _written_short]
Phrases: TypeAlias = Annotated[list[Phrase], _one_or_many, _deduplicated, _written_short]
Patterns: TypeAlias = Annotated[list[Pattern], _one_or_many, _deduplicated, _written_short]
Flags: TypeAlias = Annotated[list[Flag], _one_or_many, _deduplicated, _written_short]
Slugs: TypeAlias = Annotated[list[Slug], _one_or_many, _deduplicated, _written_short]
Statuses: TypeAlias = Annotated[list[Status], _one_or_many, _deduplicated, _written_short]
# An action's list: the same, but always written as a list (``add_tags: [billing]``).
SlugList: TypeAlias = Annotated[list[Slug], _one_or_many, _deduplicated]


# --- the base of every rule model ---------------------------------------------------------------


class RuleModel(BaseModel):
    """Closed (unknown keys are refused, with a suggestion), immutable and JSON-safe.

    ``None`` fields are left out when serialized, so stored and dumped rules hold only what was
    written; ``_shorthand`` lets a model serialize to the short form people write."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        coerce_numbers_to_str=True,  # ``equals: 1`` in YAML means the text "1"
    )
    WHAT: ClassVar[str] = "key"

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            aliases = {field.alias or name for name, field in cls.model_fields.items()}
            names = set(cls.model_fields)
            for key in data:
                if key not in aliases and key not in names:
                    raise _unknown_key(key, aliases, cls.WHAT)
        return data

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            data = {key: value for key, value in data.items() if value is not None}
        return self._shorthand(data)

    def _shorthand(self, data: Any) -> Any:
        """Hook: a shorter serialized form, which validation must accept back."""
        return data


# --- condition values ---------------------------------------------------------------------------


def _exactly_one(model: BaseModel, keys: tuple[str, ...], where: str) -> None:
    given = [key for key in keys if getattr(model, key) is not None]
    if len(given) != 1:
        options = " or ".join(keys)
        found = f"found {', '.join(given)}" if given else "found neither"
        raise ValueError(f"{where} needs exactly one of {options}; {found}")


class TextTest(RuleModel):
    """``{contains: invoice}`` (a phrase, any case, any spacing) or ``{matches: "refund(ed|s)?"}``."""

    contains: Phrases | None = None
    matches: Patterns | None = None

    @model_validator(mode="after")
    def _one_test(self) -> TextTest:
        _exactly_one(self, ("contains", "matches"), "a text test")
        return self

    def describe(self, what: str) -> str:
        if self.contains is not None:
            return f"{what} contains {_quoted_or(self.contains)}"
        return f"{what} matches {_or(f'/{source}/' for source in self.matches or [])}"


class SenderTest(RuleModel):
    """``{address: ceo@acme.com}`` or ``{domain: acme.com}`` / ``{domain: [acme.com, acme.org]}``."""

    address: Emails | None = None
    domain: Domains | None = None

    @model_validator(mode="after")
    def _one_test(self) -> SenderTest:
        _exactly_one(self, ("address", "domain"), "sender")
        return self

    def describe(self) -> str:
        if self.address is not None:
            return f"sender is {_or(self.address)}"
        return f"sender domain is {_or(self.domain or [])}"


class HeaderTest(RuleModel):
    """``{name: List-Id}`` (present), plus at most one of ``equals``, ``contains``, ``matches``.

    Names are case-insensitive; ``equals`` ignores case and surrounding spaces."""

    name: HeaderName
    equals: str | None = None
    contains: Phrase | None = None
    matches: Pattern | None = None

    @model_validator(mode="after")
    def _at_most_one_test(self) -> HeaderTest:
        given = [key for key in ("equals", "contains", "matches") if getattr(self, key) is not None]
        if len(given) > 1:
            raise ValueError(
                f"header test takes at most one of equals, contains, matches; found {', '.join(given)}"
            )
        return self

    def describe(self) -> str:
        if self.equals is not None:
            return f"header {self.name} equals {self.equals!r}"
        if self.contains is not None:
            return f"header {self.name} contains {self.contains!r}"
        if self.matches is not None:
            return f"header {self.name} matches /{self.matches}/"
        return f"header {self.name} is present"


class VerdictTest(RuleModel):
    """``{name: spf, status: FAIL}``: SES's verdicts; the status may be a list (any of)."""

    name: VerdictName
    status: Statuses

    def describe(self) -> str:
        return f"{self.name} verdict is {_or(self.status)}"


def _hours_shorthand(value: Any) -> Any:
    return {"is": value} if isinstance(value, str) else value


class BusinessHoursTest(RuleModel):
    """``inside`` / ``outside`` the mailbox team's calendar, or ``{is: outside, calendar: emea}``."""

    is_: HoursState = Field(alias="is")
    calendar: Slug | None = None

    def _shorthand(self, data: Any) -> Any:
        return self.is_ if self.calendar is None else data

    def describe(self) -> str:
        calendar = f"calendar {self.calendar!r}" if self.calendar else "the team calendar"
        return f"{self.is_} business hours ({calendar})"


# --- conditions ---------------------------------------------------------------------------------


class ConditionModel(RuleModel):
    KIND: ClassVar[str]
    WHAT: ClassVar[str] = "condition key"

    def describe(self) -> str:
        raise NotImplementedError


class AlwaysCondition(ConditionModel):
    """``always: true``, or an empty ``when``: matches every message."""

    KIND = "always"
    always: Literal[True]

    def describe(self) -> str:
        return "always"


class AllCondition(ConditionModel):
    KIND = "all"
    all_: list[Condition] = Field(alias="all", min_length=1)

    def describe(self) -> str:
        return "(" + " and ".join(condition.describe() for condition in self.all_) + ")"


class AnyCondition(ConditionModel):
    KIND = "any"
    any_: list[Condition] = Field(alias="any", min_length=1)

    def describe(self) -> str:
        return "(" + " or ".join(condition.describe() for condition in self.any_) + ")"


class NotCondition(ConditionModel):
    KIND = "not"
    not_: Condition = Field(alias="not")

    def describe(self) -> str:
        return f"not {self.not_.describe()}"


class MailboxCondition(ConditionModel):
    """The message arrived at one of these mailbox addresses."""

    KIND = "mailbox"
    mailbox: Emails

    def describe(self) -> str:
        return f"mailbox is {_or(self.mailbox)}"


class SenderCondition(ConditionModel):
    KIND = "sender"
    sender: SenderTest

    def describe(self) -> str:
        return self.sender.describe()


class ToCondition(ConditionModel):
    KIND = "to"
    to: Emails

    def describe(self) -> str:
        return f"To includes {_or(self.to)}"


class CcCondition(ConditionModel):
    KIND = "cc"
    cc: Emails

    def describe(self) -> str:
        return f"Cc includes {_or(self.cc)}"


class RecipientCondition(ConditionModel):
    """Any of these addresses in To or Cc."""

    KIND = "recipient"
    recipient: Emails

    def describe(self) -> str:
        return f"To or Cc includes {_or(self.recipient)}"


class SubjectCondition(ConditionModel):
    KIND = "subject"
    subject: TextTest

    def describe(self) -> str:
        return self.subject.describe("subject")


class BodyCondition(ConditionModel):
    KIND = "body"
    body: TextTest

    def describe(self) -> str:
        return self.body.describe("body")


class HeaderCondition(ConditionModel):
    KIND = "header"
    header: HeaderTest

    def describe(self) -> str:
        return self.header.describe()


class AttachmentsCondition(ConditionModel):
    KIND = "has_attachments"
    has_attachments: bool

    def describe(self) -> str:
        return "has attachments" if self.has_attachments else "has no attachments"


class VerdictCondition(ConditionModel):
    KIND = "verdict"
    verdict: VerdictTest

    def describe(self) -> str:
        return self.verdict.describe()


class FlagCondition(ConditionModel):
    """An ingest flag (auto_reply, bounce, bulk, spam, ...) is set on the message."""

    KIND = "flag"
    flag: Flags

    def describe(self) -> str:
        return f"flag {_or(self.flag)} is set"


class ContactTagCondition(ConditionModel):
    """The sender's contact record carries one of these tags."""

    KIND = "contact_tag"
    contact_tag: Slugs

    def describe(self) -> str:
        return f"contact is tagged {_or(self.contact_tag)}"


class BusinessHoursCondition(ConditionModel):
    KIND = "business_hours"
    business_hours: Annotated[BusinessHoursTest, BeforeValidator(_hours_shorthand)]

    def describe(self) -> str:
        return self.business_hours.describe()


LeafCondition: TypeAlias = (
    MailboxCondition
    | SenderCondition
    | ToCondition
    | CcCondition
    | RecipientCondition
    | SubjectCondition
    | BodyCondition
    | HeaderCondition
    | AttachmentsCondition
    | VerdictCondition
    | FlagCondition
    | ContactTagCondition
    | BusinessHoursCondition
)
_CONDITION_TYPES: tuple[type[ConditionModel], ...] = (
    AlwaysCondition,
    AllCondition,
    AnyCondition,
    NotCondition,
    MailboxCondition,
    SenderCondition,
    ToCondition,
    CcCondition,
    RecipientCondition,
    SubjectCondition,
    BodyCondition,
    HeaderCondition,
    AttachmentsCondition,
    VerdictCondition,
    FlagCondition,
    ContactTagCondition,
    BusinessHoursCondition,
)
CONDITION_KINDS = tuple(kind.KIND for kind in _CONDITION_TYPES)


def _one_key_shape(
    kinds: tuple[str, ...], what: str, example: str, empty: dict[str, Any] | None, combine: str = ""
) -> Any:
    """Before a tagged union: the input must be a mapping with exactly one known key.

    Checked here rather than left to the union so that admins read "unknown condition 'subjekt';
    did you mean 'subject'?" instead of a generic union error."""

    def check(value: Any) -> Any:
        if isinstance(value, BaseModel):
            return value
        if not isinstance(value, dict):
            raise PydanticCustomError(
                "one_key_mapping",
                "each {what} is a mapping with one key, such as {example}",
                {"what": what, "example": example},
            )
        if not value and empty is not None:
            return empty
        for key in value:
            if key not in kinds:
                raise _unknown_key(key, kinds, what)
        if len(value) != 1:
            keys = list(value)
            raise PydanticCustomError(
                "one_key_mapping",
                "one {what} per mapping, found {keys}: write each as its own list item{hint}",
                {"what": what, "keys": ", ".join(map(str, keys)), "hint": combine, "at": (keys[1],)},
            )
        return value

    return check


def _kind_of(value: Any) -> str | None:
    if isinstance(value, dict):
        return next(iter(value), None)
    kind = getattr(value, "KIND", None)
    return kind if isinstance(kind, str) else None


Condition: TypeAlias = Annotated[
    Union[  # noqa: UP007  (a tagged union reads better one member per line)
        Annotated[AlwaysCondition, Tag("always")],
        Annotated[AllCondition, Tag("all")],
        Annotated[AnyCondition, Tag("any")],
        Annotated[NotCondition, Tag("not")],
        Annotated[MailboxCondition, Tag("mailbox")],
        Annotated[SenderCondition, Tag("sender")],
        Annotated[ToCondition, Tag("to")],
        Annotated[CcCondition, Tag("cc")],
        Annotated[RecipientCondition, Tag("recipient")],
        Annotated[SubjectCondition, Tag("subject")],
        Annotated[BodyCondition, Tag("body")],
        Annotated[HeaderCondition, Tag("header")],
        Annotated[AttachmentsCondition, Tag("has_attachments")],
        Annotated[VerdictCondition, Tag("verdict")],
        Annotated[FlagCondition, Tag("flag")],
        Annotated[ContactTagCondition, Tag("contact_tag")],
        Annotated[BusinessHoursCondition, Tag("business_hours")],
    ],
    Discriminator(_kind_of),
    BeforeValidator(
        _one_key_shape(
            CONDITION_KINDS,
            "condition",
            "{subject: {contains: invoice}}",
            empty={"always": True},
            combine=" under all: (every one must hold) or any: (one is enough)",
        )
    ),
]

AllCondition.model_rebuild()
AnyCondition.model_rebuild()
NotCondition.model_rebuild()


def condition_depth(condition: ConditionModel) -> int:
    """How deeply all/any/not nest: bounded so that evaluation can never recurse without end."""
    if isinstance(condition, AllCondition | AnyCondition):
        children = condition.all_ if isinstance(condition, AllCondition) else condition.any_
        return 1 + max(condition_depth(child) for child in children)
    if isinstance(condition, NotCondition):
        return 1 + condition_depth(condition.not_)
    return 1


# --- actions ------------------------------------------------------------------------------------


class ActionModel(RuleModel):
    KIND: ClassVar[str]
    WHAT: ClassVar[str] = "action"

    def describe(self) -> str:
        raise NotImplementedError


class AddTags(ActionModel):
    KIND = "add_tags"
    add_tags: SlugList

    def describe(self) -> str:
        return f"add tags {', '.join(self.add_tags)}"


class SetTeam(ActionModel):
    KIND = "set_team"
    set_team: Slug

    def describe(self) -> str:
        return f"set team {self.set_team}"


class SetPriority(ActionModel):
    KIND = "set_priority"
    set_priority: Priority

    def describe(self) -> str:
        return f"set priority {self.set_priority}"


class SetSla(ActionModel):
    KIND = "set_sla"
    set_sla: Slug

    def describe(self) -> str:
        return f"set SLA policy {self.set_sla}"


class AssignTo(ActionModel):
    KIND = "assign_to"
    assign_to: Email

    def describe(self) -> str:
        return f"assign to {self.assign_to}"


class RequireSkills(ActionModel):
    KIND = "require_skills"
    require_skills: SlugList

    def describe(self) -> str:
        return f"require skills {', '.join(self.require_skills)}"


class AutoReply(ActionModel):
    """Answer with this canned response (the routing layer still applies RFC 3834's limits)."""

    KIND = "auto_reply"
    auto_reply: Slug

    def describe(self) -> str:
        return f"auto-reply with canned response {self.auto_reply}"


class MarkSpam(ActionModel):
    KIND = "mark_spam"
    mark_spam: Literal[True]

    @field_validator("mark_spam", mode="before")
    @classmethod
    def _only_true(cls, value: Any) -> Any:
        if value is not True:
            raise ValueError("mark_spam can only be true: to not mark spam, leave the action out")
        return value

    def describe(self) -> str:
        return "mark as spam"


_ACTION_TYPES: tuple[type[ActionModel], ...] = (
    AddTags,
    SetTeam,
    SetPriority,
    SetSla,
    AssignTo,
    RequireSkills,
    AutoReply,
    MarkSpam,
)
ACTION_KINDS = tuple(kind.KIND for kind in _ACTION_TYPES)

Action: TypeAlias = Annotated[
    Union[  # noqa: UP007
        Annotated[AddTags, Tag("add_tags")],
        Annotated[SetTeam, Tag("set_team")],
        Annotated[SetPriority, Tag("set_priority")],
        Annotated[SetSla, Tag("set_sla")],
        Annotated[AssignTo, Tag("assign_to")],
        Annotated[RequireSkills, Tag("require_skills")],
        Annotated[AutoReply, Tag("auto_reply")],
        Annotated[MarkSpam, Tag("mark_spam")],
    ],
    Discriminator(_kind_of),
    BeforeValidator(_one_key_shape(ACTION_KINDS, "action", "{set_team: billing}", empty=None)),
]


# --- rules --------------------------------------------------------------------------------------


class Rule(RuleModel):
    """One rule: when the condition holds, apply the actions; ``stop`` ends evaluation there."""

    id: Slug
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    enabled: bool = True
    when: Condition = Field(default_factory=lambda: AlwaysCondition(always=True))
    then: list[Action] = Field(default_factory=list)
    stop: bool = False

    @field_validator("name", mode="after")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a rule needs a name that says what it does")
        return value.strip()

    @field_validator("when", mode="before")
    @classmethod
    def _empty_when(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("when", mode="after")
    @classmethod
    def _shallow(cls, value: ConditionModel) -> ConditionModel:
        depth = condition_depth(value)
        if depth > MAX_CONDITION_DEPTH:
            raise ValueError(
                f"conditions nest {depth} levels deep; at most {MAX_CONDITION_DEPTH} are allowed"
            )
        return value

    @field_validator("then", mode="after")
    @classmethod
    def _each_action_once(cls, value: list[ActionModel]) -> list[ActionModel]:
        seen: set[str] = set()
        for index, action in enumerate(value):
            if action.KIND in seen:
                raise PydanticCustomError(
                    "duplicate_action",
                    "{kind} appears twice in this rule's actions: give it once",
                    {"kind": action.KIND, "at": (index,)},
                )
            seen.add(action.KIND)
        return value

    @model_validator(mode="after")
    def _does_something(self) -> Rule:
        if not self.then and not self.stop:
            raise ValueError(f"rule {self.id!r} has no actions: add some under 'then', or set stop: true")
        return self


class RuleSet(RuleModel):
    """The rules in evaluation order. ``version`` is stamped by the store on each save."""

    version: int = Field(default=0, ge=0)
    rules: list[Rule] = Field(max_length=MAX_RULES)

    @field_validator("rules", mode="after")
    @classmethod
    def _unique_ids(cls, value: list[Rule]) -> list[Rule]:
        first_at: dict[str, int] = {}
        for index, rule in enumerate(value):
            if rule.id in first_at:
                raise PydanticCustomError(
                    "duplicate_id",
                    "rule id '{id}' is used twice (first by rules[{first}]): ids must be unique",
                    {"id": rule.id, "first": first_at[rule.id], "at": (index, "id")},
                )
            first_at[rule.id] = index
        return value


# --- what a rule sees ---------------------------------------------------------------------------


class MessageFacts(BaseModel):
    """What routing knows about one new inbound message, prepared once for every rule."""

    model_config = ConfigDict(frozen=True)

    mailbox: str
    sender: str  # lower-case email
    sender_domain: str
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    subject: str = ""
    body: str = ""
    headers: list[tuple[str, str]] = Field(default_factory=list)
    has_attachments: bool = False
    verdicts: dict[str, str] = Field(default_factory=dict)  # spf -> PASS, ...
    flags: list[str] = Field(default_factory=list)  # ingest flags: auto_reply, bounce, bulk, spam, ...
    contact_tags: list[str] = Field(default_factory=list)
    received_at: datetime
    team: str | None = None  # the mailbox's owning team: its calendar is "business hours"

    @field_validator("received_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("received_at must be timezone-aware")
        return value


# --- what evaluating decided --------------------------------------------------------------------


class RuleMatch(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule_id: str
    rule_name: str
    reason: str  # the condition that held, in words
    actions: list[Action]
    stop: bool = False


class Decision(BaseModel):
    """The aggregated effect of every matching rule, and where each part of it came from.

    ``sources`` maps a decision field (tags, team, priority, sla_policy, assign_to,
    required_skills, auto_reply, spam) to the id of the rule that set it: for single values the
    last rule that set it, for tags and skills the first rule that contributed; ``item_sources``
    names the rule behind each individual tag and skill."""

    model_config = ConfigDict(frozen=True)

    matched: list[RuleMatch] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    team: str | None = None
    priority: Priority | None = None
    sla_policy: str | None = None
    assign_to: str | None = None
    required_skills: list[str] = Field(default_factory=list)
    auto_reply: str | None = None
    spam: bool = False
    sources: dict[str, str] = Field(default_factory=dict)
    item_sources: dict[str, dict[str, str]] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)

    def explain(self) -> list[str]:
        """One line per matched rule, then the warnings: what an admin reads to debug a rule."""
        lines = [_explain_match(match) for match in self.matched] or ["no rule matched"]
        return lines + [f"warning: {warning}" for warning in self.warnings]


def _explain_match(match: RuleMatch) -> str:
    effects = "; ".join(action.describe() for action in match.actions) or "no actions"
    stop = " (stop: later rules were not evaluated)" if match.stop else ""
    return f"rule {match.rule_id!r} matched: {match.reason} → {effects}{stop}"


def _or(values: Iterable[str]) -> str:
    items = list(values)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _quoted_or(values: Iterable[str]) -> str:
    return _or(repr(value) for value in values)
