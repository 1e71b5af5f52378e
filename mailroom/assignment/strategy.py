"""Who should get a conversation: a pure decision over a team and its agents at one moment.

The answer is an ordered list of candidates, not one agent, because the decision is made on a read
that may be stale by the time it is written: the store re-checks capacity and "still unassigned"
atomically, and when a candidate's condition fails the caller falls through to the next one instead
of deciding again. Each candidate carries the reason that goes into the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from mailroom.domain.agent import Agent, has_room, is_available, replacement_for
from mailroom.domain.team import Strategy, Team


@dataclass(frozen=True)
class Candidate:
    agent_id: str
    reason: str  # for people: "least_loaded: 2 open of 5", "replacement for a@x (out of office)"
    basis: str  # for machines: "preferred", "replacement", or the team strategy's value


@dataclass(frozen=True)
class Choice:
    """Candidates in the order to try them (never empty), and the team strategy that ranked them."""

    candidates: tuple[Candidate, ...]
    strategy: Strategy

    @property
    def agent_ids(self) -> list[str]:
        return [candidate.agent_id for candidate in self.candidates]

    @property
    def first(self) -> Candidate:
        return self.candidates[0]

    @property
    def reason(self) -> str:
        return self.first.reason


def _skill_set(skills: Sequence[str]) -> frozenset[str]:
    return frozenset(skill.strip().lower() for skill in skills if skill.strip())


def _load(agent: Agent) -> Fraction:
    # Exact, so 1 of 2 and 2 of 4 tie and the id decides, the same on every run.
    return Fraction(agent.open_count, agent.capacity) if agent.capacity else Fraction(1)


def _least_loaded(agents: list[Agent]) -> list[Agent]:
    return sorted(agents, key=lambda agent: (_load(agent), agent.id))


def _round_robin(agents: list[Agent], rr_counter: int) -> list[Candidate]:
    ordered = sorted(agents, key=lambda agent: agent.id)
    start = rr_counter % len(ordered)
    rotated = ordered[start:] + ordered[:start]
    if len(rotated) == 1:
        return [Candidate(rotated[0].id, "round_robin: only eligible member", Strategy.ROUND_ROBIN.value)]
    return [
        Candidate(agent.id, f"round_robin: next after {rotated[i - 1].id}", Strategy.ROUND_ROBIN.value)
        for i, agent in enumerate(rotated)
    ]


def _ranked(
    strategy: Strategy, agents: list[Agent], rr_counter: int, skills: frozenset[str]
) -> list[Candidate]:
    if not agents:
        return []
    if strategy is Strategy.ROUND_ROBIN:
        return _round_robin(agents, rr_counter)
    if strategy is Strategy.SKILLS:
        has = f"has [{', '.join(sorted(skills))}]" if skills else "none required"
        return [
            Candidate(agent.id, f"skills: {has}; {agent.open_count} open of {agent.capacity}", strategy.value)
            for agent in _least_loaded(agents)
        ]
    return [
        Candidate(agent.id, f"least_loaded: {agent.open_count} open of {agent.capacity}", strategy.value)
        for agent in _least_loaded(agents)
    ]


def choose_agent(
    team: Team,
    agents: Sequence[Agent],
    *,
    at: datetime,
    required_skills: Sequence[str],
    rr_counter: int,
    preferred: str | None = None,
    preferred_reason: str | None = None,
) -> Choice | None:
    """Rank who may take a new conversation for ``team`` at ``at``; None means "leave it queued".

    * A manual team never picks anyone.
    * Every candidate can take the work now: available (active, status, schedule, not out of office),
      below capacity, and holding every required skill (for every strategy, not just ``skills``).
    * ``preferred`` (stickiness, or a rule's ``assign_to``) comes first when it can take the work;
      when it is out of office, the replacement it named comes first instead. ``preferred_reason``
      explains it in the audit log ("sticky: handled this contact's conversation c123"). Neither has
      to be a team member, but both must be in ``agents`` to be considered.
    * Then the team's members in the strategy's order: round robin rotates the id-sorted eligible
      members by ``rr_counter`` (from :meth:`AssignmentStore.next_rr_counter`); least loaded and
      skills order by open/capacity, then id.
    """
    if team.strategy is Strategy.MANUAL:
        return None
    skills = _skill_set(required_skills)
    by_id = {agent.id: agent for agent in agents}

    def can_take(agent: Agent | None) -> bool:
        return (
            agent is not None and is_available(agent, at) and has_room(agent) and skills <= set(agent.skills)
        )

    head: list[Candidate] = []
    if preferred:
        wanted = by_id.get(preferred.strip().lower())
        if wanted is not None and can_take(wanted):
            head.append(Candidate(wanted.id, preferred_reason or f"preferred: {wanted.id}", "preferred"))
        elif wanted is not None:
            stand_in = replacement_for(wanted, at)
            if stand_in is not None and can_take(by_id.get(stand_in)):
                reason = f"replacement for {wanted.id} (out of office)"
                head.append(Candidate(stand_in, reason, "replacement"))

    members = [by_id[member] for member in team.members if can_take(by_id.get(member))]
    taken = {candidate.agent_id for candidate in head}
    ranked = [c for c in _ranked(team.strategy, members, rr_counter, skills) if c.agent_id not in taken]
    candidates = (*head, *ranked)
    return Choice(candidates, team.strategy) if candidates else None
