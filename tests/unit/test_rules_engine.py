"""Rule evaluation: every condition and action, nesting, order, stop, overrides, business hours,
hostile patterns, and a large rule set."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import pytest

from mailroom.rules.engine import evaluate
from mailroom.rules.model import Decision, MessageFacts, RuleSet
from mailroom.rules.patterns import PatternLimits
from mailroom.schedule.model import ALWAYS_OPEN, WEEKDAYS, Interval, WeeklySchedule

# Monday 2026-05-11 08:30 UTC: 10:30 in Berlin (open), 04:30 in New York (closed).
MONDAY_MORNING_UTC = datetime(2026, 5, 11, 8, 30, tzinfo=UTC)


def office(zone: str) -> WeeklySchedule:
    hours = [Interval(start=time(9, 0), end=time(17, 0))]
    return WeeklySchedule(timezone=zone, days=dict.fromkeys(WEEKDAYS[:5], hours))


CALENDARS = {
    "berlin-support": office("Europe/Berlin"),
    "ny-support": office("America/New_York"),
    "emea": office("Europe/Berlin"),
    "americas": office("America/New_York"),
}


def calendar_for(name: str | None) -> WeeklySchedule:
    """Like the route function's: named calendars from teams, no team means always open."""
    return ALWAYS_OPEN if name is None else CALENDARS[name]


def facts(**overrides: Any) -> MessageFacts:
    values: dict[str, Any] = {
        "mailbox": "support@shop.example",
        "sender": "jane@client.example",
        "sender_domain": "client.example",
        "to": ["support@shop.example"],
        "cc": ["boss@client.example"],
        "subject": "Invoice 42 is wrong",
        "body": "Hello,\nplease  refund the\nsecond item.\n",
        "headers": [
            ("X-Priority", " 1 "),
            ("List-Id", "<news.client.example>"),
            ("Received", "a"),
            ("Received", "b"),
        ],
        "has_attachments": True,
        "verdicts": {"spam": "PASS", "virus": "PASS", "spf": "FAIL", "dkim": "GRAY", "dmarc": "PASS"},
        "flags": ["bulk"],
        "contact_tags": ["vip"],
        "received_at": MONDAY_MORNING_UTC,
        "team": "berlin-support",
    }
    return MessageFacts(**{**values, **overrides})


def rules(*items: dict[str, Any]) -> RuleSet:
    return RuleSet.model_validate({"rules": list(items)})


def rule(
    rule_id: str, when: Any = None, then: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": rule_id,
        "name": f"rule {rule_id}",
        "when": when,
        "then": [{"add_tags": [rule_id]}] if then is None else then,
        **extra,
    }


def run(ruleset: RuleSet, message: MessageFacts | None = None, **options: Any) -> Decision:
    return evaluate(ruleset, message or facts(), calendar_for=calendar_for, **options)


def matches(when: Any, message: MessageFacts | None = None) -> bool:
    return bool(run(rules(rule("probe", when)), message).matched)


# --- conditions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ({"mailbox": "support@shop.example"}, True),
        ({"mailbox": "SUPPORT@shop.example"}, True),
        ({"mailbox": ["sales@shop.example", "support@shop.example"]}, True),
        ({"mailbox": "sales@shop.example"}, False),
        ({"sender": {"address": "jane@client.example"}}, True),
        ({"sender": {"address": ["joe@client.example", "Jane@Client.example"]}}, True),
        ({"sender": {"address": "joe@client.example"}}, False),
        ({"sender": {"domain": "client.example"}}, True),
        ({"sender": {"domain": ["other.example", "CLIENT.example"]}}, True),
        ({"sender": {"domain": "example"}}, False),  # equality, not a suffix
        ({"to": "support@shop.example"}, True),
        ({"to": "boss@client.example"}, False),
        ({"cc": "boss@client.example"}, True),
        ({"cc": "support@shop.example"}, False),
        ({"recipient": "boss@client.example"}, True),
        ({"recipient": ["nobody@x.example", "support@shop.example"]}, True),
        ({"recipient": "nobody@x.example"}, False),
        ({"subject": {"contains": "invoice"}}, True),
        ({"subject": {"contains": "INVOICE 42"}}, True),
        ({"subject": {"contains": ["receipt", "wrong"]}}, True),
        ({"subject": {"contains": "refund"}}, False),
        ({"subject": {"matches": "^invoice \\d+"}}, True),
        ({"subject": {"matches": "receipt|credit note"}}, False),
        ({"body": {"contains": "please refund the second"}}, True),  # across spaces and line breaks
        ({"body": {"contains": "invoice"}}, False),
        ({"body": {"matches": "refund(ed|s)?"}}, True),
        ({"body": {"matches": "^second item\\.$"}}, False),  # no MULTILINE unless asked for
        ({"body": {"matches": "(?m)^second item\\.$"}}, True),
        ({"header": {"name": "x-priority"}}, True),
        ({"header": {"name": "X-Spam"}}, False),
        ({"header": {"name": "X-Priority", "equals": "1"}}, True),  # trimmed
        ({"header": {"name": "X-Priority", "equals": "2"}}, False),
        ({"header": {"name": "List-Id", "contains": "NEWS.client"}}, True),
        ({"header": {"name": "List-Id", "contains": "other"}}, False),
        ({"header": {"name": "Received", "equals": "b"}}, True),  # any of a repeated header
        ({"header": {"name": "List-Id", "matches": "^<[a-z]+\\."}}, True),
        ({"has_attachments": True}, True),
        ({"has_attachments": False}, False),
        ({"verdict": {"name": "spf", "status": "FAIL"}}, True),
        ({"verdict": {"name": "dkim", "status": ["fail", "gray"]}}, True),
        ({"verdict": {"name": "spam", "status": "FAIL"}}, False),
        ({"flag": "bulk"}, True),
        ({"flag": ["auto_reply", "bounce"]}, False),
        ({"contact_tag": "vip"}, True),
        ({"contact_tag": ["churned", "trial"]}, False),
        ({"always": True}, True),
        ({}, True),
        (None, True),
    ],
)
def test_each_condition(when: Any, expected: bool) -> None:
    assert matches(when) is expected


