"""The team report: the rollups of a period, the backlog now and the agents' workload.

Reads, for a period of any length up to a year (a month is typical):

* one range query per mailbox in scope on its rollup partition (the mailbox-wide hours with the
  agents' items, or a team's or a tag's hours), whatever the number of events;
* the backlog from the status indexes: one query per status source (open conversations are read,
  for the waiting ones and the oldest wait; pending and snoozed are counted);
* the mailbox directory, the filtered team or the mailboxes' teams (their members are rows of the
  workload table), and one ``BatchGetItem`` of the agents (name, open load).

Periods are local days in an IANA time zone; counters are kept per UTC hour, so a day in any zone
whose offset is a whole number of hours is exact (daylight saving included). For zones with
half- or quarter-hour offsets a day starts at the UTC hour boundary just before local midnight
(``approximate_day_boundaries`` says so).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field

from mailroom.assignment.store import AssignmentStore
from mailroom.auth import policy
from mailroom.auth.model import Principal
from mailroom.clock import iso, parse_iso
from mailroom.domain.conversation import Status
from mailroom.inbox.directory import list_mailboxes
from mailroom.metrics.model import (
    ALL,
    BUCKET_BOUNDS,
    Count,
    Duration,
    Target,
    TargetKind,
    histogram_field,
    quantile,
    sum_field,
)
from mailroom.metrics.rollups import read_counters
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table
from mailroom.table.items import to_conversation

MAX_DAYS = 366
DEFAULT_PERIOD = "30d"
_PERIOD_DAYS = re.compile(r"^(\d{1,3})d$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TEAM_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
TAG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
BACKLOG_STATUSES = (Status.OPEN, Status.PENDING, Status.SNOOZED)


class ReportError(ValueError):
    """The request can't be answered as asked (a bad period, zone or filter): a 422."""


# -- the answer -------------------------------------------------------------------------------------


class DurationFigures(BaseModel):
    count: int = Field(description="How many were measured")
    median_seconds: float | None = Field(description="Interpolated in its histogram bucket (≤1.5x wide)")
    p90_seconds: float | None
    mean_seconds: float | None = Field(description="Exact: the sum of seconds over the count")


class Figures(BaseModel):
    """One set of figures. For an agent, the conversation-wide ones (volume, backlog shares,
    reopens) don't apply and are null."""

    conversations: int | None = Field(description="New conversations (their first message)")
    volume_in: int | None = Field(description="Inbound messages from people")
    volume_in_other: int | None = Field(description="Auto-replies, bounces, bulk and quarantined mail")
    replies: int = Field(description="Replies people sent")
    auto_replies: int | None
    first_responses: int
    first_response: DurationFigures = Field(description="Calendar time")
    first_response_business: DurationFigures = Field(description="Business hours of the team's calendar")
    response: DurationFigures = Field(description="Every reply to a waiting customer")
    sla_met: int
    sla_breached: int
    sla_attainment: float | None = Field(description="Met / (met + breached); null when none had a target")
    resolutions: int
    resolution: DurationFigures | None
    reopens: int | None = Field(description="The customer wrote to a closed conversation")
    reopen_rate: float | None = Field(description="Reopens / resolutions")
    marked_spam: int | None
    assigned: int | None = Field(description="Assignments to the agent (agent reports only)")


class DayFigures(Figures):
    date: date


class Backlog(BaseModel):
    open: int
    pending: int
    snoozed: int
    waiting: int = Field(description="Open conversations whose customer waits for an answer")
    overdue: int = Field(description="Waiting past their first-response due time")
    oldest_waiting_since: str | None
    oldest_waiting_seconds: float | None
    oldest_waiting_conversation: str | None


class AgentRow(BaseModel):
    agent: str
    name: str
    open_now: int | None = Field(description="Open, pending and snoozed conversations held (all mailboxes)")
    assigned: int
    replies: int
    first_responses: int
    first_response_median_seconds: float | None
    response_median_seconds: float | None
    resolutions: int
    sla_met: int
    sla_breached: int


class ReportFilters(BaseModel):
    mailbox: str | None = None
    team: str | None = None
    agent: str | None = None
    tag: str | None = None


class TeamReport(BaseModel):
    period_start: date
    period_end: date = Field(description="Inclusive")
    timezone: str
    approximate_day_boundaries: bool
    filters: ReportFilters
    mailboxes: list[str] = Field(description="The mailboxes the figures cover")
    generated_at: str
    totals: Figures
    days: list[DayFigures]
    backlog: Backlog
    agents: list[AgentRow]


