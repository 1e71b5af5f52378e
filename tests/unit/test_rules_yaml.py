"""The rules file: parsing, every problem at its exact line, and stable round trips."""

from __future__ import annotations

import json
from textwrap import dedent

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mailroom.rules.model import (
    AddTags,
    AnyCondition,
    BodyCondition,
    RuleSet,
    SetTeam,
    SubjectCondition,
    TextTest,
)
from mailroom.rules.yaml_io import RuleProblem, RulesError, dump_rules_yaml, parse_rules_yaml

BRIEF_EXAMPLE = """\
rules:
  - id: billing
    name: Invoices and refunds go to Billing
    when:
      any:
        - subject: {contains: invoice}
        - body: {matches: "refund(ed|s)?"}
    then:
      - add_tags: [billing]
      - set_team: billing
    stop: true
"""

EVERYTHING = """\
version: 7
rules:
  - id: robots
    name: Keep machines out of the queue
    when:
      any:
        - flag: [auto_reply, bounce]
        - header: {name: List-Id}
        - verdict: {name: spam, status: FAIL}
    then:
      - mark_spam: true
    stop: true
  - id: vip-after-hours
    name: VIPs outside business hours page the on-call desk
    when:
      all:
        - contact_tag: vip
        - business_hours: outside
        - not: {business_hours: {is: inside, calendar: americas}}
    then:
      - set_priority: urgent
      - assign_to: oncall@shop.example
      - set_sla: premium
  - id: german-billing
    name: German invoices
    enabled: false
    when:
      all:
        - mailbox: [billing@shop.example, rechnung@shop.example]
        - sender: {domain: [client.de, client.at]}
        - any:
            - to: billing@shop.example
            - cc: accounts@shop.example
            - recipient: finance@shop.example
        - subject: {matches: "rechnung|invoice"}
        - body: {contains: [mahnung, zahlungserinnerung]}
        - header: {name: X-Priority, equals: "1"}
        - header: {name: Subject, contains: dringend}
        - header: {name: Received, matches: "from mx\\\\."}
        - has_attachments: true
        - sender: {address: ceo@client.de}
    then:
      - add_tags: [billing, german]
      - require_skills: [german, accounting]
      - set_team: billing
      - auto_reply: rechnung-erhalten
  - id: catch-all
    name: Everything else is support's
    then:
      - set_team: support
"""


def problems_of(text: str) -> list[RuleProblem]:
    with pytest.raises(RulesError) as caught:
        parse_rules_yaml(text)
    return caught.value.problems


def only_problem(text: str) -> RuleProblem:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    return problems[0]


def test_the_brief_example() -> None:
    ruleset = parse_rules_yaml(BRIEF_EXAMPLE)

    (billing,) = ruleset.rules
    assert billing.id == "billing"
    assert billing.stop
    assert billing.enabled
    assert billing.when == AnyCondition(
        any_=[
            SubjectCondition(subject=TextTest(contains=["invoice"])),
            BodyCondition(body=TextTest(matches=["refund(ed|s)?"])),
        ]
    )
    assert billing.then == [AddTags(add_tags=["billing"]), SetTeam(set_team="billing")]


def test_every_condition_and_action_parses() -> None:
    ruleset = parse_rules_yaml(EVERYTHING)

    assert ruleset.version == 7
    assert [rule.id for rule in ruleset.rules] == ["robots", "vip-after-hours", "german-billing", "catch-all"]
    assert not ruleset.rules[2].enabled
    assert ruleset.rules[3].when.describe() == "always"


@pytest.mark.parametrize("text", [BRIEF_EXAMPLE, EVERYTHING], ids=["brief", "everything"])
def test_round_trip(text: str) -> None:
    ruleset = parse_rules_yaml(text)

    dumped = dump_rules_yaml(ruleset)

    assert parse_rules_yaml(dumped) == ruleset
    assert dump_rules_yaml(parse_rules_yaml(dumped)) == dumped  # stable


