"""Quantities to money: the finance view's figures for a period.

A day's usage is one query per partition of the day, made at once (``USAGE#<day>`` and its
shards: TOTAL, every mailbox, team and agent, OVERHEAD, the top-conversations board, and Cost
Explorer's figures when compared; :mod:`mailroom.costs.day_items` adds the shards up). Each day is
priced with the price table version in effect on that day; prices are linear, so every grouping
adds up exactly: the rows of a grouping (mailboxes, teams, agents, conversations or services), the
overhead line, the metering line and the rest (work of no team, of no agent's reply, of
conversations outside the top N, of mailboxes the caller may not see) add up to the total, to the
last decimal.

Days are UTC days, as AWS bills them; a time zone only says which day "today" is.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal, localcontext
from enum import StrEnum
from typing import Any

from mailroom.costs.day_items import read_day_items
from mailroom.costs.price_store import PriceStore, in_effect
from mailroom.costs.prices import PriceTable, Service, cost_by_service, metering_usage
from mailroom.costs.quantities import Q, Usage
from mailroom.costs.recorder import board_entries
from mailroom.table import keys, schema
from mailroom.table.client import Condition, Table

MAX_DAYS = 92
ZERO = Decimal(0)
# Money is exact: prices have at most 12 places and quantities 12, and GiB are powers of two, so
# every amount fits in 60 digits. Arithmetic on amounts runs in this context (Decimal's default 28
# digits would round the tiny per-request amounts).
MONEY_PRECISION = 60


def money_context() -> AbstractContextManager[Context]:
    context = Context(prec=MONEY_PRECISION)
    return localcontext(context)


METERING = "Metering overhead"


class Group(StrEnum):
    MAILBOX = "mailbox"
    TEAM = "team"
    AGENT = "agent"
    CONVERSATION = "conversation"
    SERVICE = "service"


class RowKind(StrEnum):
    DIMENSION = "dimension"  # a mailbox, team, agent, conversation or service
    OVERHEAD = "overhead"  # shared background work
    METERING = "metering"  # the metering's own writes
    REST = "rest"  # attributed work outside the rows shown


REST_LABELS = {
    Group.MAILBOX: "(mailboxes you can't see)",
    Group.TEAM: "(no team)",
    Group.AGENT: "(not an agent's reply)",
    Group.CONVERSATION: "(other conversations)",
    Group.SERVICE: "(other)",
}


@dataclass(frozen=True)
class DayUsage:
    day: date
    total: Usage = field(default_factory=Usage)
    metering: Usage = field(default_factory=Usage)
    overhead: Usage = field(default_factory=Usage)
    mailboxes: dict[str, Usage] = field(default_factory=dict)
    teams: dict[str, Usage] = field(default_factory=dict)
    agents: dict[str, Usage] = field(default_factory=dict)
    functions: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # invocations, GB-s
    board: dict[str, Decimal] = field(default_factory=dict)
    actual: dict[str, Decimal] | None = None  # Cost Explorer: service -> dollars, and "total"


def read_day(table: Table, day: date) -> DayUsage:
    items = read_day_items(table, day.isoformat()).values()
    total, metering, overhead = Usage(), Usage(), Usage()
    dims: dict[str, dict[str, Usage]] = {keys.USAGE_MAILBOX: {}, keys.USAGE_TEAM: {}, keys.USAGE_AGENT: {}}
    functions: dict[str, tuple[Decimal, Decimal]] = {}
    board: dict[str, Decimal] = {}
    actual: dict[str, Decimal] | None = None
    for item in items:
        sk = str(item[schema.SK])
        if sk == keys.USAGE_TOTAL:
            total, metering = Usage.from_item(item), metering_usage(item)
            functions = _functions(item)
        elif sk == keys.USAGE_OVERHEAD:
            overhead = Usage.from_item(item)
        elif sk == keys.USAGE_TOP_CONVERSATIONS:
            board = board_entries(item)
        elif sk == keys.USAGE_ACTUAL:
            actual = {str(k): Decimal(str(v)) for k, v in dict(item.get("services") or {}).items()}
            actual["total"] = Decimal(str(item.get("total", 0)))
        else:
            prefix = next((p for p in dims if sk.startswith(p)), None)
            if prefix is not None:
                dims[prefix][sk.removeprefix(prefix)] = Usage.from_item(item)
    return DayUsage(
        day=day,
        total=total,
        metering=metering,
        overhead=overhead,
        mailboxes=dims[keys.USAGE_MAILBOX],
        teams=dims[keys.USAGE_TEAM],
        agents=dims[keys.USAGE_AGENT],
        functions=functions,
        board=board,
        actual=actual,
    )


def _functions(item: Mapping[str, Any]) -> dict[str, tuple[Decimal, Decimal]]:
    result: dict[str, tuple[Decimal, Decimal]] = {}
    for name, value in item.items():
        if name.startswith("fn_") and name.endswith("_n"):
            function = name.removeprefix("fn_").removesuffix("_n")
            gbs = Decimal(str(item.get(f"fn_{function}_gbs", 0)))
            result[function] = (Decimal(str(value)), gbs)
    return result


def conversation_days(table: Table, conversation_id: str, start: date, end: date) -> list[dict[str, Any]]:
    """A conversation's usage items for the days of a period: one query."""
    return table.query_all(
        key_condition=Condition(
            "#pk = :pk AND #sk BETWEEN :from AND :to",
            {"#pk": schema.PK, "#sk": schema.SK},
            {
                ":pk": keys.conversation_usage_pk(conversation_id),
                ":from": keys.conversation_usage_sk(start.isoformat()),
                ":to": keys.conversation_usage_sk(end.isoformat()),
            },
        ),
        max_items=MAX_DAYS,
    )


