"""The manager dashboard: team metrics as a page with charts, as JSON, and as CSV per table.

Admins (managers) and finance may see reports, for the mailboxes they see; agents get a 403.
Reports hold figures, agent names and conversation ids, never message content.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from markupsafe import Markup

from mailroom import clock
from mailroom.api import wiring
from mailroom.api.errors import ApiError
from mailroom.api.guard import current_session
from mailroom.api.openapi_docs import answers
from mailroom.api.render import page
from mailroom.assignment.store import AssignmentStore
from mailroom.auth import policy
from mailroom.auth.model import Principal
from mailroom.charts.svg import Series, bar_chart, line_chart
from mailroom.inbox.directory import list_mailboxes
from mailroom.metrics.export import ReportTable, report_csv
from mailroom.metrics.report import (
    DEFAULT_PERIOD,
    TAG_PATTERN,
    TEAM_PATTERN,
    ReportError,
    ReportQuery,
    TeamReport,
    build_report,
    day_labels,
)

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated

FILTERS = ("period", "tz", "mailbox", "team", "agent", "tag")
ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
)
PERIODS = (("7d", "Last 7 days"), ("30d", "Last 30 days"), ("90d", "Last 90 days"))


def _query(params: Mapping[str, str | None]) -> ReportQuery:
    def text(name: str) -> str | None:
        value = (params.get(name) or "").strip()
        return value or None

    return ReportQuery(
        period=text("period") or DEFAULT_PERIOD,
        tz=text("tz") or "UTC",
        mailbox=text("mailbox"),
        team=text("team"),
        agent=text("agent"),
        tag=text("tag"),
    )


def _report(query: ReportQuery) -> TeamReport:
    principal = current_session(router.context).principal
    try:
        return build_report(wiring.table(), principal, query, now=clock.now())
    except ReportError as exc:
        raise ApiError(422, str(exc)) from exc


@router.get(
    "/api/reports/team",
    summary="Team metrics for a period: volume, response times, SLA, backlog, agent workload",
    description=(
        "Admins and finance only, over the mailboxes they see. `period`: `30d` (the last N days, "
        "today included), `2026-11` (a month), `2026-11-23` (a day) or `2026-11-01..2026-11-15`; "
        "days are local days in `tz` (an IANA zone). Filter by `mailbox` and by one of `team`, "
        "`agent` or `tag`. Definitions: docs/metrics.md. Medians come from fixed histogram buckets "
        "(each at most 1.5 times as wide as the one before), means are exact."
    ),
    responses=answers(
        {
            403: "Admins and finance only",
            404: "A mailbox or team filter that names nothing the caller can see",
            422: "An unreadable period or time zone",
        }
    ),
)
def team_report(
    *,
    period: Annotated[
        str, Query(max_length=40, description="30d, 2026-11, 2026-11-23 or a..b")
    ] = DEFAULT_PERIOD,
    tz: Annotated[str, Query(max_length=64, description="IANA time zone of the days")] = "UTC",
    mailbox: Annotated[str | None, Query(max_length=254, description="Only this mailbox")] = None,
    team: Annotated[str | None, Query(pattern=TEAM_PATTERN, description="Only this team")] = None,
    agent: Annotated[str | None, Query(max_length=254, description="Only this agent (email)")] = None,
    tag: Annotated[
        str | None, Query(pattern=TAG_PATTERN, description="Only conversations with this tag")
    ] = None,
) -> TeamReport:
    return _report(ReportQuery(period=period, tz=tz, mailbox=mailbox, team=team, agent=agent, tag=tag))


@router.get("/reports/team.csv", include_in_schema=False)
def team_report_csv() -> Response[str]:
    """One table of the report as CSV (``table=days|agents|backlog|totals``), same filters."""
    params = router.current_event.query_string_parameters or {}
    try:
        table = ReportTable(params.get("table") or ReportTable.DAYS.value)
    except ValueError as exc:
        raise ApiError(422, f"table: one of {', '.join(t.value for t in ReportTable)}") from exc
    report = _report(_query(params))
    name = f"mailroom-{table.value}-{report.period_start.isoformat()}-{report.period_end.isoformat()}.csv"
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=report_csv(report, table),
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.get("/reports", include_in_schema=False)
def reports_page() -> Response[str]:
    session = current_session(router.context)
    params = router.current_event.query_string_parameters or {}
    if not policy.can_see_reports(session.principal):
        return page(session, "reports.html", 403, forbidden=True, active="reports")
    query = _query(params)
    filters = {name: value for name in FILTERS if (value := (params.get(name) or "").strip())}
    context = _choices(session.principal)
    try:
        report = build_report(wiring.table(), session.principal, query, now=clock.now())
    except ReportError as exc:
        return page(session, "reports.html", 422, error=str(exc), query=query, active="reports", **context)
    except policy.NotVisibleError:
        return page(
            session, "reports.html", 404, error="No such mailbox.", query=query, active="reports", **context
        )
    return page(
        session,
        "reports.html",
        report=report,
        query=query,
        charts=_charts(report),
        csv={
            table.value: "/reports/team.csv?" + urlencode({**filters, "table": table.value})
            for table in ReportTable
        },
        duration=format_duration,
        percent=format_percent,
        active="reports",
        **context,
    )


def _choices(principal: Principal) -> dict[str, Any]:
    table = wiring.table()
    mailboxes = policy.visible_mailboxes(
        principal, [str(m.get("address") or "") for m in list_mailboxes(table)]
    )
    return {
        "mailboxes": mailboxes,
        "teams": [(team.id, team.name) for team in AssignmentStore(table).list_teams()],
        "zones": ZONES,
        "periods": PERIODS,
    }


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def _charts(report: TeamReport) -> dict[str, Markup]:
    labels = day_labels(day.date for day in report.days)
    days = report.days
    return {
        "response": line_chart(
            "Median first response time per day",
            labels,
            [
                Series("Calendar time", [_minutes(d.first_response.median_seconds) for d in days]),
                Series("Business hours", [_minutes(d.first_response_business.median_seconds) for d in days]),
            ],
            unit=" min",
        ),
        "volume": bar_chart(
            "Volume in and out per day",
            labels,
            [
                Series("In (people)", [d.volume_in or 0 for d in days]),
                Series("Replies", [d.replies for d in days]),
                Series("Automatic replies", [d.auto_replies or 0 for d in days]),
            ],
            stacked=False,
        ),
        "backlog": bar_chart(
            "Backlog by status now",
            ["Open", "Pending", "Snoozed", "Waiting", "Overdue"],
            [
                Series(
                    "Conversations",
                    [
                        report.backlog.open,
                        report.backlog.pending,
                        report.backlog.snoozed,
                        report.backlog.waiting,
                        report.backlog.overdue,
                    ],
                )
            ],
        ),
        "sla": bar_chart(
            "First responses within and past their SLA target per day",
            labels,
            [
                Series("Within target", [d.sla_met for d in days]),
                Series("Breached", [d.sla_breached for d in days]),
            ],
        ),
    }


def format_duration(seconds: float | None) -> str:
    """``45s``, ``12m``, ``3h 05m``, ``2d 4h``; an em dash when there is nothing to show."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def format_percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"