def test_missing_facts_do_not_match() -> None:
    bare = facts(headers=[], verdicts={}, flags=[], contact_tags=[], cc=[], has_attachments=False)

    assert not matches({"verdict": {"name": "spf", "status": "FAIL"}}, bare)
    assert not matches({"header": {"name": "X-Priority"}}, bare)
    assert not matches({"flag": "bulk"}, bare)
    assert not matches({"contact_tag": "vip"}, bare)
    assert not matches({"cc": "boss@client.example"}, bare)
    assert matches({"has_attachments": False}, bare)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ({"all": [{"flag": "bulk"}, {"contact_tag": "vip"}]}, True),
        ({"all": [{"flag": "bulk"}, {"contact_tag": "trial"}]}, False),
        ({"any": [{"flag": "bounce"}, {"contact_tag": "vip"}]}, True),
        ({"any": [{"flag": "bounce"}, {"contact_tag": "trial"}]}, False),
        ({"not": {"flag": "bulk"}}, False),
        ({"not": {"flag": "bounce"}}, True),
        ({"not": {"not": {"flag": "bulk"}}}, True),
        (
            {
                "all": [
                    {"any": [{"subject": {"contains": "invoice"}}, {"body": {"contains": "invoice"}}]},
                    {"not": {"any": [{"flag": "auto_reply"}, {"flag": "bounce"}]}},
                    {"sender": {"domain": "client.example"}},
                ]
            },
            True,
        ),
        ({"all": [{"always": True}, {"not": {"always": True}}]}, False),
    ],
)
def test_all_any_not(when: Any, expected: bool) -> None:
    assert matches(when) is expected


# --- business hours ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("team", "state", "expected"),
    [
        ("berlin-support", "inside", True),  # 10:30 in Berlin
        ("berlin-support", "outside", False),
        ("ny-support", "inside", False),  # 04:30 in New York
        ("ny-support", "outside", True),
        (None, "inside", True),  # no team: the caller's default, always open here
    ],
)
def test_business_hours_of_the_team_calendar(team: str | None, state: str, expected: bool) -> None:
    assert matches({"business_hours": state}, facts(team=team)) is expected


def test_business_hours_of_a_named_calendar() -> None:
    message = facts(team="berlin-support")

    assert matches({"business_hours": {"is": "outside", "calendar": "americas"}}, message)
    assert matches({"business_hours": {"is": "inside", "calendar": "emea"}}, message)
    later = facts(received_at=datetime(2026, 5, 11, 16, 30, tzinfo=UTC))  # 18:30 Berlin, 12:30 New York
    assert matches({"business_hours": {"is": "inside", "calendar": "americas"}}, later)
    assert matches({"business_hours": {"is": "outside", "calendar": "emea"}}, later)


def test_business_hours_on_a_weekend_and_in_another_offset() -> None:
    saturday = facts(received_at=datetime(2026, 5, 16, 12, 0, tzinfo=UTC))
    monday_in_tokyo_terms = facts(received_at=datetime.fromisoformat("2026-05-11T17:30:00+09:00"))

    assert matches({"business_hours": "outside"}, saturday)
    assert matches({"business_hours": "inside"}, monday_in_tokyo_terms)  # 10:30 in Berlin