FREE_TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=80)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=FREE_TEXT, equals=FREE_TEXT, phrase=FREE_TEXT)
def test_any_text_round_trips(name: str, equals: str, phrase: str) -> None:
    """Quotes, colons, '#', YAML keywords, control characters and Unicode line breaks survive."""
    try:
        ruleset = RuleSet.model_validate(
            {
                "rules": [
                    {
                        "id": "a",
                        "name": name,
                        "when": {
                            "all": [
                                {"header": {"name": "X-A", "equals": equals}},
                                {"body": {"contains": phrase}},
                            ]
                        },
                        "stop": True,
                    }
                ]
            }
        )
    except ValidationError:
        return  # blank names and phrases are refused; nothing to round-trip

    assert parse_rules_yaml(dump_rules_yaml(ruleset)) == ruleset


def test_dump_reads_like_the_input() -> None:
    assert dump_rules_yaml(parse_rules_yaml(BRIEF_EXAMPLE)) == dedent(
        """\
        rules:
          - id: billing
            name: Invoices and refunds go to Billing
            when:
              any:
                - subject: {contains: invoice}
                - body: {matches: 'refund(ed|s)?'}
            then:
              - add_tags: [billing]
              - set_team: billing
            stop: true
        """
    )


def test_json_round_trip_for_storage() -> None:
    ruleset = parse_rules_yaml(EVERYTHING)

    document = json.dumps(ruleset.model_dump(mode="json"))

    assert RuleSet.model_validate_json(document) == ruleset
    assert RuleSet.model_validate_json(ruleset.model_dump_json()) == ruleset


def test_yaml_1_2_scalars_stay_text() -> None:
    ruleset = parse_rules_yaml(
        dedent(
            """\
            rules:
              - id: off
                name: Off
                when: {header: {name: X-Version, equals: 1.10}}
                then: [{add_tags: [no]}]
            """
        )
    )

    assert ruleset.rules[0].name == "Off"
    assert ruleset.rules[0].then == [AddTags(add_tags=["no"])]
    assert "equals '1.10'" in ruleset.rules[0].when.describe()
    assert parse_rules_yaml(dump_rules_yaml(ruleset)) == ruleset


def test_empty_rules_list_is_fine_but_an_empty_file_is_not() -> None:
    assert parse_rules_yaml("rules: []\n") == RuleSet(rules=[])
    assert only_problem("").reason.startswith("the file is empty")
    assert only_problem("# just a comment\n").line == 1


# --- problems, at their exact lines -----------------------------------------------------------------


def test_unknown_condition_key() -> None:
    problem = only_problem(
        dedent(
            """\
            rules:
              - id: billing
                name: Billing
                when:
                  any:
                    - subject: {contains: invoice}
                    - subjekt: {contains: refund}
                then: [{set_team: billing}]
            """
        )
    )

    assert problem.line == 7
    assert problem.path == "rules[0].when.any[1].subjekt"
    assert "unknown condition 'subjekt'" in problem.reason
    assert "did you mean 'subject'?" in problem.reason


def test_unknown_key_inside_a_condition() -> None:
    problem = only_problem(
        dedent(
            """\
            rules:
              - id: billing
                name: Billing
                when:
                  subject:
                    contain: invoice
                then: [{set_team: billing}]
            """
        )
    )

    assert (problem.line, problem.path) == (6, "rules[0].when.subject.contain")
    assert "did you mean 'contains'?" in problem.reason


def test_unknown_rule_key_and_top_level_key() -> None:
    assert only_problem("rule: []\n") == RuleProblem(
        1, "rule", "unknown key 'rule' (expected one of: rules, version); did you mean 'rules'?"
    )
    problem = only_problem("rules:\n  - id: a\n    name: A\n    stopp: true\n")
    assert (problem.line, problem.path) == (4, "rules[0].stopp")
    assert "did you mean 'stop'?" in problem.reason


