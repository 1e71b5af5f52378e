"""Agent availability and the agent/team models: pure, no table."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from mailroom.domain.agent import (
    Agent,
    AgentStatus,
    OutOfOffice,
    absence_at,
    is_available,
    replacement_for,
)
from mailroom.domain.team import SlaPolicy, Strategy, Team
from mailroom.schedule.model import Interval, WeeklySchedule

# Monday 5 January 2026. Berlin is UTC+1 in winter.
MONDAY = date(2026, 1, 5)


def utc(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


BERLIN_OFFICE = WeeklySchedule(
    timezone="Europe/Berlin",
    days={day: [Interval(start=time(9), end=time(17))] for day in ("mon", "tue", "wed", "thu", "fri")},
    holidays=[date(2026, 1, 6)],
)


def agent(**fields: object) -> Agent:
    return Agent.model_validate({"id": "Ana@Acme.test", "name": "Ana", **fields})


def test_an_agent_without_schedule_is_available_around_the_clock() -> None:
    ana = agent()
    assert ana.id == "ana@acme.test"
    assert all(is_available(ana, utc(MONDAY, 0) + timedelta(hours=h)) for h in range(0, 24 * 7, 5))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, True),
        ({"active": False}, False),
        ({"status": AgentStatus.AWAY}, False),
        ({"status": "offline"}, False),
    ],
)
def test_active_and_status(fields: dict[str, object], expected: bool) -> None:
    assert is_available(agent(**fields), utc(MONDAY, 12)) is expected


def test_capacity_is_not_availability() -> None:
    # The store re-checks capacity atomically; availability is about the person.
    assert is_available(agent(capacity=2, open_count=2), utc(MONDAY, 12))


def test_schedule_is_read_in_its_own_time_zone() -> None:
    ana = agent(schedule=BERLIN_OFFICE)
    assert not is_available(ana, utc(MONDAY, 7, 30))  # 08:30 in Berlin
    assert is_available(ana, utc(MONDAY, 8, 30))  # 09:30 in Berlin
    assert is_available(ana, utc(MONDAY, 15, 30))  # 16:30 in Berlin
    assert not is_available(ana, utc(MONDAY, 16, 30))  # 17:30 in Berlin
    assert not is_available(ana, utc(MONDAY - timedelta(days=1), 12))  # Sunday
    assert not is_available(ana, utc(MONDAY + timedelta(days=1), 12))  # a holiday (Tuesday)
    assert is_available(ana, utc(MONDAY + timedelta(days=2), 12))  # Wednesday


def test_out_of_office_makes_unavailable_and_names_a_replacement() -> None:
    trip = OutOfOffice(
        start=utc(MONDAY, 0), end=utc(MONDAY, 0) + timedelta(days=5), replacement="Bo@Acme.test"
    )
    ana = agent(out_of_office=[trip])
    inside = utc(MONDAY, 12)
    assert not is_available(ana, inside)
    assert replacement_for(ana, inside) == "bo@acme.test"
    # Before it starts and from its end on (end exclusive), Ana is back and nobody stands in.
    assert is_available(ana, trip.start - timedelta(seconds=1))
    assert is_available(ana, trip.end)
    assert replacement_for(ana, trip.end) is None


def test_the_most_recent_overlapping_absence_decides_the_replacement() -> None:
    trip = OutOfOffice(
        start=utc(MONDAY, 0), end=utc(MONDAY, 0) + timedelta(days=5), replacement="bo@acme.test"
    )
    sick = OutOfOffice(start=utc(MONDAY, 0) + timedelta(days=1), end=utc(MONDAY, 0) + timedelta(days=2))
    ana = agent(out_of_office=[trip, sick])
    assert replacement_for(ana, utc(MONDAY, 12)) == "bo@acme.test"
    assert absence_at(ana, utc(MONDAY + timedelta(days=1), 12)) == sick
    assert replacement_for(ana, utc(MONDAY + timedelta(days=1), 12)) is None


def test_away_or_off_schedule_names_no_replacement() -> None:
    ana = agent(status="away", schedule=BERLIN_OFFICE)
    assert replacement_for(ana, utc(MONDAY, 20)) is None


def test_out_of_office_periods_must_be_ordered_and_time_zone_aware() -> None:
    with pytest.raises(ValidationError, match="after its start"):
        OutOfOffice(start=utc(MONDAY, 12), end=utc(MONDAY, 12))
    with pytest.raises(ValidationError):
        OutOfOffice.model_validate({"start": "2026-01-05T00:00:00", "end": "2026-01-06T00:00:00"})


def test_agent_normalizes_skills_and_round_trips_through_json() -> None:
    ana = agent(skills=["DE", "billing", " de "], schedule=BERLIN_OFFICE, out_of_office=[])
    assert ana.skills == ["billing", "de"]
    assert Agent.model_validate(ana.model_dump(mode="json")) == ana
    with pytest.raises(ValidationError):
        agent(role="owner")
    with pytest.raises(ValidationError):
        agent(capacity=-1)


def test_team_validates_slug_members_and_default_sla() -> None:
    gold = SlaPolicy(id="gold", name="Gold", first_response_minutes=60, resolution_minutes=480)
    team = Team(
        id="billing-de",
        name="Billing (DE)",
        strategy=Strategy.ROUND_ROBIN,
        members=["B@acme.test", "a@acme.test", "b@acme.test"],
        sla_policies=[gold],
        default_sla="gold",
    )
    assert team.members == ["a@acme.test", "b@acme.test"]
    assert team.sla_policy() == gold
    assert team.sla_policy("silver") is None
    assert team.sticky_days == 14
    assert Team.model_validate(team.model_dump(mode="json")) == team
    with pytest.raises(ValidationError, match="slug"):
        Team(id="Billing DE", name="x")
    with pytest.raises(ValidationError, match="default_sla"):
        Team(id="billing", name="Billing", default_sla="gold")