def test_unknown_calendar_is_a_warning_not_a_crash() -> None:
    decision = run(
        rules(rule("hours", {"business_hours": {"is": "inside", "calendar": "mars"}}), rule("next"))
    )

    assert [match.rule_id for match in decision.matched] == ["next"]
    assert any("no calendar 'mars'" in warning for warning in decision.warnings)


# --- actions and the aggregated decision ------------------------------------------------------------


def test_every_action() -> None:
    decision = run(
        rules(
            rule(
                "everything",
                then=[
                    {"add_tags": ["billing", "refund"]},
                    {"set_team": "billing"},
                    {"set_priority": "high"},
                    {"set_sla": "premium"},
                    {"assign_to": "Ann@Shop.example"},
                    {"require_skills": ["german", "accounting"]},
                    {"auto_reply": "refund-received"},
                    {"mark_spam": True},
                ],
            )
        )
    )

    assert decision.tags == ["billing", "refund"]
    assert decision.team == "billing"
    assert decision.priority == "high"
    assert decision.sla_policy == "premium"
    assert decision.assign_to == "ann@shop.example"
    assert decision.required_skills == ["german", "accounting"]
    assert decision.auto_reply == "refund-received"
    assert decision.spam is True
    assert set(decision.sources) == {
        "tags",
        "team",
        "priority",
        "sla_policy",
        "assign_to",
        "required_skills",
        "auto_reply",
        "spam",
    }
    assert set(decision.sources.values()) == {"everything"}


def test_nothing_matched_decides_nothing() -> None:
    decision = run(rules(rule("never", {"flag": "bounce"})))

    assert decision == Decision()
    assert decision.explain() == ["no rule matched"]


def test_rules_run_in_order_and_later_single_values_override() -> None:
    decision = run(
        rules(
            rule("first", then=[{"add_tags": ["a", "b"]}, {"set_team": "sales"}, {"set_priority": "low"}]),
            rule("second", then=[{"add_tags": ["b", "c"]}, {"set_team": "billing"}]),
            rule("third", {"flag": "bounce"}, then=[{"set_team": "postmaster"}]),
        )
    )

    assert [match.rule_id for match in decision.matched] == ["first", "second"]
    assert decision.tags == ["a", "b", "c"]  # union, first-seen order
    assert decision.team == "billing"
    assert decision.priority == "low"
    assert decision.sources["team"] == "second"  # the rule whose value stands
    assert decision.sources["priority"] == "first"
    assert decision.sources["tags"] == "first"  # the first rule that tagged
    assert decision.item_sources["tags"] == {"a": "first", "b": "first", "c": "second"}


def test_stop_ends_evaluation_so_its_values_stand() -> None:
    decision = run(
        rules(
            rule(
                "vip",
                {"contact_tag": "vip"},
                then=[{"set_team": "vip-desk"}, {"set_priority": "urgent"}],
                stop=True,
            ),
            rule("billing", {"subject": {"contains": "invoice"}}, then=[{"set_team": "billing"}]),
        )
    )

    assert [match.rule_id for match in decision.matched] == ["vip"]
    assert decision.team == "vip-desk"
    assert decision.sources["team"] == "vip"


def test_stop_only_counts_when_the_rule_matches() -> None:
    decision = run(
        rules(
            rule("bounces", {"flag": "bounce"}, then=[{"set_team": "postmaster"}], stop=True),
            rule("rest", then=[{"set_team": "support"}]),
        )
    )

    assert decision.team == "support"


def test_a_stop_rule_without_actions_shields_later_rules() -> None:
    decision = run(rules(rule("ignore-bulk", {"flag": "bulk"}, then=[], stop=True), rule("tag")))

    assert [match.rule_id for match in decision.matched] == ["ignore-bulk"]
    assert decision.tags == []
    assert "no actions" in decision.explain()[0]


def test_disabled_rules_are_skipped() -> None:
    decision = run(
        rules(
            rule("off", then=[{"set_team": "nowhere"}], enabled=False, stop=True),
            rule("on", then=[{"set_team": "support"}]),
        )
    )

    assert [match.rule_id for match in decision.matched] == ["on"]
    assert decision.team == "support"


