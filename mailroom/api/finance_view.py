"""The finance figures for one request: period, groupings, drivers, forecast, comparisons.

Shared by ``GET /api/costs`` (JSON), the ``/finance`` page and its CSV exports, so the three always
agree. Amounts are exact ``Decimal`` dollars; JSON carries them as strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailroom import clock
from mailroom.api import wiring
from mailroom.api.errors import ApiError
from mailroom.auth import policy
from mailroom.auth.model import Principal
from mailroom.costs.budget import monthly_budget
from mailroom.costs.csv_export import Cell, to_csv
from mailroom.costs.explorer import explorer_from_settings, refresh_actuals
from mailroom.costs.prices import PRICE_UNITS, PriceTable
from mailroom.costs.quantities import Q, Usage
from mailroom.costs.report import MAX_DAYS, CostReader, CostReport, Forecast, Group, Money, Row, RowKind
from mailroom.inbox.directory import list_users
from mailroom.settings import get_settings

ZERO = Decimal(0)
DRIVER_COUNT = 3
TABLES = ("days", "services", "mailboxes", "teams", "agents", "conversations", "functions", "prices")


@dataclass(frozen=True)
class CostQuery:
    start: date
    end: date
    tz: str
    limit: int = 10
    seat_price: Decimal | None = None
    seats: int | None = None


def cost_query(
    *,
    start: date | None,
    end: date | None,
    tz: str | None,
    limit: int = 10,
    seat_price: Decimal | None = None,
    seats: int | None = None,
    now: datetime | None = None,
) -> CostQuery:
    """The period asked for (default: this month so far, "today" in ``tz``), or a 422."""
    zone_name = (tz or "UTC").strip() or "UTC"
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ApiError(422, f"Invalid request: tz: unknown time zone {zone_name!r}") from exc
    today = (now or clock.now()).astimezone(zone).date()
    end = end or today
    start = start or min(end, today).replace(day=1)
    if start > end:
        raise ApiError(422, "Invalid request: from: must not be after to")
    if (end - start).days + 1 > MAX_DAYS:
        raise ApiError(422, f"Invalid request: the period may span at most {MAX_DAYS} days")
    return CostQuery(start=start, end=end, tz=zone_name, limit=limit, seat_price=seat_price, seats=seats)


@dataclass(frozen=True)
class SeatComparison:
    """The user's own figure (never ours): what they would pay per seat elsewhere."""

    seat_price: Decimal
    seats: int
    monthly_at_seat_price: Decimal
    mailroom_projected_month: Decimal


@dataclass
class FinanceView:
    query: CostQuery
    report: CostReport
    groups: dict[Group, list[Row]]
    forecast: Forecast
    functions: list[tuple[str, Decimal, Decimal, Decimal]]  # function, invocations, GB-s, dollars
    estimate_only: bool
    seat_comparison: SeatComparison | None
    price_version: PriceTable
    drivers: dict[str, list[Row]] = field(default_factory=dict)

    @property
    def metering_share(self) -> Decimal | None:
        return self.report.metering.total / self.report.total if self.report.total else None


def build_view(principal: Principal, query: CostQuery, *, groups: tuple[Group, ...]) -> FinanceView:
    settings = get_settings()
    table = wiring.table()
    if settings.cost_explorer_enabled:
        refresh_actuals(
            table, explorer_from_settings(settings.cost_tag_key, settings.cost_tag_value), clock.now().date()
        )
    reader = CostReader(
        table, region=settings.region, visible_mailbox=lambda m: policy.can_see_mailbox(principal, m)
    )
    report = reader.report(query.start, query.end)
    computed = [Group.MAILBOX, Group.TEAM, Group.AGENT, Group.CONVERSATION]
    computed += [Group.SERVICE] if Group.SERVICE in groups else []
    rows = {g: reader.rows(report, g, limit=query.limit if g in groups else DRIVER_COUNT) for g in computed}
    forecast = reader.forecast(clock.now(), monthly_budget(table, settings))
    seats = None
    if query.seat_price is not None:
        count = query.seats if query.seats is not None else _agent_seats()
        seats = SeatComparison(
            seat_price=query.seat_price,
            seats=count,
            monthly_at_seat_price=query.seat_price * count,
            mailroom_projected_month=forecast.projected,
        )
    function_costs = []
    for name, invocations, gb_seconds in report.functions():
        money = Money()
        for usage in report.day_usage:
            n, gbs = usage.functions.get(name, (ZERO, ZERO))
            lam = Usage({Q.LAMBDA_GB_SECONDS: gbs, Q.LAMBDA_REQUESTS: n})
            money.add(reader.price(lam, usage.day), lam)
        function_costs.append((name, invocations, gb_seconds, money.total))
    view = FinanceView(
        query=query,
        report=report,
        groups={g: r for g, r in rows.items() if g in groups},
        forecast=forecast,
        functions=function_costs,
        estimate_only=not settings.cost_explorer_enabled,
        seat_comparison=seats,
        price_version=_version_in_effect(report, query.end),
    )
    view.drivers = {
        group.value: [r for r in rows[group] if r.kind is RowKind.DIMENSION][:DRIVER_COUNT]
        for group in (Group.MAILBOX, Group.TEAM, Group.AGENT, Group.CONVERSATION)
    }
    return view


def _version_in_effect(report: CostReport, day: date) -> PriceTable:
    from mailroom.costs.price_store import in_effect

    return in_effect(report.price_versions, day)


def _agent_seats() -> int:
    return sum(1 for user in list_users(wiring.table()) if user.get("role") in {"agent", "admin"})


# -- JSON ---------------------------------------------------------------------------------------------


