"""The monthly budget the forecast is held against: an admin's figure, else the setting."""

from __future__ import annotations

from decimal import Decimal

from mailroom import clock
from mailroom.settings import Settings
from mailroom.table import keys, schema
from mailroom.table.client import Table

BUDGET_SK = "BUDGET"


def _key() -> dict[str, str]:
    return {schema.PK: keys.COSTS_CONFIG_PK, schema.SK: BUDGET_SK}


def monthly_budget(table: Table, settings: Settings) -> Decimal | None:
    item = table.get(_key())
    if item is not None and item.get("amount") is not None:
        return Decimal(str(item["amount"]))
    return settings.monthly_budget_usd


def set_monthly_budget(table: Table, amount: Decimal | None, *, by: str) -> None:
    """Set (or with ``None`` clear, falling back to the setting) the admin-entered budget."""
    if amount is None:
        table.delete(_key())
        return
    table.put(
        {**_key(), "entity": "budget", "amount": amount, "set_by": by, "set_at": clock.iso(clock.now())}
    )
