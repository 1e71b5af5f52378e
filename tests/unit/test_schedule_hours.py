"""Business-hours arithmetic: weekends, holidays, DST changes, overnight and 24h schedules."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailroom.schedule.hours import add_business_minutes, business_minutes_between, is_open, next_open
from mailroom.schedule.model import ALWAYS_OPEN, WEEKDAYS, Interval, WeeklySchedule

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def _hours(start: str, end: str) -> Interval:
    return Interval(start=time.fromisoformat(start), end=time.fromisoformat(end))


def office(zone: str = "Europe/Berlin", holidays: tuple[date, ...] = ()) -> WeeklySchedule:
    """Monday to Friday, 09:00 to 17:00."""
    return WeeklySchedule(
        timezone=zone,
        days={day: [_hours("09:00", "17:00")] for day in WEEKDAYS[:5]},
        holidays=list(holidays),
    )


def around_the_clock(zone: str) -> WeeklySchedule:
    return WeeklySchedule(timezone=zone, days={day: [_hours("00:00", "00:00")] for day in WEEKDAYS})


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN)


def new_york(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


# 2026-05-08 is a Friday, 2026-05-11 the Monday after.


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (berlin(2026, 5, 11, 9, 0), True),  # opening minute
        (berlin(2026, 5, 11, 12, 30), True),
        (berlin(2026, 5, 11, 16, 59, second=59), True),
        (berlin(2026, 5, 11, 17, 0), False),  # the end is exclusive
        (berlin(2026, 5, 11, 8, 59), False),
        (berlin(2026, 5, 9, 12, 0), False),  # Saturday
        (datetime(2026, 5, 11, 7, 30, tzinfo=UTC), True),  # 09:30 in Berlin (CEST, +02:00)
        (datetime(2026, 5, 11, 6, 30, tzinfo=UTC), False),  # 08:30 in Berlin
    ],
)
def test_is_open(moment: datetime, expected: bool) -> None:
    assert is_open(office(), moment) is expected


def test_next_open_inside_hours_is_now_in_utc() -> None:
    moment = berlin(2026, 5, 11, 10, 15)

    opened = next_open(office(), moment)

    assert opened == moment
    assert opened is not None
    assert opened.tzinfo is UTC


def test_next_open_skips_the_weekend() -> None:
    assert next_open(office(), berlin(2026, 5, 8, 17, 0)) == berlin(2026, 5, 11, 9, 0)
    assert next_open(office(), berlin(2026, 5, 9, 12, 0)) == berlin(2026, 5, 11, 9, 0)
    assert next_open(office(), berlin(2026, 5, 11, 7, 0)) == berlin(2026, 5, 11, 9, 0)


def test_add_business_minutes_across_a_weekend() -> None:
    due = add_business_minutes(office(), berlin(2026, 5, 8, 16, 0), 120)

    assert due == berlin(2026, 5, 11, 10, 0)  # one hour on Friday, one on Monday
    assert due.tzinfo is UTC


def test_add_business_minutes_starting_outside_hours_counts_from_the_opening() -> None:
    assert add_business_minutes(office(), berlin(2026, 5, 9, 12, 0), 60) == berlin(2026, 5, 11, 10, 0)
    assert add_business_minutes(office(), berlin(2026, 5, 11, 6, 0), 30) == berlin(2026, 5, 11, 9, 30)


def test_add_business_minutes_inside_hours() -> None:
    assert add_business_minutes(office(), berlin(2026, 5, 11, 10, 0), 30) == berlin(2026, 5, 11, 10, 30)
    # Ending exactly at closing time is due at closing time, not at the next opening.
    assert add_business_minutes(office(), berlin(2026, 5, 8, 16, 0), 60) == berlin(2026, 5, 8, 17, 0)
    # A whole week of business time is a calendar week later.
    assert add_business_minutes(office(), berlin(2026, 5, 11, 9, 0), 5 * 8 * 60) == berlin(2026, 5, 15, 17, 0)


def test_zero_minutes_is_the_start_and_negative_is_refused() -> None:
    start = berlin(2026, 5, 9, 12, 0)

    assert add_business_minutes(office(), start, 0) == start
    with pytest.raises(ValueError, match="negative"):
        add_business_minutes(office(), start, -1)


def test_business_minutes_between() -> None:
    schedule = office()

    assert business_minutes_between(schedule, berlin(2026, 5, 8, 16, 0), berlin(2026, 5, 11, 10, 0)) == 120
    assert business_minutes_between(schedule, berlin(2026, 5, 9, 0, 0), berlin(2026, 5, 11, 0, 0)) == 0
    assert business_minutes_between(schedule, berlin(2026, 5, 11, 10, 0), berlin(2026, 5, 11, 10, 0)) == 0
    assert business_minutes_between(schedule, berlin(2026, 5, 11, 12, 0), berlin(2026, 5, 11, 10, 0)) == 0
    assert business_minutes_between(schedule, berlin(2026, 5, 11, 0, 0), berlin(2026, 5, 18, 0, 0)) == 5 * 480
    # Seconds add up across spans before flooring: 16:59:30-17:00 plus 09:00-09:00:30 is one minute.
    start, end = berlin(2026, 5, 8, 16, 59, second=30), berlin(2026, 5, 11, 9, 0, second=30)
    assert business_minutes_between(schedule, start, end) == 1


@pytest.mark.parametrize("minutes", [1, 59, 60, 479, 480, 481, 1000, 2400, 10_000])
@pytest.mark.parametrize(
    "start", [berlin(2026, 5, 8, 16, 0), berlin(2026, 5, 9, 3, 0), berlin(2026, 3, 27, 12, 0)]
)
def test_minutes_between_undoes_add(start: datetime, minutes: int) -> None:
    due = add_business_minutes(office(), start, minutes)

    assert business_minutes_between(office(), start, due) == minutes


# --- DST --------------------------------------------------------------------------------------------
# Europe/Berlin: 2026-03-29 02:00 -> 03:00 (a 23-hour Sunday); 2026-10-25 03:00 -> 02:00 (25 hours).
# America/New_York: 2026-03-08 02:00 -> 03:00; 2026-11-01 02:00 -> 01:00.


def test_berlin_opening_moves_in_utc_across_the_spring_change() -> None:
    before = next_open(office(), berlin(2026, 3, 27, 18, 0))  # Friday evening, CET (+01:00)
    after = next_open(office(), berlin(2026, 3, 28, 12, 0))  # Saturday, Monday will be CEST (+02:00)

    assert next_open(office(), berlin(2026, 3, 26, 18, 0)) == datetime(2026, 3, 27, 8, 0, tzinfo=UTC)
    assert before == after == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "day", "minutes"),
    [
        ("Europe/Berlin", date(2026, 3, 29), 23 * 60),
        ("Europe/Berlin", date(2026, 10, 25), 25 * 60),
        ("Europe/Berlin", date(2026, 5, 10), 24 * 60),
        ("America/New_York", date(2026, 3, 8), 23 * 60),
        ("America/New_York", date(2026, 11, 1), 25 * 60),
    ],
)
def test_a_dst_day_has_the_open_minutes_its_wall_clock_shows(zone: str, day: date, minutes: int) -> None:
    local = ZoneInfo(zone)
    start = datetime.combine(day, time(0, 0), tzinfo=local)
    end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=local)

    assert business_minutes_between(around_the_clock(zone), start, end) == minutes


def test_twenty_four_seven_across_dst_is_real_elapsed_time() -> None:
    start = berlin(2026, 3, 28, 12, 0)

    due = add_business_minutes(around_the_clock("Europe/Berlin"), start, 48 * 60)

    assert due == start.astimezone(UTC) + timedelta(hours=48)
    assert due == berlin(2026, 3, 30, 13, 0)  # the wall clock jumped an hour


def test_new_york_sla_over_the_spring_change() -> None:
    # Friday 16:00 EST (-05:00) + 2 business hours = Monday 10:00 EDT (-04:00).
    due = add_business_minutes(office("America/New_York"), new_york(2026, 3, 6, 16, 0), 120)

    assert due == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
    assert due == new_york(2026, 3, 9, 10, 0)


def test_new_york_interval_in_the_repeated_hour_counts_real_time() -> None:
    night = WeeklySchedule(timezone="America/New_York", days={"sun": [_hours("00:30", "03:00")]})
    start = new_york(2026, 11, 1, 0, 0)

    # 00:30-03:00 on the fall-back night is 3.5 real hours: 01:00-02:00 happens twice.
    assert business_minutes_between(night, start, start + timedelta(days=1)) == 210
    assert is_open(night, datetime(2026, 11, 1, 6, 30, tzinfo=UTC))  # the second 01:30 (EST)


def test_interval_starting_in_the_spring_gap_is_not_lost() -> None:
    gap = WeeklySchedule(timezone="Europe/Berlin", days={"sun": [_hours("02:30", "04:00")]})

    # 02:30 does not exist on 2026-03-29; the opening is read with the old offset (01:30 UTC).
    assert next_open(gap, berlin(2026, 3, 29, 0, 0)) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert business_minutes_between(gap, berlin(2026, 3, 29, 0, 0), berlin(2026, 3, 30, 0, 0)) == 30


# --- holidays, overnight, 24h, always open, empty ---------------------------------------------------


def test_holidays_are_closed() -> None:
    christmas = date(2026, 12, 25)  # a Friday
    schedule = office(holidays=(christmas,))

    assert not is_open(schedule, berlin(2026, 12, 25, 10, 0))
    assert next_open(schedule, berlin(2026, 12, 24, 17, 0)) == berlin(2026, 12, 28, 9, 0)
    assert add_business_minutes(schedule, berlin(2026, 12, 24, 16, 0), 120) == berlin(2026, 12, 28, 10, 0)
    week = (berlin(2026, 12, 21), berlin(2026, 12, 28))
    assert business_minutes_between(schedule, *week) == 4 * 480


def overnight() -> WeeklySchedule:
    """A night shift: Monday 22:00 until Tuesday 06:00, written as two intervals."""
    return WeeklySchedule(
        timezone="Europe/Berlin", days={"mon": [_hours("22:00", "00:00")], "tue": [_hours("00:00", "06:00")]}
    )


def test_overnight_schedule_runs_through_midnight() -> None:
    schedule = overnight()

    assert is_open(schedule, berlin(2026, 5, 11, 23, 59))
    assert is_open(schedule, berlin(2026, 5, 12, 0, 0))  # 00:00 ends Monday and opens Tuesday
    assert not is_open(schedule, berlin(2026, 5, 12, 6, 0))
    assert add_business_minutes(schedule, berlin(2026, 5, 11, 23, 0), 120) == berlin(2026, 5, 12, 1, 0)
    assert business_minutes_between(schedule, berlin(2026, 5, 11, 21, 0), berlin(2026, 5, 12, 7, 0)) == 480
    assert next_open(schedule, berlin(2026, 5, 12, 7, 0)) == berlin(2026, 5, 18, 22, 0)


def test_overlapping_intervals_count_once() -> None:
    schedule = WeeklySchedule(days={"mon": [_hours("09:00", "12:00"), _hours("11:00", "13:00")]})
    monday = datetime(2026, 5, 11, tzinfo=UTC)

    assert business_minutes_between(schedule, monday, monday + timedelta(days=1)) == 240


def test_always_open() -> None:
    start = berlin(2026, 3, 28, 23, 17).astimezone(UTC)  # UTC arithmetic: real elapsed time

    assert is_open(ALWAYS_OPEN, start)
    assert next_open(ALWAYS_OPEN, start) == start
    assert add_business_minutes(ALWAYS_OPEN, start, 90) == start + timedelta(minutes=90)
    assert business_minutes_between(ALWAYS_OPEN, start, start + timedelta(days=3)) == 3 * 1440
    # Three wall-clock days in Berlin across the spring change are 71 real hours.
    local = berlin(2026, 3, 28, 23, 17)
    assert business_minutes_between(ALWAYS_OPEN, local, local + timedelta(days=3)) == 71 * 60


@pytest.mark.parametrize(
    "schedule",
    [WeeklySchedule(), WeeklySchedule(timezone="Europe/Berlin", days={"mon": [], "tue": []})],
    ids=["no days", "empty days"],
)
def test_empty_schedule_is_never_open(schedule: WeeklySchedule) -> None:
    start = berlin(2026, 5, 11, 10, 0)

    assert not is_open(schedule, start)
    assert next_open(schedule, start) is None
    assert business_minutes_between(schedule, start, start + timedelta(days=30)) == 0
    with pytest.raises(ValueError, match="no open hours"):
        add_business_minutes(schedule, start, 1)


def test_only_holidays_ahead_is_bounded() -> None:
    """Open on one weekday, but every one of them within the horizon is a holiday."""
    mondays = [date(2026, 5, 11) + timedelta(weeks=week) for week in range(60)]
    schedule = WeeklySchedule(days={"mon": [_hours("09:00", "17:00")]}, holidays=mondays)

    assert next_open(schedule, datetime(2026, 5, 10, tzinfo=UTC)) is None
    assert next_open(schedule, datetime(2026, 5, 10, tzinfo=UTC) + timedelta(weeks=60)) is not None


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 5, 11, 10, 0)  # naive on purpose

    for call in (
        lambda: is_open(office(), naive),
        lambda: next_open(office(), naive),
        lambda: add_business_minutes(office(), naive, 5),
        lambda: business_minutes_between(office(), naive, naive),
    ):
        with pytest.raises(ValueError, match="timezone-aware"):
            call()