def test_unknown_action() -> None:
    problem = only_problem("rules:\n  - id: a\n    name: A\n    then:\n      - set_tema: billing\n")

    assert (problem.line, problem.path) == (5, "rules[0].then[0].set_tema")
    assert "unknown action 'set_tema'" in problem.reason
    assert "did you mean 'set_team'?" in problem.reason


def test_bad_regex() -> None:
    problem = only_problem(
        dedent(
            """\
            rules:
              - id: refunds
                name: Refunds
                when:
                  any:
                    - subject: {contains: refund}
                    - body:
                        matches: "refund(ed|s"
                then: [{set_team: billing}]
            """
        )
    )

    assert problem.line == 8
    assert problem.path == "rules[0].when.any[1].body.matches"
    assert problem.reason.startswith("invalid regular expression /refund(ed|s/: missing )")


def test_hostile_regex_is_refused_at_validation() -> None:
    when = "{body: {matches: '((a{1000}){1000}){1000}'}}"
    problem = only_problem(f"rules:\n  - id: a\n    name: A\n    when: {when}\n    stop: true\n")

    assert problem.line == 4
    assert "repeats too much" in problem.reason


@pytest.mark.parametrize(
    ("line", "expected_line", "path", "reason"),
    [
        ("    when: {has_attachments: maybe}", 4, "rules[0].when.has_attachments", "valid boolean"),
        (
            "    then: [{set_priority: highest}]",
            4,
            "rules[0].then[0].set_priority",
            "'low', 'normal', 'high' or 'urgent'",
        ),
        ("    then: billing", 4, "rules[0].then", "valid list"),
        ("    enabled: sometimes", 4, "rules[0].enabled", "valid boolean"),
        ("    then: [{add_tags: []}]", 4, "rules[0].then[0].add_tags", "empty list is not allowed"),
        ("    then: [{add_tags: [Billing]}]", 4, "rules[0].then[0].add_tags[0]", "'Billing' must be a slug"),
        ("    then: [{assign_to: ann}]", 4, "rules[0].then[0].assign_to", "not an email address"),
        ("    then: [{mark_spam: false}]", 4, "rules[0].then[0].mark_spam", "leave the action out"),
        ("    when: {flag: sparm}", 4, "rules[0].when.flag", "unknown flag 'sparm'"),
        (
            "    when: {verdict: {name: spf, status: MAYBE}}",
            4,
            "rules[0].when.verdict.status",
            "'PASS', 'FAIL'",
        ),
        ("    when: {subject: {contains: ''}}", 4, "rules[0].when.subject.contains", "empty phrase"),
        ("    when: {subject: {}}", 4, "rules[0].when.subject", "exactly one of contains or matches"),
        ("    when: {business_hours: later}", 4, "rules[0].when.business_hours", "'inside' or 'outside'"),
        ("    when: [flag: bulk]", 4, "rules[0].when", "a mapping with one key"),
        ("    when: {header: {equals: x}}", 4, "rules[0].when.header.name", "'name' is required"),
    ],
)
def test_wrong_values(line: str, expected_line: int, path: str, reason: str) -> None:
    text = f"rules:\n  - id: a\n    name: A\n{line}\n    stop: true\n"

    problem = only_problem(text)

    assert (problem.line, problem.path) == (expected_line, path)
    assert reason in problem.reason


def test_two_conditions_in_one_mapping() -> None:
    problem = only_problem(
        dedent(
            """\
            rules:
              - id: a
                name: A
                when:
                  subject: {contains: invoice}
                  body: {contains: refund}
                stop: true
            """
        )
    )

    assert (problem.line, problem.path) == (6, "rules[0].when.body")
    assert "one condition per mapping, found subject, body" in problem.reason
    assert "all:" in problem.reason


def test_the_same_action_twice() -> None:
    problem = only_problem(
        "rules:\n  - id: a\n    name: A\n    then:\n      - set_team: x\n      - set_team: y\n"
    )

    assert (problem.line, problem.path) == (6, "rules[0].then[1]")
    assert "set_team appears twice" in problem.reason