def amount(value: Decimal | None) -> str | None:
    """Exact dollars as a string (no exponent, no trailing zeros)."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", "0"} else text


def share(part: Decimal, whole: Decimal) -> str | None:
    """A fraction of the total, to a hundredth of a percent."""
    return amount((part / whole).quantize(Decimal("0.0001"))) if whole else None


def _quantities(usage: Usage) -> dict[str, str]:
    return {q.name.lower(): format(v.normalize(), "f") for q, v in usage.items()}


def row_json(row: Row) -> dict[str, Any]:
    return {
        "key": row.key,
        "label": row.label,
        "kind": row.kind.value,
        "cost": amount(row.money.total),
        "services": {name: amount(value) for name, value in sorted(row.money.services.items())},
        "quantities": _quantities(row.money.usage),
        **({"mailbox": row.mailbox} if row.mailbox else {}),
    }


def view_json(view: FinanceView, group: Group) -> dict[str, Any]:
    report, forecast = view.report, view.forecast
    total = report.total
    return {
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "tz": view.query.tz,
        "days_are": "UTC days, as AWS bills them",
        "currency": "USD",
        "region": report.region,
        "group": group.value,
        "estimate_only": view.estimate_only,
        "total": amount(total),
        "actual_total": amount(report.actual_total),
        "inbound_emails": int(report.inbound_emails),
        "per_1000_emails": amount(report.per_thousand_emails),
        "ses_receiving_floor": {
            "total": amount(report.ses_receiving_floor),
            "per_1000_emails": amount(
                report.ses_receiving_floor / report.inbound_emails * 1000 if report.inbound_emails else None
            ),
        },
        "metering_overhead": {
            "cost": amount(report.metering.total),
            "share": share(report.metering.total, total),
        },
        "services": [
            {"service": name, "cost": amount(value), "share": share(value, total)}
            for name, value in report.by_service
        ],
        "rows": [row_json(row) for row in view.groups[group]],
        "days": [
            {
                "date": day.day.isoformat(),
                "cost": amount(day.total),
                "metering": amount(day.metering.total),
                "inbound_emails": int(day.inbound_emails),
                "services": {name: amount(value) for name, value in sorted(day.money.services.items())},
                "actual": amount(day.actual["total"]) if day.actual else None,
            }
            for day in report.days
        ],
        "drivers": {
            "services": [
                {"service": name, "cost": amount(value)} for name, value in report.by_service[:DRIVER_COUNT]
            ],
            **{
                dimension: [{"key": r.key, "cost": amount(r.money.total)} for r in rows]
                for dimension, rows in view.drivers.items()
            },
        },
        "functions": [
            {"function": name, "invocations": int(n), "gb_seconds": amount(gbs), "cost": amount(cost)}
            for name, n, gbs, cost in view.functions
        ],
        "forecast": {
            "month": forecast.month,
            "month_to_date": amount(forecast.month_to_date),
            "projected": amount(forecast.projected),
            "method": "linear: month to date / elapsed days x days in the month",
            "budget": amount(forecast.budget),
            "share_of_budget": share(forecast.projected, forecast.budget) if forecast.budget else None,
        },
        "price_version": {
            "version": view.price_version.version,
            "effective_from": view.price_version.effective_from.isoformat(),
            "region": view.price_version.priced_region(report.region),
        },
        "seat_comparison": None
        if view.seat_comparison is None
        else {
            "label": "your input: what you'd pay per seat elsewhere (not a Mailroom figure)",
            "seat_price": amount(view.seat_comparison.seat_price),
            "seats": view.seat_comparison.seats,
            "monthly_at_seat_price": amount(view.seat_comparison.monthly_at_seat_price),
            "mailroom_projected_month": amount(view.seat_comparison.mailroom_projected_month),
        },
    }


# -- CSV ----------------------------------------------------------------------------------------------

_ROW_HEADER = ["key", "label", "kind", "cost_usd", *[q.name.lower() for q in Q]]


def _row_cells(row: Row) -> list[Cell]:
    return [row.key, row.label, row.kind.value, row.money.total, *[row.money.usage[q] for q in Q]]


def table_csv(view: FinanceView, name: str) -> str:
    """One of the page's tables (:data:`TABLES`) as CSV."""
    report = view.report
    if name == "days":
        return to_csv(
            ["date", "cost_usd", "metering_usd", "inbound_emails", "cost_explorer_usd"],
            [
                [
                    d.day.isoformat(),
                    d.total,
                    d.metering.total,
                    d.inbound_emails,
                    d.actual["total"] if d.actual else None,
                ]
                for d in report.days
            ],
        )
    if name == "services":
        return to_csv(
            ["service", "cost_usd", "share"],
            [[s, v, v / report.total if report.total else None] for s, v in report.by_service],
        )
    if name == "functions":
        return to_csv(
            ["function", "invocations", "gb_seconds", "lambda_cost_usd"], [list(f) for f in view.functions]
        )
    if name == "prices":
        version = view.price_version
        return to_csv(
            ["version", "effective_from", "region", "price", "amount_usd", "per", "unit", "source",
             "published"],
            [
                [version.version, version.effective_from.isoformat(), region, key.value, price.amount,
                 PRICE_UNITS[key].per, PRICE_UNITS[key].unit, price.source, price.published]
                for region, prices in sorted(version.regions.items())
                for key, price in sorted(prices.items(), key=lambda kv: list(PRICE_UNITS).index(kv[0]))
            ],
        )  # fmt: skip
    group = {
        "mailboxes": Group.MAILBOX,
        "teams": Group.TEAM,
        "agents": Group.AGENT,
        "conversations": Group.CONVERSATION,
    }[name]
    return to_csv(_ROW_HEADER, [_row_cells(row) for row in view.groups[group]])
