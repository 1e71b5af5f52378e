"""Canned responses in the table: ``CANNED#<id>``/``META``, listed through ``DIR#CANNED``."""

from __future__ import annotations

from mailroom.canned.model import CannedResponse
from mailroom.table import schema
from mailroom.table.client import Condition, Table, Update

DIRECTORY = "DIR#CANNED"


def _key(canned_id: str) -> dict[str, str]:
    return {schema.PK: DIRECTORY, schema.SK: canned_id}


def put_canned(table: Table, canned: CannedResponse) -> None:
    """Create or edit; the usage count is kept."""
    fields = canned.model_dump(mode="json", exclude={"usage_count"})
    names = {"#entity": "entity", "#uses": "usage_count"}
    values: dict[str, object] = {":entity": "canned", ":zero": 0}
    sets = ["#entity = :entity", "#uses = if_not_exists(#uses, :zero)"]
    removes = []
    for index, (name, value) in enumerate(sorted(fields.items())):
        names[f"#f{index}"] = name
        if value is None:
            removes.append(f"#f{index}")
        else:
            values[f":f{index}"] = value
            sets.append(f"#f{index} = :f{index}")
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    table.update(_key(canned.id), Condition(expression, names, values))


def get_canned(table: Table, canned_id: str) -> CannedResponse | None:
    item = table.get(_key(canned_id))
    return CannedResponse.model_validate(item) if item else None


def list_canned(table: Table) -> list[CannedResponse]:
    items = table.query_all(key_condition=Condition("#pk = :pk", {"#pk": schema.PK}, {":pk": DIRECTORY}))
    return [CannedResponse.model_validate(item) for item in items]


def count_use(table: Table, canned_id: str) -> Update:
    """The counter update for one use (part of the transaction that records the send)."""
    return Update(_key(canned_id), Condition("ADD #uses :one", {"#uses": "usage_count"}, {":one": 1}))
