"""The metric definitions on hand-built event sequences (docs/metrics.md): what counts, from when
to when, credited to whom, in which hour and day."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from mailroom.domain.event import AuditEvent, EventType
from mailroom.metrics.model import (
    ALL,
    BUCKET_BOUNDS,
    Contribution,
    ConversationState,
    Count,
    Duration,
    Target,
    TargetKind,
    bucket_of,
    histogram_field,
    hour_of,
    merge_increments,
    quantile,
    step,
    sum_field,
)
from mailroom.metrics.report import Period, ReportError, parse_period
from mailroom.schedule.model import ALWAYS_OPEN, Interval, WeeklySchedule

MAILBOX = "support@acme.test"
CONV = "c0000000001"
SAM, PRIYA = "sam@acme.test", "priya@acme.test"
OPENING = "m-opening"
_ids = itertools.count()


def ev(kind: EventType, at: str, actor: str = "ingest", **data: object) -> AuditEvent:
    return AuditEvent(
        id=f"e{next(_ids):05d}",
        conversation_id=CONV,
        mailbox=MAILBOX,
        type=kind,
        at=at,
        actor=actor,
        data=data,
    )


def received(at: str, key: str = OPENING, flags: Iterable[str] = ()) -> AuditEvent:
    return ev(EventType.RECEIVED, at, message_key=key, flags=list(flags))


def replied(at: str, agent: str) -> AuditEvent:
    return ev(EventType.REPLIED, at, actor=agent, message_key="m-reply", first_reply=False)


def status(at: str, new: str, previous: str, actor: str = SAM) -> AuditEvent:
    return ev(EventType.STATUS_CHANGED, at, actor=actor, status=new, previous=previous)


def reopened(at: str, previous: str) -> AuditEvent:
    return ev(EventType.REOPENED, at, previous_status=previous)


class Run:
    """Events applied in order, with every contribution kept."""

    def __init__(self, events: Iterable[AuditEvent], calendar: WeeklySchedule = ALWAYS_OPEN) -> None:
        self.state: ConversationState | None = None
        self.contributions: list[Contribution] = []
        for event in events:
            result = step(self.state, event, calendar_for=lambda _team: calendar)
            self.state = result.state
            self.contributions += result.contributions

    def count(self, count: Count, target: Target = ALL) -> int:
        return sum(c.counts.get(count, 0) for c in self.contributions if c.target == target)

    def durations(self, duration: Duration, target: Target = ALL) -> list[float]:
        return [
            c.durations[duration]
            for c in self.contributions
            if c.target == target and duration in c.durations
        ]


def agent(email: str) -> Target:
    return Target(TargetKind.AGENT, email)


def test_first_response_runs_from_the_first_customer_message_to_the_first_reply_a_person_sends() -> None:
    run = Run(
        [
            received("2026-11-23T09:00:00.000000Z"),
            ev(
                EventType.TEAM_SET,
                "2026-11-23T09:00:01.000000Z",
                actor="route",
                team="support",
                message_key=OPENING,
            ),
            ev(EventType.ASSIGNED, "2026-11-23T09:00:02.000000Z", actor="route", agent=SAM),
            ev(EventType.AUTO_REPLIED, "2026-11-23T09:00:03.000000Z", actor="route", message_key="m-auto"),
            ev(EventType.NOTE_ADDED, "2026-11-23T09:05:00.000000Z", actor=SAM, note_id="n1"),
            received("2026-11-23T09:10:00.000000Z", key="m-second"),  # a follow-up: the clock keeps running
            replied("2026-11-23T09:30:00.000000Z", PRIYA),  # Priya answers Sam's conversation
            replied("2026-11-23T09:40:00.000000Z", SAM),  # a second reply is not a first response
        ]
    )
    assert run.count(Count.CONVERSATIONS) == 1
    assert run.count(Count.IN) == 2
    assert run.count(Count.OUT) == 2
    assert run.count(Count.OUT_AUTO) == 1  # counted apart, and not a response
    assert run.count(Count.FIRST_RESPONSES) == 1
    assert run.durations(Duration.FIRST_RESPONSE) == [1800.0]  # notes and auto-replies don't stop it
    # Credited to the replier, not the assignee.
    assert run.count(Count.FIRST_RESPONSES, agent(PRIYA)) == 1
    assert run.count(Count.FIRST_RESPONSES, agent(SAM)) == 0
    assert run.count(Count.ASSIGNED, agent(SAM)) == 1
    assert run.count(Count.OUT, agent(SAM)) == 1
    # The first message counts for the team routing gave it; later ones directly.
    team = Target(TargetKind.TEAM, "support")
    assert run.count(Count.IN, team) == 2
    assert run.count(Count.CONVERSATIONS, team) == 1
    assert run.durations(Duration.FIRST_RESPONSE, team) == [1800.0]
    # Response time: from the oldest unanswered message; the second reply had nobody waiting.
    assert run.durations(Duration.RESPONSE) == [1800.0]


def test_a_reopen_measures_a_new_first_response_and_resolution() -> None:
    run = Run(
        [
            received("2026-11-23T09:00:00.000000Z"),
            replied("2026-11-23T09:10:00.000000Z", SAM),
            status("2026-11-23T09:20:00.000000Z", "closed", "open"),
            # Ingest writes the reopening message's events in one transaction (either order arrives).
            reopened("2026-11-23T12:00:00.000000Z", "closed"),
            received("2026-11-23T12:00:00.000000Z", key="m-again"),
            replied("2026-11-23T12:30:00.000000Z", PRIYA),
            status("2026-11-23T13:00:00.000000Z", "closed", "open", actor=PRIYA),
        ]
    )
    assert run.durations(Duration.FIRST_RESPONSE) == [600.0, 1800.0]
    assert run.count(Count.FIRST_RESPONSES, agent(SAM)) == 1
    assert run.count(Count.FIRST_RESPONSES, agent(PRIYA)) == 1
    assert run.count(Count.REOPENS) == 1
    assert run.count(Count.RESOLUTIONS) == 2
    assert run.durations(Duration.RESOLUTION) == [1200.0, 3600.0]  # from creation, then from the reopen
    assert run.count(Count.CONVERSATIONS) == 1
    assert run.state is not None
    assert run.state.cycles == 1


def test_events_of_one_transaction_give_the_same_figures_in_either_order() -> None:
    first = [received("2026-11-23T09:00:00.000000Z"), replied("2026-11-23T09:10:00.000000Z", SAM)]
    again = received("2026-11-23T12:00:00.000000Z", key="m-again")
    reopen = reopened("2026-11-23T12:00:00.000000Z", "pending")
    answer = replied("2026-11-23T12:05:00.000000Z", SAM)
    one = Run([*first, again, reopen, answer])
    other = Run([*first, reopen, again, answer])
    for run in (one, other):
        assert run.durations(Duration.FIRST_RESPONSE) == [600.0, 300.0]
        assert run.count(Count.REOPENS) == 0  # the customer answered a pending conversation
        assert run.count(Count.IN) == 2


def test_an_unanswered_cycle_keeps_its_clock_when_the_customer_writes_again() -> None:
    run = Run(
        [
            received("2026-11-23T09:00:00.000000Z"),
            status("2026-11-23T09:05:00.000000Z", "pending", "open"),  # pending without a reply
            received("2026-11-23T10:00:00.000000Z", key="m-again"),
            reopened("2026-11-23T10:00:00.000000Z", "pending"),
            replied("2026-11-23T10:30:00.000000Z", SAM),
        ]
    )
    assert run.durations(Duration.FIRST_RESPONSE) == [5400.0]  # from 09:00: setting pending is no answer


def test_machine_mail_neither_counts_as_volume_nor_starts_a_clock() -> None:
    run = Run(
        [
            received("2026-11-23T09:00:00.000000Z", flags=["auto_reply"]),
            received("2026-11-23T09:01:00.000000Z", key="m-bounce", flags=["bounce"]),
            ev(EventType.NOTE_ADDED, "2026-11-23T09:02:00.000000Z", actor=SAM, note_id="n1"),
            replied("2026-11-23T09:30:00.000000Z", SAM),
        ]
    )
    assert run.count(Count.IN) == 0
    assert run.count(Count.IN_OTHER) == 2
    assert run.count(Count.CONVERSATIONS) == 1
    assert run.count(Count.OUT) == 1
    assert run.count(Count.FIRST_RESPONSES) == 0  # nobody was waiting for a first response


def test_reassignment_credits_the_replier_and_resolutions_the_assignee_at_the_close() -> None:
    run = Run(
        [
            received("2026-11-23T09:00:00.000000Z"),
            ev(EventType.ASSIGNED, "2026-11-23T09:01:00.000000Z", actor="route", agent=SAM),
            ev(
                EventType.ASSIGNED,
                "2026-11-23T09:02:00.000000Z",
                actor="admin@acme.test",
                agent=PRIYA,
                previous=SAM,
            ),
            replied("2026-11-23T09:20:00.000000Z", SAM),  # Sam answers anyway
            status("2026-11-23T09:30:00.000000Z", "closed", "open", actor=SAM),
        ]
    )
    assert run.count(Count.ASSIGNED, agent(SAM)) == 1
    assert run.count(Count.ASSIGNED, agent(PRIYA)) == 1
    assert run.count(Count.FIRST_RESPONSES, agent(SAM)) == 1
    assert run.count(Count.FIRST_RESPONSES, agent(PRIYA)) == 0
    assert run.count(Count.RESOLUTIONS, agent(PRIYA)) == 1  # she holds it when it is closed
    assert run.count(Count.RESOLUTIONS, agent(SAM)) == 0


BERLIN_WORKDAYS = WeeklySchedule(
    timezone="Europe/Berlin",
    days={d: [Interval(start=time(9), end=time(17))] for d in ("mon", "tue", "wed", "thu", "fri")},
)


def test_business_hours_skip_the_weekend() -> None:
    # Friday 16:30 Berlin (15:30 UTC) to Monday 09:30 Berlin (08:30 UTC): 30 + 30 open minutes.
    run = Run(
        [received("2026-11-20T15:30:00.000000Z"), replied("2026-11-23T08:30:00.000000Z", SAM)],
        calendar=BERLIN_WORKDAYS,
    )
    assert run.durations(Duration.FIRST_RESPONSE) == [65 * 3600.0]
    assert run.durations(Duration.FIRST_RESPONSE_BUSINESS) == [3600.0]


def test_sla_within_target_breached_and_without_a_target() -> None:
    def sla_run(reply_at: str, due: str | None) -> Run:
        events = [received("2026-11-23T09:00:00.000000Z")]
        if due:
            events.append(
                ev(
                    EventType.SLA_SET,
                    "2026-11-23T09:00:01.000000Z",
                    actor="route",
                    message_key=OPENING,
                    policy="standard",
                    first_response_due=due,
                )
            )
        return Run([*events, replied(reply_at, SAM)])

    within = sla_run("2026-11-23T09:59:59.000000Z", "2026-11-23T10:00:00.000000Z")
    assert (within.count(Count.SLA_MET), within.count(Count.SLA_BREACHED)) == (1, 0)
    assert within.count(Count.SLA_MET, agent(SAM)) == 1
    late = sla_run("2026-11-23T10:00:01.000000Z", "2026-11-23T10:00:00.000000Z")
    assert (late.count(Count.SLA_MET), late.count(Count.SLA_BREACHED)) == (0, 1)
    untargeted = sla_run("2026-11-23T10:00:01.000000Z", None)
    assert (untargeted.count(Count.SLA_MET), untargeted.count(Count.SLA_BREACHED)) == (0, 0)
    assert untargeted.count(Count.FIRST_RESPONSES) == 1


def test_a_reopen_waits_for_the_new_due_time() -> None:
    run = Run(
        [
            received("2026-11-23T09:00:00.000000Z"),
            ev(
                EventType.SLA_SET,
                "2026-11-23T09:00:01.000000Z",
                actor="route",
                message_key=OPENING,
                first_response_due="2026-11-23T10:00:00.000000Z",
            ),
            replied("2026-11-23T09:30:00.000000Z", SAM),
            status("2026-11-23T09:40:00.000000Z", "closed", "open"),
            reopened("2026-11-24T09:00:00.000000Z", "closed"),
            ev(
                EventType.SLA_SET,
                "2026-11-24T09:00:01.000000Z",
                actor="route",
                message_key="m-again",
                first_response_due="2026-11-24T10:00:00.000000Z",
            ),
            replied("2026-11-24T09:45:00.000000Z", SAM),
        ]
    )
    assert run.count(Count.SLA_MET) == 2  # the second is measured against the reopen's due time


def test_tags_routing_gives_the_first_message_count_it_later_tags_do_not() -> None:
    run = Run(
        [
            received("2026-11-23T09:00:00.000000Z"),
            ev(
                EventType.TAGGED,
                "2026-11-23T09:00:01.000000Z",
                actor="route",
                message_key=OPENING,
                tags=["billing"],
            ),
            ev(EventType.TAGGED, "2026-11-23T09:05:00.000000Z", actor=SAM, tags=["vip"]),
            received("2026-11-23T09:06:00.000000Z", key="m-second"),
            ev(EventType.UNTAGGED, "2026-11-23T09:07:00.000000Z", actor=SAM, tags=["billing"]),
            received("2026-11-23T09:08:00.000000Z", key="m-third"),
        ]
    )
    assert run.count(Count.IN, Target(TargetKind.TAG, "billing")) == 2  # the first and the second
    assert run.count(Count.IN, Target(TargetKind.TAG, "vip")) == 2  # the second and the third
    assert run.count(Count.CONVERSATIONS, Target(TargetKind.TAG, "vip")) == 0


def test_a_redelivered_event_changes_nothing() -> None:
    first = received("2026-11-23T09:00:00.000000Z")
    result = step(None, first)
    again = step(result.state, first)
    assert again.duplicate
    assert again.contributions == []
    assert again.state == result.state


def test_hours_and_local_days() -> None:
    # 23:30 UTC on the 23rd is the 24th in Berlin (UTC+1 in November).
    assert hour_of("2026-11-23T23:30:00.000000Z") == "2026-11-23T23"
    berlin = Period(date(2026, 11, 24), date(2026, 11, 24), ZoneInfo("Europe/Berlin"))
    utc = Period(date(2026, 11, 23), date(2026, 11, 23), ZoneInfo("UTC"))
    assert dict(berlin.hours())["2026-11-23T23"] == date(2026, 11, 24)
    assert "2026-11-24T23" not in dict(berlin.hours())  # already the 25th in Berlin
    assert dict(utc.hours())["2026-11-23T23"] == date(2026, 11, 23)
    assert len(berlin.hours()) == len(utc.hours()) == 24
    # The day clocks go forward has 23 hours, the day they go back 25.
    assert len(Period(date(2026, 3, 29), date(2026, 3, 29), ZoneInfo("Europe/Berlin")).hours()) == 23
    assert len(Period(date(2026, 10, 25), date(2026, 10, 25), ZoneInfo("Europe/Berlin")).hours()) == 25
    assert berlin.whole_hours
    assert not Period(date(2026, 11, 24), date(2026, 11, 24), ZoneInfo("Asia/Kolkata")).whole_hours


def test_periods() -> None:
    zone, today = ZoneInfo("UTC"), date(2026, 11, 23)
    assert parse_period("30d", zone, today) == Period(date(2026, 10, 25), today, zone)
    assert parse_period("2026-02", zone, today) == Period(date(2026, 2, 1), date(2026, 2, 28), zone)
    assert parse_period("2026-11-01..2026-11-15", zone, today).days[-1] == date(2026, 11, 15)
    for bad in ("0d", "400d", "2026-13", "yesterday", "2026-11-15..2026-11-01"):
        with pytest.raises(ReportError):
            parse_period(bad, zone, today)


def test_durations_become_histogram_buckets_and_medians() -> None:
    contribution = Contribution(
        ALL, "2026-11-23T09:30:00.000000Z", {Count.FIRST_RESPONSES: 1}, {Duration.FIRST_RESPONSE: 75.0}
    )
    [(key, fields)] = merge_increments([contribution, contribution]).items()
    assert key == (ALL, "2026-11-23T09")
    assert fields == {
        "fr": 2,
        histogram_field(Duration.FIRST_RESPONSE, bucket_of(75)): 2,
        sum_field(Duration.FIRST_RESPONSE): 150,
    }
    assert quantile({bucket_of(75): 1}, 0.5) == 75.0  # the middle of [60, 90)
    assert quantile({}, 0.5) is None
    assert [bucket_of(0), bucket_of(0.5), bucket_of(1), bucket_of(59.9)] == [0, 0, 1, 6]
    assert quantile({0: 3, 1: 1}, 0.5) == 0.0  # zero business time is zero, not half a bucket
    assert bucket_of(10**9) == len(BUCKET_BOUNDS)
    assert all(b / a <= 1.5 for a, b in itertools.pairwise(BUCKET_BOUNDS[BUCKET_BOUNDS.index(30) :]))


def test_instants_are_utc() -> None:
    assert hour_of(datetime(2026, 11, 23, 10, 30, tzinfo=UTC).isoformat()) == "2026-11-23T10"
