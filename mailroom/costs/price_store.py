"""The price table in DynamoDB: one item per version (``PRICES`` / ``V#<n>``), never changed once written.

A new version is written with ``attribute_not_exists`` at the next number, so two admins saving at
once both get a version (one is retried at the number after). The built-in version is seeded the
first time the table is read and holds none.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from mailroom import clock
from mailroom.costs.prices import PriceTable, PriceTableInput, default_table
from mailroom.table import keys, schema
from mailroom.table.client import Condition, ConditionFailedError, Table, partition

ENTITY = "price_table"
MAX_SAVE_ATTEMPTS = 5


class PriceStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def versions(self) -> list[PriceTable]:
        """Every version, oldest first (seeding the built-in one when there is none)."""
        items = self.table.query_all(
            key_condition=partition(keys.PRICES_PK, "V#"), consistent=True, max_items=1000
        )
        if not items:
            self._put(default_table())
            return [default_table()]
        return [_from_item(item) for item in items]

    def save(self, table_input: PriceTableInput, *, by: str) -> PriceTable:
        """A new version from ``table_input``; returns it."""
        for _ in range(MAX_SAVE_ATTEMPTS):
            latest = self.versions()[-1].version
            version = PriceTable(
                **table_input.model_dump(),
                version=latest + 1,
                created_at=clock.iso(clock.now()),
                created_by=by,
            )
            try:
                self._put(version)
            except ConditionFailedError:
                continue  # someone saved that number meanwhile: take the next one
            return version
        raise RuntimeError("could not save the price table: too many concurrent saves")

    def _put(self, version: PriceTable) -> None:
        item: dict[str, Any] = {
            schema.PK: keys.PRICES_PK,
            schema.SK: keys.price_version_sk(version.version),
            "entity": ENTITY,
            **version.model_dump(mode="json"),
        }
        try:
            self.table.put(item, Condition("attribute_not_exists(#pk)", {"#pk": schema.PK}))
        except ConditionFailedError:
            if version.version == 1 and version.created_by == default_table().created_by:
                return  # seeded concurrently: the same built-in table
            raise


def in_effect(versions: list[PriceTable], day: date) -> PriceTable:
    """The version in effect on ``day``: the latest effective on or before it (the highest version
    number among equals); the earliest one for days before any."""
    effective = [v for v in versions if v.effective_from <= day]
    if not effective:
        return min(versions, key=lambda v: (v.effective_from, v.version))
    return max(effective, key=lambda v: (v.effective_from, v.version))


def _from_item(item: dict[str, Any]) -> PriceTable:
    fields = {k: v for k, v in item.items() if k not in {schema.PK, schema.SK, "entity"}}
    return PriceTable.model_validate(fields)
