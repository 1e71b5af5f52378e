"""Time arithmetic over a WeeklySchedule: is it open, when does it open, when is an SLA due.

Schedules are written in local wall-clock time (``mon 09:00-17:00`` in Europe/Berlin), but clocks
and due times are instants. Every question is therefore answered by turning each local day's
intervals into UTC spans with zoneinfo and doing plain arithmetic on those, so a day that is 23 or
25 hours long (a DST change) has exactly the open minutes its wall clock shows.

All functions take timezone-aware datetimes and return aware UTC datetimes. Loops over days are
bounded, so a schedule that is never open costs a bounded amount of work, not a hang.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

from mailroom.schedule.model import WEEKDAYS, WeeklySchedule

NEXT_OPEN_HORIZON_DAYS = 400  # more than a year: finds the next opening across any holiday season
ADD_MINUTES_HORIZON_DAYS = 3660  # ten years of calendar days: far beyond any SLA target

_MIDNIGHT = time(0, 0)

Span = tuple[datetime, datetime]  # [start, end) in UTC


def is_open(schedule: WeeklySchedule, at: datetime) -> bool:
    """Whether ``at`` falls inside one of the schedule's open intervals (end exclusive)."""
    moment = _utc(at)
    local_day = moment.astimezone(schedule.zone).date()
    return any(start <= moment < end for start, end in _day_spans(schedule, local_day))


def next_open(schedule: WeeklySchedule, at: datetime) -> datetime | None:
    """The earliest instant at or after ``at`` when the schedule is open.

    ``at`` itself when already open; None when there is no open time within the horizon
    (an empty schedule, or holidays covering every open day)."""
    moment = _utc(at)
    if not _has_hours(schedule):
        return None
    for start, end in _spans_from(schedule, moment, NEXT_OPEN_HORIZON_DAYS):
        if end > moment:
            return max(start, moment)
    return None


def add_business_minutes(schedule: WeeklySchedule, start: datetime, minutes: int) -> datetime:
    """The instant at which ``minutes`` of open time have elapsed since ``start``.

    Used for SLA due times: time outside the schedule does not count. Zero minutes is ``start``
    itself. Raises ValueError for negative minutes, or when the schedule never accumulates that
    much open time within ``ADD_MINUTES_HORIZON_DAYS`` (for example because it is empty)."""
    if minutes < 0:
        raise ValueError(f"minutes must not be negative, got {minutes}")
    moment = _utc(start)
    if minutes == 0:
        return moment
    if not _has_hours(schedule):
        raise ValueError("the schedule has no open hours, so business minutes never elapse")
    remaining = timedelta(minutes=minutes)
    for span_start, span_end in _spans_from(schedule, moment, ADD_MINUTES_HORIZON_DAYS):
        begin = max(span_start, moment)
        if span_end <= begin:
            continue
        available = span_end - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise ValueError(
        f"{minutes} business minutes do not fit in {ADD_MINUTES_HORIZON_DAYS} days of this schedule"
    )


def business_minutes_between(schedule: WeeklySchedule, start: datetime, end: datetime) -> int:
    """Whole open minutes in ``[start, end)``; 0 when ``end`` is not after ``start``.

    Seconds are summed across spans first and floored once, so two half minutes make one."""
    begin, finish = _utc(start), _utc(end)
    if finish <= begin or not _has_hours(schedule):
        return 0
    zone = schedule.zone
    days = (finish.astimezone(zone).date() - begin.astimezone(zone).date()).days + 1  # days touched
    total = timedelta()
    for span_start, span_end in _spans_from(schedule, begin, days):
        if span_start >= finish:
            break
        overlap = min(span_end, finish) - max(span_start, begin)
        if overlap > timedelta():
            total += overlap
    return int(total.total_seconds() // 60)


def business_seconds_between(schedule: WeeklySchedule, start: datetime, end: datetime) -> float:
    """Open time in ``[start, end)`` in seconds (not floored): a first response 40 seconds into
    business hours counts 40 seconds, not zero minutes. 0 when ``end`` is not after ``start``."""
    begin, finish = _utc(start), _utc(end)
    if finish <= begin or not _has_hours(schedule):
        return 0.0
    zone = schedule.zone
    days = (finish.astimezone(zone).date() - begin.astimezone(zone).date()).days + 1
    total = timedelta()
    for span_start, span_end in _spans_from(schedule, begin, days):
        if span_start >= finish:
            break
        overlap = min(span_end, finish) - max(span_start, begin)
        if overlap > timedelta():
            total += overlap
    return total.total_seconds()


def _utc(moment: datetime) -> datetime:
    """Naive datetimes are refused: guessing their zone is how SLA clocks end up an hour off."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _has_hours(schedule: WeeklySchedule) -> bool:
    return any(schedule.days.get(day) for day in WEEKDAYS)


def _spans_from(schedule: WeeklySchedule, moment: datetime, horizon_days: int) -> Iterator[Span]:
    """Open spans in time order, starting with the local day that contains ``moment``.

    No earlier day matters: an interval ends at the latest at midnight after its own day."""
    first_day = moment.astimezone(schedule.zone).date()
    for offset in range(horizon_days):
        yield from _day_spans(schedule, first_day + timedelta(days=offset))


def _day_spans(schedule: WeeklySchedule, day: date) -> list[Span]:
    """One local day's intervals as sorted, merged, non-empty UTC spans (none on a holiday)."""
    if day in schedule.holidays:
        return []
    intervals = schedule.days.get(WEEKDAYS[day.weekday()], [])
    spans = sorted(
        (_instant(schedule, day, interval.start), _interval_end(schedule, day, interval.end))
        for interval in intervals
    )
    return _merge([(start, end) for start, end in spans if end > start])


def _interval_end(schedule: WeeklySchedule, day: date, end: time) -> datetime:
    """``00:00`` as an end means the midnight that closes the day, not the one that opens it."""
    if end == _MIDNIGHT:
        return _instant(schedule, day + timedelta(days=1), _MIDNIGHT)
    return _instant(schedule, day, end)


def _instant(schedule: WeeklySchedule, day: date, wall: time) -> datetime:
    """A local wall-clock time as UTC. In a DST gap or overlap zoneinfo's fold=0 rule applies:
    the offset from before the change, so an opening is never silently skipped."""
    local = datetime.combine(day, wall.replace(tzinfo=None), tzinfo=schedule.zone)
    return local.astimezone(UTC)


def _merge(spans: list[Span]) -> list[Span]:
    """Overlapping intervals on one day count once: open is open, not twice as open."""
    merged: list[Span] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