def test_explain_names_the_rule_the_reason_and_the_effects() -> None:
    decision = run(
        rules(
            {
                "id": "billing",
                "name": "Invoices and refunds go to Billing",
                "when": {
                    "any": [{"subject": {"contains": "invoice"}}, {"body": {"matches": "refund(ed|s)?"}}]
                },
                "then": [{"add_tags": ["billing"]}, {"set_team": "billing"}],
                "stop": True,
            }
        )
    )

    assert decision.explain() == [
        "rule 'billing' matched: subject contains 'invoice' → add tags billing; set team billing"
        " (stop: later rules were not evaluated)"
    ]
    assert decision.matched[0].rule_name == "Invoices and refunds go to Billing"


def test_explain_of_all_and_not() -> None:
    decision = run(rules(rule("x", {"all": [{"flag": "bulk"}, {"not": {"contact_tag": "trial"}}]})))

    assert decision.explain() == [
        "rule 'x' matched: flag bulk is set and not contact is tagged trial → add tags x"
    ]


# --- hostile patterns -------------------------------------------------------------------------------


def test_catastrophic_regex_times_out_with_a_warning_and_evaluation_goes_on() -> None:
    hostile = facts(body="a" * 50 + "!")
    ruleset = rules(
        rule("redos", {"body": {"matches": "(a|aa)+$"}}, then=[{"set_team": "never"}]),
        rule("after", then=[{"set_team": "support"}]),
    )

    decision = run(ruleset, hostile, limits=PatternLimits(timeout_seconds=0.02))

    assert [match.rule_id for match in decision.matched] == ["after"]
    assert decision.team == "support"
    assert len(decision.warnings) == 1
    assert "rule 'redos'" in decision.warnings[0]
    assert "timed out" in decision.warnings[0]
    assert decision.explain()[-1].startswith("warning: rule 'redos'")


def test_textbook_nested_quantifier_finishes() -> None:
    decision = run(rules(rule("redos", {"body": {"matches": "(a+)+$"}})), facts(body="a" * 50 + "!"))

    assert decision.matched == []


def test_a_timeout_under_not_is_still_no_match_for_the_pattern() -> None:
    """The pattern counts as not matching, so ``not`` of it holds; the warning says so."""
    decision = run(
        rules(rule("negated", {"not": {"body": {"matches": "(a|aa)+$"}}})),
        facts(body="a" * 50 + "!"),
        limits=PatternLimits(timeout_seconds=0.02),
    )

    assert [match.rule_id for match in decision.matched] == ["negated"]
    assert decision.warnings


def test_the_regex_budget_bounds_a_whole_message() -> None:
    ruleset = rules(*(rule(f"r{index}", {"body": {"matches": f"(a|aa)+{index}$"}}) for index in range(20)))

    decision = run(
        ruleset,
        facts(body="a" * 60 + "!"),
        limits=PatternLimits(timeout_seconds=0.02),
        regex_budget_seconds=0.05,
    )

    assert decision.matched == []
    assert any("budget for this message is spent" in warning for warning in decision.warnings)
    assert sum("timed out" in warning for warning in decision.warnings) <= 5  # not all twenty


def test_regex_only_sees_the_first_max_chars() -> None:
    late = facts(body="x" * 5000 + "refund")
    ruleset = rules(rule("late", {"body": {"matches": "refund"}}))

    assert run(ruleset, late).matched
    assert not run(ruleset, late, limits=PatternLimits(max_chars=4096)).matched


# --- scale ------------------------------------------------------------------------------------------


def test_five_hundred_rules() -> None:
    items = []
    for index in range(500):
        kind = index % 4
        if kind == 0:
            when: dict[str, Any] = {"subject": {"contains": f"code-{index:03d}"}}
        elif kind == 1:
            when = {"body": {"matches": f"ref-{index:03d}\\b"}}
        elif kind == 2:
            when = {"all": [{"sender": {"domain": f"d{index}.example"}}, {"not": {"flag": "bulk"}}]}
        else:
            when = {"any": [{"header": {"name": f"X-Rule-{index}"}}, {"contact_tag": f"tag-{index}"}]}
        items.append(
            rule(f"r{index:03d}", when, then=[{"add_tags": [f"t{index:03d}"]}, {"set_team": f"team-{index}"}])
        )
    message = facts(
        subject="About code-008 and code-400",
        body="see ref-009 and ref-4099",
        sender_domain="d10.example",
        flags=[],
        headers=[("X-Rule-11", "1")],
        contact_tags=["tag-499"],
    )

    decision = run(RuleSet.model_validate({"rules": items}), message)

    assert [match.rule_id for match in decision.matched] == ["r008", "r009", "r010", "r011", "r400", "r499"]
    assert decision.tags == ["t008", "t009", "t010", "t011", "t400", "t499"]
    assert decision.team == "team-499"
    assert decision.sources["team"] == "r499"
    assert decision.warnings == []