# -- periods ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    zone: ZoneInfo

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def hours(self) -> list[tuple[str, date]]:
        """Every UTC hour of the period with the local day it is counted in."""
        begin = datetime.combine(self.start, time(0), tzinfo=self.zone).astimezone(UTC)
        finish = datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=self.zone).astimezone(UTC)
        moment = begin.replace(minute=0, second=0, microsecond=0)
        found: list[tuple[str, date]] = []
        while moment < finish:
            day = max(moment, begin).astimezone(self.zone).date()
            if self.start <= day <= self.end:
                found.append((moment.strftime("%Y-%m-%dT%H"), day))
            moment += timedelta(hours=1)
        return found

    @property
    def whole_hours(self) -> bool:
        """Whether every local midnight of the period falls on a UTC hour boundary."""
        return all(
            datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC).minute == 0
            for day in [*self.days, self.end + timedelta(days=1)]
        )


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ReportError(f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin") from exc


def parse_period(text: str, zone: ZoneInfo, today: date) -> Period:
    """``30d`` (the last 30 days, today included), ``2026-11`` (a month), ``2026-11-23`` (a day),
    or ``2026-11-01..2026-11-15`` (inclusive)."""
    value = text.strip()
    try:
        if match := _PERIOD_DAYS.fullmatch(value):
            count = int(match.group(1))
            if not 1 <= count <= MAX_DAYS:
                raise ReportError(f"a period of 1 to {MAX_DAYS} days, not {count}")
            return Period(today - timedelta(days=count - 1), today, zone)
        if _MONTH.fullmatch(value):
            first = date.fromisoformat(f"{value}-01")
            following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
            return Period(first, following - timedelta(days=1), zone)
        if _DAY.fullmatch(value):
            day = date.fromisoformat(value)
            return Period(day, day, zone)
        if ".." in value:
            low, _, high = value.partition("..")
            start, end = date.fromisoformat(low.strip()), date.fromisoformat(high.strip())
            if end < start:
                raise ReportError("the period ends before it starts")
            if (end - start).days + 1 > MAX_DAYS:
                raise ReportError(f"a period of at most {MAX_DAYS} days")
            return Period(start, end, zone)
    except ValueError as exc:
        if isinstance(exc, ReportError):
            raise
        raise ReportError(f"period {text!r}: {exc}") from exc
    raise ReportError(
        f"period {text!r}: use 30d (last N days), 2026-11 (a month), 2026-11-23 (a day) "
        "or 2026-11-01..2026-11-15"
    )


# -- adding up --------------------------------------------------------------------------------------

_NOT_COUNTERS = frozenset({schema.PK, schema.SK, "entity", "scope", "name", "hour"})


@dataclass
class Tally:
    """Counters summed over any number of rollup items."""

    values: Counter[str] = field(default_factory=Counter)

    def add(self, item: Mapping[str, Any]) -> None:
        for name, value in item.items():
            if name not in _NOT_COUNTERS and isinstance(value, int | Decimal) and not isinstance(value, bool):
                self.values[name] += int(value)

    def __getitem__(self, count: Count) -> int:
        return self.values[count.value]

    def histogram(self, duration: Duration) -> dict[int, int]:
        return {
            bucket: self.values[histogram_field(duration, bucket)]
            for bucket in range(len(BUCKET_BOUNDS) + 1)
            if self.values[histogram_field(duration, bucket)]
        }

    def duration(self, duration: Duration) -> DurationFigures:
        histogram = self.histogram(duration)
        count = sum(histogram.values())
        return DurationFigures(
            count=count,
            median_seconds=_round(quantile(histogram, 0.5)),
            p90_seconds=_round(quantile(histogram, 0.9)),
            mean_seconds=_round(self.values[sum_field(duration)] / count) if count else None,
        )

    def figures(self, *, agent: bool) -> Figures:
        met, breached = self[Count.SLA_MET], self[Count.SLA_BREACHED]
        resolutions, reopens = self[Count.RESOLUTIONS], self[Count.REOPENS]

        def conversation_wide(value: int) -> int | None:
            return None if agent else value

        return Figures(
            conversations=conversation_wide(self[Count.CONVERSATIONS]),
            volume_in=conversation_wide(self[Count.IN]),
            volume_in_other=conversation_wide(self[Count.IN_OTHER]),
            replies=self[Count.OUT],
            auto_replies=conversation_wide(self[Count.OUT_AUTO]),
            first_responses=self[Count.FIRST_RESPONSES],
            first_response=self.duration(Duration.FIRST_RESPONSE),
            first_response_business=self.duration(Duration.FIRST_RESPONSE_BUSINESS),
            response=self.duration(Duration.RESPONSE),
            sla_met=met,
            sla_breached=breached,
            sla_attainment=round(met / (met + breached), 4) if met + breached else None,
            resolutions=resolutions,
            resolution=None if agent else self.duration(Duration.RESOLUTION),
            reopens=conversation_wide(reopens),
            reopen_rate=None if agent or not resolutions else round(reopens / resolutions, 4),
            marked_spam=conversation_wide(self[Count.MARKED_SPAM]),
            assigned=self[Count.ASSIGNED] if agent else None,
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# -- the report -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportQuery:
    period: str = DEFAULT_PERIOD
    tz: str = "UTC"
    mailbox: str | None = None
    team: str | None = None
    agent: str | None = None
    tag: str | None = None

    def target(self) -> Target:
        if sum(1 for value in (self.team, self.agent, self.tag) if value) > 1:
            raise ReportError("filter by one of team, agent or tag at a time (with or without a mailbox)")
        if self.team:
            if not re.fullmatch(TEAM_PATTERN, self.team):
                raise ReportError(f"team {self.team!r}: a team id (letters a-z, digits, '-')")
            return Target(TargetKind.TEAM, self.team)
        if self.tag:
            if not re.fullmatch(TAG_PATTERN, self.tag.lower()):
                raise ReportError(f"tag {self.tag!r}: letters a-z, digits and '-'")
            return Target(TargetKind.TAG, self.tag.lower())
        if self.agent:
            if "@" not in self.agent or len(self.agent) > 254:
                raise ReportError(f"agent {self.agent!r}: an agent's email address")
            return Target(TargetKind.AGENT, self.agent.strip().lower())
        return ALL


def build_report(table: Table, principal: Principal, query: ReportQuery, *, now: datetime) -> TeamReport:
    """The report for ``principal`` (admins: every mailbox; finance: the mailboxes granted to them).
    Raises :class:`ReportError` (422), ``policy.ForbiddenError`` (403) or ``policy.NotVisibleError``
    (404: a mailbox the caller may not see, exactly like one that doesn't exist)."""
    policy.require_reports(principal)
    zone = zone_of(query.tz)
    period = parse_period(query.period, zone, now.astimezone(zone).date())
    target = query.target()
    directory = list_mailboxes(table)
    visible = policy.visible_mailboxes(principal, [str(entry.get("address") or "") for entry in directory])
    if query.mailbox:
        wanted = query.mailbox.strip().lower()
        if wanted not in visible:
            raise policy.NotVisibleError(wanted)
        mailboxes = [wanted]
    else:
        mailboxes = visible
    hours = period.hours()
    day_of = dict(hours)
    totals, per_day = Tally(), {day: Tally() for day in period.days}
    agents: dict[str, Tally] = {}
    if hours:
        first, last = hours[0][0], hours[-1][0]
        for mailbox in mailboxes:
            items = read_counters(table, mailbox, target, first, last)
            if target.kind in {TargetKind.TEAM, TargetKind.TAG}:  # the workload table's rows too
                items += read_counters(
                    table, mailbox, Target(TargetKind.AGENT), first, last, agents_only=True
                )
            for item in items:
                day = day_of.get(str(item.get("hour")))
                if day is None:
                    continue
                if item.get("scope") == TargetKind.AGENT.value:
                    name = str(item.get("name"))
                    agents.setdefault(name, Tally()).add(item)
                    if target.kind is not TargetKind.AGENT or name != target.name:
                        continue
                elif target.kind is TargetKind.AGENT:
                    continue
                totals.add(item)
                per_day[day].add(item)
    is_agent = target.kind is TargetKind.AGENT
    return TeamReport(
        period_start=period.start,
        period_end=period.end,
        timezone=query.tz,
        approximate_day_boundaries=not period.whole_hours,
        filters=ReportFilters(
            mailbox=query.mailbox, team=query.team, agent=query.agent, tag=target.name or None
        ),
        mailboxes=mailboxes,
        generated_at=iso(now),
        totals=totals.figures(agent=is_agent),
        days=[
            DayFigures(date=day, **tally.figures(agent=is_agent).model_dump())
            for day, tally in per_day.items()
        ],
        backlog=backlog(table, mailboxes, target, now=now),
        agents=_agent_rows(table, agents, target, directory, mailboxes),
    )


def _agent_rows(
    table: Table,
    activity: dict[str, Tally],
    target: Target,
    directory: list[dict[str, Any]],
    mailboxes: list[str],
) -> list[AgentRow]:
    store = AssignmentStore(table)
    if target.kind is TargetKind.AGENT:
        names = [target.name]
    else:
        if target.kind is TargetKind.TEAM:
            team_ids = [target.name]
        else:
            team_ids = sorted(
                {
                    str(entry["team"])
                    for entry in directory
                    if entry.get("team") and str(entry.get("address")) in mailboxes
                }
            )
        members: set[str] = set()
        for team_id in team_ids:
            team = store.get_team(team_id, consistent=False)
            members |= set(team.members) if team else set()
        # With a team filter the rows are its members (their figures are per mailbox).
        names = sorted(members) if target.kind is TargetKind.TEAM else sorted(set(activity) | members)
    profiles = {agent.id: agent for agent in store.get_agents(names, consistent=False)}
    rows = []
    for name in names:
        tally = activity.get(name, Tally())
        profile = profiles.get(name)
        rows.append(
            AgentRow(
                agent=name,
                name=profile.name if profile and profile.name else name,
                open_now=profile.open_count if profile else None,
                assigned=tally[Count.ASSIGNED],
                replies=tally[Count.OUT],
                first_responses=tally[Count.FIRST_RESPONSES],
                first_response_median_seconds=_round(quantile(tally.histogram(Duration.FIRST_RESPONSE), 0.5)),
                response_median_seconds=_round(quantile(tally.histogram(Duration.RESPONSE), 0.5)),
                resolutions=tally[Count.RESOLUTIONS],
                sla_met=tally[Count.SLA_MET],
                sla_breached=tally[Count.SLA_BREACHED],
            )
        )
    return rows


# -- backlog ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    index: str
    pk_attribute: str
    partition: str
    filter_: Condition | None


def _sources(mailboxes: list[str], target: Target, status: Status) -> list[_Source]:
    """The index partitions holding the scope's conversations in ``status`` (with the filter that
    keeps them to the report's mailboxes and tag)."""
    if not mailboxes:
        return []
    tag = (
        Condition("contains(#tags, :tag)", {"#tags": "tags"}, {":tag": target.name})
        if target.kind is TargetKind.TAG
        else None
    )
    if target.kind in {TargetKind.ALL, TargetKind.TAG}:
        index = schema.BY_MAILBOX_STATUS
        return [
            _Source(index.name, index.pk, keys.status_partition(keys.mailbox_pk(m), status.value), tag)
            for m in mailboxes
        ]
    names = {"#mb": "mailbox"}
    values = {f":m{n}": mailbox for n, mailbox in enumerate(mailboxes)}
    within = Condition(f"#mb IN ({', '.join(values)})", names, values)
    if target.kind is TargetKind.TEAM:
        index, base = schema.BY_TEAM_STATUS, keys.team_pk(target.name)
    else:
        index, base = schema.BY_ASSIGNEE_STATUS, keys.agent_pk(target.name)
    return [_Source(index.name, index.pk, keys.status_partition(base, status.value), within)]


def _key(source: _Source) -> Condition:
    return Condition("#pk = :pk", {"#pk": source.pk_attribute}, {":pk": source.partition})


def backlog(table: Table, mailboxes: list[str], target: Target, *, now: datetime) -> Backlog:
    counts: dict[Status, int] = {}
    waiting = overdue = 0
    oldest: tuple[str, str] | None = None
    for source in _sources(mailboxes, target, Status.OPEN):
        items = table.query_all(
            key_condition=_key(source), index=source.index, filter_=source.filter_, max_items=100_000
        )
        counts[Status.OPEN] = counts.get(Status.OPEN, 0) + len(items)
        for conversation in (to_conversation(item) for item in items):
            if not conversation.waiting_since:
                continue
            waiting += 1
            due = conversation.first_response_due
            overdue += 1 if due and parse_iso(due) < now else 0
            if oldest is None or conversation.waiting_since < oldest[0]:
                oldest = (conversation.waiting_since, conversation.id)
    for status in (Status.PENDING, Status.SNOOZED):
        counts[status] = sum(
            table.count(key_condition=_key(source), index=source.index, filter_=source.filter_)
            for source in _sources(mailboxes, target, status)
        )
    return Backlog(
        open=counts.get(Status.OPEN, 0),
        pending=counts.get(Status.PENDING, 0),
        snoozed=counts.get(Status.SNOOZED, 0),
        waiting=waiting,
        overdue=overdue,
        oldest_waiting_since=oldest[0] if oldest else None,
        oldest_waiting_seconds=round((now - parse_iso(oldest[0])).total_seconds(), 1) if oldest else None,
        oldest_waiting_conversation=oldest[1] if oldest else None,
    )


def day_labels(days: Iterable[date]) -> list[str]:
    return [day.strftime("%d %b") for day in days]