# -- money --------------------------------------------------------------------------------------------


@dataclass
class Money:
    """Dollars per service (and their sum), with the quantities behind them."""

    services: dict[str, Decimal] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)

    @property
    def total(self) -> Decimal:
        with money_context():
            return sum(self.services.values(), ZERO)

    def add(self, services: Mapping[str, Decimal], usage: Usage) -> None:
        with money_context():
            for name, amount in services.items():
                self.services[name] = self.services.get(name, ZERO) + amount
        self.usage = self.usage + usage

    def minus(self, others: Iterable[Money]) -> Money:
        rest = Money(dict(self.services), self.usage)
        with money_context():
            for other in others:
                for name, amount in other.services.items():
                    rest.services[name] = rest.services.get(name, ZERO) - amount
                rest.usage = rest.usage - other.usage
        rest.services = {k: v for k, v in rest.services.items() if v != 0}
        return rest


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    kind: RowKind
    money: Money
    mailbox: str | None = None  # conversations: where they live


@dataclass(frozen=True)
class DayCost:
    day: date
    money: Money
    metering: Money
    inbound_emails: Decimal
    actual: dict[str, Decimal] | None

    @property
    def total(self) -> Decimal:
        with money_context():
            return self.money.total + self.metering.total


@dataclass(frozen=True)
class Forecast:
    month: str
    month_to_date: Decimal
    elapsed_days: Decimal
    days_in_month: int
    projected: Decimal
    budget: Decimal | None

    @property
    def share_of_budget(self) -> Decimal | None:
        if not self.budget:
            return None
        return self.projected / self.budget


