"""CSV exports of the report's tables, for spreadsheets.

RFC 4180 (comma, CRLF line ends, fields quoted when they hold a comma, a quote or a line break, a
header row), UTF-8 with a byte order mark so that Excel reads the encoding right, and no formula
injection: a text cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) is
prefixed with ``'`` so a spreadsheet shows it as text instead of running it. Numbers are written as
numbers (a negative number is a number, not a formula).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from mailroom.metrics.report import DurationFigures, Figures, TeamReport

BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ReportTable(StrEnum):
    DAYS = "days"
    AGENTS = "agents"
    BACKLOG = "backlog"
    TOTALS = "totals"


def safe_cell(value: Any) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([safe_cell(name) for name in header])
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
    return BOM + buffer.getvalue()


_FIGURE_COLUMNS = (
    "conversations",
    "volume_in",
    "volume_in_other",
    "replies",
    "auto_replies",
    "first_responses",
    "first_response_median_seconds",
    "first_response_business_median_seconds",
    "first_response_mean_seconds",
    "response_median_seconds",
    "sla_met",
    "sla_breached",
    "sla_attainment",
    "resolutions",
    "resolution_median_seconds",
    "reopens",
    "reopen_rate",
    "marked_spam",
    "assigned",
)


def _figure_values(figures: Figures) -> list[Any]:
    def median(value: DurationFigures | None) -> float | None:
        return value.median_seconds if value else None

    return [
        figures.conversations,
        figures.volume_in,
        figures.volume_in_other,
        figures.replies,
        figures.auto_replies,
        figures.first_responses,
        median(figures.first_response),
        median(figures.first_response_business),
        figures.first_response.mean_seconds,
        median(figures.response),
        figures.sla_met,
        figures.sla_breached,
        figures.sla_attainment,
        figures.resolutions,
        median(figures.resolution),
        figures.reopens,
        figures.reopen_rate,
        figures.marked_spam,
        figures.assigned,
    ]


def report_csv(report: TeamReport, table: ReportTable) -> str:
    if table is ReportTable.DAYS:
        return to_csv(
            ["date", *_FIGURE_COLUMNS],
            ([day.date.isoformat(), *_figure_values(day)] for day in report.days),
        )
    if table is ReportTable.TOTALS:
        return to_csv(
            ["period_start", "period_end", "timezone", *_FIGURE_COLUMNS],
            [
                [
                    report.period_start.isoformat(),
                    report.period_end.isoformat(),
                    report.timezone,
                    *_figure_values(report.totals),
                ]
            ],
        )
    if table is ReportTable.BACKLOG:
        backlog = report.backlog
        return to_csv(
            ["status", "conversations"],
            [
                ["open", backlog.open],
                ["pending", backlog.pending],
                ["snoozed", backlog.snoozed],
                ["waiting", backlog.waiting],
                ["overdue", backlog.overdue],
                ["oldest_waiting_seconds", backlog.oldest_waiting_seconds],
            ],
        )
    return to_csv(
        [
            "agent",
            "name",
            "open_now",
            "assigned",
            "replies",
            "first_responses",
            "first_response_median_seconds",
            "response_median_seconds",
            "resolutions",
            "sla_met",
            "sla_breached",
        ],
        (
            [
                row.agent,
                row.name,
                row.open_now,
                row.assigned,
                row.replies,
                row.first_responses,
                row.first_response_median_seconds,
                row.response_median_seconds,
                row.resolutions,
                row.sla_met,
                row.sla_breached,
            ]
            for row in report.agents
        ),
    )
