"""Canned responses in the table: ``CANNED#<id>``/``META``, listed through ``DIR#CANNED``."""

from __future__ import annotations

from mailroom.canned.model import CannedResponse
from mailroom.table import schema
from mailroom.table.client import Condition, Table, Update
from mailroom.table.expressions import set_fields

DIRECTORY = "DIR#CANNED"


def _key(canned_id: str) -> dict[str, str]:
    return {schema.PK: DIRECTORY, schema.SK: canned_id}


def put_canned(table: Table, canned: CannedResponse) -> None:
    """Create or edit; the usage count is kept."""
    fields = canned.model_dump(mode="json", exclude={"usage_count"})
    table.update(_key(canned.id), set_fields("canned", fields, counter="usage_count"))


def get_canned(table: Table, canned_id: str) -> CannedResponse | None:
    item = table.get(_key(canned_id))
    return CannedResponse.model_validate(item) if item else None


def list_canned(table: Table) -> list[CannedResponse]:
    items = table.query_all(key_condition=Condition("#pk = :pk", {"#pk": schema.PK}, {":pk": DIRECTORY}))
    return [CannedResponse.model_validate(item) for item in items]


def count_use(table: Table, canned_id: str) -> Update:
    """The counter update for one use (part of the transaction that records the send)."""
    return Update(_key(canned_id), Condition("ADD #uses :one", {"#uses": "usage_count"}, {":one": 1}))
