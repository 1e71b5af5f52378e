"""choose_agent: who may take a conversation, in which order, and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailroom.assignment.strategy import Choice, choose_agent
from mailroom.domain.agent import Agent, AgentStatus, OutOfOffice
from mailroom.domain.team import Strategy, Team

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def agent(name: str, **fields: object) -> Agent:
    return Agent.model_validate({"id": f"{name}@acme.test", "name": name, **fields})


def team(strategy: Strategy, *members: Agent) -> Team:
    return Team(id="support", name="Support", strategy=strategy, members=[m.id for m in members])


def choose(
    team_: Team,
    agents: list[Agent],
    *,
    required_skills: tuple[str, ...] | list[str] = (),
    rr_counter: int = 0,
    preferred: str | None = None,
    preferred_reason: str | None = None,
) -> Choice | None:
    return choose_agent(
        team_,
        agents,
        at=NOW,
        required_skills=required_skills,
        rr_counter=rr_counter,
        preferred=preferred,
        preferred_reason=preferred_reason,
    )


def names(choice: Choice | None) -> list[str]:
    assert choice is not None
    return [agent_id.split("@")[0] for agent_id in choice.agent_ids]


def test_manual_team_queues() -> None:
    a = agent("a")
    assert choose(team(Strategy.MANUAL, a), [a]) is None
    assert choose(team(Strategy.MANUAL, a), [a], preferred=a.id) is None


def test_only_available_members_below_capacity() -> None:
    ok = agent("a")
    full = agent("b", capacity=2, open_count=2)
    away = agent("c", status=AgentStatus.AWAY)
    inactive = agent("d", active=False)
    oof = agent("e", out_of_office=[OutOfOffice(start=NOW - timedelta(days=1), end=NOW + timedelta(days=1))])
    outsider = agent("f")  # not a member of the team
    everyone = [ok, full, away, inactive, oof, outsider]
    for strategy in (Strategy.ROUND_ROBIN, Strategy.LEAST_LOADED, Strategy.SKILLS):
        assert names(choose(team(strategy, ok, full, away, inactive, oof), everyone)) == ["a"]


def test_nobody_eligible_queues() -> None:
    full = agent("a", capacity=1, open_count=1)
    assert choose(team(Strategy.LEAST_LOADED, full), [full]) is None
    assert choose(team(Strategy.ROUND_ROBIN), []) is None


def test_round_robin_rotates_by_counter_over_sorted_eligible_members() -> None:
    a, b, c = agent("a"), agent("b"), agent("c")
    support = team(Strategy.ROUND_ROBIN, c, a, b)
    firsts = [names(choose(support, [c, b, a], rr_counter=n))[0] for n in range(5)]
    assert firsts == ["a", "b", "c", "a", "b"]
    choice = choose(support, [a, b, c], rr_counter=1)
    assert names(choice) == ["b", "c", "a"]  # fall-through order continues the rotation
    assert choice is not None
    assert choice.reason == "round_robin: next after a@acme.test"
    assert choice.strategy is Strategy.ROUND_ROBIN
    assert choice.first.basis == "round_robin"


def test_round_robin_skips_ineligible_without_stalling() -> None:
    a, b, c = agent("a"), agent("b", status="offline"), agent("c")
    support = team(Strategy.ROUND_ROBIN, a, b, c)
    assert [names(choose(support, [a, b, c], rr_counter=n))[0] for n in range(4)] == ["a", "c", "a", "c"]
    only = choose(team(Strategy.ROUND_ROBIN, a), [a], rr_counter=7)
    assert only is not None
    assert only.reason == "round_robin: only eligible member"


def test_least_loaded_orders_by_ratio_then_id() -> None:
    a = agent("a", open_count=2, capacity=5)  # 0.4
    b = agent("b", open_count=1, capacity=2)  # 0.5
    c = agent("c", open_count=2, capacity=10)  # 0.2
    d = agent("d", open_count=1, capacity=5)  # 0.2: ties with c, id decides
    choice = choose(team(Strategy.LEAST_LOADED, a, b, c, d), [a, b, c, d])
    assert names(choice) == ["c", "d", "a", "b"]
    assert choice is not None
    assert choice.reason == "least_loaded: 2 open of 10"
    assert [candidate.reason for candidate in choice.candidates][2] == "least_loaded: 2 open of 5"


def test_skills_strategy_requires_every_skill() -> None:
    both = agent("a", skills=["de", "billing"], open_count=3)
    both_idle = agent("b", skills=["billing", "DE", "fr"])
    german = agent("c", skills=["de"])
    choice = choose(
        team(Strategy.SKILLS, both, both_idle, german),
        [both, both_idle, german],
        required_skills=["billing", "De"],
    )
    assert names(choice) == ["b", "a"]
    assert choice is not None
    assert choice.reason == "skills: has [billing, de]; 0 open of 10"


def test_required_skills_filter_every_strategy() -> None:
    german = agent("a", skills=["de"])
    plain = agent("b")
    for strategy in (Strategy.ROUND_ROBIN, Strategy.LEAST_LOADED):
        assert names(
            choose(team(strategy, german, plain), [german, plain], required_skills=["de"], rr_counter=1)
        ) == ["a"]
    assert choose(team(Strategy.LEAST_LOADED, plain), [plain], required_skills=["de"]) is None


def test_sticky_agent_goes_first_even_when_busier() -> None:
    a, b = agent("a", open_count=4), agent("b")
    reason = "sticky: handled this contact's conversation c123"
    choice = choose(
        team(Strategy.LEAST_LOADED, a, b), [a, b], preferred="A@acme.test", preferred_reason=reason
    )
    assert names(choice) == ["a", "b"]
    assert choice is not None
    assert (choice.reason, choice.first.basis) == (reason, "preferred")
    assert choice.candidates[1].reason == "least_loaded: 0 open of 10"


def test_unavailable_or_full_preferred_agent_is_skipped() -> None:
    away = agent("a", status="away")
    full = agent("c", open_count=10)
    b = agent("b")
    support = team(Strategy.LEAST_LOADED, away, b, full)
    assert names(choose(support, [away, b, full], preferred=away.id)) == ["b"]
    assert names(choose(support, [away, b, full], preferred=full.id)) == ["b"]
    assert names(choose(support, [away, b, full], preferred="nobody@acme.test")) == ["b"]


def test_preferred_outside_the_team_is_honoured() -> None:
    a, outsider = agent("a"), agent("z")
    choice = choose(team(Strategy.ROUND_ROBIN, a), [a, outsider], preferred=outsider.id)
    assert names(choice) == ["z", "a"]
    assert choice is not None
    assert choice.reason == "preferred: z@acme.test"


def test_out_of_office_preferred_agent_hands_over_to_its_replacement() -> None:
    trip = OutOfOffice(start=NOW - timedelta(days=1), end=NOW + timedelta(days=1), replacement="c@acme.test")
    a = agent("a", out_of_office=[trip])
    b, c = agent("b"), agent("c", open_count=5)
    support = team(Strategy.LEAST_LOADED, a, b, c)
    choice = choose(support, [a, b, c], preferred=a.id)
    assert names(choice) == ["c", "b"]  # the replacement first, then the team without duplicates
    assert choice is not None
    assert (choice.reason, choice.first.basis) == (
        "replacement for a@acme.test (out of office)",
        "replacement",
    )


def test_replacement_must_itself_be_able_to_take_it() -> None:
    trip = OutOfOffice(start=NOW - timedelta(days=1), end=NOW + timedelta(days=1), replacement="c@acme.test")
    a, b = agent("a", out_of_office=[trip]), agent("b")
    c = agent("c", status="offline")
    assert names(choose(team(Strategy.LEAST_LOADED, a, b), [a, b, c], preferred=a.id)) == ["b"]
    # The replacement has to be among the agents passed in to be considered.
    assert names(choose(team(Strategy.LEAST_LOADED, a, b), [a, b], preferred=a.id)) == ["b"]


def test_preferred_needs_the_required_skills_too() -> None:
    a, b = agent("a"), agent("b", skills=["de"])
    assert names(
        choose(team(Strategy.LEAST_LOADED, a, b), [a, b], preferred=a.id, required_skills=["de"])
    ) == ["b"]


@pytest.mark.parametrize("strategy", [Strategy.ROUND_ROBIN, Strategy.LEAST_LOADED, Strategy.SKILLS])
def test_candidates_are_unique(strategy: Strategy) -> None:
    members = [agent(name) for name in "abcd"]
    choice = choose(team(strategy, *members), members, preferred="b@acme.test", rr_counter=3)
    assert choice is not None
    assert len(choice.agent_ids) == len(set(choice.agent_ids)) == 4