@dataclass
class CostReport:
    start: date
    end: date
    region: str
    days: list[DayCost]
    workload: Money  # everything but the metering
    metering: Money
    inbound_emails: Decimal
    price_versions: list[PriceTable]
    day_usage: list[DayUsage]

    @property
    def total(self) -> Decimal:
        with money_context():
            return self.workload.total + self.metering.total

    @property
    def per_thousand_emails(self) -> Decimal | None:
        if not self.inbound_emails:
            return None
        with money_context():
            return self.total / self.inbound_emails * 1000

    @property
    def by_service(self) -> list[tuple[str, Decimal]]:
        services = dict(self.workload.services)
        if self.metering.total:
            services[METERING] = self.metering.total
        return sorted(services.items(), key=lambda kv: kv[1], reverse=True)

    @property
    def ses_receiving_floor(self) -> Decimal:
        """What receiving the mail costs at SES whatever else happens: the floor per email."""
        return self.workload.services.get(Service.SES_RECEIVING.value, ZERO)

    @property
    def actual_total(self) -> Decimal | None:
        actuals = [d.actual["total"] for d in self.days if d.actual is not None]
        with money_context():
            return sum(actuals, ZERO) if actuals else None

    def functions(self) -> list[tuple[str, Decimal, Decimal]]:
        """(function, invocations, GB-seconds) over the period."""
        totals: dict[str, tuple[Decimal, Decimal]] = {}
        for day in self.day_usage:
            for name, (n, gbs) in day.functions.items():
                old = totals.get(name, (ZERO, ZERO))
                totals[name] = (old[0] + n, old[1] + gbs)
        return sorted(((k, n, g) for k, (n, g) in totals.items()), key=lambda r: r[2], reverse=True)


