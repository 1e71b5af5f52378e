"""Per-use cost for finance and admins: the ``/finance`` page, its CSV exports, and the JSON API
(``GET /api/costs``, the price table ``GET``/``PUT /api/prices``, ``PUT /api/costs/budget``).

Finance and admins only (agents get 403). Finance sees per-mailbox figures for the mailboxes they
were granted; the rest is one "(mailboxes you can't see)" line, so the totals still add up.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import BaseModel, Field, ValidationError

from mailroom.api import wiring
from mailroom.api.errors import ApiError
from mailroom.api.finance_view import (
    TABLES,
    CostQuery,
    FinanceView,
    amount,
    build_view,
    cost_query,
    table_csv,
    view_json,
)
from mailroom.api.guard import current_session
from mailroom.api.openapi_docs import answers
from mailroom.api.render import page
from mailroom.api.session import Session
from mailroom.auth import policy
from mailroom.charts.svg import Series, bar_chart, line_chart
from mailroom.costs.budget import set_monthly_budget
from mailroom.costs.price_store import PriceStore
from mailroom.costs.prices import PRICE_UNITS, PriceTable, PriceTableInput
from mailroom.costs.report import Group, money_context

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated

ALL_GROUPS = (Group.MAILBOX, Group.TEAM, Group.AGENT, Group.CONVERSATION, Group.SERVICE)

GroupParam = Annotated[Group, Query(description="mailbox, team, agent, conversation or service")]
DateParam = Annotated[date | None, Query(description="yyyy-mm-dd (UTC day)")]
TzParam = Annotated[str | None, Query(max_length=64, description="IANA time zone for 'today'; default UTC")]
LimitParam = Annotated[int, Query(ge=1, le=100, description="How many conversations to list")]
SeatPriceParam = Annotated[
    Decimal | None,
    Query(ge=0, le=100_000, description="Your input: what you'd pay per seat and month elsewhere"),
]
SeatsParam = Annotated[int | None, Query(ge=0, le=100_000, description="Seats for the comparison")]


_COSTS = {403: "Finance and admins only"}
_ADMINS = {403: "Admins only"}


def _session() -> Session:
    return current_session(router.context)


def _json(status: int, body: Any) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


# -- JSON API -----------------------------------------------------------------------------------------


@router.get(
    "/api/costs",
    summary="What the product cost: per day, per mailbox/team/agent/conversation/service, per 1,000 emails",
    description=(
        "Amounts are exact decimal US dollars, as strings, estimated from the usage every invocation "
        "records and the price table in effect each day. `rows` (the grouping, then the shared "
        "overhead, the rest and the metering overhead) add up to `total`. Finance and admins only."
    ),
    responses=answers(_COSTS),
)
def get_costs(
    *,
    from_: Annotated[date | None, Query(alias="from", description="yyyy-mm-dd; default the 1st")] = None,
    to: DateParam = None,
    group: GroupParam = Group.MAILBOX,
    tz: TzParam = None,
    limit: LimitParam = 10,
    seat_price: SeatPriceParam = None,
    seats: SeatsParam = None,
) -> dict[str, Any]:
    principal = _session().principal
    policy.require_costs(principal)
    query = cost_query(start=from_, end=to, tz=tz, limit=limit, seat_price=seat_price, seats=seats)
    with money_context():
        return view_json(build_view(principal, query, groups=(group,)), group)


def _price_json(version: PriceTable) -> dict[str, Any]:
    data = version.model_dump(mode="json")
    data["units"] = {
        key.value: {"per": str(unit.per), "unit": unit.unit} for key, unit in PRICE_UNITS.items()
    }
    return data


@router.get(
    "/api/prices",
    summary="The price table: every version, oldest first (finance and admins)",
    responses=answers(_COSTS),
)
def get_prices() -> dict[str, Any]:
    policy.require_costs(_session().principal)
    return {"versions": [_price_json(v) for v in PriceStore(wiring.table()).versions()]}


@router.put(
    "/api/prices",
    summary="Save a new version of the price table (admins)",
    description=(
        "Every price of every region given, each with its source URL and publication date; "
        "amounts in US dollars per the unit listed in `units` of GET /api/prices. The new version "
        "prices days from `effective_from` on; earlier versions are kept."
    ),
    responses=answers(_ADMINS, success=201, description="Saved"),
)
def put_prices(table_input: Annotated[PriceTableInput, Body()]) -> Response[str]:
    principal = _session().principal
    policy.require_admin(principal)
    version = PriceStore(wiring.table()).save(table_input, by=principal.email)
    return _json(201, _price_json(version))


class BudgetInput(BaseModel):
    # Cents at most: DynamoDB stores numbers of at most 38 digits (1e-200 would fail to write).
    amount: Decimal | None = Field(
        default=None,
        ge=0,
        le=100_000_000,
        decimal_places=2,
        allow_inf_nan=False,
        description="US dollars a month; null clears",
    )


@router.put(
    "/api/costs/budget",
    summary="Set the monthly budget the forecast is held against (admins)",
    responses=answers(_ADMINS),
)
def put_budget(budget: Annotated[BudgetInput, Body()]) -> dict[str, Any]:
    principal = _session().principal
    policy.require_admin(principal)
    set_monthly_budget(wiring.table(), budget.amount, by=principal.email)
    return {"amount": amount(budget.amount)}


# -- the page -----------------------------------------------------------------------------------------


def usd(value: Decimal | None) -> str:
    """Dollars for reading: cents from $1, more digits below (costs per conversation are tiny)."""
    if value is None:
        return "—"
    if value == 0:
        return "$0"
    magnitude = abs(value)
    if magnitude >= 1:
        return f"${value:,.2f}"
    if magnitude >= Decimal("0.01"):
        return f"${value:.4f}"
    if magnitude >= Decimal("0.000001"):
        return f"${value:.6f}"
    return "<$0.000001"


def percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _page_query(params: dict[str, str]) -> CostQuery:
    def _date(name: str) -> date | None:
        raw = params.get(name, "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError as exc:
            raise ApiError(422, f"Invalid request: {name}: not a yyyy-mm-dd date") from exc

    def _number(name: str, kind: type[int] | type[Decimal]) -> Any:
        raw = params.get(name, "").strip()
        if not raw:
            return None
        try:
            value = kind(raw)
        except (ValueError, ArithmeticError) as exc:
            raise ApiError(422, f"Invalid request: {name}: not a number") from exc
        if not 0 <= value <= 100_000:
            raise ApiError(422, f"Invalid request: {name}: between 0 and 100000")
        return value

    return cost_query(
        start=_date("from"),
        end=_date("to"),
        tz=params.get("tz"),
        limit=10,
        seat_price=_number("seat_price", Decimal),
        seats=_number("seats", int),
    )


def _params() -> dict[str, str]:
    return {
        k: v for k, v in (router.current_event.query_string_parameters or {}).items() if isinstance(v, str)
    }


def _charts(view: FinanceView) -> dict[str, Any]:
    report = view.report
    labels = [d.day.strftime("%d %b") for d in report.days]
    services = [name for name, _ in report.by_service if name in report.workload.services][:5]
    series = [Series(name, [d.money.services.get(name) for d in report.days]) for name in services]
    other = [
        sum((v for k, v in d.money.services.items() if k not in services), Decimal(0)) + d.metering.total
        for d in report.days
    ]
    if any(other):
        series.append(Series("other + metering", other))
    mailboxes = [r for r in view.groups[Group.MAILBOX] if r.kind.value == "dimension"][:12]
    charts = {
        "days": bar_chart("Cost per day (USD)", labels, series, unit=" USD"),
        "mailboxes": bar_chart(
            "Cost per mailbox (USD)",
            [r.label for r in mailboxes],
            [Series("Cost", [r.money.total for r in mailboxes])],
        ),
    }
    if any(d.actual for d in report.days):
        charts["actual"] = line_chart(
            "Estimate and Cost Explorer per day (USD)",
            labels,
            [
                Series("estimate", [d.total for d in report.days]),
                Series("Cost Explorer", [d.actual["total"] if d.actual else None for d in report.days]),
            ],
            unit=" USD",
        )
    return charts


@router.get("/finance", include_in_schema=False)
def finance_page() -> Response[str]:
    session = _session()
    if not policy.can_see_costs(session.principal):
        return page(session, "finance.html", 403, forbidden=True, active="finance")
    params = _params()
    try:
        query = _page_query(params)
    except ApiError as error:
        return page(session, "finance.html", 422, error=error.message, params=params, active="finance")
    with money_context():
        return _finance_page(session, query, params)


def _finance_page(session: Session, query: CostQuery, params: dict[str, str]) -> Response[str]:
    view = build_view(session.principal, query, groups=ALL_GROUPS)
    export = urlencode({"from": query.start.isoformat(), "to": query.end.isoformat(), "tz": query.tz})
    return page(
        session,
        "finance.html",
        view=view,
        charts=_charts(view),
        params=params,
        export_query=export,
        tables=TABLES,
        usd=usd,
        percent=percent,
        price_units=PRICE_UNITS,
        is_admin=policy.can_admin(session.principal),
        budget_saved=params.get("budget") == "saved",
        active="finance",
    )


@router.get("/finance/export/<table_name>", include_in_schema=False)
def finance_export(table_name: Annotated[str, Path(pattern=r"^[a-z]{1,20}$")]) -> Response[str]:
    session = _session()
    policy.require_costs(session.principal)
    if table_name not in TABLES:
        raise ApiError(404, f"no table {table_name}: one of {', '.join(TABLES)}")
    query = _page_query(_params())
    query = CostQuery(start=query.start, end=query.end, tz=query.tz, limit=100)
    with money_context():
        body = table_csv(build_view(session.principal, query, groups=ALL_GROUPS), table_name)
    filename = f"mailroom-costs-{table_name}-{query.start.isoformat()}-{query.end.isoformat()}.csv"
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=body,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.post("/finance/budget", include_in_schema=False)
def finance_budget_form() -> Response[str]:
    session = _session()
    policy.require_admin(session.principal)
    form = parse_qs(router.current_event.decoded_body or "")
    raw = (form.get("amount") or [""])[0].strip()
    try:
        budget = BudgetInput(amount=Decimal(raw) if raw else None)
    except (ValidationError, ArithmeticError) as exc:
        raise ApiError(422, "Invalid request: amount: a number of dollars, 0 or more") from exc
    set_monthly_budget(wiring.table(), budget.amount, by=session.principal.email)
    return Response(status_code=303, body="", headers={"Location": "/finance?budget=saved"})