def test_a_rule_that_does_nothing() -> None:
    problem = only_problem("rules:\n  - id: idle\n    name: Idle\n")

    assert problem.line == 2
    assert "has no actions" in problem.reason


def test_duplicate_ids_point_at_the_second() -> None:
    problem = only_problem(
        dedent(
            """\
            rules:
              - id: billing
                name: First
                stop: true
              - id: billing
                name: Second
                stop: true
            """
        )
    )

    assert (problem.line, problem.path) == (5, "rules[1].id")
    assert problem.reason == "rule id 'billing' is used twice (first by rules[0]): ids must be unique"


def test_missing_id_and_name() -> None:
    problems = problems_of("rules:\n  - stop: true\n")

    assert [(problem.line, problem.path, problem.reason) for problem in problems] == [
        (2, "rules[0].id", "'id' is required"),
        (2, "rules[0].name", "'name' is required"),
    ]


def test_every_problem_is_reported_in_line_order() -> None:
    problems = problems_of(
        dedent(
            """\
            rules:
              - id: Bad Id
                name: A
                stop: true
              - id: b
                name: B
                when: {subject: {matches: "("}}
                then: [{set_priority: soon}]
            """
        )
    )

    assert [problem.line for problem in problems] == [2, 7, 8]
    assert str(problems[0]).startswith("line 2, rules[0].id: 'Bad Id' must be a slug")


def test_error_message_lists_every_problem() -> None:
    with pytest.raises(ValueError, match=r"(?s)line 2, rules\[0\]\.id: .*line 3, rules\[1\]\.id"):
        parse_rules_yaml("rules:\n  - {id: A, name: a, stop: true}\n  - {id: B, name: b, stop: true}\n")


def test_yaml_syntax_error() -> None:
    problem = only_problem(
        dedent(
            """\
            rules:
              - id: a
                name: A
                when: {subject: {contains: invoice}
                stop: true
            """
        )
    )

    assert problem.line == 5
    assert problem.reason.startswith("YAML syntax error")
    assert "expected ',' or '}'" in problem.reason


def test_yaml_syntax_error_bad_indentation() -> None:
    problem = only_problem("rules:\n  - id: a\n    name: A\n   stop: true\n")

    assert problem.line == 4
    assert problem.reason.startswith("YAML syntax error")


def test_duplicate_keys_are_refused() -> None:
    problem = only_problem("rules:\n  - id: a\n    name: A\n    stop: true\n    name: B\n")

    assert (problem.line, problem.path) == (5, "rules[0].name")
    assert problem.reason == "duplicate key 'name' in the same mapping"


def test_aliases_are_refused_where_used() -> None:
    text = dedent(
        """\
        rules:
          - id: a
            name: A
            then: &actions [{set_team: billing}]
          - id: b
            name: B
            then: *actions
        """
    )

    assert only_problem(text) == RuleProblem(7, "", "aliases (*actions) are not supported: repeat the text")


def test_deep_nesting_is_refused() -> None:
    when = "{not: " * 20 + "{flag: bulk}" + "}" * 20
    problem = only_problem(f"rules:\n  - id: a\n    name: A\n    when: {when}\n    stop: true\n")

    assert problem.line == 4
    assert "at most 12" in problem.reason


@pytest.mark.parametrize("levels", [150, 50_000])
def test_absurd_yaml_nesting_is_refused_before_composing(levels: int) -> None:
    """libyaml's composer recurses; at tens of thousands of levels it would crash the process."""
    problem = only_problem("rules:\n  - " + "[" * levels + "]" * levels + "\n")

    assert problem.line == 2
    assert "nests more than 100 levels" in problem.reason


def test_a_list_at_the_top_is_refused() -> None:
    problem = only_problem("- id: a\n")

    assert problem.line == 1
    assert "valid dictionary" in problem.reason
