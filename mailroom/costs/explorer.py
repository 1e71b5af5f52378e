"""Cost Explorer beside the estimate (AWS only, behind ``MAILROOM_COST_EXPLORER_ENABLED``).

Once a day (the first finance request of the day claims the run with a conditional write, so
concurrent requests don't both pay), the actual unblended cost of the resources tagged with the
application tag is fetched per day and service for the last :data:`LOOKBACK_DAYS` days (Cost
Explorer's figures settle over a day or two) and stored beside the day's usage as
``USAGE#<day>`` / ``ACTUAL``. Each Cost Explorer request costs $0.01. In the sandbox it is off and
the finance view says "estimate only".
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from mailroom import clock
from mailroom.observability import logger
from mailroom.table import keys, schema
from mailroom.table.client import Condition, ConditionFailedError, Table

LOOKBACK_DAYS = 14
RUN_SK = "EXPLORER"
MAX_PAGES = 20


class CostExplorer:
    """``ce:GetCostAndUsage`` for one tag, daily, grouped by service."""

    def __init__(self, client: Any, *, tag_key: str, tag_value: str) -> None:
        self.client = client
        self.tag_key = tag_key
        self.tag_value = tag_value

    def daily_costs(self, start: date, end: date) -> dict[date, dict[str, Decimal]]:
        """Dollars per service for each day from ``start`` to ``end`` (both included)."""
        result: dict[date, dict[str, Decimal]] = {}
        args: dict[str, Any] = {
            "TimePeriod": {"Start": start.isoformat(), "End": (end + timedelta(days=1)).isoformat()},
            "Granularity": "DAILY",
            "Metrics": ["UnblendedCost"],
            "Filter": {"Tags": {"Key": self.tag_key, "Values": [self.tag_value], "MatchOptions": ["EQUALS"]}},
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
        }
        for _ in range(MAX_PAGES):
            response = self.client.get_cost_and_usage(**args)
            for period in response.get("ResultsByTime", []):
                day = date.fromisoformat(period["TimePeriod"]["Start"])
                services = result.setdefault(day, {})
                for group in period.get("Groups", []):
                    amount = Decimal(str(group["Metrics"]["UnblendedCost"]["Amount"]))
                    services[str(group["Keys"][0])] = services.get(str(group["Keys"][0]), Decimal(0)) + amount
            token = response.get("NextPageToken")
            if not token:
                break
            args["NextPageToken"] = token
        return result


def store_actuals(table: Table, costs: dict[date, dict[str, Decimal]]) -> None:
    fetched_at = clock.iso(clock.now())
    for day, services in costs.items():
        table.put(
            {
                schema.PK: keys.usage_day_pk(day.isoformat()),
                schema.SK: keys.USAGE_ACTUAL,
                "entity": "usage_actual",
                "services": services,
                "total": sum(services.values(), Decimal(0)),
                "fetched_at": fetched_at,
            }
        )


def claim_daily_run(table: Table, today: date) -> bool:
    """True for the first caller of the day (a conditional write), False for everyone after."""
    try:
        table.put(
            {
                schema.PK: keys.COSTS_CONFIG_PK,
                schema.SK: RUN_SK,
                "entity": "explorer_run",
                "day": today.isoformat(),
            },
            Condition(
                "attribute_not_exists(#day) OR #day < :today", {"#day": "day"}, {":today": today.isoformat()}
            ),
        )
    except ConditionFailedError:
        return False
    return True


def refresh_actuals(table: Table, explorer: CostExplorer, today: date) -> bool:
    """The daily comparison, if nobody ran it today. Never raises (the estimate stands alone)."""
    if not claim_daily_run(table, today):
        return False
    try:
        store_actuals(table, explorer.daily_costs(today - timedelta(days=LOOKBACK_DAYS), today))
    except Exception:
        logger.exception("Cost Explorer comparison failed; showing the estimate only")
        return False
    return True


def explorer_from_settings(tag_key: str, tag_value: str) -> CostExplorer:
    import boto3

    # Cost Explorer has one endpoint, in us-east-1, whatever the deployment's region.
    return CostExplorer(boto3.client("ce", region_name="us-east-1"), tag_key=tag_key, tag_value=tag_value)