class CostReader:
    """Reads and prices a period. ``visible_mailbox`` says which mailboxes the caller may see by name."""

    def __init__(
        self,
        table: Table,
        *,
        region: str,
        visible_mailbox: Callable[[str], bool] = lambda _: True,
    ) -> None:
        self.table = table
        self.region = region
        self.visible_mailbox = visible_mailbox
        self._days: dict[date, DayUsage] = {}
        self._versions: list[PriceTable] | None = None

    @property
    def versions(self) -> list[PriceTable]:
        if self._versions is None:
            self._versions = PriceStore(self.table).versions()
        return self._versions

    def day(self, day: date) -> DayUsage:
        if day not in self._days:
            self._days[day] = read_day(self.table, day)
        return self._days[day]

    def price(self, usage: Usage, day: date) -> dict[str, Decimal]:
        prices = in_effect(self.versions, day).prices_for(self.region)
        return {service.value: amount for service, amount in cost_by_service(usage, prices).items()}

    def money(self, usage: Usage, day: date) -> Money:
        result = Money()
        result.add(self.price(usage, day), usage)
        return result

    def report(self, start: date, end: date) -> CostReport:
        days: list[DayCost] = []
        workload, metering, emails = Money(), Money(), ZERO
        for day in _dates(start, end):
            usage = self.day(day)
            day_money = self.money(usage.total, day)
            day_metering = self.money(usage.metering, day)
            workload.add(day_money.services, usage.total)
            metering.add(day_metering.services, usage.metering)
            emails += usage.total[Q.SES_IN_MESSAGES]
            days.append(
                DayCost(
                    day=day,
                    money=day_money,
                    metering=day_metering,
                    inbound_emails=usage.total[Q.SES_IN_MESSAGES],
                    actual=usage.actual,
                )
            )
        return CostReport(
            start=start,
            end=end,
            region=self.region,
            days=days,
            workload=workload,
            metering=metering,
            inbound_emails=emails,
            price_versions=self.versions,
            day_usage=[self.day(d) for d in _dates(start, end)],
        )

    # -- groupings ------------------------------------------------------------------------------------

    def rows(self, report: CostReport, group: Group, *, limit: int = 10) -> list[Row]:
        """The grouping's rows, then overhead, metering and the rest: they add up to the total."""
        if group is Group.SERVICE:
            rows = [
                Row(name, name, RowKind.DIMENSION, Money({name: amount}))
                for name, amount in sorted(
                    report.workload.services.items(), key=lambda kv: kv[1], reverse=True
                )
            ]
            # A service row is money only: its quantities stay with the total.
            return [*rows, *self._tail(report, rows=[], group=group, overhead=False)]
        if group is Group.CONVERSATION:
            rows = self._conversations(report, limit)
        else:
            rows = self._dimension(report, group)
        return [*rows, *self._tail(report, rows=rows, group=group)]

    def _dimension(self, report: CostReport, group: Group) -> list[Row]:
        by_name: dict[str, Money] = {}
        for usage in report.day_usage:
            named = {Group.MAILBOX: usage.mailboxes, Group.TEAM: usage.teams, Group.AGENT: usage.agents}[
                group
            ]
            for name, quantities in named.items():
                if group is Group.MAILBOX and not self.visible_mailbox(name):
                    continue
                by_name.setdefault(name, Money()).add(self.price(quantities, usage.day), quantities)
        rows = [Row(name, name, RowKind.DIMENSION, money) for name, money in by_name.items()]
        return sorted(rows, key=lambda r: (-r.money.total, r.key))

    def _conversations(self, report: CostReport, limit: int) -> list[Row]:
        weights: dict[str, Decimal] = {}
        for usage in report.day_usage:
            for conversation_id, weight in usage.board.items():
                weights[conversation_id] = weights.get(conversation_id, ZERO) + weight
        candidates = sorted(weights, key=lambda c: (-weights[c], c))[: max(limit * 2, limit + 5)]
        rows: list[Row] = []
        for conversation_id in candidates:
            items = conversation_days(self.table, conversation_id, report.start, report.end)
            mailbox = str(items[0].get("mailbox", "")) if items else ""
            if not items or not self.visible_mailbox(mailbox):
                continue
            money = Money()
            for item in items:
                day = date.fromisoformat(str(item["day"]))
                quantities = Usage.from_item(item)
                money.add(self.price(quantities, day), quantities)
            rows.append(Row(conversation_id, conversation_id, RowKind.DIMENSION, money, mailbox=mailbox))
        return sorted(rows, key=lambda r: (-r.money.total, r.key))[:limit]

    def _tail(self, report: CostReport, *, rows: list[Row], group: Group, overhead: bool = True) -> list[Row]:
        tail: list[Row] = []
        if overhead:
            shared = Money()
            for usage in report.day_usage:
                shared.add(self.price(usage.overhead, usage.day), usage.overhead)
            rest = report.workload.minus([*(r.money for r in rows), shared])
            if shared.total or shared.usage:
                tail.append(Row("overhead", "(shared overhead)", RowKind.OVERHEAD, shared))
            if rest.total or rest.usage:
                tail.append(Row("rest", REST_LABELS[group], RowKind.REST, rest))
        if report.metering.total or report.metering.usage:
            tail.append(Row("metering", f"({METERING.lower()})", RowKind.METERING, report.metering))
        return tail

    # -- forecast -------------------------------------------------------------------------------------

    def forecast(self, now: datetime, budget: Decimal | None) -> Forecast:
        """Month to date (UTC) and a linear projection by elapsed time to the month's end."""
        today = now.astimezone(UTC).date()
        first = today.replace(day=1)
        days_in_month = calendar.monthrange(today.year, today.month)[1]
        month_to_date = ZERO
        with money_context():
            for day in _dates(first, today):
                usage = self.day(day)
                month_to_date += self.money(usage.total, day).total + self.money(usage.metering, day).total
            midnight = datetime.combine(today, datetime.min.time(), UTC)
            elapsed = Decimal(today.day - 1) + Decimal((now - midnight).total_seconds()) / Decimal(86_400)
            elapsed = max(elapsed, Decimal("0.01"))
            projected = month_to_date / elapsed * days_in_month
        return Forecast(
            month=first.strftime("%Y-%m"),
            month_to_date=month_to_date,
            elapsed_days=elapsed,
            days_in_month=days_in_month,
            projected=projected,
            budget=budget,
        )


def _dates(start: date, end: date) -> Iterable[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)
